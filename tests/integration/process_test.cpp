// The process model, checked from the outside through /proc: who forks whom, what is left after
// shutdown() or after the driver is SIGKILLed, and what happens when a worker dies.
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "store/allocator.hpp"
#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using shoal::testing::eventually;
using shoal::testing::process_alive;
using shoal::testing::SessionTest;

int identity(int x) { return x; }
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int crash(int) { std::abort(); }
int crash_once(const std::string& marker) {
  if (!std::filesystem::exists(marker)) {
    std::ofstream(marker) << "crashed once";
    std::_Exit(3);
  }
  return 42;
}
std::vector<char> big_result(int mb) {
  return std::vector<char>(static_cast<std::size_t>(mb) << 20, 'x');
}
SHOAL_REMOTE(identity, sleep_ms, crash, crash_once, big_result);

std::vector<pid_t> session_pids() {
  auto rt = shoal::testing::driver_runtime();
  std::vector<pid_t> pids = rt->TEST_worker_pids();
  pids.push_back(rt->TEST_fork_helper_pid());
  return pids;
}

bool all_gone(const std::vector<pid_t>& pids) {
  for (pid_t p : pids) {
    if (process_alive(p)) return false;
  }
  return true;
}

TEST(ProcessModel, WorkersAreForkedBySingleThreadedHelper) {
  shoal::init(SessionTest::test_config());
  auto rt = shoal::testing::driver_runtime();
  const pid_t helper = rt->TEST_fork_helper_pid();
  EXPECT_EQ(shoal::testing::parent_of(helper), getpid());
#if defined(__SANITIZE_THREAD__)
  constexpr int kRuntimeThreads = 1;  // ThreadSanitizer runs a thread of its own in every process
#else
  constexpr int kRuntimeThreads = 0;
#endif
  EXPECT_EQ(shoal::testing::thread_count(helper), 1 + kRuntimeThreads)
      << "the fork helper must stay single-threaded";
  EXPECT_GE(shoal::testing::thread_count(getpid()), 2) << "the driver runs its I/O thread";
  const std::vector<pid_t> workers = rt->TEST_worker_pids();
  ASSERT_EQ(workers.size(), 2u);
  for (pid_t w : workers) EXPECT_EQ(shoal::testing::parent_of(w), helper);
  shoal::shutdown();
}

TEST(ProcessModel, ShutdownLeavesNoProcessFdOrSharedMemory) {
  const int fds_before = shoal::testing::open_fd_count();
  shoal::init(SessionTest::test_config());
  const std::vector<pid_t> pids = session_pids();
  shoal::get(shoal::task(big_result).remote(8));
  shoal::get(shoal::task(identity).remote(1));
  shoal::shutdown();
  EXPECT_TRUE(all_gone(pids)) << "a worker or the fork helper outlived shutdown()";
  EXPECT_TRUE(shoal::testing::children_of(getpid()).empty());
  EXPECT_EQ(shoal::testing::open_fd_count(), fds_before) << "shutdown() leaked file descriptors";
  EXPECT_TRUE(shoal::testing::shoal_shm_entries().empty());
  EXPECT_TRUE(shoal::testing::shoal_socket_files().empty());
}

TEST(ProcessModel, RepeatedInitAndShutdownLeaveNothing) {
  const int fds_before = shoal::testing::open_fd_count();
  for (int i = 0; i < 20; ++i) {
    shoal::init(SessionTest::test_config());
    ASSERT_EQ(shoal::get(shoal::task(identity).remote(i)), i);
    shoal::shutdown();
  }
  EXPECT_TRUE(shoal::testing::children_of(getpid()).empty());
  EXPECT_EQ(shoal::testing::open_fd_count(), fds_before);
}

// The driver runs in a child of the test; the test SIGKILLs it and watches its processes go.
void check_driver_sigkill(int task_ms) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  const pid_t driver = fork();
  ASSERT_GE(driver, 0);
  if (driver == 0) {
    close(pipe_fds[0]);
    shoal::init(SessionTest::test_config());
    std::vector<pid_t> pids = session_pids();
    std::vector<shoal::ObjectRef<int>> busy;
    for (int i = 0; i < 4; ++i) busy.push_back(shoal::task(sleep_ms).remote(task_ms));
    // Report only once the workers are in the state the test is about: both running a task
    // (every CPU taken: available_resources() leaves CPU out), or, for 0 ms tasks, idle again.
    bool ready = true;
    if (task_ms > 0) {
      ready = eventually([] { return shoal::available_resources().count("CPU") == 0; },
                         std::chrono::seconds(10));
    } else {
      shoal::get(busy);
    }
    const int n = ready ? static_cast<int>(pids.size()) : -1;
    (void)!write(pipe_fds[1], &n, sizeof n);
    (void)!write(pipe_fds[1], pids.data(), sizeof(pid_t) * pids.size());
    for (;;) pause();
  }
  close(pipe_fds[1]);
  int n = 0;
  ASSERT_EQ(read(pipe_fds[0], &n, sizeof n), static_cast<ssize_t>(sizeof n));
  if (n < 0) {
    kill(driver, SIGKILL);  // our own child
    waitpid(driver, nullptr, 0);
    FAIL() << "the driver's tasks were not both running within 10 s";
  }
  std::vector<pid_t> pids(static_cast<std::size_t>(n));
  ASSERT_EQ(read(pipe_fds[0], pids.data(), sizeof(pid_t) * pids.size()),
            static_cast<ssize_t>(sizeof(pid_t) * pids.size()));
  close(pipe_fds[0]);
  ASSERT_EQ(pids.size(), 3u);  // two workers and the helper
  ASSERT_FALSE(all_gone(pids));
  const auto killed = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(driver, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(driver, &status, 0), driver);
  EXPECT_TRUE(eventually([&] { return all_gone(pids); }, std::chrono::milliseconds(1000)))
      << "workers or the fork helper outlived a SIGKILLed driver by more than a second";
  EXPECT_LT(std::chrono::steady_clock::now() - killed, std::chrono::milliseconds(1000));
  EXPECT_TRUE(shoal::testing::shoal_shm_entries().empty());
  EXPECT_TRUE(shoal::testing::shoal_socket_files().empty());
}

