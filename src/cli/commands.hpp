// The `shoal` command's subcommands, one function each, separate from the command-line parsing
// in shoal_main.cpp. Each writes its result to stdout (or a file), its one-line error, prefixed
// "shoal: ", to stderr, and returns the process's exit code.
#pragma once

#include <chrono>
#include <string>

#include <sys/types.h>

namespace shoal::cli {

/// Exit codes besides CLI11's own for usage errors (docs/observability.md, "The shoal command").
enum ExitCode : int {
  kExitOk = 0,
  kExitFailed = 1,        // the answer could not be written, or a trace file could not be read
  kExitCannotAttach = 2,  // no session to ask, or it did not answer (the message says why)
};

/// Options every subcommand has.
struct CommonOptions {
  /// How long a session may take to answer (after connecting, which takes at most 2 s).
  std::chrono::milliseconds timeout{10000};
};

/// `shoal list [--json]`: this user's sessions, one line each (or a JSON array of their hello
/// documents). No session is not an error.
int list_sessions(const CommonOptions& common, bool json);

/// `shoal status|memory [PID] [--json]`: asks the session for `command` ("status" or "memory")
/// and prints its "text" member, or the whole JSON reply with --json. pid 0: this user's only
/// session.
int print_summary(const CommonOptions& common, const std::string& command, pid_t pid, bool json);

/// `shoal timeline [PID | TRACE.json] [-o FILE] [--html]`: the session's trace (Chrome trace
/// JSON) or, with html, a self-contained page drawing it. The trace comes from `trace_file` if it
/// is not empty (a trace written earlier; html only), else from process `pid`'s session (0: this
/// user's only session). `output` "-" is stdout.
int timeline(const CommonOptions& common, pid_t pid, const std::string& trace_file,
             const std::string& output, bool html);

}  // namespace shoal::cli
