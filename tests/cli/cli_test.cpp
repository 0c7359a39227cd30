// The `shoal` command, run as a user runs it (the built binary, as a child process), against:
//  - sessions served in this test process (a ControlServer with fixed handlers): the command's
//    own mechanics, independent of the runtime;
//  - a real shoal program (cli_target) while its session runs, after it called shutdown(), and
//    after it exited;
//  - pids that are not sessions: no such process, a process without shoal, another user's.
// Every failure to attach must be one line on stderr and exit code 2, quickly; usage errors keep
// CLI11's codes.
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/control/control_client.hpp"
#include "src/control/control_error.hpp"
#include "src/control/control_server.hpp"
#include "src/control/session_directory.hpp"
#include "tests/cli/cli_support.hpp"

namespace shoal::testing {
namespace {

using internal::ControlServer;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::string me() { return std::to_string(getpid()); }

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// Handlers in the runtime's shapes, answering for this process.
ControlServer::Handlers fake_session() {
  ControlServer::Handlers h;
  h.hello = [] {
    return json{{"pid", getpid()},
                {"program", "/opt/fake/bin/fake_program"},
                {"started_unix_s", 1700000000},
                {"workers", 3},
                {"shoal_version", "0.1.0"}}
        .dump();
  };
  h.status = [] { return json{{"text", "3 workers\n5 tasks running"}, {"running", 5}}.dump(); };
  h.memory = [] { return json{{"text", "object store: 1.0 MiB of 64 MiB"}}.dump(); };
  h.timeline = [] { return std::string(kSampleTrace); };
  return h;
}

// A pid that no process has: a child that exited and was reaped.
pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

// ---------------------------------------------------------------------------------------------
// The command line itself.

TEST(Cli, HelpDescribesEveryCommand) {
  const RunResult help = run_shoal({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* word : {"list", "status", "memory", "timeline", "--timeout", "Exit codes"}) {
    EXPECT_TRUE(contains(help.out, word)) << word << " missing from:\n" << help.out;
  }
  for (const char* command : {"status", "memory", "timeline"}) {
    const RunResult r = run_shoal({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_TRUE(contains(r.out, "PID")) << r.out;
  }
  const RunResult timeline = run_shoal({"timeline", "--help"});
  EXPECT_TRUE(contains(timeline.out, "--html")) << timeline.out;
  EXPECT_TRUE(contains(timeline.out, "-o,--output")) << timeline.out;
  EXPECT_EQ(run_shoal({"list", "--help"}).exit_code, 0);
  const RunResult version = run_shoal({"--version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_TRUE(contains(version.out, "shoal ")) << version.out;
}

TEST(Cli, UsageErrorsKeepCli11ExitCodes) {
  const RunResult none = run_shoal({});
  EXPECT_EQ(none.exit_code, static_cast<int>(CLI::ExitCodes::RequiredError));
  EXPECT_TRUE(contains(none.err, "A command (list, status, memory or timeline) is required"))
      << none.err;
  EXPECT_TRUE(contains(none.err, "--help")) << none.err;
  EXPECT_EQ(run_shoal({"status", "abc"}).exit_code,
            static_cast<int>(CLI::ExitCodes::ValidationError));
  EXPECT_EQ(run_shoal({"status", "0"}).exit_code,
            static_cast<int>(CLI::ExitCodes::ValidationError));
  EXPECT_EQ(run_shoal({"status", "1", "2"}).exit_code,
            static_cast<int>(CLI::ExitCodes::ExtrasError));
  const RunResult typo = run_shoal({"stauts"});
  EXPECT_EQ(typo.exit_code, static_cast<int>(CLI::ExitCodes::ExtrasError));
  EXPECT_TRUE(contains(typo.err, "not expected: stauts")) << typo.err;
  EXPECT_EQ(run_shoal({"--timeout", "0", "list"}).exit_code,
            static_cast<int>(CLI::ExitCodes::ValidationError));
  const RunResult file_without_html = run_shoal({"timeline", "trace.json"});
  EXPECT_EQ(file_without_html.exit_code, static_cast<int>(CLI::ExitCodes::ValidationError));
  EXPECT_TRUE(contains(file_without_html.err, "only with --html")) << file_without_html.err;
}

// ---------------------------------------------------------------------------------------------
// PIDs that are not sessions.

TEST(Cli, PidOfNoProcess) {
  const pid_t pid = dead_pid();
  for (const char* command : {"status", "memory", "timeline"}) {
    const RunResult r = run_shoal({command, std::to_string(pid)});
    EXPECT_EQ(r.exit_code, 2) << command;
    EXPECT_EQ(r.err, "shoal: no process has pid " + std::to_string(pid) +
                         ": check the PID; `shoal list` shows your running sessions\n");
    EXPECT_EQ(r.out, "");
  }
}

TEST(Cli, ProcessWithoutShoal) {
  // This test process (no ControlServer alive here now), and a `sleep`.
  RunResult r = run_shoal({"status", me()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_TRUE(contains(r.err, "process " + me() + " (")) << r.err;
  EXPECT_TRUE(contains(r.err, "has no running shoal session")) << r.err;

  Child sleeper({"/bin/sleep", "60"});
  // Give it time to exec (its name changes from the test's to sleep's).
  for (int i = 0; i < 100 && internal::control::read_process(sleeper.pid()).program != "sleep";
       ++i) {
    std::this_thread::sleep_for(10ms);
  }
  r = run_shoal({"memory", std::to_string(sleeper.pid())});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_TRUE(contains(r.err, "(sleep) has no running shoal session")) << r.err;
  sleeper.kill_now();
}

TEST(Cli, NoSessionAtAllWithoutAPid) {
  // In a network namespace of its own, the command sees no control socket at all.
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run the command in a new network namespace";
  RunOptions isolated;
  isolated.in_child = [] { return unshare(CLONE_NEWNET) == 0; };
  const RunResult status = run_shoal({"status"}, isolated);
  if (status.exit_code == 127) GTEST_SKIP() << "unshare(CLONE_NEWNET) is not allowed here";
  EXPECT_EQ(status.exit_code, 2);
  EXPECT_TRUE(contains(status.err, "shoal: no shoal session of ")) << status.err;
  EXPECT_TRUE(contains(status.err, "is running: start a program that calls shoal::init()"))
      << status.err;
  EXPECT_EQ(line_count(status.err), 1u);
  const RunResult list = run_shoal({"list"}, isolated);
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_TRUE(contains(list.out, "no shoal session of ")) << list.out;
}

// ---------------------------------------------------------------------------------------------
// Sessions served by this process.

TEST(CliAgainstServer, StatusAndMemoryPrintTheirText) {
  ControlServer server(fake_session());
  RunResult r = run_shoal({"status", me()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "3 workers\n5 tasks running\n");
  r = run_shoal({"memory", me()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "object store: 1.0 MiB of 64 MiB\n");
}

TEST(CliAgainstServer, JsonPrintsTheRawReply) {
  ControlServer server(fake_session());
  const RunResult r = run_shoal({"status", me(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, fake_session().status() + "\n");
  const RunResult m = run_shoal({"memory", "--json", me()});
  EXPECT_EQ(json::parse(m.out)["text"], "object store: 1.0 MiB of 64 MiB");
}

TEST(CliAgainstServer, ListShowsTheSession) {
  ControlServer server(fake_session());
  const RunResult r = run_shoal({"list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "PID")) << r.out;
  bool found = false;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(me() + " ", 0) == 0) {
      found = true;
      EXPECT_TRUE(contains(line, " fake_program ")) << "the program's base name:\n" << line;
      EXPECT_TRUE(contains(line, " 3")) << line;
    }
  }
  EXPECT_TRUE(found) << r.out;
  const RunResult as_json = run_shoal({"list", "--json"});
  found = false;
  for (const json& hello : json::parse(as_json.out)) found |= hello["pid"] == getpid();
  EXPECT_TRUE(found) << as_json.out;
}

TEST(CliAgainstServer, TimelineWritesTheTrace) {
  ControlServer server(fake_session());
  TempDir dir("cli_test_");
  const std::string path = dir.path() + "/trace.json";
  const RunResult r = run_shoal({"timeline", me(), "-o", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(contains(r.err, "wrote " + path)) << r.err;
  EXPECT_EQ(json::parse(read_file(path)), json::parse(kSampleTrace));
  // To stdout by default.
  const RunResult out = run_shoal({"timeline", me()});
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_EQ(json::parse(out.out), json::parse(kSampleTrace));
}

TEST(CliAgainstServer, TimelineHtmlFromTheSessionAndFromAFile) {
  ControlServer server(fake_session());
  TempDir dir("cli_test_");
  const RunResult r = run_shoal({"timeline", "--html", me(), "-o", dir.path() + "/a.html"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::string page = read_file(dir.path() + "/a.html");
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_TRUE(contains(page, "<title>shoal timeline of process " + me())) << page.substr(0, 300);
  std::size_t lanes = 0;
  for (auto at = page.find(" data-lane=\""); at != std::string::npos;
       at = page.find(" data-lane=\"", at + 1)) {
    ++lanes;
  }
  EXPECT_EQ(lanes, static_cast<std::size_t>(kSampleTraceLanes));

  // The same page from a trace written earlier; no session needed.
  const std::string trace = dir.path() + "/trace.json";
  ASSERT_EQ(run_shoal({"timeline", me(), "-o", trace}).exit_code, 0);
  const RunResult f = run_shoal({"timeline", "--html", trace, "-o", dir.path() + "/b.html"});
  EXPECT_EQ(f.exit_code, 0) << f.err;
  EXPECT_TRUE(contains(read_file(dir.path() + "/b.html"), "<title>shoal timeline of " + trace));
}

TEST(CliAgainstServer, UnreadableOrUnwritableFilesExitOne) {
  ControlServer server(fake_session());
  TempDir dir("cli_test_");
  RunResult r = run_shoal({"timeline", me(), "-o", dir.path() + "/no/such/dir/trace.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "shoal: cannot write ")) << r.err;
  r = run_shoal({"timeline", "--html", dir.path() + "/missing.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "shoal: cannot read ")) << r.err;
  const std::string bad = dir.path() + "/bad.json";
  std::ofstream(bad) << "{\"not\": \"a trace\"}";
  r = run_shoal({"timeline", "--html", bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(contains(r.err, "cannot be drawn: not a Chrome trace")) << r.err;
}

TEST(CliAgainstServer, SeveralSessionsNeedAPid) {
  ControlServer a(fake_session());
  ControlServer b(fake_session());  // two sessions of this user at least
  const RunResult r = run_shoal({"status"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err,
                       "shoal sessions are running: pass the PID of one, e.g. `shoal "
                       "status "))
      << r.err;
  EXPECT_TRUE(contains(r.err, "\n" + me() + " ")) << "the sessions are listed:\n" << r.err;
  EXPECT_EQ(r.out, "");
}

TEST(CliAgainstServer, ErrorReplyIsOneLineAndExitTwo) {
  ControlServer::Handlers h = fake_session();
  h.status = []() -> std::string { throw std::runtime_error("the task table is busy"); };
  ControlServer server(h);
  const RunResult r = run_shoal({"status", me()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "shoal: session " + me() + " answered: status failed: the task table is busy\n");
}

TEST(CliAgainstServer, SlowSessionTimesOutAndSaysWhichTimeout) {
  ControlServer::Handlers h = fake_session();
  h.status = [] {
    std::this_thread::sleep_for(3s);
    return std::string("{}");
  };
  ControlServer server(h);
  const auto start = Clock::now();
  const RunResult r = run_shoal({"--timeout", "0.5", "status", me()});
  EXPECT_LT(Clock::now() - start, 2500ms);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "did not answer 'status' within 500 ms (reply timeout)")) << r.err;
  EXPECT_TRUE(contains(r.err, "--timeout")) << r.err;
  EXPECT_EQ(line_count(r.err), 1u);
}

TEST(CliAgainstServer, TimeoutOptionAlsoFollowsTheSubcommand) {
  ControlServer server(fake_session());
  EXPECT_EQ(run_shoal({"status", me(), "--timeout", "5"}).exit_code, 0);
}

// ---------------------------------------------------------------------------------------------
// A real shoal program. These need the driver's control socket (branch issue13).

TEST(CliAgainstProgram, LiveSessionAnswersEveryCommand) {
  auto target = Target::start();
  ASSERT_TRUE(target);
  const std::string pid = std::to_string(target->pid());

  const RunResult status = run_shoal({"status", pid});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_FALSE(status.out.empty());
  const RunResult status_json = run_shoal({"status", pid, "--json"});
  EXPECT_EQ(status_json.exit_code, 0) << status_json.err;
  EXPECT_TRUE(json::parse(status_json.out)["text"].is_string()) << status_json.out;

  const RunResult memory = run_shoal({"memory", pid});
  EXPECT_EQ(memory.exit_code, 0) << memory.err;
  EXPECT_FALSE(memory.out.empty());
  EXPECT_TRUE(json::parse(run_shoal({"memory", pid, "--json"}).out)["text"].is_string());

  const RunResult list = run_shoal({"list", "--json"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  bool found = false;
  for (const json& hello : json::parse(list.out)) {
    if (hello.value("pid", 0) != target->pid()) continue;
    found = true;
    EXPECT_EQ(hello["workers"], 2) << hello;
    EXPECT_TRUE(contains(hello.value("program", ""), "cli_target")) << hello;
    EXPECT_TRUE(hello["started_unix_s"].is_number()) << hello;
    EXPECT_TRUE(hello["shoal_version"].is_string()) << hello;
  }
  EXPECT_TRUE(found) << list.out;
  const RunResult table = run_shoal({"list"});
  EXPECT_TRUE(contains(table.out, "\n" + pid + " ")) << table.out;
}

TEST(CliAgainstProgram, TimelineOfALiveSession) {
  auto target = Target::start();
  ASSERT_TRUE(target);
  const std::string pid = std::to_string(target->pid());
  TempDir dir("cli_test_");
  const RunResult r = run_shoal({"timeline", pid, "-o", dir.path() + "/trace.json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json trace = json::parse(read_file(dir.path() + "/trace.json"));
  int tasks = 0, failed = 0, processes = 0, actors = 0;
  for (const json& e : trace["traceEvents"]) {
    if (e["ph"] == "X" && e.value("cat", "") == "task") {
      ++tasks;
      failed += e.contains("args") && e["args"].contains("error");
    }
    if (e["ph"] == "M" && e["name"] == "process_name") {
      ++processes;
      actors += e["args"]["name"].get<std::string>().rfind("actor", 0) == 0;
    }
  }
  EXPECT_GE(tasks, 8 + 1 + 3) << "8 tasks, 1 failing, 3 actor calls";
  EXPECT_GE(failed, 1);
  EXPECT_GE(processes, 1 + 2 + 1) << "the driver, 2 workers, 1 actor";
  EXPECT_GE(actors, 1);
  EXPECT_EQ(trace["otherData"]["session_pid"], target->pid());

  const RunResult html = run_shoal({"timeline", "--html", pid, "-o", dir.path() + "/t.html"});
  ASSERT_EQ(html.exit_code, 0) << html.err;
  const std::string page = read_file(dir.path() + "/t.html");
  std::size_t lanes = 0;
  for (auto at = page.find(" data-lane=\""); at != std::string::npos;
       at = page.find(" data-lane=\"", at + 1)) {
    ++lanes;
  }
  EXPECT_EQ(lanes, static_cast<std::size_t>(processes));
}

TEST(CliAgainstProgram, EndedSessionThenExitedProcess) {
  auto target = Target::start();
  ASSERT_TRUE(target);
  const std::string pid = std::to_string(target->pid());
  ASSERT_EQ(run_shoal({"status", pid}).exit_code, 0);

  ASSERT_TRUE(target->shutdown_session());
  RunResult r = run_shoal({"status", pid});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "process " + pid + " (cli_target) has no running shoal session"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "shoal::shutdown()")) << r.err;
  EXPECT_EQ(line_count(r.err), 1u);

  EXPECT_EQ(target->exit_and_wait(), 0);
  r = run_shoal({"timeline", pid});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "no process has pid " + pid)) << r.err;
}

TEST(CliAgainstProgram, OnlySessionIsPickedWithoutAPid) {
  // The program and the command in a network namespace of their own: exactly one session there.
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a network namespace of its own";
  RunOptions isolated;
  isolated.in_child = [] { return unshare(CLONE_NEWNET) == 0; };
  auto target = Target::start(isolated);
  ASSERT_TRUE(target);
  const int netns =
      open(("/proc/" + std::to_string(target->pid()) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(netns, 0);
  RunOptions same_namespace;
  same_namespace.in_child = [netns] { return setns(netns, CLONE_NEWNET) == 0; };
  const RunResult r = run_shoal({"status"}, same_namespace);
  const RunResult list = run_shoal({"list", "--json"}, same_namespace);
  close(netns);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  ASSERT_EQ(list.exit_code, 0) << list.err;
  const json sessions = json::parse(list.out);
  ASSERT_EQ(sessions.size(), 1u) << list.out;
  EXPECT_EQ(sessions[0]["pid"], target->pid());
}

// Another user can neither use the command on the session nor talk to its socket directly.
TEST(CliAgainstProgram, AnotherUserIsRefused) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root, to act as another user (nobody)";
  auto target = Target::start();
  ASSERT_TRUE(target);
  const pid_t pid = target->pid();
  const auto sessions = internal::control::SessionDirectory::scan();
  const internal::control::SessionAddress session = sessions.find(pid, geteuid());

  // The client code, as nobody, straight at the socket (no directory check on the way).
  int result[2];
  ASSERT_EQ(pipe(result), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(result[0]);
    std::string message;
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
      message = "SKIP cannot become nobody";
    } else {
      internal::control::SessionAddress claimed = session;
      try {
        internal::control::ask(claimed, "status");
        message = "ANSWERED";
      } catch (const internal::control::ControlError& e) {
        message = std::to_string(static_cast<int>(e.kind())) + " " + e.what();
      }
    }
    [[maybe_unused]] auto n = write(result[1], message.data(), message.size());
    _exit(0);
  }
  close(result[1]);
  std::string message;
  char buffer[4096];
  for (ssize_t n; (n = read(result[0], buffer, sizeof(buffer))) > 0;) message.append(buffer, n);
  close(result[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (message.rfind("SKIP", 0) == 0) GTEST_SKIP() << message;
  EXPECT_EQ(
      message.rfind(
          std::to_string(static_cast<int>(internal::control::ControlErrorKind::kRefused)) + " ", 0),
      0u)
      << message;
  EXPECT_TRUE(contains(message, "refused")) << message;

  // The command, as nobody: it sees the session is root's and says so.
  RunOptions as_nobody;
  as_nobody.in_child = [] {
    return setgroups(0, nullptr) == 0 && setgid(65534) == 0 && setuid(65534) == 0;
  };
  const RunResult r = run_shoal({"status", std::to_string(pid)}, as_nobody);
  if (r.exit_code == 127) GTEST_SKIP() << "nobody cannot run " << SHOAL_CLI;
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(contains(r.err, "belongs to root (uid 0), not to you")) << r.err;
  EXPECT_TRUE(contains(r.err, "run shoal as that user")) << r.err;
  EXPECT_EQ(line_count(r.err), 1u);
}

}  // namespace
}  // namespace shoal::testing
