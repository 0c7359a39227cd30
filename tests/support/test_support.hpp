// Helpers for tests that check processes and leaks from the outside: which processes exist, what
// a process has open, what is in /dev/shm. Everything reads /proc; nothing here kills by name.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>
#include <sys/wait.h>

namespace shoal::testing {

/// True if pid names a process that has not exited (a zombie counts as exited).
bool process_alive(pid_t pid);
/// The parent pid of pid, or -1.
pid_t parent_of(pid_t pid);
/// Number of threads of pid.
int thread_count(pid_t pid);
/// Direct children of pid (all its threads'), from /proc/<pid>/task/*/children.
std::vector<pid_t> children_of(pid_t pid);
/// Open file descriptors of this process.
int open_fd_count();
/// Names in /dev/shm that contain "shoal" (case-insensitive).
std::vector<std::string> shoal_shm_entries();
/// Socket files under /tmp and /run whose name contains "shoal".
std::vector<std::string> shoal_socket_files();
/// Polls cond every millisecond until it holds or `limit` passes; returns its last value.
bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit);

// Sets the environment variable `name` to `value` (unsets it for null) while it lives, and puts
// back what was there. Not thread safe (setenv): use it where no other thread reads the
// environment.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const char* value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> saved_;
};

// ---- Tests that need something the machine may refuse (a mount namespace, a mount, a cgroup)
// run that part in a forked child. The child tells "the machine refused" apart from "shoal
// misbehaved" by its exit code, so the test skips with the reason in the first case and fails
// only in the second.

/// The exit code of a child whose prerequisite was refused (77: "skipped" for automake and meson).
inline constexpr int kRefusedExitCode = 77;

/// For the child: prints "refused: <what>: <strerror(err)>" (no strerror if err is 0) on stderr
/// and returns kRefusedExitCode. `what` says what the test asked for and why it needs it.
int refused(const std::string& what, int err = 0);

/// How a forked child ended.
struct ChildOutcome {
  bool timed_out = false;  // still running after the limit: it was SIGKILLed
  int status = 0;          // from waitpid(); -1 if it could not be started (err says why)
  std::string err;         // everything it wrote on stderr (up to the limit)

  bool refused() const { return WIFEXITED(status) && WEXITSTATUS(status) == kRefusedExitCode; }
  /// The reason the child printed through refused(), for GTEST_SKIP().
  std::string refusal() const;
};

/// Runs body in a forked child with stderr captured and exits the child with body's return value
/// (99 if it throws; it never returns into GoogleTest). Waits at most `limit` for the child's
/// stderr to close, then SIGKILLs it.
ChildOutcome run_in_child(const std::function<int()>& body, std::chrono::milliseconds limit);

}  // namespace shoal::testing
