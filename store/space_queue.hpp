// Writers waiting for arena space: a program thread in put() (or passing a large argument to
// remote()), or a worker whose large task result did not fit (its kAllocRequest). When a write
// does not fit, the writer joins this queue; whenever space is freed, serve() allocates for the
// queued requests in arrival order and hands each its block through its grant callback.
//
// Why the freeing side allocates on the waiter's behalf (rather than waking every waiter to
// retry): a worker's request has no thread of its own in the driver to retry it, and handing
// blocks out in one place keeps arrival order and wakes only the writers that were served.
// Order is "first come, first served among those that fit": a request that still does not fit
// does not hold back smaller ones behind it; every request has a deadline (the caller's timer),
// so a large one is never stuck for ever.
//
// Thread safety: none. The runtime calls it with its lock held; grant callbacks run inside
// serve(), with that lock held, and must not call back into the queue.
#pragma once

#include <cstdint>
#include <functional>
#include <list>

#include "store/allocator.hpp"

namespace shoal::internal {

class SpaceQueue {
 public:
  /// Called with the offset of a block of the requested size, which the callee now owns.
  using Grant = std::function<void(std::uint64_t offset)>;
  using Ticket = std::uint64_t;

  explicit SpaceQueue(Allocator* allocator) : allocator_(allocator) {}

  /// Queues a request for `size` bytes. The caller has just failed to allocate them.
  Ticket push(std::uint64_t size, Grant grant);
  /// Withdraws a request that was not granted (timeout, dead worker). False if it is not queued.
  bool cancel(Ticket ticket);
  /// Gives space freed since the last call to queued requests, in arrival order, skipping those
  /// that still do not fit. Returns how many were granted. Cheap (no allocation attempt) when
  /// nothing was freed since the last call, so it may be called after every table update.
  std::size_t serve();
  /// Drops every request without granting it (shutdown; the callers are woken separately).
  void clear() noexcept { requests_.clear(); }

  bool empty() const noexcept { return requests_.empty(); }
  std::size_t size() const noexcept { return requests_.size(); }

 private:
  struct Request {
    Ticket ticket;
    std::uint64_t size;
    Grant grant;
  };

  Allocator* allocator_;
  std::list<Request> requests_;  // arrival order; erased from anywhere on cancel()
  Ticket next_ticket_ = 1;
  std::uint64_t served_frees_ = 0;  // allocator_->frees() when serve() last looked
};

}  // namespace shoal::internal
