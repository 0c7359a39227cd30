// Worker stdout and stderr forwarded to the driver's log (Config::log_to_driver): what arrives,
// with which prefix, and that nothing is lost when a worker crashes or at shutdown.
//
// The driver's log goes to its fd 2 (spdlog's stderr sink, unbuffered), so each test points fd 2
// (and fd 1 where it matters) at a temporary file before init() and reads the file back.
// Synchronisation is by the shutdown() contract (every line has been printed when it returns) or
// by polling the file with a deadline; never by sleeping.
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "src/common/logging.hpp"
#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

extern char** environ;

namespace {

using shoal::testing::eventually;
using ::testing::HasSubstr;

constexpr auto kDeadline = std::chrono::seconds(20);

// Points a standard descriptor at an unlinked temporary file while it lives.
class CapturedFd {
 public:
  explicit CapturedFd(int target) : target_(target) {
    std::fflush(nullptr);
    char path[] = "/tmp/shoal_worker_output_test_XXXXXX";
    file_ = mkstemp(path);
    if (file_ < 0) throw std::runtime_error("mkstemp failed");
    unlink(path);
    saved_ = dup(target);
    dup2(file_, target);
  }
  ~CapturedFd() {
    restore();
    close(file_);
  }
  CapturedFd(const CapturedFd&) = delete;
  CapturedFd& operator=(const CapturedFd&) = delete;

  void restore() {
    if (saved_ < 0) return;
    std::fflush(nullptr);
    dup2(saved_, target_);
    close(saved_);
    saved_ = -1;
  }

  std::string text() const {
    std::string out;
    char buf[65536];
    for (off_t at = 0;;) {
      const ssize_t n = pread(file_, buf, sizeof buf, at);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
  }

 private:
  int target_;
  int file_ = -1;
  int saved_ = -1;
};

// One forwarded line: "[time] [shoal] [stdout] (worker 1 pid 4242) text".
struct Forwarded {
  std::string stream;
  int slot = -1;
  pid_t pid = 0;
  std::string text;
};

std::optional<int> parse_int(std::string_view* s) {
  int v = 0;
  const auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc()) return std::nullopt;
  s->remove_prefix(static_cast<std::size_t>(end - s->data()));
  return v;
}

bool consume(std::string_view* s, std::string_view prefix) {
  if (!s->starts_with(prefix)) return false;
  s->remove_prefix(prefix.size());
  return true;
}

std::vector<Forwarded> forwarded_lines(const std::string& log) {
  std::vector<Forwarded> out;
  std::string_view rest(log);
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    const std::size_t at = line.find("] [shoal] [");
    if (at == std::string_view::npos || line.front() != '[') continue;
    line.remove_prefix(at + 11);
    Forwarded f;
    if (consume(&line, "stdout] (worker ")) {
      f.stream = "stdout";
    } else if (consume(&line, "stderr] (worker ")) {
      f.stream = "stderr";
    } else {
      continue;
    }
    const auto slot = parse_int(&line);
    if (!slot || !consume(&line, " pid ")) continue;
    const auto pid = parse_int(&line);
    if (!pid || !consume(&line, ") ")) continue;
    f.slot = *slot;
    f.pid = *pid;
    f.text = std::string(line);
    out.push_back(std::move(f));
  }
  return out;
}

// The forwarded lines whose text is exactly `text`.
std::vector<Forwarded> lines_with_text(const std::string& log, const std::string& text) {
  std::vector<Forwarded> out;
  for (Forwarded& f : forwarded_lines(log)) {
    if (f.text == text) out.push_back(std::move(f));
  }
  return out;
}

bool has_line(const std::string& text, const std::string& line) {
  return text.starts_with(line + "\n") || text.find("\n" + line + "\n") != std::string::npos;
}

std::string unique_tag(const char* what) {
  return std::string(what) + "-" + std::to_string(getpid());
}

// ---- remote functions

int print_every_way(const std::string& tag) {
  std::printf("%s printf\n", tag.c_str());
  std::cout << tag << " cout" << std::endl;
  std::cerr << tag << " cerr\n";
  const std::string out = tag + " write1\n", err = tag + " write2\n";
  (void)!write(STDOUT_FILENO, out.data(), out.size());
  (void)!write(STDERR_FILENO, err.data(), err.size());
  return getpid();
}

