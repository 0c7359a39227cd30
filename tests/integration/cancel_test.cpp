// shoal::cancel() and shoal::is_cancelled() (Ray's ray.cancel): tasks not started never run,
// running ones are asked to stop or killed with force, get() throws TaskCancelledError, nothing is
// retried, recursion reaches what a task submitted; and the races Ray's users reported.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

// Appends a byte to `path` when it starts, so a test can tell whether it ever ran.
void mark(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd >= 0) {
    (void)!write(fd, "x", 1);
    close(fd);
  }
}

int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int marks_then_returns(const std::string& path, int x) {
  mark(path);
  return x;
}
int takes_arg(int x, const std::string& path) {
  mark(path);
  return x;
}
// Loops until cancelled (or 20 s), then says how it ended.
int polite(int) {
  const auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    if (shoal::is_cancelled()) return -1;
    std::this_thread::sleep_for(1ms);
  }
  return 0;
}
// Ignores cancellation for 20 s: only force stops it.
int stubborn(int) {
  std::this_thread::sleep_for(20s);
  return 0;
}
// Blocks in get() on a long child; cancellation ends the get() with TaskCancelledError.
int waits_on_child(int) {
  try {
    return shoal::get(shoal::task(sleep_ms).remote(20000));
  } catch (const shoal::TaskCancelledError&) {
    return -7;
  }
}
// Submits a long child and gets it; cancelling the child from here makes its get() throw.
int cancels_own_child(int) {
  auto child = shoal::task(polite).remote(0);
  shoal::cancel(child);
  try {
    shoal::get(child);
    return 0;
  } catch (const shoal::TaskCancelledError&) {
    return 1;
  }
}
bool cancelled_outside(int) { return shoal::is_cancelled(); }
SHOAL_REMOTE(sleep_ms, marks_then_returns, takes_arg, polite, stubborn, waits_on_child,
             cancels_own_child, cancelled_outside);

class CancelTest : public shoal::testing::SessionTest {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    char tmpl[] = "/tmp/shoal-cancel-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (const std::string& f : files_) unlink(f.c_str());
    rmdir(dir_.c_str());
    SessionTest::TearDown();
  }
  std::string file(const std::string& name) {
    files_.push_back(dir_ + "/" + name);
    return files_.back();
  }
  static bool ran(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

  template <class T>
  static void expect_cancelled(const shoal::ObjectRef<T>& ref) {
    EXPECT_THROW(shoal::get(ref, 60s), shoal::TaskCancelledError);
  }

 private:
  std::string dir_;
  std::vector<std::string> files_;
};

// Both CPUs busy: the cancelled task is still in the ready queue and never runs.
TEST_F(CancelTest, ATaskThatHasNotStartedNeverRuns) {
  auto a = shoal::task(sleep_ms).remote(300);
  auto b = shoal::task(sleep_ms).remote(300);
  const std::string path = file("queued");
  auto c = shoal::task(marks_then_returns).remote(path, 1);
  shoal::cancel(c);
  expect_cancelled(c);
  EXPECT_EQ(shoal::get(a), 300);
  EXPECT_EQ(shoal::get(b), 300);
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(ran(path));
}

TEST_F(CancelTest, ATaskWaitingForItsArgumentsNeverRunsAndNeitherDoItsDependents) {
  auto slow = shoal::task(sleep_ms).remote(300);
  const std::string path = file("waiting");
  auto waiting = shoal::task(takes_arg).remote(slow, path);
  const std::string dep_path = file("dependent");
  auto dependent = shoal::task(takes_arg).remote(waiting, dep_path);
  shoal::cancel(waiting, {.recursive = false});
  expect_cancelled(waiting);
  expect_cancelled(dependent);  // Ray's rule: it takes a cancelled task's result
  EXPECT_EQ(shoal::get(slow), 300);
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(ran(path));
  EXPECT_FALSE(ran(dep_path));
}

// One CPU: a short function (measured) is queued on the worker behind a running one; it was sent
// but has not started. The worker skips it.
TEST_F(CancelTest, ATaskSentToAWorkerButNotStartedIsSkipped) {
  shoal::shutdown();
  shoal::Config c = test_config();
  c.num_cpus = 1;
  shoal::init(c);
  for (int i = 0; i < 20; ++i) shoal::get(shoal::task(sleep_ms).remote(0));  // learn: short
  std::vector<shoal::ObjectRef<int>> filler;
  auto running = shoal::task(sleep_ms).remote(200);
  const std::string path = file("sent");
  auto queued = shoal::task(marks_then_returns).remote(path, 1);
  std::this_thread::sleep_for(50ms);
  shoal::cancel(queued);
  expect_cancelled(queued);
  EXPECT_EQ(shoal::get(running), 200);
  EXPECT_EQ(shoal::get(shoal::task(sleep_ms).remote(1)), 1);  // the worker goes on
  EXPECT_FALSE(ran(path));
}

