// Locks that clang's thread-safety analysis understands (src/common/thread_annotations.hpp):
// Mutex, a std::mutex declared as a capability, and two scoped lockers that work with any
// capability type (Mutex, AdaptiveMutex, DeferringMutex): MutexLock holds the lock for a scope,
// UniqueLock can also let go and take it back, and waits on a std::condition_variable_any.
//
// Why not std::mutex, std::lock_guard and std::unique_lock: libstdc++ does not annotate them, so
// the analysis would not know that a lock_guard holds anything and would report every guarded
// access under it.
//
// Waiting on a condition variable:
// - In the function that locks: UniqueLock<M> lock(mu_); while (!ready_) cv_.wait(lock);
// - In a helper that is SHOAL_REQUIRES(mu_): pass the mutex itself, cv_.wait(mu_), and let go for
//   a while with mu_.unlock() ... mu_.lock(); the analysis checks what is touched in between. A
//   condition_variable_any accepts any lockable, and a helper that takes the caller's UniqueLock&
//   cannot be checked: the analysis does not know which mutex a lock passed by reference holds
//   (clang 14 reports "releasing mutex 'lock' that was not held" on lock.unlock()).
// - Write the wait as a loop, not cv_.wait(lock, predicate): the predicate is a lambda, analysed as
//   a function of its own with no lock held, so reading guarded state there is reported.
//
// Thread safety: as std::mutex; a MutexLock or UniqueLock belongs to the thread that made it.
#pragma once

#include <mutex>

#include "src/common/thread_annotations.hpp"

namespace shoal::internal {

/// A std::mutex that the analysis can name in SHOAL_GUARDED_BY and SHOAL_REQUIRES.
class SHOAL_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() SHOAL_ACQUIRE() { mu_.lock(); }
  bool try_lock() SHOAL_TRY_ACQUIRE(true) { return mu_.try_lock(); }
  void unlock() SHOAL_RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

/// Holds `mu` from construction to the end of the scope (std::lock_guard, annotated).
template <class M>
class SHOAL_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(M& mu) SHOAL_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() SHOAL_RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  M& mu_;
};

/// Holds `mu` from construction, can unlock() and lock() it again in between, and releases it at
/// the end of the scope if it holds it then (std::unique_lock, annotated; no deferred or adopted
/// locking, which the analysis could not follow). Meets the BasicLockable requirements, so
/// std::condition_variable_any can wait with it.
template <class M>
class SHOAL_SCOPED_CAPABILITY UniqueLock {
 public:
  explicit UniqueLock(M& mu) SHOAL_ACQUIRE(mu) : mu_(mu) {
    mu_.lock();
    owns_ = true;
  }
  ~UniqueLock() SHOAL_RELEASE() {
    if (owns_) mu_.unlock();
  }
  UniqueLock(const UniqueLock&) = delete;
  UniqueLock& operator=(const UniqueLock&) = delete;

  void lock() SHOAL_ACQUIRE() {
    mu_.lock();
    owns_ = true;
  }
  void unlock() SHOAL_RELEASE() {
    owns_ = false;
    mu_.unlock();
  }
  bool owns_lock() const noexcept { return owns_; }

 private:
  M& mu_;
  // Whether the lock is held now. The analysis tracks that at compile time; the destructor needs
  // it at run time, when an exception thrown between unlock() and lock() leaves the scope.
  bool owns_ = false;
};

}  // namespace shoal::internal