// Waits until `count` tasks have called this with the same `dir`, so that they run at once.
void barrier(const std::string& dir, int task, int count) {
  std::ofstream(std::filesystem::path(dir) / std::to_string(task)) << task;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (;;) {
    const auto n = std::distance(std::filesystem::directory_iterator(dir), {});
    if (n >= count) return;
    if (std::chrono::steady_clock::now() > give_up) {
      throw std::runtime_error("the other tasks of the barrier did not start");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string many_line(int task, int i) {
  return "many " + std::to_string(task) + " " + std::to_string(i) + " " +
         std::string(200, static_cast<char>('a' + (task * 7 + i) % 26));
}

constexpr int kManyLines = 3000;

int print_many(const std::string& dir, int task) {
  barrier(dir, task, 2);
  for (int i = 0; i < kManyLines; ++i) std::printf("%s\n", many_line(task, i).c_str());
  return getpid();
}

int print_then_abort(const std::string& tag) {
  std::printf("%s before abort\n", tag.c_str());
  std::abort();
}

int print_then_sigkill(const std::string& tag) {
  std::printf("%s before sigkill\n", tag.c_str());
  std::raise(SIGKILL);
  return 0;
}

int print_partial(const std::string& tag) {
  const std::string text = tag + " partial";
  (void)!write(STDOUT_FILENO, text.data(), text.size());
  return getpid();
}

std::string long_line_text() {
  std::string s;
  for (int i = 0; s.size() < 150'000; ++i) s += std::to_string(i) + ",";
  return s;
}

int print_long_line() {
  std::printf("%s\n", long_line_text().c_str());
  return getpid();
}

const std::string kBinary("bin \xff\xfe\x00\x01 \x1b[0m \xc3\x28 end", 20);

int print_binary() {
  const std::string line = kBinary + "\n";
  (void)!write(STDOUT_FILENO, line.data(), line.size());
  return getpid();
}

// Starts `sh` in a process group of its own (so it is not killed with the worker); it prints a
// line, then sleeps in place of itself for 10 minutes, holding the worker's stdout and stderr.
// Returns its pid once the line is written.
int start_detached_grandchild(const std::string& tag) {
  int sync[2];
  if (pipe(sync) != 0) throw std::runtime_error("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, sync[1], 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  const std::string script = "echo '" + tag + " grandchild'; echo x >&3; exec 3>&-; exec sleep 600";
  const char* argv[] = {"sh", "-c", script.c_str(), nullptr};
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "sh", &actions, &attr, const_cast<char* const*>(argv), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  close(sync[1]);
  char c = 0;
  const bool echoed = rc == 0 && read(sync[0], &c, 1) == 1;
  close(sync[0]);
  if (!echoed) throw std::runtime_error("the grandchild did not start");
  return pid;
}

// Prints a line, then stays busy for 10 minutes (shutdown() must not wait for it).
int print_then_stay_busy(const std::string& tag) {
  std::printf("%s busy\n", tag.c_str());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::minutes(10));
  return getpid();
}

int print_plain(const std::string& tag) {
  std::printf("%s plain out\n", tag.c_str());
  std::fprintf(stderr, "%s plain err\n", tag.c_str());
  return getpid();
}

// shoal's own diagnostics in a worker (SHOAL_LOG), not the task's output.
int log_diagnostic(const std::string& tag) {
  SHOAL_LOG(kError, "{} diagnostic", tag);
  return getpid();
}

// Issue 9, field report 5: a task's last line without a newline, written each way a task writes.
int print_partial_printf(const std::string& tag) {
  std::printf("%s printf-partial", tag.c_str());           // left in stdio's buffer
  std::fprintf(stderr, "%s stderr-partial", tag.c_str());  // likewise, on the other stream
  return getpid();
}
int print_partial_cout(const std::string& tag) {
  std::cout << tag << " cout-partial" << std::flush;  // flushed: in the pipe, without a newline
  return getpid();
}
int print_raw_partial(const std::string& tag) {
  const std::string text = tag + " raw-partial";
  (void)!write(STDERR_FILENO, text.data(), text.size());
  return getpid();
}
int print_next_line(const std::string& tag) {
  std::printf("%s next line\n", tag.c_str());
  std::fprintf(stderr, "%s next err line\n", tag.c_str());
  return getpid();
}
int print_short_partial(const std::string& tag, int i) {
  std::printf("%s %d", tag.c_str(), i);
  return getpid();
}

SHOAL_REMOTE(print_partial_printf, print_partial_cout, print_raw_partial, print_next_line,
             print_short_partial, print_then_stay_busy);
SHOAL_REMOTE(log_diagnostic, print_every_way, print_many, print_then_abort, print_then_sigkill,
             print_partial, print_long_line, print_binary, start_detached_grandchild, print_plain);

// A session whose driver stderr is captured from before init() to after shutdown().
class WorkerOutputTest : public ::testing::Test {
 protected:
  void start(shoal::Config config = shoal::testing::SessionTest::test_config()) {
    stderr_.emplace(STDERR_FILENO);
    shoal::init(config);
  }
  void TearDown() override {
    shoal::shutdown();
    if (stderr_) {
      stderr_->restore();
      if (HasFailure()) std::cerr << "---- captured driver stderr:\n" << log().substr(0, 20000);
    }
  }
  std::string log() const { return stderr_->text(); }
  // Polls the capture until a forwarded line with exactly `text` arrived.
  std::vector<Forwarded> await_line(const std::string& text) {
    std::vector<Forwarded> found;
    eventually(
        [&] {
          found = lines_with_text(log(), text);
          return !found.empty();
        },
        kDeadline);
    return found;
  }

  std::optional<CapturedFd> stderr_;
};

TEST_F(WorkerOutputTest, EveryKindOfWriteArrivesWithWorkerIdAndPid) {
  start();
  const std::string tag = unique_tag("every-way");
  const pid_t pid = shoal::get(shoal::task(print_every_way).remote(tag));
  const std::vector<pid_t> workers = shoal::testing::driver_runtime()->TEST_worker_pids();
  const struct {
    const char* suffix;
    const char* stream;
  } expected[] = {{" printf", "stdout"},
                  {" cout", "stdout"},
                  {" write1", "stdout"},
                  {" cerr", "stderr"},
                  {" write2", "stderr"}};
  for (const auto& e : expected) {
    const std::vector<Forwarded> found = await_line(tag + e.suffix);
    ASSERT_EQ(found.size(), 1u) << "line '" << tag << e.suffix << "' arrived " << found.size()
                                << " times";
    EXPECT_EQ(found[0].pid, pid) << e.suffix;
    EXPECT_EQ(found[0].stream, e.stream) << e.suffix;
    ASSERT_GE(found[0].slot, 0);
    ASSERT_LT(found[0].slot, 2);
    EXPECT_EQ(workers[static_cast<std::size_t>(found[0].slot)], pid)
        << "the slot in the prefix is not the worker's";
  }
}

TEST_F(WorkerOutputTest, ManyLinesFromBothWorkersArriveWholeAndInOrder) {
  start();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / unique_tag("shoal_output_barrier");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directory(dir);
  auto a = shoal::task(print_many).remote(dir.string(), 0);
  auto b = shoal::task(print_many).remote(dir.string(), 1);
  const pid_t pids[2] = {shoal::get(a, kDeadline), shoal::get(b, kDeadline)};
  std::filesystem::remove_all(dir);
  EXPECT_NE(pids[0], pids[1]) << "the barrier should have put the tasks on both workers";
  shoal::shutdown();  // every line has been printed now

  int next[2] = {0, 0};
  for (const Forwarded& f : forwarded_lines(log())) {
    if (!f.text.starts_with("many ")) continue;
    const int task = f.pid == pids[0] ? 0 : 1;
    ASSERT_EQ(f.pid, pids[task]) << "a line with an unknown pid: " << f.text.substr(0, 80);
    ASSERT_EQ(f.stream, "stdout");
    ASSERT_LT(next[task], kManyLines) << "extra line: " << f.text.substr(0, 80);
    ASSERT_EQ(f.text, many_line(task, next[task])) << "mangled, lost or out of order";
    ++next[task];
  }
  EXPECT_EQ(next[0], kManyLines);
  EXPECT_EQ(next[1], kManyLines);
}

TEST_F(WorkerOutputTest, LinePrintedJustBeforeAbortArrives) {
  start();
  const std::vector<pid_t> workers = shoal::testing::driver_runtime()->TEST_worker_pids();
  const std::string tag = unique_tag("abort");
  EXPECT_THROW(
      shoal::get(shoal::task(print_then_abort).options({.max_retries = 0}).remote(tag), kDeadline),
      shoal::WorkerCrashedError);
  const std::vector<Forwarded> found = await_line(tag + " before abort");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_THAT(workers, ::testing::Contains(found[0].pid));
}

TEST_F(WorkerOutputTest, LinePrintedJustBeforeSigkillArrivesAndReplacementHasItsOwnPid) {
  start();
  const std::vector<pid_t> workers = shoal::testing::driver_runtime()->TEST_worker_pids();
  const std::string tag = unique_tag("sigkill");
  EXPECT_THROW(shoal::get(shoal::task(print_then_sigkill).options({.max_retries = 0}).remote(tag),
                          kDeadline),
               shoal::WorkerCrashedError);
  const std::vector<Forwarded> found = await_line(tag + " before sigkill");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_THAT(workers, ::testing::Contains(found[0].pid));

  // The replacement worker's lines carry its own pid.
  ASSERT_TRUE(eventually(
      [] { return shoal::testing::driver_runtime()->TEST_worker_pids().size() == 2; }, kDeadline));
  const std::string after = unique_tag("after-sigkill");
  for (int i = 0; i < 2; ++i) {
    const pid_t pid =
        shoal::get(shoal::task(print_every_way).remote(after + "-" + std::to_string(i)), kDeadline);
    const std::vector<Forwarded> line = await_line(after + "-" + std::to_string(i) + " printf");
    ASSERT_EQ(line.size(), 1u);
    EXPECT_EQ(line[0].pid, pid);
  }
}

TEST_F(WorkerOutputTest, PartialLastLineArrivesByShutdownWhateverTheLogLevel) {
  shoal::Config config = shoal::testing::SessionTest::test_config();
  config.log_level = "off";  // forwarded output is the program's, not shoal's diagnostics
  start(config);
  const std::string tag = unique_tag("partial");
  const pid_t pid = shoal::get(shoal::task(print_partial).remote(tag), kDeadline);
  shoal::shutdown();
  const std::vector<Forwarded> found = lines_with_text(log(), tag + " partial");
  ASSERT_EQ(found.size(), 1u) << "a last line without a newline was lost at shutdown";
  EXPECT_EQ(found[0].pid, pid);
}

// The next task on the same worker must not be needed to see the line, nor glued to it.
TEST_F(WorkerOutputTest, ALastLineWithoutNewlineIsLoggedWhenItsTaskEnds) {
  shoal::Config config = shoal::testing::SessionTest::test_config();
  config.num_cpus = 1;  // every task on the same worker
  start(config);
  const std::string tag = unique_tag("ends");
  const pid_t pid = shoal::get(shoal::task(print_partial_printf).remote(tag), kDeadline);
  EXPECT_EQ(shoal::get(shoal::task(print_partial_cout).remote(tag), kDeadline), pid);
  EXPECT_EQ(shoal::get(shoal::task(print_raw_partial).remote(tag), kDeadline), pid);
  // Seen while the worker is idle, before any other task runs.
  for (const char* part : {" printf-partial", " cout-partial", " stderr-partial", " raw-partial"}) {
    const std::vector<Forwarded> found = await_line(tag + part);
    ASSERT_EQ(found.size(), 1u) << part << " was not logged as its own line by the end of its task";
    EXPECT_EQ(found[0].pid, pid);
    EXPECT_EQ(found[0].stream,
              std::string(part) == " printf-partial" || std::string(part) == " cout-partial"
                  ? "stdout"
                  : "stderr");
  }
  shoal::get(shoal::task(print_next_line).remote(tag), kDeadline);
  shoal::shutdown();
  EXPECT_EQ(lines_with_text(log(), tag + " next line").size(), 1u) << "glued to the partial line";
  EXPECT_EQ(lines_with_text(log(), tag + " next err line").size(), 1u);
}

// Short tasks are queued behind each other on a worker (pipelined): each one's partial line is
// still a line of its own.
TEST_F(WorkerOutputTest, PartialLinesOfPipelinedTasksStayApart) {
  shoal::Config config = shoal::testing::SessionTest::test_config();
  config.num_cpus = 1;
  start(config);
  const std::string tag = unique_tag("pipelined");
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 300; ++i) refs.push_back(shoal::task(print_short_partial).remote(tag, i));
  shoal::get(refs, kDeadline);
  shoal::shutdown();
  for (int i = 0; i < 300; ++i) {
    EXPECT_EQ(lines_with_text(log(), tag + " " + std::to_string(i)).size(), 1u) << i;
  }
}

TEST_F(WorkerOutputTest, VeryLongLineIsSplitAtTheBoundWithNothingLost) {
  start();
  const pid_t pid = shoal::get(shoal::task(print_long_line).remote(), kDeadline);
  shoal::shutdown();
  std::string joined;
  int pieces = 0;
  for (const Forwarded& f : forwarded_lines(log())) {
    if (f.pid != pid || f.stream != "stdout") continue;
    EXPECT_LE(f.text.size(), 64u * 1024);
    joined += f.text;
    ++pieces;
  }
  EXPECT_EQ(joined, long_line_text());
  EXPECT_EQ(pieces, 3) << "150,000 bytes make three pieces of at most 64 KiB";
}

TEST_F(WorkerOutputTest, BinaryAndInvalidUtf8PassThroughUnchanged) {
  start();
  const pid_t pid = shoal::get(shoal::task(print_binary).remote(), kDeadline);
  shoal::shutdown();
  const std::vector<Forwarded> found = lines_with_text(log(), kBinary);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].pid, pid);
}

TEST_F(WorkerOutputTest, DetachedProcessATaskStartedHoldingThePipesDoesNotHangShutdown) {
  start();
  const std::string tag = unique_tag("grandchild");
  const pid_t grandchild =
      shoal::get(shoal::task(start_detached_grandchild).remote(tag), kDeadline);
  ASSERT_GT(grandchild, 0);
  shoal::shutdown();  // would wait for 10 minutes without the drain limit (the ctest TIMEOUT fails)
  EXPECT_TRUE(shoal::testing::process_alive(grandchild)) << "it should still hold the pipes";
  kill(grandchild, SIGKILL);
  EXPECT_TRUE(eventually([&] { return !shoal::testing::process_alive(grandchild); }, kDeadline));
  EXPECT_EQ(lines_with_text(log(), tag + " grandchild").size(), 1u);
  EXPECT_THAT(log(), HasSubstr("still open"));
}

// A worker busy in a task does not look at its socket, so it cannot notice shutdown() by itself:
// the fork helper must see its control socket close at once and kill the worker, whose pipes then
// reach EOF. (Once the driver kept a second copy of that socket open until the pipes closed, and
// shutdown() waited out the drain limit and warned, as for a process that left the group.)
TEST_F(WorkerOutputTest, ShutdownWithATaskRunningKillsItsWorkerWithoutWaitingForItsPipes) {
  start();
  const std::string tag = unique_tag("busy");
  const shoal::ObjectRef<int> busy = shoal::task(print_then_stay_busy).remote(tag);
  ASSERT_TRUE(eventually([&] { return !lines_with_text(log(), tag + " busy").empty(); }, kDeadline))
      << log();
  shoal::shutdown();
  EXPECT_THAT(log(), ::testing::Not(HasSubstr("still open"))) << log();
}

TEST_F(WorkerOutputTest, ShoalDiagnosticsInAWorkerKeepTheirTagAndBypassThePipes) {
  start();
  const std::string tag = unique_tag("diag");
  const pid_t pid = shoal::get(shoal::task(log_diagnostic).remote(tag), kDeadline);
  shoal::shutdown();
  EXPECT_THAT(log(), ::testing::ContainsRegex("\\[shoal worker [01] pid " + std::to_string(pid) +
                                              "\\] \\[error\\] " + tag + " diagnostic"));
  EXPECT_TRUE(lines_with_text(log(), tag + " diagnostic").empty()) << "it was forwarded";
}

TEST(WorkerOutputOff, WithoutLogToDriverWorkersWriteStraightToTheDriversStdoutAndStderr) {
  shoal::Config config = shoal::testing::SessionTest::test_config();
  config.log_to_driver = false;
  CapturedFd out(STDOUT_FILENO), err(STDERR_FILENO);
  shoal::init(config);
  const std::string tag = unique_tag("plain");
  const pid_t pid = shoal::get(shoal::task(print_plain).remote(tag), kDeadline);
  shoal::shutdown();
  out.restore();
  err.restore();
  EXPECT_GT(pid, 0);
  // Line-buffered: each line was written before the task returned, unchanged.
  EXPECT_TRUE(has_line(out.text(), tag + " plain out")) << out.text();
  EXPECT_TRUE(has_line(err.text(), tag + " plain err")) << err.text();
  EXPECT_THAT(err.text(), ::testing::Not(HasSubstr("(worker")));
  EXPECT_TRUE(forwarded_lines(err.text()).empty());
}

}  // namespace
