// Every way a driver can end takes down everything its session started: the fork helper, the
// workers, and the processes the tasks started (issue 9, field report 1: with a SIGKILLed driver,
// the helper and workers went, but a `sleep` a task had started lived on, orphaned).
//
// Each case forks a driver that starts two tasks; each task starts `sleep 120` with fork() and
// exec and then sleeps itself, so both workers are busy and each has a child of its own. Once both
// sleepers exist, the driver ends in the case's way. The test process is a child subreaper
// (PR_SET_CHILD_SUBREAPER), so every orphan comes to it: "no child left" then means "every
// process the driver started is gone", and the sleepers' pids are checked by name as well.
// Everything must be gone within 1 s of the driver's end.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using shoal::testing::process_alive;

constexpr int kTasks = 2;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

// What the tasks tell the test: the sleepers' pids. It lives in a file every process maps (a
// forkserver worker is a fresh start of this program: a pointer the test set up means nothing
// there), named by a path the tasks get as an argument.
struct SharedPage {
  std::atomic<int> started{0};
  std::atomic<bool> go{false};  // the test has seen the sleepers: the driver may end now
  std::atomic<pid_t> sleepers[kTasks];
};

SharedPage* map_page(const std::string& path) {
  static std::map<std::string, SharedPage*> mapped;  // one mapping per process and path
  if (auto it = mapped.find(path); it != mapped.end()) return it->second;
  const int fd = open(path.c_str(), O_RDWR);
  if (fd < 0) throw std::runtime_error("cannot open " + path);
  void* p = mmap(nullptr, sizeof(SharedPage), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) throw std::runtime_error("cannot map " + path);
  return mapped[path] = static_cast<SharedPage*>(p);
}

// A fresh page file for one test, removed with it.
class PageFile {
 public:
  PageFile() {
    char name[] = "/tmp/shoal_driver_exit_test_XXXXXX";
    const int fd = mkstemp(name);
    if (fd < 0 || ftruncate(fd, sizeof(SharedPage)) != 0) throw std::runtime_error("mkstemp");
    close(fd);
    path_ = name;
    page_ = new (map_page(path_)) SharedPage();
  }
  ~PageFile() { unlink(path_.c_str()); }
  PageFile(const PageFile&) = delete;
  PageFile& operator=(const PageFile&) = delete;
  const std::string& path() const { return path_; }
  SharedPage* operator->() const { return page_; }

 private:
  std::string path_;
  SharedPage* page_ = nullptr;
};

// Starts `sleep 120` in the worker's process group, records its pid, then keeps the worker busy.
int start_sleeper_and_wait(const std::string& page_path, int slot) {
  SharedPage* page = map_page(page_path);
  const pid_t child = fork();
  if (child == 0) {
    execlp("sleep", "sleep", "120", static_cast<char*>(nullptr));
    _exit(127);
  }
  if (child < 0) throw std::runtime_error("fork failed");
  page->sleepers[slot].store(child);
  page->started.fetch_add(1);
  std::this_thread::sleep_for(60s);
  return slot;
}
SHOAL_REMOTE(start_sleeper_and_wait);

enum class Ending {
  kSigkill,                // kill -9 from outside
  kSigterm,                // kill from outside, the default action
  kSegfault,               // the driver crashes
  kUncaughtException,      // std::terminate, then abort()
  kUnderscoreExit,         // _exit(): no atexit handlers, no destructors
  kExitFromMainThread,     // exit() on the main thread, as returning from main() does
  kExitFromAnotherThread,  // exit() on another thread while the main thread waits in get()
  // init() ran on a thread that has ended since (the helper's parent-death signal fired then and
  // must not have stopped the session), then kill -9 from outside
  kSigkillAfterTheInitThreadEnded
};

std::string name_of(Ending e) {
  switch (e) {
    case Ending::kSigkill:
      return "Sigkill";
    case Ending::kSigterm:
      return "Sigterm";
    case Ending::kSegfault:
      return "Segfault";
    case Ending::kUncaughtException:
      return "UncaughtException";
    case Ending::kUnderscoreExit:
      return "UnderscoreExit";
    case Ending::kExitFromMainThread:
      return "ExitFromMainThread";
    case Ending::kExitFromAnotherThread:
      return "ExitFromAnotherThread";
    case Ending::kSigkillAfterTheInitThreadEnded:
      return "SigkillAfterTheInitThreadEnded";
  }
  return "?";
}

[[noreturn]] void run_driver(Ending ending, const std::string& start_method, const PageFile& page) {
  shoal::Config config = shoal::testing::SessionTest::test_config();
  config.start_method = start_method;
  if (ending == Ending::kSigkillAfterTheInitThreadEnded) {
    std::thread([&] { shoal::init(config); }).join();
    std::this_thread::sleep_for(20ms);  // the helper has heard its parent thread end
    if (shoal::get(shoal::put(5)) != 5) _exit(92);
  } else {
    shoal::init(config);
  }
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < kTasks; ++i) {
    refs.push_back(shoal::task(start_sleeper_and_wait).remote(page.path(), i));
  }
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (!page->go.load()) {
    if (std::chrono::steady_clock::now() > give_up) _exit(90);  // the test reports it
    std::this_thread::sleep_for(1ms);
  }
  switch (ending) {
    case Ending::kSigkill:
    case Ending::kSigterm:
    case Ending::kSigkillAfterTheInitThreadEnded:
      for (;;) pause();  // the test sends the signal
    case Ending::kSegfault:
      raise(SIGSEGV);  // as a bad pointer would; under a sanitizer its handler reports and exits
      break;
    case Ending::kUncaughtException:
      // On the main thread gtest would catch it: a thread of its own ends in std::terminate.
      std::thread([] { throw std::runtime_error("nobody catches this"); }).join();
      break;
    case Ending::kUnderscoreExit:
      _exit(0);
    case Ending::kExitFromMainThread:
      std::exit(0);
    case Ending::kExitFromAnotherThread: {
      std::thread([] {
        std::this_thread::sleep_for(20ms);  // while the main thread waits in get()
        std::exit(0);
      }).detach();
      try {
        (void)shoal::get(refs);
      } catch (const shoal::Error&) {  // exit() runs shutdown(), which wakes get() with an error
      }
      for (;;) pause();  // exit() ends the process
    }
  }
  _exit(91);  // not reached
}

