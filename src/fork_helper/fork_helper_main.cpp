// The fork helper process (see fork_helper.hpp). Single-threaded and blocking: it waits in poll()
// for spawn requests from the driver and for SIGCHLD (through a signalfd), and does nothing else.
// Descriptors arrive in the order of the spawn requests that carry them (one message each), so
// a queue pairs them: each request takes its socket, then its two pipes if it says it has them.
#include <cerrno>
#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/common/function_registry.hpp"
#include "src/fork_helper/fork_helper.hpp"
#include "src/transport/frame.hpp"
#include "src/transport/protocol.hpp"
#include "src/transport/socket_io.hpp"
#include "worker/worker_loop.hpp"

namespace shoal::internal {
namespace {

// Sent to the helper by the kernel when the driver (the thread that forked it) dies.
constexpr int kDriverDeathSignal = SIGTERM;

class ForkHelperLoop {
 public:
  explicit ForkHelperLoop(const ForkHelperParams& p) : p_(p) {}

  [[noreturn]] void run() {
    setup();
    for (;;) {
      pollfd fds[2] = {{p_.control, POLLIN, 0}, {signal_fd_, POLLIN, 0}};
      if (poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        stop(3, fmt::format("poll failed: {}", std::strerror(errno)));
      }
      if (fds[1].revents != 0) on_signals();
      if (fds[0].revents != 0) read_requests();
    }
  }

 private:
  void setup() {
    // Own process group: Ctrl-C in a terminal reaches the driver, which decides; and shutdown can
    // kill the helper and all its workers with one signal if it must.
    setpgid(0, 0);
    // SIGCHLD (a worker ended) and kDriverDeathSignal are read from a signalfd, so they are
    // handled in this loop like any other event. Blocked before the prctl, so the death signal
    // cannot kill the helper before it is ready to hear it.
    sigset_t handled;
    sigemptyset(&handled);
    sigaddset(&handled, SIGCHLD);
    sigaddset(&handled, kDriverDeathSignal);
    sigprocmask(SIG_BLOCK, &handled, &saved_mask_);
    // The driver's death must end the processes tasks started too, so the helper must live long
    // enough to kill its workers' process groups: a catchable signal, not SIGKILL (with SIGKILL the
    // helper died at once, its workers followed through their own PR_SET_PDEATHSIG, and whatever
    // their tasks had started lived on, orphaned). The control socket's EOF says the same thing;
    // this signal also covers a driver whose end of that socket is still held by another process
    // (a fork() of the driver that has not exec'd).
    prctl(PR_SET_PDEATHSIG, kDriverDeathSignal);
    if (getppid() != p_.driver_pid) _exit(0);  // the driver died before prctl took effect
    logging::init_child(fmt::format("fork-helper pid {}", getpid()), p_.level);
    signal_fd_ = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
    if (signal_fd_ < 0) stop(3, fmt::format("signalfd failed: {}", std::strerror(errno)));
    // Which functions its workers will know: a fresh start of the program (forkserver) knows
    // those its static initialisers registered, which may be fewer than the driver knows.
    const FunctionRegistry& registry = FunctionRegistry::instance();
    const std::uint32_t functions = registry.size();
    report([&](detail::ByteBuffer& b) {
      encode_helper_ready(b, HelperReady{functions, registry.prefix_hash(functions)});
    });
  }

  void read_requests() {
    char* at = parser_.writable(4096);
    std::vector<int> received;
    const ssize_t n = recv_with_fds(p_.control, at, 4096, &received);
    parser_.commit(n > 0 ? static_cast<std::size_t>(n) : 0);
    for (int fd : received) fds_.push_back(fd);
    if (n == 0) stop(0, "");  // the driver closed the control socket: shut down
    if (n < 0) stop(0, "");   // ... or is gone
    try {
      Frame f;
      while (parser_.next(&f)) {
        if (f.header.type == MessageType::kKill) {
          kill_worker(decode_kill(f).worker);
          continue;
        }
        if (f.header.type != MessageType::kSpawn) {
          stop(2, fmt::format("unexpected {} message from the driver",
                              message_type_name(f.header.type)));
        }
        const Spawn spawn_request = decode_spawn(f);
        ChildFds child;
        if (!take_fd(&child.socket) ||
            (spawn_request.piped && (!take_fd(&child.out) || !take_fd(&child.err)))) {
          stop(2, "spawn request without its descriptors");
        }
        spawn(spawn_request.worker, child);
      }
    } catch (const FrameError& e) {
      stop(2, fmt::format("bad frame from the driver: {}", e.what()));
    } catch (const DecodeError& e) {
      stop(2, fmt::format("bad message from the driver: {}", e.what()));
    }
    parser_.compact();
  }

  // A worker's descriptors as the helper received them (-1: not sent; the worker keeps the
  // helper's stdout and stderr).
  struct ChildFds {
    int socket = -1;
    int out = -1;
    int err = -1;
    void close_all() const {
      for (int fd : {socket, out, err}) {
        if (fd >= 0) close(fd);
      }
    }
  };

  bool take_fd(int* fd) {
    if (fds_.empty()) return false;
    *fd = fds_.front();
    fds_.pop_front();
    return true;
  }

  void spawn(std::uint64_t worker, const ChildFds& fds) {
    const pid_t helper = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      const int err = errno;
      fds.close_all();  // the driver's ends see EOF
      SHOAL_LOG(kError, "fork of worker {} failed: {}", worker, std::strerror(err));
      report([&](detail::ByteBuffer& b) { encode_spawn_failed(b, SpawnFailed{worker, err}); });
      return;
    }
    if (pid == 0) run_worker_child(worker, fds, helper);
    setpgid(pid, pid);  // here too, so that it holds before either side goes on (as shells do)
    // The helper keeps no copy: the next worker must not inherit this one's socket or pipes, and
    // the driver's pipe read ends reach EOF only when the worker (and whatever it started) exits.
    fds.close_all();
    workers_.emplace(pid, worker);
    report([&](detail::ByteBuffer& b) { encode_spawned(b, Spawned{worker, pid}); });
  }

