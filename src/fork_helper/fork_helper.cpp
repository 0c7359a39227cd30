// Driver side of the fork helper: fork it, ask it for workers, reap it.
#include "src/fork_helper/fork_helper.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal/detail/byte_buffer.hpp>
#include <shoal/errors.hpp>

#include "src/transport/protocol.hpp"
#include "src/transport/socket_io.hpp"
#include "store/arena.hpp"

namespace shoal::internal {

namespace {

// The driver's argv, for the helper's command line (`ps` shows what it is a copy of).
std::vector<std::string> own_command_line() {
  std::vector<std::string> args;
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  for (std::string arg; std::getline(in, arg, '\0');) args.push_back(arg);
  if (args.empty()) args.emplace_back("shoal-forkserver");
  return args;
}

// Executes /proc/self/exe as the helper (forkserver.cpp takes over before its main()). posix_spawn
// is safe in a process with threads: the child does nothing but set up and exec. The helper
// inherits two descriptors (its end of the control socket and the store's memfd), named in
// kForkserverEnv with the rest of what it needs; everything else it has is close-on-exec.
pid_t spawn_forkserver(int control, logging::Level level, Arena& arena) {
  const std::string setting =
      fmt::format("{}=control={},store={},size={},driver={},level={}", kForkserverEnv, control,
                  arena.fd(), arena.size(), getpid(), static_cast<int>(level));
  std::vector<std::string> env_strings{setting};
  const std::string prefix = std::string(kForkserverEnv) + "=";
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, prefix.c_str(), prefix.size()) != 0) env_strings.emplace_back(*e);
  }
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = own_command_line();
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 onto itself clears close-on-exec in the child only (POSIX 2024, glibc >= 2.29).
  posix_spawn_file_actions_adddup2(&actions, control, control);
  posix_spawn_file_actions_adddup2(&actions, arena.fd(), arena.fd());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);    // not this thread's mask
  posix_spawnattr_setsigdefault(&attr, &all);  // not the program's handlers or ignored signals
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, "/proc/self/exe", &actions, &attr, argv.data(), envp.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    throw SystemError(fmt::format(
        "shoal: starting the fork helper by executing this program again (/proc/self/exe) "
        "failed: {}; use Config::start_method = \"fork\" if the program's file is gone",
        std::strerror(err)));
  }
  return pid;
}

}  // namespace

std::unique_ptr<ForkHelper> ForkHelper::start(StartMethod method, logging::Level level,
                                              Arena& arena) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    throw SystemError(
        fmt::format("shoal: socketpair for the fork helper failed: {}", std::strerror(errno)));
  }
  if (method == StartMethod::kForkserver) {
    pid_t pid = 0;
    try {
      pid = spawn_forkserver(fds[1], level, arena);
    } catch (...) {
      close(fds[0]);
      close(fds[1]);
      throw;
    }
    close(fds[1]);
    return std::unique_ptr<ForkHelper>(new ForkHelper(pid, fds[0]));
  }
  ForkHelperParams params;
  params.control = fds[1];
  params.driver_pid = getpid();
  params.level = level;
  params.arena_base = arena.base();
  params.arena_size = arena.size();

  // Output buffered in stdio now would otherwise be written again by every child that flushes.
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(fds[0]);
    close(fds[1]);
    throw SystemError(fmt::format("shoal: fork of the fork helper failed: {}", std::strerror(err)));
  }
  if (pid == 0) {
    close(fds[0]);
    arena.close_fd();  // the mapping is inherited; the descriptor is not needed
    run_fork_helper(params);
  }
  close(fds[1]);
  return std::unique_ptr<ForkHelper>(new ForkHelper(pid, fds[0]));
}

ForkHelper::~ForkHelper() {
  if (!reaped_) wait_exit(std::chrono::milliseconds(0));
}

int ForkHelper::take_control_fd() {
  const int copy = fcntl(control_fd_, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    throw SystemError(fmt::format("shoal: cannot duplicate the fork helper's control socket: {}",
                                  std::strerror(errno)));
  }
  return copy;
}

void ForkHelper::close_control() noexcept {
  if (control_fd_ >= 0) close(control_fd_);
  control_fd_ = -1;
}

ForkHelper::WorkerFds ForkHelper::spawn(std::uint64_t worker, bool forward_output) {
  if (control_fd_ < 0) {
    throw SystemError(fmt::format(
        "shoal: cannot start worker {}: the fork helper's control socket is closed (shutdown)",
        worker));
  }
  // Driver ends are [0], the worker's are [1]. Everything is close-on-exec: the driver's ends must
  // not leak into programs the user runs, and the helper's copies arrive close-on-exec as well
  // (MSG_CMSG_CLOEXEC) until the worker's dup2() onto 1 and 2 makes those two inheritable.
  int sock[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {sock[0], sock[1], out[0], out[1], err[0], err[1]}) {
      if (fd >= 0) close(fd);
    }
  };
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock) != 0 ||
      (forward_output && (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0))) {
    const int e = errno;
    close_all();
    throw SystemError(
        fmt::format("shoal: cannot create the socket or output pipes of worker {}: {}", worker,
                    std::strerror(e)));
  }
  detail::ByteBuffer frame;
  encode_spawn(frame, Spawn{worker, forward_output});
  const int attached[3] = {sock[1], out[1], err[1]};
  const int e = send_with_fds(control_fd_, frame.data(), frame.size(),
                              std::span<const int>(attached, forward_output ? 3 : 1));
  // The helper has its own copies now (or never will). Closing the write ends here matters: the
  // read ends reach EOF only when no process holds a write end.
  for (int* fd : {&sock[1], &out[1], &err[1]}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  if (e != 0) {
    close_all();
    throw SystemError(fmt::format("shoal: cannot reach the fork helper to start worker {}: {}",
                                  worker, std::strerror(e)));
  }
  return WorkerFds{sock[0], out[0], err[0]};
}

void ForkHelper::kill_worker(std::uint64_t worker) {
  if (control_fd_ < 0) {
    throw SystemError(fmt::format(
        "shoal: cannot stop worker {}: the fork helper's control socket is closed (shutdown)",
        worker));
  }
  detail::ByteBuffer frame;
  encode_kill(frame, Kill{worker});
  if (const int err = send_all(control_fd_, frame.data(), frame.size()); err != 0) {
    throw SystemError(fmt::format("shoal: cannot reach the fork helper to stop worker {}: {}",
                                  worker, std::strerror(err)));
  }
}

void ForkHelper::wait_exit(std::chrono::milliseconds grace) {
  if (reaped_) return;
  reaped_ = true;
  close_control();  // with the caller's copy closed too, the helper sees EOF and stops
  // A pidfd lets us wait with a timeout without touching SIGCHLD, which belongs to the program.
  const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  bool exited = false;
  if (pidfd >= 0) {
    pollfd p{pidfd, POLLIN, 0};
    exited = poll(&p, 1, static_cast<int>(grace.count())) == 1;
    close(pidfd);
  }
  if (!exited) {
    kill(-pid_, SIGKILL);  // its process group: the helper and every worker
    kill(pid_, SIGKILL);
  }
  int status = 0;
  // ECHILD if the program ignores SIGCHLD (the kernel reaped it): nothing left to do then.
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace shoal::internal
