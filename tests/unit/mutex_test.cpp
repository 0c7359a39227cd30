// Mutex, MutexLock and UniqueLock (src/common/mutex.hpp): the scoped lockers hold the lock exactly
// as long as they say, UniqueLock lets go and takes it back, and a condition_variable_any waits
// with it. The state here is SHOAL_GUARDED_BY its mutex, so the clang build with
// -DSHOAL_THREAD_SAFETY=ON also checks these tests' own locking.
#include "src/common/mutex.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <thread>

#include <gtest/gtest.h>

#include "src/common/adaptive_mutex.hpp"
#include "src/common/thread_annotations.hpp"

namespace shoal::internal {
namespace {

// Whether another thread could take `mu` now (and, if it could, it lets go at once).
template <class M>
bool free_for_another_thread(M& mu) {
  bool took = false;
  std::thread other([&] {
    if (mu.try_lock()) {
      took = true;
      mu.unlock();
    }
  });
  other.join();
  return took;
}

struct Counter {
  Mutex mu;
  int value SHOAL_GUARDED_BY(mu) = 0;
};

TEST(MutexLock, HoldsTheMutexForItsScope) {
  Counter c;
  {
    MutexLock lock(c.mu);
    ++c.value;
    EXPECT_FALSE(free_for_another_thread(c.mu));
  }
  EXPECT_TRUE(free_for_another_thread(c.mu));
}

TEST(MutexLock, WorksWithTheAdaptiveMutex) {
  AdaptiveMutex mu;
  {
    MutexLock lock(mu);
    EXPECT_FALSE(free_for_another_thread(mu));
  }
  EXPECT_TRUE(free_for_another_thread(mu));
}

TEST(UniqueLock, UnlockLetsOthersInAndLockTakesItBack) {
  Counter c;
  UniqueLock lock(c.mu);
  EXPECT_TRUE(lock.owns_lock());
  EXPECT_FALSE(free_for_another_thread(c.mu));
  lock.unlock();
  EXPECT_FALSE(lock.owns_lock());
  EXPECT_TRUE(free_for_another_thread(c.mu));
  lock.lock();
  EXPECT_TRUE(lock.owns_lock());
  ++c.value;
  EXPECT_FALSE(free_for_another_thread(c.mu));
}

// A lock that let go before its scope ended must not release the mutex again at the end: by then
// another thread may hold it.
TEST(UniqueLock, DoesNotReleaseAtScopeEndWhatItLetGoOf) {
  Mutex mu;
  std::atomic<bool> taken{false};
  std::atomic<bool> done{false};
  std::thread holder;
  {
    UniqueLock lock(mu);
    lock.unlock();
    holder = std::thread([&] {
      MutexLock held(mu);
      taken = true;
      while (!done) std::this_thread::yield();
    });
    while (!taken) std::this_thread::yield();
  }  // the lock's destructor runs while `holder` holds mu
  EXPECT_FALSE(free_for_another_thread(mu)) << "UniqueLock released a mutex it no longer held";
  done = true;
  holder.join();
}

// The setter changes the value only once the waiter is inside wait(): the waiter marks itself
// waiting under the lock, and wait() gives the lock up only once it can be notified.
TEST(UniqueLock, AConditionVariableWaitsWithIt) {
  struct {
    Mutex mu;
    bool waiting SHOAL_GUARDED_BY(mu) = false;
    int value SHOAL_GUARDED_BY(mu) = 0;
  } s;
  std::condition_variable_any cv;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::thread setter([&] {
    while (std::chrono::steady_clock::now() < give_up) {
      {
        MutexLock lock(s.mu);
        if (s.waiting) {
          s.value = 1;
          cv.notify_all();
          return;
        }
      }
      std::this_thread::yield();
    }
  });
  UniqueLock lock(s.mu);
  s.waiting = true;
  // A loop, not wait_until(lock, deadline, predicate): the analysis would check the predicate
  // lambda as a function of its own, with no lock held (see mutex.hpp).
  while (s.value == 0 && std::chrono::steady_clock::now() < give_up) cv.wait_until(lock, give_up);
  EXPECT_EQ(s.value, 1) << "the waiter did not see the change within 10 s";
  lock.unlock();
  setter.join();
}

// The pattern mutex.hpp gives for a helper that requires the lock: it waits with the mutex itself,
// which its caller holds through a MutexLock, and returns with it held again. The gate opens only
// once the helper is inside wait(), as in AConditionVariableWaitsWithIt.
class Gate {
 public:
  bool open_once_waiting(std::chrono::steady_clock::time_point give_up) SHOAL_EXCLUDES(mu_) {
    while (std::chrono::steady_clock::now() < give_up) {
      {
        MutexLock lock(mu_);
        if (waiting_) {
          open_ = true;
          cv_.notify_all();
          return true;
        }
      }
      std::this_thread::yield();
    }
    return false;
  }
  bool pass(std::chrono::steady_clock::time_point give_up) SHOAL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    wait_open(give_up);
    return open_;
  }

 private:
  void wait_open(std::chrono::steady_clock::time_point give_up) SHOAL_REQUIRES(mu_) {
    waiting_ = true;
    while (!open_ && std::chrono::steady_clock::now() < give_up) cv_.wait_until(mu_, give_up);
  }

  Mutex mu_;
  std::condition_variable_any cv_;
  bool waiting_ SHOAL_GUARDED_BY(mu_) = false;
  bool open_ SHOAL_GUARDED_BY(mu_) = false;
};

TEST(Mutex, AHelperThatRequiresTheLockWaitsWithTheMutexItself) {
  Gate gate;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool opened = false;
  std::thread opener([&] { opened = gate.open_once_waiting(give_up); });
  EXPECT_TRUE(gate.pass(give_up)) << "the gate did not open within 10 s";
  opener.join();
  EXPECT_TRUE(opened) << "the helper was never seen waiting";
}

}  // namespace
}  // namespace shoal::internal