  // Only a worker not yet reaped is in workers_, so its pid cannot have been reused.
  void kill_worker(std::uint64_t worker) {
    for (const auto& [pid, w] : workers_) {
      if (w == worker) kill(pid, SIGKILL);
    }
  }

  [[noreturn]] void run_worker_child(std::uint64_t worker, ChildFds fds, pid_t helper) {
    close(p_.control);
    close(signal_fd_);
    for (int other : fds_) close(other);
    sigprocmask(SIG_SETMASK, &saved_mask_, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != helper) _exit(1);
    // Its own process group, so that the processes a task starts can be killed with it: the
    // helper SIGKILLs the group when it reaps the worker (see reap()).
    setpgid(0, 0);
    const bool forwarded = fds.out >= 0;
    const int log_fd = forwarded ? redirect_stdio(&fds) : STDERR_FILENO;
    logging::init_child(fmt::format("worker {} pid {}", worker, getpid()), p_.level, log_fd);
    WorkerParams wp;
    wp.output_forwarded = forwarded;
    wp.socket = fds.socket;
    wp.worker = worker;
    wp.arena_base = p_.arena_base;
    wp.arena_size = p_.arena_size;
    const int code = run_worker(wp);
    logging::flush();
    _exit(code);  // never run the driver's atexit handlers or static destructors in a worker
  }

  // Makes the pipes the worker's fds 1 and 2, and returns a close-on-exec copy of the stderr it
  // had (the driver's), where shoal's own log lines keep going with their "[shoal worker N pid P]"
  // tag; -1 if there was none. All our descriptors are first moved above 2, because one of them
  // may have been given number 1 or 2 if the program had closed its own stdout or stderr.
  static int redirect_stdio(ChildFds* fds) {
    for (int* fd : {&fds->socket, &fds->out, &fds->err}) {
      if (*fd > STDERR_FILENO) continue;
      const int moved = fcntl(*fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
      close(*fd);
      *fd = moved;
    }
    const int log_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    // dup2() clears close-on-exec: programs a task runs write to the pipes too.
    if (dup2(fds->out, STDOUT_FILENO) < 0 || dup2(fds->err, STDERR_FILENO) < 0) _exit(1);
    close(fds->out);
    close(fds->err);
    return log_fd;
  }

  // Reads the pending signals: kDriverDeathSignal stops the helper (and its workers and what they
  // started) if the driver is gone or someone else asked; SIGCHLD reaps workers.
  void on_signals() {
    signalfd_siginfo info{};
    while (read(signal_fd_, &info, sizeof info) == sizeof info) {
      if (info.ssi_signo != static_cast<std::uint32_t>(kDriverDeathSignal)) continue;
      // PR_SET_PDEATHSIG fires when the *thread* that forked the helper ends, which need not be
      // the whole driver (init() may run on a thread that exits later). The kernel sends it in the
      // name of the driver's pid; if the driver is still our parent, it is alive: carry on, and
      // the signal stays armed for the thread that is our parent now. Anyone else's SIGTERM is a
      // request to stop.
      const bool from_driver = static_cast<pid_t>(info.ssi_pid) == p_.driver_pid;
      if (!from_driver || getppid() != p_.driver_pid) stop(0, "");
    }
    reap();
  }

  void reap() {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      auto it = workers_.find(pid);
      if (it == workers_.end()) continue;
      const std::uint64_t worker = it->second;
      workers_.erase(it);
      // Processes the task started (in the worker's group, unless they left it) die with it.
      // The group id cannot be reused while a member lives, so this cannot hit a stranger.
      kill(-pid, SIGKILL);
      report([&](detail::ByteBuffer& b) { encode_exited(b, Exited{worker, pid, status}); });
    }
  }

  // Sends the frame `encode` writes to the driver.
  template <class Encode>
  void report(Encode&& encode) {
    detail::ByteBuffer frame;
    encode(frame);
    if (send_all(p_.control, frame.data(), frame.size()) != 0) stop(0, "");  // the driver is gone
  }

  // Kills and reaps every worker, then exits. Used for a normal shutdown as well, and when the
  // driver died however it died (the control socket's EOF, or kDriverDeathSignal).
  [[noreturn]] void stop(int code, const std::string& reason) {
    if (!reason.empty()) SHOAL_LOG(kError, "{}; stopping the workers", reason);
    for (const auto& [pid, worker] : workers_) {
      kill(-pid, SIGKILL);  // the worker and whatever its tasks started
      kill(pid, SIGKILL);   // in case it had not joined its group yet
    }
    for (const auto& [pid, worker] : workers_) {
      int status;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      // Once more: a process the task was forking at the first kill may have joined the group
      // after it. The group outlives its reaped leader while it has members, so this cannot hit
      // a stranger (a new process would have to make itself leader of a group with that id).
      kill(-pid, SIGKILL);
    }
    logging::flush();
    _exit(code);
  }

  ForkHelperParams p_;
  int signal_fd_ = -1;
  sigset_t saved_mask_{};
  FrameParser parser_;
  std::deque<int> fds_;  // descriptors received and not yet given to a worker
  std::unordered_map<pid_t, std::uint64_t> workers_;  // live workers: pid -> worker id
};

}  // namespace

void run_fork_helper(const ForkHelperParams& params) { ForkHelperLoop(params).run(); }

}  // namespace shoal::internal
