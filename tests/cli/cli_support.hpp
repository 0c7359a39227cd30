// What the `shoal` command's tests share: running the built `shoal` binary, starting the real
// shoal program it attaches to (cli_target), and a sample trace in the runtime's shape.
// SHOAL_CLI and SHOAL_CLI_TARGET are the binaries' paths (compile definitions,
// tests/CMakeLists.txt).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "tests/cli/subprocess.hpp"

namespace shoal::testing {

/// Runs the `shoal` binary with `args`, for at most 60 s.
RunResult run_shoal(const std::vector<std::string>& args, const RunOptions& options = {});

/// The number of lines of `text` (a last line without '\n' counts).
std::size_t line_count(const std::string& text);

/// cli_target, a real shoal program, running until the object goes. start() returns nullptr
/// (and adds a test failure) if it did not print "ready <pid>" within 60 s.
class Target {
 public:
  static std::unique_ptr<Target> start(const RunOptions& options = {});
  pid_t pid() const noexcept { return child_.pid(); }
  /// Asks it to call shoal::shutdown() and waits for it to say it did; false if it did not in
  /// 30 s.
  bool shutdown_session();
  /// Asks it to exit and waits for that (30 s); returns its exit code or -1.
  int exit_and_wait();

 private:
  explicit Target(const RunOptions& options);
  Child child_;
};

/// A trace in the shape the runtime produces: a driver (two threads), two workers and an actor,
/// nested tasks, a phase, a failed attempt. Its lanes: 4.
extern const char* const kSampleTrace;
inline constexpr int kSampleTraceLanes = 4;

}  // namespace shoal::testing
