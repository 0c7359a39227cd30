// Tasks that start tasks: the whole API inside a task, blocked workers that give back their CPUs
// and run the children they wait for, trees of tasks, a worker's references, and worker death in
// the middle of a tree.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <numeric>
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

int add_one(int x) { return x + 1; }
int child_of(int x) { return shoal::get(shoal::task(add_one).remote(x)); }

std::int64_t fib(int n) {
  if (n < 2) return n;
  auto a = shoal::task(fib).remote(n - 1);
  auto b = shoal::task(fib).remote(n - 2);
  return shoal::get(a) + shoal::get(b);
}

// Each link submits the next and waits for it.
int chain(int depth) {
  if (depth == 0) return 0;
  return shoal::get(shoal::task(chain).remote(depth - 1)) + 1;
}

// Asks for every CPU, then waits on children that need one each.
int greedy_parent(int n) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(shoal::task(add_one).remote(i));
  const std::vector<int> values = shoal::get(refs);
  return std::accumulate(values.begin(), values.end(), 0);
}

// The child may start before its parent's get() reaches the driver: it looks until the parent's
// CPU comes back (or 10 s pass) and returns what it saw last.
double cpus_seen_by_child(int) {
  const auto until = std::chrono::steady_clock::now() + 10s;
  double cpus = shoal::available_resources()["CPU"];
  while (cpus != 1.0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(1ms);
    cpus = shoal::available_resources()["CPU"];
  }
  return cpus;
}
double cpus_while_parent_blocked(int) {
  return shoal::get(shoal::task(cpus_seen_by_child).remote(0));
}

std::string put_and_get(const std::string& s) {
  auto small = shoal::put(s);
  auto large = shoal::put(std::vector<char>(1 << 20, 'x'));  // through the store
  const std::vector<char> back = shoal::get(large);
  return shoal::get(small) + std::to_string(back.size());
}

std::size_t size_of(const std::vector<char>& v) { return v.size(); }
// A large argument passed by value from inside a task becomes a store object too.
std::size_t pass_large(int n) {
  return shoal::get(
      shoal::task(size_of).remote(std::vector<char>(static_cast<std::size_t>(n), 'y')));
}

int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}

// wait() with a timeout and get() with a timeout inside a task.
int wait_then_timeout(int) {
  auto slow = shoal::task(sleep_ms).remote(3000);
  auto fast = shoal::task(add_one).remote(1);
  std::vector<shoal::ObjectRef<int>> both{slow, fast};
  auto [ready, not_ready] = shoal::wait(both, 1, 20s);
  if (ready.size() != 1 || !(ready[0] == fast)) return -1;
  try {
    shoal::get(slow, 50ms);
    return -2;
  } catch (const shoal::GetTimeoutError&) {
  }
  return shoal::get(fast);
}

int thrower(int x) {
  if (x > 0) throw std::invalid_argument("child says no");
  return x;
}
int catches_child_error(int x) {
  try {
    return shoal::get(shoal::task(thrower).remote(x));
  } catch (const shoal::TaskError& e) {
    return e.type_name() == "std::invalid_argument" ? 100 : -100;
  }
}
int propagates_child_error(int x) { return shoal::get(shoal::task(thrower).remote(x)); }

// A tree: each node submits `fan` children down to `depth`, and sums their results.
std::int64_t tree(int depth, int fan) {
  if (depth == 0) return 1;
  std::vector<shoal::ObjectRef<std::int64_t>> kids;
  for (int i = 0; i < fan; ++i) kids.push_back(shoal::task(tree).remote(depth - 1, fan));
  const std::vector<std::int64_t> v = shoal::get(kids);
  return std::accumulate(v.begin(), v.end(), std::int64_t{1});
}

// As tree(), with leaves that take 2 ms: long enough to kill a worker in the middle.
std::int64_t slow_tree(int depth, int fan) {
  if (depth == 0) {
    std::this_thread::sleep_for(2ms);
    return 1;
  }
  std::vector<shoal::ObjectRef<std::int64_t>> kids;
  for (int i = 0; i < fan; ++i) kids.push_back(shoal::task(slow_tree).remote(depth - 1, fan));
  const std::vector<std::int64_t> v = shoal::get(kids);
  return std::accumulate(v.begin(), v.end(), std::int64_t{1});
}

