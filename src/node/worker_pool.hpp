// A node's worker processes: starting them through the fork helper, their life as a state
// machine, how a death is seen and told to the runtime, and the respawn policy.
//
// Workers have ids (WorkerId) that grow: each worker, first or replacement, gets a new one, so a
// late report about a dead worker can never be taken for its replacement, and the pool may grow
// past one worker per CPU. The pool keeps `seats` workers: one per CPU, each replaced when it dies.
// It also lends workers outside the seats while tasks are blocked in get() or wait() and their
// children have nowhere to run (Ray starts workers the same way): a lent worker is not replaced
// when it dies, and the runtime retires it when it is idle and no longer needed.
//
//   starting --Ready--> ready --socket closed--> exiting --helper reaped it--> dead
//       \____________________socket closed____________/
//
// A death is seen twice: the worker's socket closes (at once; the runtime moves its tasks:
// on_worker_lost) and the fork helper reports Exited with the wait status (how it ended, for the
// error: on_worker_exited). A worker stays `exiting` in between, and its seat is refilled only
// after Exited, so a seat never has two workers. If Exited comes first, the socket is still read
// to its EOF (the worker's last TaskDone may be in it); a socket that stays open kEofGrace after
// its process is gone (held by a process the task started, which left the worker's group) is
// taken as closed. A seat whose workers die kMaxFailedStarts times in a row before Ready is given
// up; with every seat given up the pool has failed.
//
// Thread safety: none. Every member function runs with the runtime's lock held (the pool's timers
// go through Events::on_eof_timeout() to take it).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/types.h>

#include "src/common/exit_status.hpp"
#include "src/common/ids.hpp"
#include "src/fork_helper/fork_helper.hpp"
#include "src/node/worker_output.hpp"
#include "src/transport/connection.hpp"
#include "src/transport/protocol.hpp"

namespace shoal::internal {

class WorkerPool {
 public:
  /// What the pool tells the runtime (called with the runtime's lock held).
  class Events {
   public:
    /// The worker can take tasks.
    virtual void on_worker_ready(WorkerId worker) = 0;
    /// The worker's socket closed (it died, or was cut off): its tasks must go elsewhere, and the
    /// space it held in the store goes back. `was_ready` is false for one that never sent Ready.
    virtual void on_worker_lost(WorkerId worker, bool was_ready, const std::string& reason) = 0;
    /// The fork helper reaped it: how it ended, for the task it was running, if that task is
    /// out of retries.
    virtual void on_worker_exited(WorkerId worker, pid_t pid, const ExitStatus& how,
                                  const std::string& reason) = 0;
    /// No worker can be started any more (the fork helper is gone, or every seat failed).
    virtual void on_pool_failed(const std::string& why) = 0;
    /// A worker died while the pool was starting: init() fails with `why`.
    virtual void on_start_failed(const std::string& why) = 0;
    /// The fork helper's first message (the functions its workers know).
    virtual void on_helper_ready(const HelperReady& ready) = 0;
    /// A worker's EOF grace ran out (a timer, on the I/O thread, without the lock): take the lock
    /// and call WorkerPool::eof_grace_over().
    virtual void on_eof_timeout(WorkerId worker) = 0;

   protected:
    ~Events() = default;
  };

  /// How long a dead worker's socket may stay open before the worker is taken as lost anyway.
  static constexpr auto kEofGrace = std::chrono::seconds(1);
  /// Workers in a row that die before Ready after which a seat is given up.
  static constexpr int kMaxFailedStarts = 3;

  /// `listener` receives the workers' frames (the runtime reads them under its lock).
  WorkerPool(boost::asio::io_context& io, WorkerLauncher& helper, Connection::Listener* listener,
             Events& events, int seats, bool forward_output);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Asks for a worker in every seat. Throws SystemError if the helper cannot be reached.
  void start();
  /// init() has returned: a worker dying now is replaced, not a failed start.
  void mark_running() noexcept { starting_ = false; }

