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
#pragma once

#include <atomic>
#include <mutex>
#include <utility>
#include <vector>

#include "src/common/adaptive_mutex.hpp"

namespace shoal::internal {

template <class Op>
class DeferringMutex {
 public:
  using Runner = void (*)(void* context, Op& op) noexcept;

  DeferringMutex(Runner runner, void* context) noexcept : runner_(runner), context_(context) {}
  DeferringMutex(const DeferringMutex&) = delete;
  DeferringMutex& operator=(const DeferringMutex&) = delete;

  void lock() noexcept {
    mu_.lock();
    run_queued();
  }

  bool try_lock() noexcept {
    if (!mu_.try_lock()) return false;
    run_queued();
    return true;
  }

  // Runs what was queued, then releases. An operation queued after the last check and before the
  // release found the lock taken; its thread will not run it, so look again after releasing and
  // take the lock back if there is something (unless another thread has it: then that thread
  // will see it when it lets go).
  void unlock() noexcept {
    for (;;) {
      run_queued();
      mu_.unlock();
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (queued_.load(std::memory_order_seq_cst) == 0) return;
      if (!mu_.try_lock()) return;
    }
  }

  /// Runs `op` with the lock held: now if the lock is free, else later by the thread that holds
  /// it, before that thread unlocks. Returns without waiting either way.
  void run_or_defer(Op&& op) noexcept {
    if (mu_.try_lock()) {
      run_queued();
      runner_(context_, op);
      unlock();
      return;
    }
    {
      std::lock_guard<AdaptiveMutex> guard(queue_mu_);
      queue_.push_back(std::move(op));
      queued_.fetch_add(1, std::memory_order_seq_cst);
    }
    // The holder may have let go between our try_lock and the push, before looking at the queue.
    if (mu_.try_lock()) unlock();
  }

 private:
  // Requires mu_. Operations may queue more (the runner drops a reference); run those too.
  void run_queued() noexcept {
    while (queued_.load(std::memory_order_acquire) != 0) {
      {
        std::lock_guard<AdaptiveMutex> guard(queue_mu_);
        std::swap(queue_, running_);
        queued_.store(0, std::memory_order_relaxed);
      }
      for (Op& op : running_) runner_(context_, op);
      running_.clear();  // keeps its capacity: steady traffic does not allocate
    }
  }

  const Runner runner_;
  void* const context_;
  AdaptiveMutex mu_;
  AdaptiveMutex queue_mu_;              // guards queue_
  std::vector<Op> queue_;               // waiting for the holder of mu_
  std::vector<Op> running_;             // being run by the holder of mu_ (requires mu_)
  std::atomic<std::size_t> queued_{0};  // queue_.size(), readable without queue_mu_
};

}  // namespace shoal::internal
