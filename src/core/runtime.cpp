// Runtime life cycle: start (validate, create the store, fork, wait for workers), shutdown, the
// I/O thread's frame routing, worker start-up, loss and replacement, and resources.
// Tasks are in runtime_tasks.cpp, objects (put/get/wait) in runtime_objects.cpp.
#include "src/core/runtime.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/exit_status.hpp"
#include "src/common/function_registry.hpp"
#include "src/common/limits.hpp"
#include "src/common/system_info.hpp"

namespace shoal::internal {
namespace {

constexpr int kMaxCpus = 4096;
constexpr std::uint64_t kMinStoreBytes = 1 << 20;
constexpr double kDefaultStoreShare = 0.3;  // of available memory, as Ray does
constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kHelperExitGrace = std::chrono::milliseconds(2000);
constexpr int kMaxFailedStarts = 3;
// How long a dead worker's socket may stay open (held by a process its task started) before the
// worker is taken as lost anyway.
constexpr auto kEofGrace =
    std::chrono::seconds(1);  // workers in a row that die before Ready: give the slot up
// How long shutdown() reads workers' output after telling them to stop. Their pipes normally
// reach EOF within milliseconds (the helper SIGKILLs the workers' process groups); only a process
// a task started and that left its worker's group inherited the pipes and survives to keep them
// open, and shutdown() must not wait for it.
constexpr auto kOutputDrainLimit = std::chrono::milliseconds(1000);
constexpr std::int64_t kMaxStoreFullTimeoutMs = 86'400'000;  // one day

// Config::start_method, resolved: the method, and whether it was chosen for the program (the
// default) rather than asked for.
StartMethod choose_start_method(std::string asked, const std::vector<std::string>& threads) {
  std::string source = "Config::start_method";
  if (asked.empty()) {
    if (const char* env = std::getenv("SHOAL_START_METHOD"); env != nullptr && *env != '\0') {
      asked = env;
      source = "SHOAL_START_METHOD";
    }
  }
  if (asked == "fork") return StartMethod::kFork;
  if (asked == "forkserver") {
    if (!forkserver_available()) {
      throw InvalidConfigError(fmt::format(
          "shoal: {} is \"forkserver\", but this program's main() is not wrapped, so a fresh "
          "start of it cannot stop before main() runs: link the program with -Wl,--wrap=main "
          "(linking it to the CMake target shoal::shoal adds it), or use \"fork\" and call "
          "init() before starting threads",
          source));
    }
    return StartMethod::kForkserver;
  }
  if (!asked.empty()) {
    throw InvalidConfigError(fmt::format(
        "shoal: {} is \"{}\"; use \"fork\", \"forkserver\", or \"\" to let init() choose "
        "(fork without other threads, else forkserver)",
        source, asked));
  }
  if (threads.empty()) return StartMethod::kFork;
  std::string names;
  for (const std::string& t : threads) names += (names.empty() ? "" : ", ") + t;
  if (!forkserver_available()) {
    SHOAL_LOG(kWarn,
              "init() runs while this process has {} other thread(s): {}. Workers are forked from "
              "a copy of this thread only, so a library whose threads do not survive fork() (GCC's "
              "OpenMP, some BLAS and TBB pools) can make tasks hang. The safe start method "
              "(\"forkserver\") needs the program linked with -Wl,--wrap=main (the CMake target "
              "shoal::shoal adds it); else call init() before anything starts threads",
              threads.size(), names);
    return StartMethod::kFork;
  }
  SHOAL_LOG(kWarn,
            "init() runs while this process has {} other thread(s): {}. fork() would copy this "
            "thread only, which can hang tasks that use a library with a thread pool (OpenMP, "
            "BLAS, TBB), so workers are started from a fresh start of the program instead "
            "(start method \"forkserver\"): they see globals as the program's start leaves them, "
            "not as this process has changed them; pass such data as task arguments or put() it. "
            "Call init() before starting threads to have workers forked from this process, or set "
            "Config::start_method to choose",
            threads.size(), names);
  return StartMethod::kForkserver;
}

std::uint64_t round_up_to_page(std::uint64_t n) {
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

}  // namespace

std::shared_ptr<Runtime> Runtime::start(const Config& config) {
  if (config.num_cpus < 0 || config.num_cpus > kMaxCpus) {
    throw InvalidConfigError(
        fmt::format("shoal: Config::num_cpus is {}; use 1 to {}, or 0 to use the CPUs this process "
                    "may run on ({})",
                    config.num_cpus, kMaxCpus, usable_cpus()));
  }
  if (config.object_store_full_timeout_ms < 0 ||
      config.object_store_full_timeout_ms > kMaxStoreFullTimeoutMs) {
    throw InvalidConfigError(fmt::format(
        "shoal: Config::object_store_full_timeout_ms is {}; use 0 (fail at once) to {} (one day)",
        config.object_store_full_timeout_ms, kMaxStoreFullTimeoutMs));
  }
  if (config.max_retries < -1) {
    throw InvalidConfigError(
        fmt::format("shoal: Config::max_retries is {}; use 0 or more, or -1 to retry without limit",
                    config.max_retries));
  }
  const logging::Level level = logging::resolve_level(config.log_level);
  logging::init_driver(level);  // before choosing the start method, which may warn
  const StartMethod method = choose_start_method(config.start_method, other_threads());
  const int workers = config.num_cpus > 0 ? config.num_cpus : usable_cpus();
  const std::uint64_t available = available_memory();
  std::uint64_t store = config.object_store_memory;
  if (store == 0)
    store = static_cast<std::uint64_t>(static_cast<double>(available) * kDefaultStoreShare);
  // Compared before rounding up to a page as well: a size near 2^64 would wrap around to 0.
  const bool too_large = store > available;
  store = round_up_to_page(std::max(store, kMinStoreBytes));
  if (config.object_store_memory != 0 && config.object_store_memory < kMinStoreBytes) {
    throw InvalidConfigError(fmt::format(
        "shoal: Config::object_store_memory is {} bytes; use at least {} (1 MiB), or 0 for 30% of "
        "available memory",
        config.object_store_memory, kMinStoreBytes));
  }
  if (too_large || store > available) {
    throw InvalidConfigError(fmt::format(
        "shoal: Config::object_store_memory is {} bytes, more than the {} bytes of memory this "
        "machine can give now (MemAvailable, or the cgroup limit's headroom); pass at most that, "
        "or 0 for 30% of it",
        config.object_store_memory, available));
  }
  const std::uint64_t memory = available > store ? available - store : 0;

  std::shared_ptr<Runtime> rt(new Runtime(config, workers, store, memory));
  rt->log_level_ = level;
  rt->start_method_ = method;
  rt->launch();
  return rt;
}

Runtime::Runtime(const Config& config, int num_workers, std::uint64_t store_bytes,
                 std::uint64_t memory_bytes)
    : config_(config),
      num_workers_(num_workers),
      store_bytes_(store_bytes),
      memory_bytes_(memory_bytes),
      scheduler_(num_workers, memory_bytes, num_workers),
      slots_(static_cast<std::size_t>(num_workers)) {}

Runtime::~Runtime() { shutdown(); }

void Runtime::launch() {
  arena_ = Arena::create(store_bytes_);
  allocator_ = std::make_unique<Allocator>(arena_->base(), arena_->size());
  objects_ = std::make_unique<ObjectTable>(allocator_.get());
  space_queue_ = std::make_unique<SpaceQueue>(allocator_.get());
  allocator_->max_object_bytes();  // measured now, while the arena is empty (runtime_space.cpp)

  // The fork helper is forked before shoal creates any thread or Asio object, so it inherits
  // neither (see fork_helper.hpp). A helper started afresh (forkserver) may know fewer functions:
  // it says so in HelperReady, before any worker is ready.
  registry_size_ = FunctionRegistry::instance().size();
  // Memory malloc holds free (say, the tables of an earlier session) would be shared copy-on-write
  // with the helper for the whole session, so the driver would pay a page copy (21 us here, plus
  // a TLB shootdown) for each page of it that it reuses. Giving it back costs 0.3 us a page:
  // measured, the second session's first 100,000 tasks ran at 130-160k/s without this and
  // 380k/s with it, for 4-6 ms spent here returning their 70 MB.
  malloc_trim(0);
  helper_ = ForkHelper::start(start_method_, log_level_, *arena_);
  io_ = std::make_unique<boost::asio::io_context>(1);
  work_.emplace(io_->get_executor());
  output_ = std::make_unique<WorkerOutput>(*io_);
  try {
    std::lock_guard<Mutex> lock(mu_);
    helper_connection_ =
        std::make_shared<Connection>(*io_, helper_->take_control_fd(), listener(), -1);
    helper_connection_->start();
    for (int slot = 0; slot < num_workers_; ++slot) {
      slots_[static_cast<std::size_t>(slot)].connection = spawn_worker(slot);
      slots_[static_cast<std::size_t>(slot)].connection->start();
    }
  } catch (...) {
    shutdown();
    throw;
  }
  io_thread_ = std::thread([this] { run_io(); });

  std::unique_lock<Mutex> lock(mu_);
  const bool started = started_cv_.wait_for(
      lock, kStartTimeout, [this] { return ready_workers_ == num_workers_ || !failure_.empty(); });
  if (started && failure_.empty()) {
    state_ = State::kRunning;
    running_.store(true, std::memory_order_release);
    SHOAL_LOG(kInfo, "started {} workers, object store of {} bytes", num_workers_, store_bytes_);
    return;
  }
  const std::string why =
      failure_.empty() ? "timed out waiting for the workers to start" : failure_;
  lock.unlock();
  shutdown();
  throw SystemError("shoal: init() failed: " + why);
}

void Runtime::check_not_abandoned() const {
  if (abandoned_.load(std::memory_order_relaxed)) {
    throw Error(
        "shoal: this process is a fork() of a program running shoal; it shares that session's "
        "sockets and cannot use it. Use shoal from the parent, or fork before shoal::init()");
  }
}

void Runtime::check_running() const {
  if (state_ == State::kRunning) return;
  if (state_ == State::kStarting) throw NotInitializedError("shoal: init() has not finished");
  if (state_ == State::kBroken) {
    throw Error("shoal: the session is broken (" + failure_ +
                "); call shutdown() and init() again");
  }
  throw InvalidObjectRefError(
      "shoal: this ObjectRef belongs to a shoal session that was shut down; refs do not carry "
      "over from one init() to the next");
}

void Runtime::shutdown() {
  {
    std::lock_guard<Mutex> lock(mu_);
    if (state_ == State::kStopping || state_ == State::kStopped) return;
    state_ = State::kStopping;
    running_.store(false, std::memory_order_release);
    auto error = std::make_shared<ErrorInfo>();
    error->kind = ErrorInfo::Kind::kShutdown;
    error->what = "shoal was shut down before this object was ready";
    scheduler_.clear();
    if (objects_) objects_->fail_all_pending(error);  // null if init() failed before the store
    close_space_waiters();
  }
  // Close every socket on the I/O thread (Asio objects belong to it), then let it finish. It
  // finishes when the workers' output pipes reach EOF too (or the drain limit passes), so every
  // line a worker wrote has been printed when shutdown() returns.
  if (io_) {
    boost::asio::post(*io_, [this] {
      std::lock_guard<Mutex> lock(mu_);
      if (helper_connection_) helper_connection_->close_quietly();
      for (WorkerSlot& s : slots_) {
        if (s.connection) s.connection->close_quietly();
      }
      if (output_) output_->drain(kOutputDrainLimit);
    });
    work_.reset();
    if (io_thread_.joinable()) {
      io_thread_.join();
    } else {
      io_->run();  // start() failed before the thread existed: run the close handler here
    }
  }
  // The helper saw EOF on its control socket: it kills and reaps the workers, then exits.
  if (helper_) helper_->wait_exit(kHelperExitGrace);
  std::lock_guard<Mutex> lock(mu_);
  helper_connection_.reset();
  for (WorkerSlot& s : slots_) {
    s.eof_timer.reset();  // before the io_context it belongs to
    s.connection.reset();
  }
  output_.reset();  // before io_: its pipes are registered there
  io_.reset();
  logging::flush();
  state_ = State::kStopped;
  // The arena stays mapped while a reader is decoding from it; the allocator's table goes now.
  objects_.reset();
  allocator_.reset();
  arena_.reset();
}

// ---------------------------------------------------------------------------------------------
// The I/O thread.

// Asks the kernel for a short time slice for this thread (Linux >= 6.12, EEVDF: sched_attr's
// sched_runtime for SCHED_OTHER). The I/O thread runs often and briefly; with every core busy
// running workers, a normal 3 ms slice made it wait for a worker's slice to end before it could
// hand out the next task (waits of 2-8 ms measured in the image demo). With a short slice it gets
// an earlier deadline and preempts on wake-up. Its share of CPU does not change. Older kernels
// refuse or ignore the request, which is harmless.
static void request_short_slice() {
  struct {  // the kernel's struct sched_attr (linux/sched/types.h clashes with <sched.h>)
    std::uint32_t size, sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime, sched_deadline, sched_period;
    std::uint32_t sched_util_min, sched_util_max;
  } attr{};
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_OTHER;
  attr.sched_nice = static_cast<std::int32_t>(getpriority(PRIO_PROCESS, 0));
  attr.sched_runtime = 100'000;  // ns
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) {
    SHOAL_LOG(kDebug, "no short time slice for the I/O thread: {}", std::strerror(errno));
  }
}

// Runs the Asio loop. After a burst of work, while some worker is idle, it keeps polling
// (non-blocking) for up to kPollBeforeBlocking before it blocks in epoll_wait: the answer to a
// synchronous call then needs no wake-up, which costs tens of microseconds here. While every worker
// is busy it blocks at once: polling then only takes CPU from the workers and uses up this thread's
// short slice (measured in the image demo: replies waited p50 344 us for this thread with polling,
// 39-90 us without; processing 120-140 ms against 85-105 ms). Nor does it poll while a program
// thread spins in get()/wait() (wait_for): with two cores, three pollers (that thread, this one,
// the worker waiting for its next task) leave one of them without a core, and the answer waits for
// it; blocking here costs one wake-up instead (measured: sync round trip p50 30 -> 21 us, p99 140
// -> 75 us). A chain of tasks, whose next task this thread sends itself, keeps the poll.
void Runtime::run_io() {
  request_short_slice();
  const auto may_poll = [this] {
    return io_may_poll_.load(std::memory_order_relaxed) &&
           spinning_waiters_.load(std::memory_order_relaxed) == 0 &&
           std::chrono::steady_clock::now().time_since_epoch().count() -
                   last_waiter_spin_.load(std::memory_order_relaxed) >
               std::chrono::nanoseconds(kPollBeforeBlocking).count();
  };
  while (!io_->stopped()) {
    if (io_->poll() > 0) continue;
    bool worked = false;
    if (may_poll()) {
      const auto spin_until = std::chrono::steady_clock::now() + kPollBeforeBlocking;
      while (!io_->stopped() && may_poll() && std::chrono::steady_clock::now() < spin_until) {
        if (io_->poll() > 0) {
          worked = true;
          break;
        }
        sched_yield();
      }
    }
    if (!worked && io_->run_one() == 0) break;  // run_one() blocks; 0 means out of work
  }
}

// The I/O thread's entry points.

void Runtime::on_frames(Connection& connection, FrameParser& parser) {
  std::lock_guard<Mutex> lock(mu_);
  if (state_ == State::kStopping || state_ == State::kStopped) return;
  FrameParser::Frame frame;
  while (parser.next(&frame)) {
    if (connection.tag() < 0) {
      handle_helper_frame(frame);
    } else {
      handle_worker_frame(connection.tag(), frame);
    }
  }
  pump();
}

void Runtime::on_closed(Connection& connection, const std::string& reason, bool peer_alive) {
  std::lock_guard<Mutex> lock(mu_);
  if (state_ == State::kStopping || state_ == State::kStopped) return;
  if (connection.tag() < 0) {  // without the helper no worker can be replaced
    // Its workers die with it (their PR_SET_PDEATHSIG), but what their tasks started does not:
    // the helper used to kill each worker's process group and can no longer. A group's id is
    // not reused while it has members, so this reaches only what the workers left behind.
    for (const WorkerSlot& s : slots_) {
      if (s.pid > 0) kill(-s.pid, SIGKILL);
    }
    break_session("the fork helper died: " + reason);
    return;
  }
  // Only the slot's current connection counts: an older one was closed when its worker was
  // replaced, and a late report from it says nothing about the new worker.
  const auto slot = static_cast<std::size_t>(connection.tag());
  if (slot >= slots_.size() || slots_[slot].connection.get() != &connection) return;
  // Alive or not, the helper kills it (on_connection_lost). One we cut off for bad input is
  // reported as such, not as "killed by SIGKILL", which would point the user at the OOM killer.
  const WorkerSlot::Phase phase = slots_[slot].phase;
  if (peer_alive && (phase == WorkerSlot::Phase::kStarting || phase == WorkerSlot::Phase::kReady)) {
    slots_[slot].exit_override = "sent bad input, so the driver cut it off and killed it";
  }
  on_connection_lost(connection.tag(), reason);
  pump();
}

void Runtime::handle_helper_frame(const FrameParser::Frame& frame) {
  if (frame.header.type == MessageType::kHelperReady) {
    on_helper_ready(frame);
    return;
  }
  const auto slot = static_cast<std::size_t>(frame.header.id);
  if (slot >= slots_.size()) throw DecodeError("fork helper names an unknown worker slot");
  WorkerSlot& s = slots_[slot];
  switch (frame.header.type) {
    case MessageType::kSpawned:
      s.pid = static_cast<pid_t>(decode_spawned(frame).pid);
      output_->begin(static_cast<int>(slot), s.pid);  // its lines can be labelled now
      break;
    case MessageType::kExited: {
      const Exited e = decode_exited(frame);
      on_worker_exited(static_cast<int>(slot), static_cast<pid_t>(e.pid), e.status);
      break;
    }
    case MessageType::kSpawnFailed: {
      const int err = decode_spawn_failed(frame).error;
      output_->begin(static_cast<int>(slot), 0);  // the helper closed the pipes: EOF
      // The helper closed its end of the worker's socket too, so on_closed() follows (or came
      // already) and counts this as a failed start.
      SHOAL_LOG(kError, "could not start worker {}: fork failed: {}", slot, std::strerror(err));
      if (state_ == State::kStarting) {
        failure_ = fmt::format("fork of worker {} failed: {}", slot, std::strerror(err));
        started_cv_.notify_all();
      }
      // No process will be reaped: this is its exit.
      s.exit_override = fmt::format("could not be started (fork failed: {})", std::strerror(err));
      on_worker_exited(static_cast<int>(slot), s.pid, 0);
      break;
    }
    default:
      throw DecodeError(std::string("unexpected ") + message_type_name(frame.header.type) +
                        " message from the fork helper");
  }
}

// The helper's registry must be the start of ours: the same functions in the same order (the same
// binary's static initialisers), perhaps fewer (ours may have grown since: a library loaded at run
// time registering functions, which a fresh start does not load).
void Runtime::on_helper_ready(const FrameParser::Frame& frame) {
  const HelperReady ready = decode_helper_ready(frame);
  const std::uint32_t functions = ready.functions;
  const std::uint64_t hash = ready.hash;
  const FunctionRegistry& registry = FunctionRegistry::instance();
  if (functions > registry_size_ || registry.prefix_hash(functions) != hash) {
    const std::string why = fmt::format(
        "the fork helper knows other remote functions than this process ({} against {}): the "
        "program's file was probably replaced since it started; start it again, or use "
        "Config::start_method = \"fork\"",
        functions, registry_size_.load());
    if (state_ == State::kStarting) {
      failure_ = why;
      started_cv_.notify_all();
    }
    break_session(why);
    return;
  }
  if (functions < registry_size_) {
    SHOAL_LOG(kInfo,
              "the fork helper knows {} of this process's {} remote functions: the others were "
              "registered after the program started (a library loaded at run time)",
              functions, registry_size_.load());
  }
  registry_size_ = functions;
}

void Runtime::handle_worker_frame(int slot, const FrameParser::Frame& frame) {
  switch (frame.header.type) {
    case MessageType::kReady:
      on_ready(slot, frame);
      break;
    case MessageType::kAllocRequest:
      on_alloc_request(slot, frame);
      break;
    case MessageType::kTaskDone:
      on_task_done(slot, frame);
      break;
    default:
      throw DecodeError(std::string("unexpected ") + message_type_name(frame.header.type) +
                        " message from a worker");
  }
}

void Runtime::on_ready(int slot, const FrameParser::Frame& frame) {
  WorkerSlot& s = slots_[static_cast<std::size_t>(slot)];
  if (s.phase != WorkerSlot::Phase::kStarting ||
      frame.header.id != static_cast<std::uint64_t>(slot)) {
    throw DecodeError("unexpected Ready message");
  }
  s.pid = static_cast<pid_t>(decode_ready(frame).pid);
  s.phase = WorkerSlot::Phase::kReady;
  s.failed_starts = 0;
  scheduler_.worker_up(slot);
  if (state_ == State::kStarting && ++ready_workers_ == num_workers_) started_cv_.notify_all();
}

// The worker's socket closed (EOF, an I/O error, or we cut it off for a bad message). Its queued
// tasks go back to the ready queue now; the helper is told to make sure it is dead (a worker we
// cut off may still run, stuck or hostile) and will report how it ended (on_worker_exited).
void Runtime::on_connection_lost(int slot, const std::string& reason) {
  WorkerSlot& s = slots_[static_cast<std::size_t>(slot)];
  if (s.phase == WorkerSlot::Phase::kExiting || s.phase == WorkerSlot::Phase::kDead) return;
  s.lost_while_starting = s.phase == WorkerSlot::Phase::kStarting;
  s.phase = WorkerSlot::Phase::kExiting;
  s.lost_reason = reason;
  if (s.connection) s.connection->close_quietly();        // if the EOF timer fired, it is open
  if (s.result_block) allocator_->free(*s.result_block);  // never sealed: nobody can see it
  s.result_block.reset();
  cancel_deferred_alloc(slot);  // its request for result space goes with it
  try {
    helper_->kill_worker(slot);
  } catch (const Error& e) {
    break_session(std::string("the fork helper is gone: ") + e.what());
    return;
  }
  if (!s.lost_while_starting) {
    if (std::optional<TaskSpec> task = scheduler_.worker_down(slot)) {
      if (task->max_retries < 0 || task->attempts <= task->max_retries) {
        SHOAL_LOG(kWarn, "worker {} (pid {}) died running {} (attempt {}; {}); retrying it", slot,
                  s.pid, task->name, task->attempts, reason);
        scheduler_.retry(std::move(*task));
      } else {
        s.dying_task = std::move(task);
      }
    }
  }
  if (s.exit_status) finish_worker_exit(slot, *s.exit_status);  // reaped before the EOF
}

// The fork helper reaped a worker (or could not fork it). If its socket's EOF has not been read
// yet, the socket may still hold its last messages (a TaskDone, a truncated frame): the I/O thread
// reads them first, and on_connection_lost() finishes the exit. A socket that stays open after
// its process is gone is held by a process the task started that left the worker's group; after
// kEofGrace the worker is taken as lost anyway, so nothing waits for that process.
void Runtime::on_worker_exited(int slot, pid_t pid, int wait_status) {
  WorkerSlot& s = slots_[static_cast<std::size_t>(slot)];
  if (s.pid != 0 && pid != s.pid) return;  // not this slot's current worker (cannot happen)
  if (s.phase == WorkerSlot::Phase::kStarting || s.phase == WorkerSlot::Phase::kReady) {
    s.exit_status = wait_status;
    s.eof_timer = std::make_unique<boost::asio::steady_timer>(*io_, kEofGrace);
    s.eof_timer->async_wait([this, slot](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: the EOF came, or the slot was refilled
      std::lock_guard<Mutex> lock(mu_);
      if (state_ == State::kStopping || state_ == State::kStopped) return;
      const WorkerSlot::Phase phase = slots_[static_cast<std::size_t>(slot)].phase;
      if (phase != WorkerSlot::Phase::kStarting && phase != WorkerSlot::Phase::kReady) return;
      on_connection_lost(slot,
                         "its process ended but its socket stayed open: a process its task "
                         "started holds it");
      pump();
    });
    return;
  }
  if (s.phase == WorkerSlot::Phase::kExiting) finish_worker_exit(slot, wait_status);
}

// The second half of a worker's death: its connection is gone and its process reaped. Fails a
// task out of retries with how the worker ended, and refills the slot.
void Runtime::finish_worker_exit(int slot, int wait_status) {
  WorkerSlot& s = slots_[static_cast<std::size_t>(slot)];
  const pid_t pid = s.pid;
  s.exit_status.reset();
  s.eof_timer.reset();

  ExitStatus how = describe_exit(wait_status);
  if (!s.exit_override.empty()) how.text = s.exit_override;
  SHOAL_LOG(kWarn, "worker {} (pid {}) {} ({})", slot, pid, how.text, s.lost_reason);
  s.phase = WorkerSlot::Phase::kDead;
  if (state_ == State::kStarting) {
    failure_ = fmt::format("worker {} (pid {}) {} while starting ({})", slot, pid, how.text,
                           s.lost_reason);
    started_cv_.notify_all();
    return;
  }
  if (std::optional<TaskSpec> task = std::exchange(s.dying_task, std::nullopt)) {
    auto error = std::make_shared<ErrorInfo>();
    error->kind = ErrorInfo::Kind::kWorkerCrashed;
    error->function = task->name;
    error->pid = pid;
    error->attempts = task->attempts;
    error->signal = how.signal;
    error->exit_code = how.exit_code;
    error->what = fmt::format(
        "shoal: the worker (pid {}) running {} {} ({}); the task was started {} time(s) and its "
        "worker died each time. If the function crashes (a bad pointer, abort(), exit(), running "
        "out of memory), fix it; if something else kills workers, raise TaskOptions::max_retries",
        pid, task->name, how.text, s.lost_reason, task->attempts);
    const std::uint64_t id = task->id;
    release_args(*task);
    fail_object(id, std::move(error));
  }
  if (s.lost_while_starting && ++s.failed_starts >= kMaxFailedStarts) {
    SHOAL_LOG(kError, "worker {} died {} times before it was ready ({}); not replacing it again",
              slot, s.failed_starts, how.text);
    for (const WorkerSlot& other : slots_) {
      if (other.phase != WorkerSlot::Phase::kDead) return;  // the others carry on
    }
    break_session("no worker could be started: the last one " + how.text);
    return;
  }
  respawn(slot);
}

void Runtime::respawn(int slot) {
  WorkerSlot& s = slots_[static_cast<std::size_t>(slot)];
  try {
    s.connection = spawn_worker(slot);
    s.phase = WorkerSlot::Phase::kStarting;
    s.pid = 0;
    s.exit_override.clear();
    s.connection->start();
  } catch (const Error& e) {
    SHOAL_LOG(kError, "could not replace worker {}: {}", slot, e.what());
    break_session(std::string("could not reach the fork helper: ") + e.what());
  }
}

std::shared_ptr<Connection> Runtime::spawn_worker(int slot) {
  const ForkHelper::WorkerFds fds = helper_->spawn(slot, config_.log_to_driver);
  if (fds.out >= 0) output_->add(slot, fds.out, fds.err);
  return std::make_shared<Connection>(*io_, fds.socket, listener(), slot);
}

// Fails everything pending; later calls throw until shutdown(). Waiting threads wake up.
void Runtime::break_session(const std::string& why) {
  if (state_ != State::kRunning && state_ != State::kStarting) return;
  SHOAL_LOG(kError, "{}; failing all tasks. Call shutdown() and init() again", why);
  failure_ = why;
  if (state_ == State::kRunning) state_ = State::kBroken;
  running_.store(false, std::memory_order_release);
  auto error = std::make_shared<ErrorInfo>();
  error->kind = ErrorInfo::Kind::kWorkerCrashed;
  error->what = "shoal: " + why + "; call shutdown() and init() again";
  for (const TaskSpec& t : scheduler_.clear()) {
    release_args(t);
    objects_->fail(t.id, error);
  }
  for (WorkerSlot& s : slots_) {
    if (std::optional<TaskSpec> t = std::exchange(s.dying_task, std::nullopt)) {
      release_args(*t);
      objects_->fail(t->id, error);
    }
  }
  objects_->fail_all_pending(error);
  started_cv_.notify_all();
  space_cv_.notify_all();  // put()s waiting for store space see the state and throw
}

// ---------------------------------------------------------------------------------------------

std::map<std::string, double> Runtime::resources(bool available) {
  std::lock_guard<Mutex> lock(mu_);
  check_running();
  std::map<std::string, double> out;
  const double cpus = available ? scheduler_.cpus_available() : num_workers_;
  const double memory =
      static_cast<double>(available ? scheduler_.memory_available() : memory_bytes_);
  if (cpus > 1e-9 || !available) out["CPU"] = cpus;
  if (memory > 0 || !available) out["memory"] = memory;
  out["object_store_memory"] = static_cast<double>(store_bytes_);
  if (node_address_.empty()) node_address_ = node_address();  // getifaddrs(): not on init's path
  out["node:" + node_address_] = 1.0;
  return out;
}

ObjectStoreStats Runtime::stats() {
  std::lock_guard<Mutex> lock(mu_);
  check_running();
  ObjectStoreStats s;
  s.capacity_bytes = store_bytes_;
  s.used_bytes = allocator_->used_bytes();
  s.inline_bytes = objects_->inline_bytes();
  s.num_objects = objects_->size();
  return s;
}

pid_t Runtime::TEST_fork_helper_pid() const { return helper_ ? helper_->pid() : 0; }

std::vector<pid_t> Runtime::TEST_worker_pids() {
  std::lock_guard<Mutex> lock(mu_);
  std::vector<pid_t> pids;
  for (const WorkerSlot& s : slots_) {
    if (s.phase == WorkerSlot::Phase::kReady) pids.push_back(s.pid);
  }
  return pids;
}

}  // namespace shoal::internal
