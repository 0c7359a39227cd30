// Workers dying in the middle of a task, every way a process can die: each death is noticed,
// the task is retried on a fresh worker up to max_retries (Config, then TaskOptions), then fails
// with a WorkerCrashedError that names the function, the signal or exit code and the attempts;
// and the pool is back to full size afterwards. The driver's own death is in process_test.cpp
// and driver_death_test.cpp; random kills under load in crash_stress_test.cpp.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using shoal::testing::eventually;
using shoal::testing::SessionTest;
using namespace std::chrono_literals;

enum Death { kSigkill, kSegfault, kAbort, kExit3, kTerminate, kThrowFromNoexcept };

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wterminate"  // that is the point
void throws_out_of_noexcept() noexcept { throw std::runtime_error("escaped a noexcept function"); }
#pragma GCC diagnostic pop

int die(int how) {
  switch (how) {
    case kSigkill:
      raise(SIGKILL);  // what the OOM killer or `kill -9` does to the worker
      break;
    case kSegfault: {
      volatile int* volatile null = nullptr;
      *null = 1;  // a real invalid write, not raise(): the kernel delivers this SIGSEGV
      break;
    }
    case kAbort:
      std::abort();
    case kExit3:
      std::exit(3);
    case kTerminate:
      std::terminate();
    case kThrowFromNoexcept:
      throws_out_of_noexcept();
      break;
  }
  return how;
}
int identity(int x) { return x; }
// Touches `mb` MiB page by page, so that a memory limit is hit for real.
long touch_memory(int mb) {
  const std::size_t n = static_cast<std::size_t>(mb) << 20;
  auto* p = static_cast<volatile char*>(std::malloc(n));
  if (p == nullptr) return -1;
  for (std::size_t i = 0; i < n; i += 4096) p[i] = 1;
  long sum = 0;
  for (std::size_t i = 0; i < n; i += 4096) sum += p[i];
  std::free(const_cast<char*>(p));
  return sum;
}
// Starts `sleep 600` as a child of the worker and returns its pid.
int start_sleeper() {
  char arg0[] = "sleep", arg1[] = "600";
  char* argv[] = {arg0, arg1, nullptr};
  pid_t pid = 0;
  if (posix_spawnp(&pid, "sleep", nullptr, nullptr, argv, environ) != 0) return -1;
  return pid;
}
// Starts a sleeper, reports its pid through the file `path`, then dies.
int start_sleeper_and_die(const std::string& path) {
  std::ofstream(path) << start_sleeper();
  raise(SIGKILL);
  return 0;
}
SHOAL_REMOTE(die, identity, touch_memory, start_sleeper, start_sleeper_and_die);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

std::vector<pid_t> workers() { return shoal::testing::driver_runtime()->TEST_worker_pids(); }

bool pool_is_full(std::size_t size) {
  return eventually([&] { return workers().size() == size; }, 10s);
}

struct DeathCase {
  Death how;
  int signal;         // expected WorkerCrashedError::signal()
  int exit_code;      // expected exit_code()
  const char* words;  // in the message
};

void PrintTo(const DeathCase& c, std::ostream* os) { *os << c.words; }

std::string death_name(const ::testing::TestParamInfo<DeathCase>& param) {
  static const char* const kNames[] = {"Sigkill", "Segfault",  "Abort",
                                       "Exit3",   "Terminate", "Noexcept"};
  return kNames[param.param.how];
}

class WorkerDeath : public SessionTest, public ::testing::WithParamInterface<DeathCase> {};

TEST_P(WorkerDeath, IsRetriedThenFailsWithHowTheWorkerEnded) {
  const DeathCase c = GetParam();
  if (c.how == kSegfault && kSanitized) {
    // The sanitizer catches the invalid write itself, prints a report and exits with code 1: not
    // the signal under test, and a report the sanitizer check rightly counts as a failure.
    GTEST_SKIP() << "a sanitizer intercepts SIGSEGV; the normal build tests it";
  }
  const std::vector<pid_t> before = workers();
  try {
    shoal::get(shoal::task(die).options({.max_retries = 1}).remote(static_cast<int>(c.how)), 60s);
    FAIL() << "a task that kills its worker returned";
  } catch (const shoal::WorkerCrashedError& e) {
    EXPECT_EQ(e.function_name(), "die");
    EXPECT_EQ(e.attempts(), 2) << "max_retries = 1: two attempts";
    EXPECT_GT(e.pid(), 0);
    EXPECT_NE(e.pid(), getpid());
    const std::string what = e.what();
    EXPECT_NE(what.find("die"), std::string::npos) << what;
    EXPECT_NE(what.find(std::to_string(e.pid())), std::string::npos) << what;
    EXPECT_EQ(e.signal(), c.signal) << what;
    EXPECT_EQ(e.exit_code(), c.exit_code) << what;
    EXPECT_NE(what.find(c.words), std::string::npos) << what;
  }
  // The pool is back to its size, with new processes, and runs tasks.
  EXPECT_TRUE(pool_is_full(2));
  EXPECT_NE(workers(), before);
  EXPECT_EQ(shoal::get(shoal::task(identity).remote(5), 60s), 5);
}