// Appends a byte to `path` each time it starts, then sleeps: how many times did it run?
int counted_sleep(const std::string& path, int ms) {
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd >= 0) {
    (void)!write(fd, "x", 1);
    close(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int parent_of_counted(const std::string& path) {
  return shoal::get(shoal::task(counted_sleep).remote(path, 600));
}

// Submits children and returns without waiting for them: their refs are dropped at once.
int fire_and_forget(int n) {
  for (int i = 0; i < n; ++i) shoal::task(sleep_ms).remote(1);
  return n;
}

bool initialized_inside(int) { return shoal::is_initialized(); }

// Small values travel inside the driver's reply: 300 of almost 64 KiB each are more than one
// message may carry, so a task's get() of them all must still work.
std::vector<char> almost_inline(int i) { return std::vector<char>(60000, static_cast<char>(i)); }
std::size_t get_many_small(int n) {
  std::vector<shoal::ObjectRef<std::vector<char>>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(shoal::task(almost_inline).remote(i));
  std::size_t total = 0;
  for (const std::vector<char>& v : shoal::get(refs)) total += v.size();
  return total;
}

std::vector<std::uint32_t> numbers_below(int n) {
  std::vector<std::uint32_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0u);
  return v;
}
// get_view() of a child's result, read in place.
std::uint64_t sum_of_view(int n) {
  const shoal::View<std::vector<std::uint32_t>> view =
      shoal::get_view(shoal::task(numbers_below).remote(n));
  return std::accumulate(view.begin(), view.end(), std::uint64_t{0});
}

SHOAL_REMOTE(add_one, child_of, fib, chain, greedy_parent, cpus_seen_by_child,
             cpus_while_parent_blocked, put_and_get, size_of, pass_large, sleep_ms,
             wait_then_timeout, thrower, catches_child_error, propagates_child_error, tree,
             fire_and_forget, initialized_inside, slow_tree, almost_inline, get_many_small,
             counted_sleep, parent_of_counted, numbers_below, sum_of_view);

class NestedTest : public shoal::testing::SessionTest {};

TEST_F(NestedTest, ATaskSubmitsAChildAndGetsItsResult) {
  EXPECT_EQ(shoal::get(shoal::task(child_of).remote(41)), 42);
  EXPECT_TRUE(shoal::get(shoal::task(initialized_inside).remote(0)));
}

// The bound: at most 4 x num_cpus worker processes alive at any moment.
class ProcessCounter {
 public:
  explicit ProcessCounter(pid_t helper) : helper_(helper), thread_([this] { run(); }) {}
  ~ProcessCounter() {
    stop_ = true;
    thread_.join();
  }
  std::size_t peak() const { return peak_.load(); }

 private:
  void run() {
    while (!stop_) {
      const std::size_t n = shoal::testing::children_of(helper_).size();
      if (n > peak_) peak_ = n;
      std::this_thread::sleep_for(2ms);
    }
  }
  pid_t helper_;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> peak_{0};
  std::thread thread_;
};

TEST_F(NestedTest, RecursiveFibonacciOfDepthTwentyFinishesWithBoundedWorkers) {
  const ProcessCounter counter(shoal::testing::driver_runtime()->TEST_fork_helper_pid());
  EXPECT_EQ(shoal::get(shoal::task(fib).remote(20), 100s), 6765);  // 21,891 tasks
  EXPECT_LE(counter.peak(), 4u * 2u);
}

TEST_F(NestedTest, AChainOfTwoHundredTasksEachWaitingOnItsChildFinishes) {
  const ProcessCounter counter(shoal::testing::driver_runtime()->TEST_fork_helper_pid());
  EXPECT_EQ(shoal::get(shoal::task(chain).remote(200), 100s), 200);
  EXPECT_LE(counter.peak(), 4u * 2u);
}

TEST_F(NestedTest, AGetOfMoreSmallValuesThanOneMessageHoldsWorksInsideATask) {
  EXPECT_EQ(shoal::get(shoal::task(get_many_small).remote(300), 60s), 300u * 60000u);
}

TEST_F(NestedTest, ATaskHoldingEveryCpuThatWaitsOnChildrenDoesNotDeadlock) {
  EXPECT_EQ(shoal::get(shoal::task(greedy_parent).options({.num_cpus = 2}).remote(10), 60s), 55);
}

// Ray's rule: a task blocked in get() gives back its CPUs while it waits.
TEST_F(NestedTest, ABlockedParentGivesBackItsCpu) {
  // Two CPUs: the child holds one, the blocked parent none.
  EXPECT_DOUBLE_EQ(shoal::get(shoal::task(cpus_while_parent_blocked).remote(0), 60s), 1.0);
  EXPECT_DOUBLE_EQ(shoal::available_resources()["CPU"], 2.0);
}

TEST_F(NestedTest, PutAndGetOfSmallAndLargeValuesInsideATask) {
  EXPECT_EQ(shoal::get(shoal::task(put_and_get).remote(std::string("size "))),
            "size " + std::to_string(1 << 20));
  EXPECT_EQ(shoal::get(shoal::task(pass_large).remote(3 << 20)), std::size_t{3} << 20);
}

// With a timeout no child runs inside the call: both CPUs are busy (the waiting task's and the
// slow child's), so the fast child needs a lent worker, which is retired once idle.
TEST_F(NestedTest, WaitAndTimeoutsWorkInsideATask) {
  auto rt = shoal::testing::driver_runtime();
  const pid_t helper = rt->TEST_fork_helper_pid();
  EXPECT_EQ(shoal::get(shoal::task(wait_then_timeout).remote(0), 60s), 2);
  EXPECT_TRUE(shoal::testing::eventually(
      [&] {
        return rt->TEST_worker_pids().size() == 2 &&
               shoal::testing::children_of(helper).size() == 2;
      },
      20s))
      << rt->TEST_worker_pids().size() << " workers, " << shoal::testing::children_of(helper).size()
      << " processes: a lent worker was not retired";
}

TEST_F(NestedTest, AChildsErrorReachesItsParentAsTaskError) {
  EXPECT_EQ(shoal::get(shoal::task(catches_child_error).remote(1)), 100);
  try {
    shoal::get(shoal::task(propagates_child_error).remote(1));
    FAIL() << "the child's error was lost";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.function_name(), "propagates_child_error");
    EXPECT_EQ(e.type_name(), "shoal::TaskError");
    EXPECT_NE(e.original_what().find("child says no"), std::string::npos) << e.original_what();
  }
}

