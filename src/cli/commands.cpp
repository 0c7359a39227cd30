// The subcommands: find the session (session_directory), ask it (control_client), print or write
// the answer. Every way of not reaching a session is a ControlError whose message is the one
// line the user sees; it always ends the command with exit code 2.
#include "src/cli/commands.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include <unistd.h>

#include "src/control/control_client.hpp"
#include "src/control/control_error.hpp"
#include "src/control/session_directory.hpp"
#include "src/control/trace_html.hpp"

namespace shoal::cli {
namespace {

namespace control = shoal::internal::control;
using control::ControlError;
using control::ControlErrorKind;
using control::SessionAddress;
using nlohmann::json;

constexpr std::chrono::milliseconds kConnectTimeout{2000};

control::ClientOptions client_options(const CommonOptions& common) {
  control::ClientOptions options;
  options.connect_timeout = std::min(kConnectTimeout, common.timeout);
  options.reply_timeout = common.timeout;
  return options;
}

int fail(int code, const std::string& message) {
  std::cerr << "shoal: " << message << "\n";
  return code;
}

int cannot_attach(const ControlError& e) {
  std::string message = e.what();
  if (e.kind() == ControlErrorKind::kTimeout) message += "; a busy session may need --timeout";
  return fail(kExitCannotAttach, message);
}

std::string time_text(double unix_seconds) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm local{};
  if (localtime_r(&t, &local) == nullptr) return "?";
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S", &local);
  return buffer;
}

std::string member_text(const json& document, const char* key) {
  auto it = document.find(key);
  if (it == document.end()) return "?";
  return it->is_string() ? it->get<std::string>() : it->dump();
}

// The last part of a program's path: the table has no room for the whole of it (--json has).
std::string base_name(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos || slash + 1 == path.size() ? path : path.substr(slash + 1);
}

// One line per session: its hello, or why it did not answer.
struct Listed {
  SessionAddress address;
  json hello;         // null if it did not answer
  std::string error;  // why not
};

std::vector<Listed> hello_all(const std::vector<SessionAddress>& sessions,
                              const CommonOptions& common) {
  std::vector<Listed> listed;
  for (const SessionAddress& s : sessions) {
    Listed l{s, nullptr, ""};
    try {
      l.hello = control::ask(s, control::kHello, client_options(common)).document;
    } catch (const ControlError& e) {
      l.error = e.what();
    }
    listed.push_back(std::move(l));
  }
  return listed;
}

void print_table(std::ostream& out, const std::vector<Listed>& listed) {
  char line[512];
  std::snprintf(line, sizeof(line), "%-8s %-20s %-19s %s\n", "PID", "PROGRAM", "STARTED",
                "WORKERS");
  out << line;
  for (const Listed& l : listed) {
    if (l.hello.is_null()) {
      const std::string program = control::read_process(l.address.pid).program;
      std::snprintf(line, sizeof(line), "%-8d %-20s (no answer: %s)\n", l.address.pid,
                    program.c_str(), l.error.c_str());
    } else {
      auto started = l.hello.find("started_unix_s");
      const std::string when = started != l.hello.end() && started->is_number()
                                   ? time_text(started->get<double>())
                                   : "?";
      std::snprintf(line, sizeof(line), "%-8d %-20s %-19s %s\n", l.address.pid,
                    base_name(member_text(l.hello, "program")).c_str(), when.c_str(),
                    member_text(l.hello, "workers").c_str());
    }
    out << line;
  }
}

// The session to ask: process `pid`'s, or with pid 0 this user's only one. Throws ControlError;
// with several sessions it first prints them to stderr.
SessionAddress resolve(pid_t pid, const std::string& example, const CommonOptions& common) {
  const auto directory = control::SessionDirectory::scan();
  const uid_t me = geteuid();
  if (pid > 0) return directory.find(pid, me);
  const auto mine = directory.of_user(me);
  if (mine.empty()) {
    throw ControlError(ControlErrorKind::kNoSession,
                       "no shoal session of " + control::describe_user(me) +
                           " is running: start a program that calls shoal::init(), or pass the "
                           "PID of one");
  }
  if (mine.size() > 1) {
    print_table(std::cerr, hello_all(mine, common));
    throw ControlError(ControlErrorKind::kSeveral,
                       std::to_string(mine.size()) +
                           " shoal sessions are running: pass the PID of one, e.g. `shoal " +
                           example + " " + std::to_string(mine.front().pid) + "`");
  }
  return mine.front();
}

// Writes `text` to `path` ("-": stdout). Returns an empty string, or why it failed.
std::string write_output(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text;
    std::cout.flush();
    return std::cout ? "" : "cannot write to stdout";
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (out) out << text;
  if (out) out.close();
  if (!out) return "cannot write " + path + ": " + std::strerror(errno);
  return "";
}

std::string size_text(std::size_t bytes) {
  if (bytes >= 10 * 1024 * 1024) return std::to_string(bytes / (1024 * 1024)) + " MiB";
  if (bytes >= 10 * 1024) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace

int list_sessions(const CommonOptions& common, bool as_json) {
  std::vector<Listed> listed;
  try {
    listed = hello_all(control::SessionDirectory::scan().of_user(geteuid()), common);
  } catch (const ControlError& e) {
    return cannot_attach(e);
  }
  if (as_json) {
    json array = json::array();
    for (const Listed& l : listed) {
      array.push_back(l.hello.is_null() ? json{{"pid", l.address.pid}, {"error", l.error}}
                                        : l.hello);
    }
    std::cout << array.dump(2) << "\n";
    return kExitOk;
  }
  if (listed.empty()) {
    std::cout << "no shoal session of " << control::describe_user(geteuid()) << " is running\n";
    return kExitOk;
  }
  print_table(std::cout, listed);
  return kExitOk;
}

int print_summary(const CommonOptions& common, const std::string& command, pid_t pid,
                  bool as_json) {
  control::Reply reply;
  try {
    const SessionAddress session = resolve(pid, command, common);
    reply = control::ask(session, command, client_options(common));
  } catch (const ControlError& e) {
    return cannot_attach(e);
  }
  if (as_json) {
    std::cout << reply.text;
    if (!reply.text.empty() && reply.text.back() != '\n') std::cout << "\n";
    return kExitOk;
  }
  auto text = reply.document.is_object() ? reply.document.find("text") : reply.document.end();
  if (text == reply.document.end() || !text->is_string()) {
    std::cout << reply.document.dump(2) << "\n";
    return kExitOk;
  }
  std::string printable = text->get<std::string>();
  if (printable.empty() || printable.back() != '\n') printable.push_back('\n');
  std::cout << printable;
  return kExitOk;
}

int timeline(const CommonOptions& common, pid_t pid, const std::string& trace_file,
             const std::string& output, bool html) {
  std::string trace;
  std::string title;
  if (!trace_file.empty()) {
    std::ifstream in(trace_file, std::ios::binary);
    if (!in) return fail(kExitFailed, "cannot read " + trace_file + ": " + std::strerror(errno));
    std::ostringstream text;
    text << in.rdbuf();
    trace = text.str();
    title = "shoal timeline of " + trace_file;
  } else {
    try {
      const SessionAddress session = resolve(pid, html ? "timeline --html" : "timeline", common);
      trace = control::ask(session, control::kTimeline, client_options(common)).text;
      const std::string program = control::read_process(session.pid).program;
      title = "shoal timeline of process " + std::to_string(session.pid) +
              (program.empty() ? "" : " (" + program + ")");
    } catch (const ControlError& e) {
      return cannot_attach(e);
    }
  }
  std::string document = std::move(trace);
  if (html) {
    try {
      document = control::trace_to_html(document, {.title = title});
    } catch (const control::TraceFormatError& e) {
      return fail(kExitFailed,
                  (trace_file.empty() ? std::string("the session's trace") : trace_file) +
                      " cannot be drawn: " + e.what());
    }
  }
  if (const std::string error = write_output(output, document); !error.empty()) {
    return fail(kExitFailed, error);
  }
  if (output != "-") {
    std::cerr << "shoal: wrote " << output << " (" << size_text(document.size()) << ")\n";
  }
  return kExitOk;
}

}  // namespace shoal::cli