INSTANTIATE_TEST_SUITE_P(EveryWay, WorkerDeath,
                         ::testing::Values(DeathCase{kSigkill, SIGKILL, -1, "SIGKILL"},
                                           DeathCase{kSegfault, SIGSEGV, -1, "SIGSEGV"},
                                           DeathCase{kAbort, SIGABRT, -1, "SIGABRT"},
                                           DeathCase{kExit3, 0, 3, "exited with code 3"},
                                           DeathCase{kTerminate, SIGABRT, -1, "SIGABRT"},
                                           DeathCase{kThrowFromNoexcept, SIGABRT, -1, "SIGABRT"}),
                         death_name);

int attempts_of_crash(const shoal::TaskOptions& options) {
  try {
    shoal::get(shoal::task(die).options(options).remote(static_cast<int>(kExit3)), 60s);
  } catch (const shoal::WorkerCrashedError& e) {
    return e.attempts();
  }
  return -1;
}

TEST(WorkerDeathRetries, DefaultIsThreeRetriesAsInRay) {
  shoal::init(SessionTest::test_config());
  EXPECT_EQ(attempts_of_crash({}), 4);
  shoal::shutdown();
}

TEST(WorkerDeathRetries, ConfigSetsTheDefaultAndTaskOptionsOverrideIt) {
  shoal::Config config = SessionTest::test_config();
  config.max_retries = 0;
  shoal::init(config);
  EXPECT_EQ(attempts_of_crash({}), 1);
  EXPECT_EQ(attempts_of_crash({.max_retries = 2}), 3);
  shoal::shutdown();
}

// One worker, and a task that kills it on every attempt, forever (max_retries = -1): the other
// tasks still run, because a retried task goes to the back of the queue.
TEST(WorkerDeathRetries, ATaskThatKeepsKillingItsWorkerDoesNotStarveOthers) {
  shoal::Config config = SessionTest::test_config();
  config.num_cpus = 1;
  shoal::init(config);
  auto doomed = shoal::task(die).options({.max_retries = -1}).remote(static_cast<int>(kExit3));
  std::vector<shoal::ObjectRef<int>> others;
  for (int i = 0; i < 20; ++i) others.push_back(shoal::task(identity).remote(i));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(shoal::get(others[static_cast<std::size_t>(i)], 60s), i);
  const auto [ready, pending] = shoal::wait(std::vector<shoal::ObjectRef<int>>{doomed}, 1, 0ms);
  EXPECT_TRUE(ready.empty()) << "a task retried without limit cannot have finished";
  shoal::shutdown();  // while it still crashes and is retried: must not hang
}

TEST_F(SessionTest, WorkerKilledFromOutsideMidTaskIsRetriedTransparently) {
  auto slow = shoal::task(touch_memory).remote(1);  // warm up: both workers exist
  EXPECT_GT(shoal::get(slow, 60s), 0);
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 200; ++i) refs.push_back(shoal::task(identity).remote(i));
  for (pid_t w : workers()) kill(w, SIGKILL);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(shoal::get(refs[static_cast<std::size_t>(i)], 60s), i);
  EXPECT_TRUE(pool_is_full(2));
}

// ---- processes started by tasks go with their worker

TEST_F(SessionTest, ProcessesATaskStartedDieWithItsWorker) {
  const std::string path =
      std::filesystem::temp_directory_path() / ("shoal_test_sleeper_" + std::to_string(getpid()));
  EXPECT_THROW(
      shoal::get(shoal::task(start_sleeper_and_die).options({.max_retries = 0}).remote(path), 60s),
      shoal::WorkerCrashedError);
  pid_t sleeper = 0;
  std::ifstream(path) >> sleeper;
  std::filesystem::remove(path);
  ASSERT_GT(sleeper, 0);
  EXPECT_TRUE(eventually([&] { return !shoal::testing::process_alive(sleeper); }, 1s))
      << "a process started by a task outlived its worker";
}