// Reaps every child until none is left; false if some process still lives at the deadline.
bool all_descendants_gone(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int status;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == ECHILD) return true;
    if (pid > 0) continue;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
}

// The test sees every process the session started as its own child once it is a subreaper.
bool become_subreaper() { return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0; }
std::string subreaper_refusal() {
  return std::string("the machine refused prctl(PR_SET_CHILD_SUBREAPER) (") + std::strerror(errno) +
         "), which lets the test find every process the driver left behind";
}

// Each ending, with each start method: a helper forked from the driver, and one that is a fresh
// start of the program.
class DriverExit : public ::testing::TestWithParam<std::tuple<Ending, std::string>> {};

TEST_P(DriverExit, TakesDownTheProcessesItsTasksStarted) {
  const auto& [ending, start_method] = GetParam();
  if (ending == Ending::kSegfault && kSanitized) {
    GTEST_SKIP() << "a sanitizer's SIGSEGV handler reports the crash as an error of its own";
  }
  if (!become_subreaper()) GTEST_SKIP() << subreaper_refusal();
  const PageFile page;
  const pid_t driver = fork();
  ASSERT_GE(driver, 0);
  if (driver == 0) run_driver(ending, start_method, page);

  const auto give_up = std::chrono::steady_clock::now() + 40s;
  while (page->started.load() < kTasks && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(page->started.load(), kTasks) << "the tasks did not start their sleepers";
  pid_t sleepers[kTasks];
  for (int i = 0; i < kTasks; ++i) {
    sleepers[i] = page->sleepers[i].load();
    ASSERT_GT(sleepers[i], 0);
    ASSERT_TRUE(process_alive(sleepers[i]));
  }
  page->go.store(true);
  if (ending == Ending::kSigkill || ending == Ending::kSigkillAfterTheInitThreadEnded) {
    kill(driver, SIGKILL);
  }
  if (ending == Ending::kSigterm) kill(driver, SIGTERM);
  int status = 0;
  ASSERT_EQ(waitpid(driver, &status, 0), driver);
  const auto ended = std::chrono::steady_clock::now();
  ASSERT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) >= 90)
      << "the driver did not get to its ending (exit code " << WEXITSTATUS(status) << ")";

  EXPECT_TRUE(all_descendants_gone(ended + 1s))
      << "a process the session started outlived the driver (" << name_of(ending)
      << ") by more than 1 s";
  for (pid_t s : sleepers) {
    EXPECT_FALSE(process_alive(s)) << "the sleeper " << s << " lives on";
    if (process_alive(s)) kill(s, SIGKILL);  // it is ours (a descendant): leave nothing behind
  }
  all_descendants_gone(std::chrono::steady_clock::now() + 1s);
  EXPECT_TRUE(shoal::testing::shoal_shm_entries().empty());
  EXPECT_TRUE(shoal::testing::shoal_socket_files().empty());
}

// Not the driver's end but its helper's (the OOM killer, a kill -9 by pid): the workers die with
// it, and the driver kills what their tasks started.
TEST(HelperDeath, TakesDownTheProcessesTasksStarted) {
  if (!become_subreaper()) GTEST_SKIP() << subreaper_refusal();
  const PageFile page;
  shoal::init(shoal::testing::SessionTest::test_config());
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < kTasks; ++i) {
    refs.push_back(shoal::task(start_sleeper_and_wait).remote(page.path(), i));
  }
  ASSERT_TRUE(shoal::testing::eventually([&] { return page->started.load() == kTasks; }, 40s));
  const pid_t helper = shoal::testing::driver_runtime()->TEST_fork_helper_pid();
  ASSERT_EQ(kill(helper, SIGKILL), 0);
  EXPECT_THROW(shoal::get(refs), shoal::Error);  // the session is broken, and says so
  for (int i = 0; i < kTasks; ++i) {
    const pid_t sleeper = page->sleepers[i].load();
    EXPECT_TRUE(shoal::testing::eventually([&] { return !process_alive(sleeper); }, 1s))
        << "the sleeper " << sleeper << " outlived the fork helper by more than 1 s";
    if (process_alive(sleeper)) kill(sleeper, SIGKILL);
  }
  shoal::shutdown();
  EXPECT_TRUE(all_descendants_gone(std::chrono::steady_clock::now() + 1s));
}

INSTANTIATE_TEST_SUITE_P(
    EveryWay, DriverExit,
    ::testing::Combine(::testing::Values(Ending::kSigkill, Ending::kSigterm, Ending::kSegfault,
                                         Ending::kUncaughtException, Ending::kUnderscoreExit,
                                         Ending::kExitFromMainThread,
                                         Ending::kExitFromAnotherThread,
                                         Ending::kSigkillAfterTheInitThreadEnded),
                       ::testing::Values(std::string("fork"), std::string("forkserver"))),
    [](const auto& test) {
      return name_of(std::get<0>(test.param)) + "_" + std::get<1>(test.param);
    });

}  // namespace
