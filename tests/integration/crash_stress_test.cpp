// Stress: 10,000 tasks while a bounded loop SIGKILLs random workers. Every result must be right
// or a typed error (WorkerCrashedError when a task's worker was killed on all of its attempts),
// nothing may hang, the store must return to its baseline and the pool to its full size.
// Prints the figures docs/reliability.md quotes. Run it 20 times in a row with
//   ctest -R CrashStress --repeat until-fail:20
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using shoal::testing::SessionTest;
using namespace std::chrono_literals;

// ~20 us of work, so that kills land inside tasks as well as between them.
std::int64_t compute(std::int64_t i) {
  std::uint64_t x = static_cast<std::uint64_t>(i);  // unsigned: the LCG wraps by design
  for (int k = 0; k < 2000; ++k) x = (x * 6364136223846793005ULL + 1442695040888963407ULL) >> 1;
  // Depends on the loop, so it is not optimised away; the value is i*i.
  return i * i + static_cast<std::int64_t>(x & 0);
}
// A result that goes through the shared store (over the inline threshold).
std::vector<std::uint8_t> store_block(int i) {
  return std::vector<std::uint8_t>(256 << 10, static_cast<std::uint8_t>(i % 251));
}
SHOAL_REMOTE(compute, store_block);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kTasks = 2000;  // a sanitized fork and start-up take 10-50x longer
constexpr int kMaxKills = 20;
#else
constexpr int kTasks = 10000;
constexpr int kMaxKills = 100;
#endif
constexpr int kBatch = 500;

TEST(CrashStress, TenThousandTasksWhileWorkersAreKilledAtRandom) {
  shoal::init(SessionTest::test_config());
  auto runtime = shoal::testing::driver_runtime();
  const pid_t helper = runtime->TEST_fork_helper_pid();
  const shoal::ObjectStoreStats baseline = shoal::object_store_stats();

  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  std::thread killer([&] {
    std::mt19937 rng(std::random_device{}());
    while (!stop.load() && kills.load() < kMaxKills) {
      std::this_thread::sleep_for(std::chrono::microseconds(2000 + rng() % 18000));
      const std::vector<pid_t> pids = runtime->TEST_worker_pids();
      if (pids.empty()) continue;
      const pid_t victim = pids[rng() % pids.size()];
      // Only a worker of this session: its parent is our fork helper.
      if (shoal::testing::parent_of(victim) == helper && kill(victim, SIGKILL) == 0) ++kills;
    }
  });

  int correct = 0, crashed = 0, wrong = 0, other = 0;
  for (int start = 0; start < kTasks; start += kBatch) {
    std::vector<shoal::ObjectRef<std::int64_t>> small;
    std::vector<shoal::ObjectRef<std::vector<std::uint8_t>>> large;
    for (int i = start; i < start + kBatch; ++i) {
      if (i % 10 == 0) {
        large.push_back(shoal::task(store_block).remote(i));
      } else {
        small.push_back(shoal::task(compute).remote(std::int64_t{i}));
      }
    }
    std::size_t s = 0, l = 0;
    for (int i = start; i < start + kBatch; ++i) {
      try {
        if (i % 10 == 0) {
          const std::vector<std::uint8_t> v = shoal::get(large[l++], 120s);
          const bool ok = v.size() == (256u << 10) && v.front() == i % 251 && v.back() == i % 251;
          ok ? ++correct : ++wrong;
        } else {
          shoal::get(small[s++], 120s) == std::int64_t{i} * i ? ++correct : ++wrong;
        }
      } catch (const shoal::WorkerCrashedError&) {
        ++crashed;
      } catch (const std::exception& e) {
        ++other;
        ADD_FAILURE() << "task " << i << ": " << e.what();
      }
    }
  }
  stop = true;
  killer.join();

  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(other, 0);
  EXPECT_EQ(correct + crashed, kTasks) << "every task has a result or a typed error";
  EXPECT_TRUE(
      shoal::testing::eventually([&] { return runtime->TEST_worker_pids().size() == 2; }, 10s))
      << "the pool is not back to full size";
  // Every ref is gone: the store is back to where it started.
  const shoal::ObjectStoreStats end = shoal::object_store_stats();
  EXPECT_EQ(end.used_bytes, baseline.used_bytes);
  EXPECT_EQ(end.num_objects, baseline.num_objects);
  EXPECT_EQ(shoal::get(shoal::task(compute).remote(std::int64_t{7})), 49);
  std::printf(
      "%d tasks, %d workers killed, %d results correct, %d WorkerCrashedError, %d wrong, "
      "%d other errors; store %llu -> %llu bytes used\n",
      kTasks, kills.load(), correct, crashed, wrong, other,
      static_cast<unsigned long long>(baseline.used_bytes),
      static_cast<unsigned long long>(end.used_bytes));
  shoal::shutdown();
}

}  // namespace
