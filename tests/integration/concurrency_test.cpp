// The API from many driver threads at once.
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"

namespace {

int square(int x) { return x * x; }
int add(int a, int b) { return a + b; }
std::vector<int> fill(int n, int value) {
  return std::vector<int>(static_cast<std::size_t>(n), value);
}
long long sum(const std::vector<int>& v) {
  long long s = 0;
  for (int x : v) s += x;
  return s;
}
SHOAL_REMOTE(square, add, fill, sum);

using ConcurrencyTest = shoal::testing::SessionTest;

TEST_F(ConcurrencyTest, EightDriverThreadsUseTheWholeApiAtOnce) {
  const shoal::ObjectStoreStats baseline = shoal::object_store_stats();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t, &failures] {
      try {
        for (int round = 0; round < 5; ++round) {
          std::vector<shoal::ObjectRef<int>> refs;
          for (int i = 0; i < 100; ++i) refs.push_back(shoal::task(square).remote(t * 1000 + i));
          auto chained = shoal::task(add).remote(refs[0], refs[1]);
          auto big = shoal::task(fill).remote(100000, t);  // 400 KB: through the store
          auto summed = shoal::task(sum).remote(big);
          auto put_ref = shoal::put(std::vector<int>(50000, t + 1));
          auto [ready, not_ready] = shoal::wait(refs, 10);
          if (ready.size() != 10 || ready.size() + not_ready.size() != refs.size()) ++failures;
          const std::vector<int> values = shoal::get(refs);
          for (int i = 0; i < 100; ++i) {
            if (values[i] != (t * 1000 + i) * (t * 1000 + i)) ++failures;
          }
          if (shoal::get(chained) != values[0] + values[1]) ++failures;
          if (shoal::get(summed) != 100000LL * t) ++failures;
          if (shoal::get(shoal::task(sum).remote(put_ref)) != 50000LL * (t + 1)) ++failures;
          if (shoal::available_resources().count("object_store_memory") != 1) ++failures;
        }
      } catch (const std::exception& e) {
        ADD_FAILURE() << "thread " << t << ": " << e.what();
        ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  const shoal::ObjectStoreStats after = shoal::object_store_stats();
  EXPECT_EQ(after.used_bytes, baseline.used_bytes);
  EXPECT_EQ(after.num_objects, baseline.num_objects);
}

TEST_F(ConcurrencyTest, RefsSharedAcrossThreads) {
  auto shared = shoal::task(fill).remote(200000, 3);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        auto copy = shared;  // copies and drops race with other threads
        if (shoal::get(shoal::task(sum).remote(copy)) != 600000) ++wrong;
        if (i % 5 == t % 5 && shoal::get(copy).size() != 200000) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// Threads keep submitting chains of tasks and dropping their refs while another thread calls
// shutdown(). Submissions and drops may be left to whoever holds the runtime lock (the I/O thread,
// shutdown() itself): none may be lost or run against a dismantled table. Every call either works
// or throws a shoal::Error, every thread finishes, and the next session starts clean.
TEST(ConcurrencyShutdown, ShutdownWhileThreadsSubmitAndDropRefs) {
  for (int round = 0; round < 5; ++round) {
    shoal::init(shoal::testing::SessionTest::test_config());
    std::atomic<int> started{0}, wrong{0}, untyped{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        ++started;
        try {
          for (int i = 0;; ++i) {
            auto a = shoal::task(square).remote(i);
            auto b = shoal::task(add).remote(a, t);
            std::vector<shoal::ObjectRef<int>> burst;
            for (int k = 0; k < 50; ++k) burst.push_back(shoal::task(add).remote(b, k));
            if (i % 4 == 0 && shoal::get(burst.back()) != i * i + t + 49) ++wrong;
          }  // the refs are dropped here, possibly while shutdown() holds the lock
        } catch (const shoal::Error&) {
          // shut down under its feet: expected
        } catch (...) {
          ++untyped;
        }
      });
    }
    while (started.load() < 4) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + 10 * round));
    shoal::shutdown();
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_EQ(untyped.load(), 0);
  }
  shoal::init(shoal::testing::SessionTest::test_config());
  const shoal::ObjectStoreStats fresh = shoal::object_store_stats();
  EXPECT_EQ(fresh.num_objects, 0u);
  EXPECT_EQ(fresh.used_bytes, 0u);
  EXPECT_EQ(shoal::get(shoal::task(square).remote(7)), 49);
  shoal::shutdown();
}

}  // namespace
