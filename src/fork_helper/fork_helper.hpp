// The fork helper ("zygote"): a small single-threaded process that init() forks first, before
// shoal starts any thread, and that forks every worker, the first ones and the replacements.
//
// Why: fork() copies only the calling thread, so forking a driver that runs threads (shoal's I/O
// thread, the user's own) can copy a lock some other thread held, for good. The helper is a copy of
// the driver taken while it was single-threaded (as far as shoal is concerned), and it never runs
// anything but this loop, so every worker starts clean. A respawn also copies the small helper,
// not a driver that may have grown to gigabytes since (fork() time and copy-on-write faults grow
// with its mappings).
//
// Fate sharing: the helper is in its own process group (terminal signals go to the driver only)
// and stops when its control socket reaches EOF, which the kernel guarantees when the driver dies
// however it dies, or when the kernel sends it SIGTERM (PR_SET_PDEATHSIG) because the driver died.
// Stopping means SIGKILLing each worker's process group, reaping the workers, then exiting: each
// worker leads its own process group, so processes a task started go with it (unless they left
// the group with setsid()/setpgid()). The same happens to one worker's group when that worker
// dies. Workers set PR_SET_PDEATHSIG(SIGKILL) on the helper, so they cannot outlive it either.
//
// Messages on the control socket: kSpawn (with the worker's socket, and the write ends of its
// stdout and stderr pipes when output is forwarded, as SCM_RIGHTS) and kKill in; kSpawned,
// kSpawnFailed and kExited out (see docs/protocol.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include <sys/types.h>

#include "src/common/logging.hpp"

namespace shoal::internal {

class Arena;

/// The environment variable that makes a fresh start of the program a fork helper
/// (StartMethod::kForkserver): "control=FD,store=FD,size=BYTES,driver=PID,level=N".
inline constexpr const char* kForkserverEnv = "SHOAL_FORKSERVER";

/// How the helper itself is started (Config::start_method).
enum class StartMethod {
  kFork,        // fork() of the driver as it is at init()
  kForkserver,  // this program's file executed afresh, stopped before main() (forkserver.cpp)
};

/// What a worker pool needs to start and stop its workers: the fork helper, or a fake in tests.
class WorkerLauncher {
 public:
  /// The driver's ends of a new worker's channels. Each is owned by the caller.
  struct WorkerFds {
    int socket = -1;  // the worker's socketpair
    int out = -1;     // read end of the worker's stdout pipe; -1 when output is not forwarded
    int err = -1;     // read end of the worker's stderr pipe; -1 likewise
  };

  /// Asks for a worker with id `worker`; its pid is reported later (Spawned). With
  /// `forward_output`, the worker's stdout and stderr become pipes whose read ends are returned;
  /// otherwise it keeps the driver's. Throws SystemError if a socketpair or pipe cannot be made
  /// or the launcher is gone (nothing is left open then).
  virtual WorkerFds spawn(std::uint64_t worker, bool forward_output) = 0;

  /// Asks for the worker to be SIGKILLed if it still runs; its end is reported later (Exited).
  /// Throws SystemError if the launcher is gone.
  virtual void kill_worker(std::uint64_t worker) = 0;

 protected:
  ~WorkerLauncher() = default;
};

/// Driver-side handle of the fork helper process.
class ForkHelper final : public WorkerLauncher {
 public:
  /// Starts the helper: forks it (kFork: call before shoal starts any thread) or executes the
  /// program afresh as one (kForkserver). Throws SystemError.
  static std::unique_ptr<ForkHelper> start(StartMethod method, logging::Level level, Arena& arena);

  ~ForkHelper();
  ForkHelper(const ForkHelper&) = delete;
  ForkHelper& operator=(const ForkHelper&) = delete;

  pid_t pid() const noexcept { return pid_; }

  /// A copy of the driver's end of the control socket, owned by the caller (a Connection that
  /// reads the helper's reports and closes it when the helper dies). This object sends requests
  /// on its own copy, which only wait_exit() closes: never a number that may have been closed and
  /// reused for another file meanwhile. The helper sees EOF once both are closed. Throws
  /// SystemError if the descriptor cannot be duplicated.
  int take_control_fd();

  /// Closes this object's copy of the control socket (shutdown(): with the caller's copy closed
  /// too, the helper sees EOF and kills its workers at once, before they find their own sockets
  /// closed and exit by themselves, which takes far longer). Later spawn() and kill_worker() throw
  /// SystemError. Not thread safe against them: call both under the same lock.
  void close_control() noexcept;

  WorkerFds spawn(std::uint64_t worker, bool forward_output) override;

  /// The helper is the worker's parent, so it can do this without the pid-reuse race a kill()
  /// from here would have. It then reports Exited as for any death.
  void kill_worker(std::uint64_t worker) override;

  /// Closes this object's end of the control socket (if close_control() has not), waits up to
  /// `grace` for the helper to exit
  /// (seeing EOF, it kills and reaps its workers first), then SIGKILLs its process group, and
  /// reaps it. Close the caller's copy (take_control_fd()) first.
  void wait_exit(std::chrono::milliseconds grace);

 private:
  ForkHelper(pid_t pid, int control_fd) : pid_(pid), control_fd_(control_fd) {}
  pid_t pid_;
  int control_fd_;
  bool reaped_ = false;
};

struct ForkHelperParams {
  int control = -1;  // the helper's end of the control socketpair
  pid_t driver_pid = 0;
  logging::Level level = logging::Level::kWarn;
  char* arena_base = nullptr;  // the store, mapped in the helper (inherited, or mapped afresh)
  std::uint64_t arena_size = 0;
};

/// The helper process's main loop. Never returns.
[[noreturn]] void run_fork_helper(const ForkHelperParams& params);

/// True if this program can start a helper with StartMethod::kForkserver: its main() is wrapped
/// (linked with -Wl,--wrap=main), so a fresh start of it can stop before main() runs.
bool forkserver_available() noexcept;

/// True while static initializers run, before main() (known only in a program linked with
/// -Wl,--wrap=main, as the CMake target links it; false otherwise).
bool before_main() noexcept;

}  // namespace shoal::internal