  /// Starts one more worker outside the seats (it becomes ready like the others). Throws Error if
  /// the helper cannot be reached.
  WorkerId lend();
  /// Marks a lent, ready worker (idle: the caller checks) as retiring: it no longer counts as lent
  /// (lent_count(), lent_ready()). Then retire() stops it.
  void begin_retire(WorkerId worker);
  /// Stops a lent worker quietly: no warning, no replacement. I/O thread only (it closes the
  /// worker's connection).
  void retire(WorkerId worker);
  /// Kills a worker on purpose (shoal::cancel() with force, shoal::kill()): its death is reported
  /// as any other, saying `why`, without a warning; a seat's worker is replaced. I/O thread only
  /// (it closes the worker's connection; an actor's only once SIGKILL has ended it, so that it
  /// cannot see EOF first and run its destructor).
  void kill(WorkerId worker, const std::string& why);
  /// Starts the process of an actor: a worker outside the seats, never replaced by the pool (the
  /// runtime restarts actors itself). It becomes ready like the others. Throws Error if the
  /// helper cannot be reached.
  WorkerId start_actor();
  /// Stops an actor's worker quietly by closing its socket: it runs its instance's destructor and
  /// exits; one still alive after `timeout` is killed. Its end is reported as any other (lost,
  /// then exited), without a warning, `why` being the reason. I/O thread only.
  void stop_actor(WorkerId worker, const std::string& why, std::chrono::milliseconds timeout);
  /// True for a worker started by lend().
  bool is_lent(WorkerId worker) const noexcept;
  /// Lent workers starting or ready.
  int lent_count() const noexcept;
  /// True while any lent worker exists (dying ones included): O(1), for every pump.
  bool has_lent() const noexcept { return lent_processes_ > 0; }
  /// The lent workers that are ready.
  std::vector<WorkerId> lent_ready() const;
  /// Worker processes that may be alive: starting, ready, or dying and not yet reaped.
  int process_count() const noexcept { return static_cast<int>(workers_.size()); }

  // ---- from the I/O thread, with the runtime's lock
  /// The fork helper's messages (Spawned, Exited, SpawnFailed, HelperReady). Throws DecodeError.
  void on_helper_frame(const Frame& frame);
  /// A Ready that arrived on worker `from`'s connection. Throws DecodeError if it names another
  /// worker (frames are untrusted input) or if that worker is not starting.
  void on_ready(WorkerId from, const Ready& ready);
  /// A worker's socket closed (`peer_alive`: we cut it off for bad input, it may still run).
  /// Reports from a connection that is no longer the worker's are ignored.
  void on_closed(const Connection& connection, const std::string& reason, bool peer_alive);
  /// The EOF grace of a worker reaped before its socket closed ran out.
  void eof_grace_over(WorkerId worker);

  /// The helper's control connection closed: every worker is gone with it.
  void helper_lost();
  /// shutdown(): closes every socket without reporting anything, and stops reading output after
  /// `drain_limit` (see WorkerOutput::drain).
  void close_all(std::chrono::milliseconds drain_limit);

  // ---- queries
  /// The connection of a ready worker, or null.
  Connection* connection(WorkerId worker) const noexcept;
  pid_t pid(WorkerId worker) const noexcept;
  std::vector<pid_t> ready_pids() const;
  /// Every process of the pool now, by id (shoal::status()).
  struct ProcessInfo {
    WorkerId id = 0;
    pid_t pid = 0;           // 0 while it is being forked
    const char* phase = "";  // "starting", "ready", "exiting"
    bool lent = false;       // started for a blocked task, beyond the CPU count
    bool actor = false;      // an actor's process
  };
  std::vector<ProcessInfo> processes() const;
  int ready_count() const noexcept;
  int seats() const noexcept { return static_cast<int>(seats_.size()); }
  WorkerOutput& output() noexcept { return output_; }

 private:
  enum class Phase { kStarting, kReady, kExiting, kDead };
  static constexpr int kLent = -1;   // the seat of a lent worker
  static constexpr int kActor = -2;  // the seat of an actor's worker
  struct Worker {
    WorkerId id = 0;
    int seat = 0;           // or kLent
    bool retiring = false;  // retire(): its end is expected
    bool stopping = false;  // stop_actor(): its socket is closed, its process should exit
    std::shared_ptr<Connection> connection;
    Phase phase = Phase::kStarting;
    pid_t pid = 0;
    std::string lost_reason;           // why its connection ended
    bool lost_while_starting = false;  // it never sent Ready
    std::optional<int> exit_status;    // reaped before its socket's EOF was read
    std::unique_ptr<boost::asio::steady_timer> eof_timer;
    // Says how it ended instead of the wait status: we cut it off for bad input (the SIGKILL is
    // ours, not the OOM killer's), or its fork failed.
    std::string exit_override;
  };
  struct Seat {
    int failed_starts = 0;  // workers in a row that died before Ready
    bool given_up = false;
  };

  Worker* find(WorkerId worker) noexcept;
  void spawn(int seat);
  void lost(Worker& w, const std::string& reason);
  void exited(WorkerId worker, pid_t pid, int wait_status);
  void finish_exit(Worker& w, int wait_status);

  boost::asio::io_context& io_;
  WorkerLauncher& helper_;
  Connection::Listener* listener_;
  Events& events_;
  const bool forward_output_;
  WorkerOutput output_;
  std::vector<Seat> seats_;
  std::map<WorkerId, Worker> workers_;  // alive, or dead and not yet forgotten
  WorkerId next_id_ = 0;
  int lent_processes_ = 0;  // lent workers in workers_
  bool starting_ = true;
};

}  // namespace shoal::internal
