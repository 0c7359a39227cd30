// Stress for tasks that start tasks: a tree of about 10,000 tasks, up to depth 12, while a bounded
// loop SIGKILLs random workers (a kill takes a worker's whole stack: the blocked parents and the
// children nested on them). Tree tasks retry without limit, so every round must give the right
// count; nothing may hang; after each round the store, the pool (no lent worker left) and the
// driver's blocked calls are back to their baseline. 20 rounds in a row, in one session.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>

#include <shoal/shoal.hpp>

#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kRounds = 3;  // a sanitized fork and start-up take 10-50x longer
constexpr int kMaxDepth = 9;
constexpr int kMaxKillsPerRound = 5;
#else
constexpr int kRounds = 20;
constexpr int kMaxDepth = 12;
constexpr int kMaxKillsPerRound = 15;
#endif

// The shape of the tree: the root has 3 children, other nodes 2, and below depth 5 a node has
// children only if its id's hash says so; leaves are at most kMaxDepth deep.
int fan_out(std::uint64_t id, int depth) {
  if (depth >= kMaxDepth) return 0;
  if (depth == 0) return 3;
  if (depth >= 5 && (id * 0x9E3779B97F4A7C15ull) >> 59 == 0) return 0;  // 1 in 32 pruned
  return 2;
}
std::uint64_t child_id(std::uint64_t id, int i) {
  return id * 3 + static_cast<std::uint64_t>(i) + 1;
}

// How many tasks the tree has, counted here.
std::int64_t expected_size(std::uint64_t id, int depth) {
  std::int64_t n = 1;
  for (int i = 0; i < fan_out(id, depth); ++i) n += expected_size(child_id(id, i), depth + 1);
  return n;
}

// Each node submits its children, gets them, and returns the size of its subtree; leaves do about
// 20 us of work so that kills land inside tasks too.
std::int64_t node(std::uint64_t id, int depth) {
  const int fan = fan_out(id, depth);
  if (fan == 0) {
    std::uint64_t x = id;
    for (int k = 0; k < 2000; ++k) x = (x * 6364136223846793005ULL + 1442695040888963407ULL) >> 1;
    return 1 + static_cast<std::int64_t>(x & 0);
  }
  std::vector<shoal::ObjectRef<std::int64_t>> kids;
  for (int i = 0; i < fan; ++i) {
    kids.push_back(
        shoal::task(node).options({.max_retries = -1}).remote(child_id(id, i), depth + 1));
  }
  const std::vector<std::int64_t> sizes = shoal::get(kids);
  return std::accumulate(sizes.begin(), sizes.end(), std::int64_t{1});
}
SHOAL_REMOTE(node);

TEST(NestedStress, ATreeOfTenThousandTasksWhileWorkersAreKilledAtRandom) {
  shoal::init(shoal::testing::SessionTest::test_config());
  auto runtime = shoal::testing::driver_runtime();
  const pid_t helper = runtime->TEST_fork_helper_pid();
  const shoal::ObjectStoreStats baseline = shoal::object_store_stats();
  const std::int64_t expected = expected_size(0, 0);
  std::printf("tree of %lld tasks, depth up to %d, %d rounds\n", static_cast<long long>(expected),
              kMaxDepth, kRounds);

  for (int round = 0; round < kRounds; ++round) {
    std::atomic<bool> stop{false};
    std::atomic<int> kills{0};
    std::thread killer([&] {
      std::mt19937 rng(static_cast<unsigned>(round) * 7919u + 1u);
      while (!stop.load() && kills.load() < kMaxKillsPerRound) {
        std::this_thread::sleep_for(std::chrono::microseconds(5000 + rng() % 20000));
        const std::vector<pid_t> pids = runtime->TEST_worker_pids();
        if (pids.empty()) continue;
        const pid_t victim = pids[rng() % pids.size()];
        // Only a worker of this session: its parent is our fork helper.
        if (shoal::testing::parent_of(victim) == helper && kill(victim, SIGKILL) == 0) ++kills;
      }
    });
    const auto started = std::chrono::steady_clock::now();
    std::int64_t got = -1;
    try {
      got = shoal::get(shoal::task(node).options({.max_retries = -1}).remote(0, 0), 240s);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "round " << round << ": " << e.what();
    }
    stop = true;
    killer.join();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    EXPECT_EQ(got, expected) << "round " << round;
    // Back to the baseline: the pool's seats only (lent workers retired), no blocked call, an
    // empty store.
    EXPECT_TRUE(shoal::testing::eventually(
        [&] {
          return runtime->TEST_worker_pids().size() == 2 &&
                 shoal::testing::children_of(helper).size() == 2 &&
                 runtime->TEST_blocked_calls() == 0;
        },
        20s))
        << "round " << round << ": " << runtime->TEST_worker_pids().size() << " workers, "
        << shoal::testing::children_of(helper).size() << " processes, "
        << runtime->TEST_blocked_calls() << " blocked calls";
    EXPECT_TRUE(shoal::testing::eventually(
        [&] {
          const shoal::ObjectStoreStats now = shoal::object_store_stats();
          return now.num_objects == baseline.num_objects && now.used_bytes == baseline.used_bytes &&
                 now.inline_bytes == baseline.inline_bytes;
        },
        20s))
        << "round " << round << ": " << shoal::object_store_stats().num_objects << " objects";
    std::printf("round %d: %d workers killed, %.2f s\n", round, kills.load(), seconds);
    if (::testing::Test::HasFailure()) break;
  }
  shoal::shutdown();
}

}  // namespace
