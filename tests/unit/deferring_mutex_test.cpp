// DeferringMutex (src/common/deferring_mutex.hpp): an operation runs at once when the lock is
// free, is left to the holder when it is not (without waiting), runs exactly once and before the
// holder lets go, in each thread's order; the runner may queue more; condition variables work.
// The runner touches plain (non-atomic) state, so under TSan these tests also check that every
// operation runs under the lock.
#include "src/common/deferring_mutex.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "src/common/mutex.hpp"

namespace shoal::internal {
namespace {

struct Op {
  int thread = 0;
  std::uint64_t seq = 0;
  int spawn = 0;  // queue this many more operations from inside the runner
};

struct State {
  DeferringMutex<Op>* mu = nullptr;
  std::vector<std::uint64_t> last_seq = std::vector<std::uint64_t>(8, 0);  // per thread
  std::uint64_t ran = 0;
  bool out_of_order = false;
  std::thread::id ran_on;
};

void run(void* context, Op& op) noexcept {
  auto* s = static_cast<State*>(context);
  ++s->ran;
  s->ran_on = std::this_thread::get_id();
  if (op.seq != 0) {
    if (op.seq != s->last_seq[static_cast<std::size_t>(op.thread)] + 1) s->out_of_order = true;
    s->last_seq[static_cast<std::size_t>(op.thread)] = op.seq;
  }
  for (int i = 0; i < op.spawn; ++i) s->mu->run_or_defer(Op{});
}

class DeferringMutexTest : public ::testing::Test {
 protected:
  DeferringMutexTest() { state_.mu = &mu_; }
  State state_;
  DeferringMutex<Op> mu_{&run, &state_};
};

TEST_F(DeferringMutexTest, RunsAtOnceOnTheCallingThreadWhenTheLockIsFree) {
  mu_.run_or_defer(Op{});
  MutexLock lock(mu_);
  EXPECT_EQ(state_.ran, 1u);
  EXPECT_EQ(state_.ran_on, std::this_thread::get_id());
}

TEST_F(DeferringMutexTest, LeavesTheOperationToTheHolderWithoutWaiting) {
  mu_.lock();
  std::thread other([&] { mu_.run_or_defer(Op{}); });  // would deadlock if it waited
  other.join();
  EXPECT_EQ(state_.ran, 0u);  // not run yet: we hold the lock and have not let go
  mu_.unlock();               // runs it
  MutexLock lock(mu_);
  EXPECT_EQ(state_.ran, 1u);
  EXPECT_EQ(state_.ran_on, std::this_thread::get_id());
}

TEST_F(DeferringMutexTest, TheHolderCanQueueWorkForItself) {
  mu_.lock();
  mu_.run_or_defer(Op{0, 0, 3});  // the lock is ours: queued, then runs and queues 3 more
  EXPECT_EQ(state_.ran, 0u);
  mu_.unlock();
  MutexLock lock(mu_);
  EXPECT_EQ(state_.ran, 4u);
}

TEST_F(DeferringMutexTest, ALockerSeesEveryOperationQueuedBeforeIt) {
  std::atomic<bool> queued{false};
  mu_.lock();
  std::thread other([&] {
    mu_.run_or_defer(Op{});
    queued = true;
  });
  other.join();
  mu_.unlock();  // before the ASSERT, which returns on failure
  ASSERT_TRUE(queued);
  std::thread reader([&] {
    MutexLock lock(mu_);
    EXPECT_EQ(state_.ran, 1u);
  });
  reader.join();
}

// Four threads queue 20,000 operations each while a fifth keeps taking the lock: every operation
// runs exactly once, each thread's in the order it queued them, and nothing is left queued.
TEST_F(DeferringMutexTest, ManyThreadsExactlyOnceAndInOrder) {
  constexpr int kThreads = 4;
  constexpr std::uint64_t kOps = 20000;
  std::atomic<bool> stop{false};
  std::thread locker([&] {
    while (!stop.load()) {
      MutexLock lock(mu_);
      (void)state_.ran;
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::uint64_t i = 1; i <= kOps; ++i) mu_.run_or_defer(Op{t, i, i % 100 == 0 ? 1 : 0});
    });
  }
  for (std::thread& t : threads) t.join();
  stop = true;
  locker.join();
  MutexLock lock(mu_);
  EXPECT_EQ(state_.ran, kThreads * kOps + kThreads * kOps / 100);
  EXPECT_FALSE(state_.out_of_order);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(state_.last_seq[static_cast<std::size_t>(t)], kOps);
}

// A thread waiting on a condition variable with this mutex wakes when another thread's deferred
// operation changes what it waits for (the runtime's get() waits this way). A third thread holds
// the lock while the operation is queued, so it is deferred for certain: it runs on the holder's
// thread when the holder lets go, and only then may the waiter wake.
TEST(DeferringMutexCondition, AWaiterWakesForADeferredOperation) {
  struct Flag {
    std::condition_variable_any* cv = nullptr;
    bool waiting = false;  // the waiter is inside cv.wait (it set this under the lock)
    bool set = false;
    std::thread::id set_on;
  } flag;
  DeferringMutex<int> mu(
      [](void* context, int&) noexcept {
        auto* f = static_cast<Flag*>(context);
        f->set = true;
        f->set_on = std::this_thread::get_id();
        f->cv->notify_all();
      },
      &flag);
  std::condition_variable_any cv;
  flag.cv = &cv;
  bool woke = false;
  std::thread waiter([&] {
    UniqueLock lock(mu);
    flag.waiting = true;
    woke = cv.wait_for(lock, std::chrono::seconds(10), [&] { return flag.set; });
  });
  // Take the lock once the waiter is waiting: it set `waiting` under the lock, and wait() gives
  // the lock up only once it can be notified.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    mu.lock();
    if (flag.waiting || std::chrono::steady_clock::now() > give_up) break;
    mu.unlock();
    std::this_thread::yield();
  }
  if (!flag.waiting) {
    mu.unlock();
    waiter.join();
    FAIL() << "the waiter did not start waiting within 10 s";
  }
  std::thread setter([&] { mu.run_or_defer(1); });  // returns at once: the lock is held
  setter.join();
  EXPECT_FALSE(flag.set) << "the operation ran while another thread held the lock";
  mu.unlock();  // runs the deferred operation here, which wakes the waiter
  waiter.join();
  EXPECT_TRUE(woke) << "the waiter did not wake within 10 s for the deferred operation";
  EXPECT_EQ(flag.set_on, std::this_thread::get_id()) << "the operation was not run by the holder";
}

}  // namespace
}  // namespace shoal::internal
