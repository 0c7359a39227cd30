// Running programs from the `shoal` command's tests: one-shot runs with captured output and a hard
// timeout (the `shoal` binary, chromium), and a long-running program driven over its stdin and
// stdout (cli_target). Every child is killed and reaped by the time its object is gone or run()
// returns: the tests leave no processes behind.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace shoal::testing {

/// How a run() went.
struct RunResult {
  int exit_code = -1;      // the exit status, or 128 + signal if killed by one
  bool timed_out = false;  // killed at the timeout
  std::string out;         // all of stdout
  std::string err;         // all of stderr
};

/// Options of run() and Child.
struct RunOptions {
  /// "NAME=value" entries added to (or replacing in) the environment.
  std::vector<std::string> env;
  /// Runs in the child between fork() and exec() (setuid, setns...): only async-signal-safe calls.
  /// Returning false makes the child exit with code 127 before exec.
  std::function<bool()> in_child;
  /// Puts the child in a process group of its own, killed as a whole at the timeout and after
  /// the child exits (for programs that start helpers, such as chromium).
  bool own_process_group = false;
};

/// Runs argv[0] (a path) with argv, stdin at /dev/null, and waits for it for at most `timeout`,
/// then SIGKILLs it (and its group with own_process_group). Thread safe.
RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const RunOptions& options = {});

/// A program that runs while the test talks to it: its stdin and stdout are pipes.
class Child {
 public:
  /// Starts argv[0]; throws std::runtime_error if it cannot.
  explicit Child(const std::vector<std::string>& argv, const RunOptions& options = {});
  /// Closes its stdin, waits up to 20 s for it to exit, then SIGKILLs and reaps it.
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const noexcept { return pid_; }
  /// The next line it writes to stdout (without '\n'); empty after `timeout` or at its end.
  std::string read_line(std::chrono::milliseconds timeout);
  /// Writes `line` and '\n' to its stdin.
  void write_line(const std::string& line);
  /// Closes its stdin and waits up to `timeout` for it to exit; returns its exit code, or -1 if
  /// it is still running (it then stays for the destructor to kill).
  int close_and_wait(std::chrono::milliseconds timeout);
  /// SIGKILLs it and reaps it.
  void kill_now();

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  std::string buffered_;
  bool reaped_ = false;
};

/// A temporary directory, removed with everything in it when the object goes.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

/// The whole content of a file ("" if it cannot be read).
std::string read_file(const std::string& path);

}  // namespace shoal::testing
