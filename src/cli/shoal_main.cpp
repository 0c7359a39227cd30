// The `shoal` command: see what a running shoal program is doing. It attaches to the program's
// control socket (docs/protocol.md, "The control socket"); it does not link the runtime and never
// changes the program. Usage, exit codes and the security model: docs/observability.md, "The
// shoal command". This file only parses the command line (CLI11); commands.cpp does the work.
#include <charconv>
#include <string>

#include <CLI/CLI.hpp>

#include "src/cli/commands.hpp"

namespace {

constexpr const char* kDescription =
    "See what a running shoal program is doing: its sessions, tasks, memory and timeline.\n"
    "Attaches to the program's control socket; only the user who runs a program can attach to "
    "it.";

constexpr const char* kFooter =
    "PID is the process id of the program that called shoal::init() (`shoal list` shows them); "
    "without a PID, shoal picks your only running session.\n"
    "\n"
    "Exit codes: 0 done; 1 the output could not be written or a trace file not read; 2 no "
    "session to ask, or it did not answer in time (the message says why and what to do); CLI11's "
    "codes (100 and up) for a wrong command line.\n"
    "\n"
    "Examples:\n"
    "  shoal list\n"
    "  shoal status                        # the only session of yours\n"
    "  shoal memory 4242 --json\n"
    "  shoal timeline 4242 -o trace.json   # open in chrome://tracing or ui.perfetto.dev\n"
    "  shoal timeline --html -o page.html  # a page that opens offline in any browser\n"
    "  shoal timeline --html trace.json -o page.html";

// Parses a PID argument: a positive number that fits in pid_t.
bool parse_pid(const std::string& text, pid_t* pid) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *pid);
  return ec == std::errc() && ptr == end && *pid > 0;
}

// A PID argument's validator, for CLI11 (which calls it with the argument's text).
const CLI::Validator kPid(
    [](std::string& text) {
      pid_t pid = 0;
      return parse_pid(text, &pid) ? std::string() : "'" + text + "' is not a process id";
    },
    "", "PID");

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{kDescription, "shoal"};
  app.set_version_flag("--version", std::string("shoal ") + SHOAL_VERSION_TEXT);
  app.footer(kFooter);
  // At most one; none is reported after parsing, so that a mistyped command is named as such.
  app.require_subcommand(0, 1);
  app.fallthrough();  // --timeout may also follow the subcommand

  double timeout_seconds = 10;
  app.add_option("--timeout", timeout_seconds,
                 "Seconds to wait for the session's answer, 0.1 to 3600 (connecting waits at "
                 "most 2 s more)")
      ->check(CLI::Range(0.1, 3600.0).description(""))
      ->type_name("SECONDS")
      ->capture_default_str();

  CLI::App* list = app.add_subcommand(
      "list", "List your running shoal sessions: pid, program, start time, workers");
  bool list_json = false;
  list->add_flag("--json", list_json, "Print their hello documents as a JSON array");

  pid_t status_pid = 0;
  bool status_json = false;
  CLI::App* status = app.add_subcommand(
      "status", "Print a session's status: workers, tasks (running, queued, done, failed), actors");
  status->add_option("PID", status_pid, "The program's process id (default: your only session)")
      ->check(kPid);
  status->add_flag("--json", status_json, "Print the session's raw JSON reply");

  pid_t memory_pid = 0;
  bool memory_json = false;
  CLI::App* memory = app.add_subcommand(
      "memory",
      "Print a session's memory: object store use, the largest objects and who holds them");
  memory->add_option("PID", memory_pid, "The program's process id (default: your only session)")
      ->check(kPid);
  memory->add_flag("--json", memory_json, "Print the session's raw JSON reply");

  std::string timeline_target;
  std::string timeline_output = "-";
  bool timeline_html = false;
  CLI::App* timeline = app.add_subcommand(
      "timeline",
      "Write a session's timeline so far: a Chrome trace (JSON, for chrome://tracing or Perfetto), "
      "or with --html a self-contained page");
  timeline
      ->add_option("PID_OR_TRACE", timeline_target,
                   "The program's process id (default: your only session); with --html also "
                   "a trace.json written earlier")
      ->type_name("PID|FILE");
  timeline->add_option("-o,--output", timeline_output, "Where to write it; - is stdout")
      ->type_name("FILE")
      ->capture_default_str();
  timeline->add_flag("--html", timeline_html,
                     "Write an HTML page instead: one lane per process (driver, workers, actors), "
                     "a bar per task; opens offline in any browser");

  pid_t timeline_pid = 0;
  std::string timeline_file;
  try {
    app.parse(argc, argv);
    if (app.get_subcommands().empty()) {
      throw CLI::RequiredError("A command (list, status, memory or timeline)");
    }
    if (timeline->parsed() && !timeline_target.empty()) {
      if (timeline_target.find_first_not_of("0123456789") == std::string::npos) {
        if (!parse_pid(timeline_target, &timeline_pid)) {
          throw CLI::ValidationError("PID_OR_TRACE", timeline_target + " is not a valid PID");
        }
      } else if (!timeline_html) {
        throw CLI::ValidationError(
            "PID_OR_TRACE",
            "'" + timeline_target + "' is not a PID; a trace file can be read only with --html");
      } else {
        timeline_file = timeline_target;
      }
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  shoal::cli::CommonOptions common;
  common.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout_seconds * 1000));
  if (list->parsed()) return shoal::cli::list_sessions(common, list_json);
  if (status->parsed()) return shoal::cli::print_summary(common, "status", status_pid, status_json);
  if (memory->parsed()) return shoal::cli::print_summary(common, "memory", memory_pid, memory_json);
  return shoal::cli::timeline(common, timeline_pid, timeline_file, timeline_output, timeline_html);
}
