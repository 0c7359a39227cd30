// A mutex that a thread can leave work with instead of waiting for it.
//
// Why: the runtime lock is wanted at once by the program's thread (one remote() after another,
// one ObjectRef dropped after another) and by the I/O thread (a batch of replies). When one finds
// it taken, a plain or adaptive mutex puts it to sleep in the kernel, and on our VMs the sleep and
// the wake-up cost tens of microseconds each: in a profile of 100,000 queued tasks, futex waits and
// wakes on this lock were half of all futex calls and the largest single cost of the submitting
// thread. Most of what that thread wants the lock for needs no answer: register a task whose id it
// already has, drop a reference. run_or_defer() does such an operation under the lock if the lock
// is free, and otherwise queues it for the holder, which runs it before it lets go: the caller
// never waits, and the work is done in the order it was asked for.
//
// Contract:
// - lock(), try_lock() and unlock() meet the Lockable requirements (std::condition_variable_any
//   can wait with this mutex). Whoever holds the lock has run every operation queued before it
//   took the lock, so a thread that queued an operation sees its effect the next time it locks.
// - run_or_defer() never blocks (beyond a few instructions on the queue's own lock). Operations
//   from one thread run in the order that thread queued them; an operation is run exactly once,
//   by some thread holding the lock, before that thread unlocks.
// - The runner must not throw, must not lock this mutex, and may call run_or_defer() (the new
//   operation then runs before the lock is released).
//
// Thread-safety analysis (src/common/thread_annotations.hpp): the mutex is a capability, so state
// can be SHOAL_GUARDED_BY it and locked with MutexLock or UniqueLock (src/common/mutex.hpp). What
// the analysis cannot check here is the runner: it is called through a function pointer, which
// cannot carry an annotation, so its body is checked as if no lock were held although the
// contract above runs it with this mutex held. Keep the runner a trampoline marked
// SHOAL_NO_THREAD_SAFETY_ANALYSIS (saying so) that calls a SHOAL_REQUIRES(mu) member, so that
// the real work is checked.
#pragma once

#include <atomic>
#include <utility>
#include <vector>

#include "src/common/adaptive_mutex.hpp"
#include "src/common/mutex.hpp"
#include "src/common/thread_annotations.hpp"

namespace shoal::internal {

template <class Op>
class SHOAL_CAPABILITY("mutex") DeferringMutex {
 public:
  using Runner = void (*)(void* context, Op& op) noexcept;

  DeferringMutex(Runner runner, void* context) noexcept : runner_(runner), context_(context) {}
  DeferringMutex(const DeferringMutex&) = delete;
  DeferringMutex& operator=(const DeferringMutex&) = delete;

  // lock(), try_lock() and unlock() hand out this object as the capability while the lock really
  // taken is mu_ inside it; the analysis has no way to say that the two are one, and by its design
  // it does not check the bodies of functions annotated like these (they are where a lock's own
  // implementation lives). release() and run_or_defer() below are checked.
  void lock() noexcept SHOAL_ACQUIRE() {
    mu_.lock();
    run_queued();
  }

  bool try_lock() noexcept SHOAL_TRY_ACQUIRE(true) {
    if (!mu_.try_lock()) return false;
    run_queued();
    return true;
  }

  void unlock() noexcept SHOAL_RELEASE() { release(); }

  /// Runs `op` with the lock held: now if the lock is free, else later by the thread that holds
  /// it, before that thread unlocks. Returns without waiting either way.
  ///
  /// Not annotated SHOAL_EXCLUDES: the holder may call it (the operation is then queued and runs
  /// before the holder's unlock), and a caller that does not hold the lock does not hold it after
  /// the call either, which is all the analysis would track.
  void run_or_defer(Op&& op) noexcept {
    if (mu_.try_lock()) {
      run_queued();
      runner_(context_, op);
      release();
      return;
    }
    {
      MutexLock guard(queue_mu_);
      queue_.push_back(std::move(op));
      queued_.fetch_add(1, std::memory_order_seq_cst);
    }
    // The holder may have let go between our try_lock and the push, before looking at the queue.
    if (mu_.try_lock()) release();
  }

 private:
  // Runs what was queued, then releases. An operation queued after the last check and before the
  // release found the lock taken; its thread will not run it, so look again after releasing and
  // take the lock back if there is something (unless another thread has it: then that thread
  // will see it when it lets go).
  void release() noexcept SHOAL_RELEASE(mu_) {
    for (;;) {
      run_queued();
      mu_.unlock();
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (queued_.load(std::memory_order_seq_cst) == 0) return;
      if (!mu_.try_lock()) return;
    }
  }

  // Operations may queue more (the runner drops a reference); run those too.
  void run_queued() noexcept SHOAL_REQUIRES(mu_) {
    while (queued_.load(std::memory_order_acquire) != 0) {
      {
        MutexLock guard(queue_mu_);
        std::swap(queue_, running_);
        queued_.store(0, std::memory_order_relaxed);
      }
      for (Op& op : running_) runner_(context_, op);
      running_.clear();  // keeps its capacity: steady traffic does not allocate
    }
  }

  const Runner runner_;
  void* const context_;
  AdaptiveMutex mu_;  // the lock itself; held exactly when this object is held
  AdaptiveMutex queue_mu_;
  std::vector<Op> queue_ SHOAL_GUARDED_BY(queue_mu_);  // waiting for the holder of mu_
  std::vector<Op> running_ SHOAL_GUARDED_BY(mu_);      // being run by the holder of mu_
  std::atomic<std::size_t> queued_{0};                 // queue_.size(), readable without queue_mu_
};

}  // namespace shoal::internal