// A small result travels inline in the driver's reply, a large one through the store; a view of
// either works inside a task as it does in the driver.
TEST_F(NestedTest, GetViewOfAChildsVectorResultInsideATask) {
  for (int n : {1, 3, 1000, 1 << 20}) {
    std::uint64_t sum = 0;
    EXPECT_NO_THROW(sum = shoal::get(shoal::task(sum_of_view).remote(n))) << n << " numbers";
    EXPECT_EQ(sum, std::uint64_t(n) * std::uint64_t(n - 1) / 2) << n << " numbers";
  }
}

// After a workload, every object its tasks made is gone: the workers' references were dropped.
TEST_F(NestedTest, ObjectsMadeInsideTasksAreFreedAfterwards) {
  const shoal::ObjectStoreStats before = shoal::object_store_stats();
  EXPECT_EQ(shoal::get(shoal::task(tree).remote(4, 3), 60s), 121);
  EXPECT_EQ(shoal::get(shoal::task(put_and_get).remote(std::string("x"))),
            "x" + std::to_string(1 << 20));
  EXPECT_EQ(shoal::get(shoal::task(fire_and_forget).remote(20)), 20);
  EXPECT_TRUE(shoal::testing::eventually(
      [&] {
        const shoal::ObjectStoreStats now = shoal::object_store_stats();
        return now.num_objects == before.num_objects && now.used_bytes == before.used_bytes &&
               now.inline_bytes == before.inline_bytes;
      },
      10s))
      << "objects: " << shoal::object_store_stats().num_objects << " (before " << before.num_objects
      << "), used bytes " << shoal::object_store_stats().used_bytes;
}

// Ray's rule for a dead owner: a child that only its dead parent held is dropped, not retried; the
// retried parent submits it again. The other CPU is kept busy, so the child runs nested on its
// parent's worker, and both die together.
TEST_F(NestedTest, AChildOnlyItsDeadParentHeldIsNotRetried) {
  char tmpl[] = "/tmp/shoal-orphan-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string path = std::string(tmpl) + "/starts";
  auto rt = shoal::testing::driver_runtime();
  auto busy = shoal::task(sleep_ms).remote(1500);  // holds the other worker
  std::this_thread::sleep_for(100ms);
  auto parent = shoal::task(parent_of_counted).remote(path);
  // Wait until the child has started (nested on the parent's worker), then kill that worker.
  ASSERT_TRUE(shoal::testing::eventually([&] { return access(path.c_str(), F_OK) == 0; }, 20s));
  // Both workers: one runs the parent with the child nested on it, the other the busy task (which
  // is retried like the parent).
  for (pid_t p : rt->TEST_worker_pids()) kill(p, SIGKILL);
  EXPECT_EQ(shoal::get(parent, 60s), 600);
  EXPECT_EQ(shoal::get(busy, 60s), 1500);
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  // The first child, and the one the retried parent submitted: not a third, retried orphan.
  EXPECT_EQ(st.st_size, 2);
  unlink(path.c_str());
  rmdir(tmpl);
}

// A worker killed in the middle of a tree: its running tasks are retried, the children only it
// held are dropped, and the tree's result is right.
TEST_F(NestedTest, AWorkerKilledInTheMiddleOfATreeIsRetriedAndTheResultIsRight) {
  auto rt = shoal::testing::driver_runtime();
  auto result = shoal::task(slow_tree).remote(5, 3);  // 364 tasks, 243 leaves of 2 ms
  for (int kill_count = 0; kill_count < 3; ++kill_count) {
    std::this_thread::sleep_for(60ms);
    const std::vector<pid_t> pids = rt->TEST_worker_pids();
    ASSERT_FALSE(pids.empty());
    kill(pids[static_cast<std::size_t>(kill_count) % pids.size()], SIGKILL);
  }
  EXPECT_EQ(shoal::get(result, 100s), 364);
  EXPECT_TRUE(shoal::testing::eventually([&] { return rt->TEST_blocked_calls() == 0; }, 10s));
}

}  // namespace