TEST(WorkerChildren, ProcessesTasksStartedDieAtShutdown) {
  shoal::init(SessionTest::test_config());
  const int sleeper = shoal::get(shoal::task(start_sleeper).remote(), 60s);
  ASSERT_GT(sleeper, 0);
  EXPECT_TRUE(shoal::testing::process_alive(sleeper));
  shoal::shutdown();
  EXPECT_TRUE(eventually([&] { return !shoal::testing::process_alive(sleeper); }, 1s))
      << "a process started by a task outlived shutdown()";
}

// ---- the OOM killer, through a memory cgroup (v1 or v2) that only the workers are moved into.
// Creating and limiting a cgroup is the machine's to refuse (no root, a read-only cgroupfs, no
// memory controller, swap that cannot be limited): the test then skips, saying which.

std::string own_cgroup_dir() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // v1: "4:memory:/path"; v2: "0::/path"
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controllers == "memory" && access("/sys/fs/cgroup/memory", W_OK) == 0)
      return "/sys/fs/cgroup/memory" + path;
    if (controllers.empty() && access("/sys/fs/cgroup/cgroup.controllers", R_OK) == 0)
      return "/sys/fs/cgroup" + path;
  }
  return "";
}

// 0, or the errno of the open() or write() that failed (cgroupfs reports a refused value there).
int write_file(const std::string& path, const std::string& text) {
  const int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int err = ok ? 0 : errno;
  close(fd);
  return err;
}

bool swap_is_on() {
  std::ifstream in("/proc/swaps");  // a header, then one line per swap area
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) ++lines;
  return lines > 1;
}

TEST_F(SessionTest, TaskKilledByTheOomKillerFailsWithSigkill) {
  const std::string parent = own_cgroup_dir();
  if (parent.empty()) {
    GTEST_SKIP() << "found no memory cgroup to make a child cgroup in (/proc/self/cgroup, a "
                    "writable /sys/fs/cgroup): the test limits the workers' memory there";
  }
  const std::string dir = parent + "/shoal_oom_test_" + std::to_string(getpid());
  if (mkdir(dir.c_str(), 0755) != 0) {
    const int err = errno;
    GTEST_SKIP() << "the machine refused a memory cgroup for the workers: mkdir " << dir << ": "
                 << std::strerror(err);
  }
  const bool v2 = access((dir + "/cgroup.controllers").c_str(), F_OK) == 0;
  const std::string limit_file = v2 ? "memory.max" : "memory.limit_in_bytes";
  const std::string swap_file = v2 ? "memory.swap.max" : "memory.memsw.limit_in_bytes";
  std::string refusal;  // what the machine refused, if anything: then the test skips
  const auto set = [&](const std::string& file, const std::string& value) {
    if (!refusal.empty()) return;
    if (const int err = write_file(dir + "/" + file, value)) {
      refusal = "writing " + value + " to " + dir + "/" + file + ": " + std::strerror(err);
    }
  };
  if (v2 && access((dir + "/memory.max").c_str(), F_OK) != 0) {
    refusal = "a memory limit: no memory.max in " + dir + " (the memory controller is not in " +
              parent + "/cgroup.subtree_control)";
  }
  set(limit_file, "67108864");
  // With swap on, the limit must cover swap too, or the task swaps instead of meeting the OOM
  // killer and the test would blame shoal for a task that survived.
  if (access((dir + "/" + swap_file).c_str(), F_OK) == 0) {
    set(swap_file, v2 ? "0" : "67108864");
  } else if (swap_is_on() && refusal.empty()) {
    refusal = "a limit on swap (no " + swap_file + " in " + dir +
              ") while swap is on: the task would swap rather than meet the OOM killer";
  }
  for (pid_t w : workers()) set("cgroup.procs", std::to_string(w));
  if (refusal.empty()) {
    try {
      // 512 MiB in a 64 MiB cgroup: the kernel's OOM killer SIGKILLs the worker.
      shoal::get(shoal::task(touch_memory).options({.max_retries = 0}).remote(512), 60s);
      ADD_FAILURE() << "the task outlived its memory limit";
    } catch (const shoal::WorkerCrashedError& e) {
      EXPECT_EQ(e.signal(), SIGKILL) << e.what();
      EXPECT_NE(std::string(e.what()).find("OOM killer"), std::string::npos) << e.what();
    }
    // Replacements come from the fork helper, outside the cgroup: the pool recovers.
    EXPECT_TRUE(pool_is_full(2));
    EXPECT_GT(shoal::get(shoal::task(touch_memory).remote(128), 60s), 0);
  }
  shoal::shutdown();  // the cgroup must be empty before it can be removed
  EXPECT_TRUE(eventually([&] { return rmdir(dir.c_str()) == 0; }, 5s)) << std::strerror(errno);
  shoal::init(test_config());  // for TearDown
  if (!refusal.empty()) GTEST_SKIP() << "the machine refused " << refusal;
}

}  // namespace