TEST(ProcessModel, SigkilledDriverTakesWorkersDownWhileTheyRunTasks) {
  check_driver_sigkill(60000);
}

TEST(ProcessModel, SigkilledDriverTakesIdleWorkersDown) { check_driver_sigkill(0); }

using WorkerDeathTest = SessionTest;

TEST_F(WorkerDeathTest, CrashingTaskFailsWithWorkerCrashedAndThePoolRecovers) {
  const std::vector<pid_t> before = shoal::testing::driver_runtime()->TEST_worker_pids();
  try {
    shoal::get(shoal::task(crash).options({.max_retries = 1}).remote(0), std::chrono::seconds(60));
    FAIL() << "a task that aborts its worker returned";
  } catch (const shoal::WorkerCrashedError& e) {
    EXPECT_EQ(e.function_name(), "crash");
    EXPECT_EQ(e.attempts(), 2);
  }
  EXPECT_EQ(shoal::get(shoal::task(identity).remote(3)), 3);
  EXPECT_TRUE(
      eventually([] { return shoal::testing::driver_runtime()->TEST_worker_pids().size() == 2; },
                 std::chrono::seconds(10)));
  EXPECT_NE(shoal::testing::driver_runtime()->TEST_worker_pids(), before);
}

TEST_F(WorkerDeathTest, TaskIsRetriedOnAFreshWorker) {
  const std::string marker = std::filesystem::temp_directory_path() /
                             ("shoal_test_crash_once_" + std::to_string(getpid()));
  std::filesystem::remove(marker);
  EXPECT_EQ(shoal::get(shoal::task(crash_once).remote(marker), std::chrono::seconds(60)), 42);
  EXPECT_TRUE(std::filesystem::exists(marker));
  std::filesystem::remove(marker);
}

TEST_F(WorkerDeathTest, WorkerKilledWhileWritingALargeResultDoesNotWedgeTheStore) {
  const shoal::ObjectStoreStats baseline = shoal::object_store_stats();
  for (int round = 0; round < 5; ++round) {
    auto r = shoal::task(big_result).options({.max_retries = 0}).remote(64);
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + 7 * round));
    for (pid_t w : shoal::testing::driver_runtime()->TEST_worker_pids()) kill(w, SIGKILL);
    try {
      EXPECT_EQ(shoal::get(r, std::chrono::seconds(60)).size(), 64u << 20);  // finished in time
    } catch (const shoal::WorkerCrashedError&) {  // or killed: both are fine
    }
    r = {};
    // The store still allocates: no worker holds anything in shared memory.
    EXPECT_EQ(shoal::get(shoal::put(std::vector<char>(2 << 20, 'y'))).size(), 2u << 20);
    EXPECT_EQ(shoal::get(shoal::task(identity).remote(round), std::chrono::seconds(60)), round);
  }
  EXPECT_TRUE(
      eventually([&] { return shoal::object_store_stats().used_bytes == baseline.used_bytes; },
                 std::chrono::seconds(10)));
}

TEST(ProcessModel, AForkOfTheDriverCannotUseItsSession) {
  shoal::init(SessionTest::test_config());
  auto ref = shoal::put(7);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 1;
    try {
      shoal::put(1);
    } catch (const shoal::Error& e) {
      code = std::string(e.what()).find("fork()") != std::string::npos ? 0 : 2;
    }
    { auto copy = std::move(ref); }  // dropping a ref in the child must not touch the session
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "the child used the parent's session or got another error";
  EXPECT_EQ(shoal::get(ref), 7);  // the parent's session is unharmed
  EXPECT_EQ(shoal::get(shoal::task(identity).remote(4)), 4);
  shoal::shutdown();
}

TEST(StoreDiscipline, AllocatorRefusesToRunOutsideTheDriver) {
  std::vector<char> memory(1 << 20);
  shoal::internal::Allocator allocator(memory.data(), memory.size());
  EXPECT_TRUE(allocator.allocate(64).has_value());
  // EXPECT_DEATH runs the statement in a fork of this process, as a worker would be.
  EXPECT_DEATH({ (void)allocator.allocate(64); }, "outside the driver");
}

}  // namespace
