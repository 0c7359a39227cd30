#include "src/node/worker_pool.hpp"

#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/common/byte_reader.hpp"
#include "src/common/logging.hpp"

namespace shoal::internal {

WorkerPool::WorkerPool(boost::asio::io_context& io, WorkerLauncher& helper,
                       Connection::Listener* listener, Events& events, int seats,
                       bool forward_output)
    : io_(io),
      helper_(helper),
      listener_(listener),
      events_(events),
      forward_output_(forward_output),
      output_(io),
      seats_(static_cast<std::size_t>(seats)) {}

WorkerPool::~WorkerPool() {
  for (auto& [id, w] : workers_) w.eof_timer.reset();  // before the io_context they belong to
}

void WorkerPool::start() {
  for (int seat = 0; seat < seats(); ++seat) spawn(seat);
}

WorkerPool::Worker* WorkerPool::find(WorkerId worker) noexcept {
  auto it = workers_.find(worker);
  return it == workers_.end() ? nullptr : &it->second;
}

// A new worker in `seat`: the helper forks it; its output pipes are read once its pid is known.
void WorkerPool::spawn(int seat) {
  const WorkerId id = next_id_++;
  const WorkerLauncher::WorkerFds fds = helper_.spawn(id, forward_output_);
  if (fds.out >= 0) output_.add(id, fds.out, fds.err);
  Worker& w = workers_[id];
  w.id = id;
  w.seat = seat;
  if (seat == kLent) ++lent_processes_;
  w.connection =
      std::make_shared<Connection>(io_, fds.socket, listener_, static_cast<std::int64_t>(id));
  w.connection->start();
}

WorkerId WorkerPool::lend() {
  const WorkerId id = next_id_;
  spawn(kLent);
  return id;
}

void WorkerPool::begin_retire(WorkerId worker) {
  Worker* w = find(worker);
  if (w == nullptr || w->seat != kLent || w->phase != Phase::kReady) return;
  w->retiring = true;
}

void WorkerPool::retire(WorkerId worker) {
  Worker* w = find(worker);
  if (w == nullptr || w->seat != kLent || w->phase != Phase::kReady) return;
  w->retiring = true;
  lost(*w, "retired: it was lent while tasks were blocked, and is idle");
}

void WorkerPool::kill(WorkerId worker, const std::string& why) {
  Worker* w = find(worker);
  if (w == nullptr || (w->phase != Phase::kStarting && w->phase != Phase::kReady)) return;
  w->retiring = true;  // expected: no warning
  w->exit_override = why;
  if (w->seat == kActor && w->phase == Phase::kReady) {
    // Not the socket first: an actor's worker that reads EOF runs its instance's destructor
    // before it exits, which kill() promises not to do. Its socket closes when SIGKILL lands.
    try {
      helper_.kill_worker(w->id);
      return;
    } catch (const Error&) {  // the helper is gone: closing the socket is all that is left
    }
  }
  lost(*w, why);
}

WorkerId WorkerPool::start_actor() {
  const WorkerId id = next_id_;
  spawn(kActor);
  return id;
}

// The worker reads EOF, runs its actor's destructor and exits; the helper's Exited then ends it
// (exited()), or the timer kills it (eof_grace_over()).
void WorkerPool::stop_actor(WorkerId worker, const std::string& why,
                            std::chrono::milliseconds timeout) {
  Worker* w = find(worker);
  if (w == nullptr || w->seat != kActor || w->stopping) return;
  if (w->phase != Phase::kStarting && w->phase != Phase::kReady) return;
  w->retiring = true;  // expected: no warning
  w->stopping = true;
  w->lost_reason = why;
  if (w->phase == Phase::kStarting) {  // no instance yet: nothing to wait for
    lost(*w, why);
    return;
  }
  if (w->connection) w->connection->close_quietly();
  w->eof_timer = std::make_unique<boost::asio::steady_timer>(io_, timeout);
  w->eof_timer->async_wait([this, worker](const boost::system::error_code& ec) {
    if (!ec) events_.on_eof_timeout(worker);
  });
}

bool WorkerPool::is_lent(WorkerId worker) const noexcept {
  auto it = workers_.find(worker);
  return it != workers_.end() && it->second.seat == kLent;
}

int WorkerPool::lent_count() const noexcept {
  int n = 0;
  for (const auto& [id, w] : workers_) {
    n += w.seat == kLent && !w.retiring && (w.phase == Phase::kStarting || w.phase == Phase::kReady)
             ? 1
             : 0;
  }
  return n;
}

std::vector<WorkerId> WorkerPool::lent_ready() const {
  std::vector<WorkerId> out;
  for (const auto& [id, w] : workers_) {
    if (w.seat == kLent && !w.retiring && w.phase == Phase::kReady) out.push_back(id);
  }
  return out;
}

void WorkerPool::on_helper_frame(const Frame& frame) {
  switch (frame.header.type) {
    case MessageType::kHelperReady:
      events_.on_helper_ready(decode_helper_ready(frame));
      return;
    case MessageType::kSpawned: {
      const Spawned m = decode_spawned(frame);
      Worker* w = find(m.worker);
      if (w == nullptr) throw DecodeError("fork helper names an unknown worker");
      w->pid = static_cast<pid_t>(m.pid);
      output_.begin(m.worker, w->pid);  // its lines can be labelled now
      return;
    }
    case MessageType::kExited: {
      const Exited m = decode_exited(frame);
      exited(m.worker, static_cast<pid_t>(m.pid), m.status);
      return;
    }
    case MessageType::kSpawnFailed: {
      const SpawnFailed m = decode_spawn_failed(frame);
      Worker* w = find(m.worker);
      if (w == nullptr) throw DecodeError("fork helper names an unknown worker");
      output_.begin(m.worker, 0);  // the helper closed the pipes: EOF
      // The helper closed its end of the worker's socket too, so on_closed() follows (or came
      // already) and counts this as a failed start. No process will be reaped: this is its exit.
      SHOAL_LOG(kError, "could not start worker {}: fork failed: {}", m.worker,
                std::strerror(m.error));
      w->exit_override =
          fmt::format("could not be started (fork failed: {})", std::strerror(m.error));
      exited(m.worker, w->pid, 0);
      return;
    }
    default:
      throw DecodeError(std::string("unexpected ") + message_type_name(frame.header.type) +
                        " message from the fork helper");
  }
}

void WorkerPool::on_ready(WorkerId from, const Ready& ready) {
  if (ready.worker != from) {
    throw DecodeError("unexpected Ready message: it names worker " + std::to_string(ready.worker) +
                      " on the connection of worker " + std::to_string(from));
  }
  Worker* w = find(ready.worker);
  if (w == nullptr || w->phase != Phase::kStarting) throw DecodeError("unexpected Ready message");
  w->pid = static_cast<pid_t>(ready.pid);
  w->phase = Phase::kReady;
  if (w->seat >= 0) seats_[static_cast<std::size_t>(w->seat)].failed_starts = 0;
  events_.on_worker_ready(w->id);
}

void WorkerPool::on_closed(const Connection& connection, const std::string& reason,
                           bool peer_alive) {
  Worker* w = find(static_cast<WorkerId>(connection.tag()));
  // Only the worker's own connection counts: a late report from an older one says nothing.
  if (w == nullptr || w->connection.get() != &connection) return;
  // Alive or not, the helper kills it (lost()). One we cut off for bad input is reported as such,
  // not as "killed by SIGKILL", which would point the user at the OOM killer; unless the helper
  // reaped it already: then it ended on its own, as its wait status says.
  if (peer_alive && !w->exit_status &&
      (w->phase == Phase::kStarting || w->phase == Phase::kReady)) {
    w->exit_override = "sent bad input, so the driver cut it off and killed it";
  }
  lost(*w, reason);
}

// The worker's socket closed (EOF, an I/O error, or we cut it off for a bad message). The helper
// is told to make sure it is dead (a worker we cut off may still run, stuck or hostile) and will
// report how it ended (exited()).
void WorkerPool::lost(Worker& w, const std::string& reason) {
  if (w.phase == Phase::kExiting || w.phase == Phase::kDead) return;
  const bool was_ready = w.phase == Phase::kReady;
  w.lost_while_starting = !was_ready;
  w.phase = Phase::kExiting;
  w.lost_reason = reason;
  if (w.connection) w.connection->close_quietly();  // if the EOF timer fired, it is open
  try {
    helper_.kill_worker(w.id);
  } catch (const Error& e) {
    events_.on_pool_failed(std::string("the fork helper is gone: ") + e.what());
    return;
  }
  const WorkerId id = w.id;
  events_.on_worker_lost(id, was_ready, reason);
  Worker* still = find(id);
  if (still != nullptr && still->exit_status) finish_exit(*still, *still->exit_status);
}

// The fork helper reaped a worker (or could not fork it). If its socket's EOF has not been read
// yet, the socket may still hold its last messages (a TaskDone, a truncated frame): the I/O thread
// reads them first, and lost() finishes the exit. A socket that stays open after its process is
// gone is held by a process the task started that left the worker's group; after kEofGrace the
// worker is taken as lost anyway, so nothing waits for that process.
void WorkerPool::exited(WorkerId worker, pid_t pid, int wait_status) {
  Worker* w = find(worker);
  if (w == nullptr || (w->pid != 0 && pid != w->pid)) return;
  if (w->stopping && w->phase == Phase::kReady) {  // stop_actor(): its socket is closed already
    w->exit_status = wait_status;
    w->eof_timer.reset();
    lost(*w, w->lost_reason);
    return;
  }
  if (w->phase == Phase::kStarting || w->phase == Phase::kReady) {
    w->exit_status = wait_status;
    w->eof_timer = std::make_unique<boost::asio::steady_timer>(io_, kEofGrace);
    w->eof_timer->async_wait([this, worker](const boost::system::error_code& ec) {
      if (!ec) events_.on_eof_timeout(worker);  // cancelled: the EOF came, or it was forgotten
    });
    return;
  }
  if (w->phase == Phase::kExiting) finish_exit(*w, wait_status);
}

void WorkerPool::eof_grace_over(WorkerId worker) {
  Worker* w = find(worker);
  if (w == nullptr || (w->phase != Phase::kStarting && w->phase != Phase::kReady)) return;
  if (w->stopping) {
    w->exit_override =
        "was killed: it did not exit in time once stopped (a call still running, or its "
        "destructor)";
    lost(*w, w->lost_reason);
    return;
  }
  lost(*w, "its process ended but its socket stayed open: a process its task started holds it");
}

// The second half of a worker's death: its connection is gone and its process reaped. Reports
// how it ended, and refills its seat.
void WorkerPool::finish_exit(Worker& w, int wait_status) {
  ExitStatus how = describe_exit(wait_status);
  if (!w.exit_override.empty()) how.text = w.exit_override;
  if (w.retiring || w.seat == kActor) {  // an actor's death is logged by the runtime, by name
    SHOAL_LOG(kDebug, "worker {} (pid {}) {} ({})", w.id, w.pid, how.text, w.lost_reason);
  } else {
    SHOAL_LOG(kWarn, "worker {} (pid {}) {} ({})", w.id, w.pid, how.text, w.lost_reason);
  }
  w.phase = Phase::kDead;
  const WorkerId id = w.id;
  const pid_t pid = w.pid;
  const int seat = w.seat;
  const bool lost_while_starting = w.lost_while_starting;
  const std::string reason = w.lost_reason;
  if (seat == kLent) --lent_processes_;
  workers_.erase(id);  // its timer and connection go with it
  if (starting_) {
    events_.on_start_failed(
        fmt::format("worker {} (pid {}) {} while starting ({})", id, pid, how.text, reason));
    return;
  }
  events_.on_worker_exited(id, pid, how, reason);
  if (seat == kLent || seat == kActor) return;  // lent workers and actors are not replaced
  Seat& s = seats_[static_cast<std::size_t>(seat)];
  if (lost_while_starting && ++s.failed_starts >= kMaxFailedStarts) {
    SHOAL_LOG(kError,
              "worker seat {} lost {} workers in a row before they were ready ({}); not "
              "replacing it again",
              seat, s.failed_starts, how.text);
    s.given_up = true;
    for (const Seat& other : seats_) {
      if (!other.given_up) return;  // the others carry on
    }
    events_.on_pool_failed("no worker could be started: the last one " + how.text);
    return;
  }
  try {
    spawn(seat);
  } catch (const Error& e) {
    SHOAL_LOG(kError, "could not replace worker {}: {}", id, e.what());
    events_.on_pool_failed(std::string("could not reach the fork helper: ") + e.what());
  }
}

// Its workers die with it (their PR_SET_PDEATHSIG), but what their tasks started does not: the
// helper used to kill each worker's process group and can no longer. A group's id is not reused
// while it has members, so this reaches only what the workers left behind.
void WorkerPool::helper_lost() {
  for (const auto& [id, w] : workers_) {
    if (w.pid > 0) ::kill(-w.pid, SIGKILL);
  }
}

void WorkerPool::close_all(std::chrono::milliseconds drain_limit) {
  for (auto& [id, w] : workers_) {
    if (w.connection) w.connection->close_quietly();
    w.eof_timer.reset();
  }
  output_.drain(drain_limit);
}

Connection* WorkerPool::connection(WorkerId worker) const noexcept {
  auto it = workers_.find(worker);
  return it == workers_.end() || it->second.phase != Phase::kReady ? nullptr
                                                                   : it->second.connection.get();
}

pid_t WorkerPool::pid(WorkerId worker) const noexcept {
  auto it = workers_.find(worker);
  return it == workers_.end() ? 0 : it->second.pid;
}

std::vector<pid_t> WorkerPool::ready_pids() const {
  std::vector<pid_t> pids;
  for (const auto& [id, w] : workers_) {
    if (w.phase == Phase::kReady) pids.push_back(w.pid);
  }
  return pids;
}

std::vector<WorkerPool::ProcessInfo> WorkerPool::processes() const {
  std::vector<ProcessInfo> out;
  for (const auto& [id, w] : workers_) {
    if (w.phase == Phase::kDead) continue;
    const char* phase = w.phase == Phase::kStarting ? "starting"
                        : w.phase == Phase::kReady  ? "ready"
                                                    : "exiting";
    out.push_back(ProcessInfo{id, w.pid, phase, w.seat == kLent, w.seat == kActor});
  }
  return out;
}

int WorkerPool::ready_count() const noexcept {
  int n = 0;
  for (const auto& [id, w] : workers_) n += w.phase == Phase::kReady ? 1 : 0;
  return n;
}

}  // namespace shoal::internal