TEST_F(CancelTest, ARunningTaskSeesIsCancelledAndItsResultIsCancelled) {
  auto r = shoal::task(polite).remote(0);
  std::this_thread::sleep_for(100ms);
  shoal::cancel(r);
  expect_cancelled(r);
  // It noticed and returned: its worker is free again soon (both CPUs run the next two tasks).
  auto x = shoal::task(sleep_ms).remote(1);
  auto y = shoal::task(sleep_ms).remote(1);
  EXPECT_EQ(shoal::get(x, 10s), 1);
  EXPECT_EQ(shoal::get(y, 10s), 1);
  EXPECT_FALSE(shoal::get(shoal::task(cancelled_outside).remote(0)));
  EXPECT_FALSE(shoal::is_cancelled());  // outside any task
}

TEST_F(CancelTest, ForceKillsTheWorkerAndTheTaskIsNotRetried) {
  auto rt = shoal::testing::driver_runtime();
  auto r = shoal::task(stubborn).options({.max_retries = 5}).remote(0);
  std::this_thread::sleep_for(100ms);
  const std::vector<pid_t> before = rt->TEST_worker_pids();
  shoal::cancel(r, {.force = true});
  expect_cancelled(r);
  // The worker was replaced; nothing runs stubborn again (both CPUs are free for these).
  EXPECT_TRUE(shoal::testing::eventually(
      [&] {
        const std::vector<pid_t> now = rt->TEST_worker_pids();
        return now.size() == 2 && now != before;
      },
      10s));
  EXPECT_TRUE(
      shoal::testing::eventually([] { return shoal::available_resources()["CPU"] == 2.0; }, 10s));
}

TEST_F(CancelTest, CancelIsRecursiveAndEndsAGetThatTheTaskIsBlockedIn) {
  auto parent = shoal::task(waits_on_child).remote(0);
  std::this_thread::sleep_for(200ms);  // the child sleeps on a worker; the parent is blocked
  shoal::cancel(parent);
  expect_cancelled(parent);
  // The child was cancelled too: both CPUs come back although it would sleep 20 s.
  auto x = shoal::task(sleep_ms).remote(1);
  auto y = shoal::task(sleep_ms).remote(1);
  EXPECT_EQ(shoal::get(x, 10s), 1);
  EXPECT_EQ(shoal::get(y, 10s), 1);
}

TEST_F(CancelTest, ANestedGetOfACancelledChildThrowsTaskCancelledError) {
  EXPECT_EQ(shoal::get(shoal::task(cancels_own_child).remote(0), 60s), 1);
}

TEST_F(CancelTest, CancellingAFinishedTaskDoesNothing) {
  auto r = shoal::task(sleep_ms).remote(1);
  EXPECT_EQ(shoal::get(r), 1);
  shoal::cancel(r);
  shoal::cancel(r, {.force = true});
  EXPECT_EQ(shoal::get(r), 1);
}

TEST_F(CancelTest, CancelRacingWithCompletionGivesTheValueOrTaskCancelledError) {
  for (int i = 0; i < 200; ++i) {
    auto r = shoal::task(sleep_ms).remote(i % 3);
    if (i % 2 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200 * (i % 7)));
    shoal::cancel(r);
    try {
      EXPECT_EQ(shoal::get(r, 60s), i % 3);
    } catch (const shoal::TaskCancelledError&) {
    }
  }
  // Nothing leaked: the session still runs tasks, and the store is empty.
  EXPECT_EQ(shoal::get(shoal::task(sleep_ms).remote(0)), 0);
  EXPECT_TRUE(
      shoal::testing::eventually([] { return shoal::object_store_stats().num_objects <= 1; }, 10s));
}

TEST_F(CancelTest, CancelDuringShutdownNeitherHangsNorCrashes) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 50; ++i) refs.push_back(shoal::task(sleep_ms).remote(5));
  std::thread canceller([&] {
    for (const auto& r : refs) {
      try {
        shoal::cancel(r);
      } catch (const shoal::InvalidObjectRefError&) {  // the session is over
      }
    }
  });
  shoal::shutdown();
  canceller.join();
  shoal::init(test_config());  // the fixture's TearDown shuts this one down
}

TEST_F(CancelTest, OnlyTasksCanBeCancelled) {
  auto value = shoal::put(5);
  EXPECT_THROW(shoal::cancel(value), shoal::InvalidObjectRefError);
  EXPECT_THROW(shoal::cancel(shoal::ObjectRef<int>()), shoal::InvalidObjectRefError);
}

TEST_F(CancelTest, ACancelledTaskThatThrowsIsNotRetried) {
  auto r = shoal::task(polite).options({.max_retries = 3, .retry_exceptions = true}).remote(0);
  std::this_thread::sleep_for(50ms);
  shoal::cancel(r);
  expect_cancelled(r);
}

}  // namespace
