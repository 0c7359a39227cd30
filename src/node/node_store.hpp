// A node's object store: the shared-memory arena, the allocator over it, the queue of writers
// waiting for space, and the store space held for each worker (Plasma's store with its create
// request queue, whose requests are keyed by client).
//
// Only the driver allocates (store/allocator.hpp says why). A worker whose task has a large result
// asks with AllocRequest; the block it is given is its *result block* until the result is sealed
// (the block then belongs to the object) or the worker dies (it is freed). A request that does not
// fit is *deferred*: queued for space, with a timer that refuses it at the deadline. Both are
// keyed by the worker, so drop_worker() gives back everything a dead worker held or asked for.
// Program threads waiting in put() use the same queue (the runtime sleeps them on its own lock).
//
// Thread safety: none. The runtime calls it with its lock held; the memory of a block is written
// by whoever was given it, without the lock.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "src/common/ids.hpp"
#include "src/transport/protocol.hpp"
#include "store/allocator.hpp"
#include "store/arena.hpp"
#include "store/block_freer.hpp"
#include "store/space_queue.hpp"

namespace shoal::internal {

class NodeStore final : public BlockFreer {
 public:
  /// Creates and maps an arena of `bytes`. Throws SystemError.
  explicit NodeStore(std::uint64_t bytes);
  ~NodeStore();
  NodeStore(const NodeStore&) = delete;
  NodeStore& operator=(const NodeStore&) = delete;

  /// The arena; readers keep it mapped with a copy of the pointer (a View may outlive shutdown).
  const std::shared_ptr<Arena>& arena() const noexcept { return arena_; }
  char* base() const noexcept { return arena_->base(); }

  std::optional<std::uint64_t> allocate(std::uint64_t size) { return allocator_.allocate(size); }
  void free_block(std::uint64_t offset) noexcept override { allocator_.free(offset); }

  std::uint64_t capacity() const noexcept { return arena_->size(); }
  std::uint64_t used_bytes() const noexcept { return allocator_.used_bytes(); }
  std::uint64_t free_bytes() const { return allocator_.free_bytes(); }
  /// The largest object the store can ever hold (measured at construction, while empty).
  std::uint64_t max_object_bytes() const noexcept { return max_object_; }

  // ---- writers waiting for space, served in arrival order as blocks are freed
  SpaceQueue::Ticket wait_for_space(std::uint64_t size, SpaceQueue::Grant grant) {
    return space_queue_.push(size, std::move(grant));
  }
  void cancel_wait(SpaceQueue::Ticket ticket) { space_queue_.cancel(ticket); }
  /// Gives space freed since the last call to waiting writers. Cheap when nothing was freed.
  void serve_waiters() {
    if (!space_queue_.empty()) space_queue_.serve();
  }
  std::size_t waiters() const noexcept { return space_queue_.size(); }

  // ---- space held for workers
  struct Block {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    TaskId task = 0;  // whose result it is for
  };
  /// `worker`'s running task was given `block` for its result (one block per large value: a task
  /// with several returns may hold several).
  void give_result_block(WorkerId worker, Block block) { result_blocks_[worker].push_back(block); }
  /// `worker`'s first result block, or null.
  const Block* result_block(WorkerId worker) const noexcept;
  /// The task's result came: its blocks are taken out (each then belongs to its object, or is
  /// freed by the caller if the result does not use it).
  std::vector<Block> take_result_blocks(WorkerId worker);
  /// The result was sealed: the blocks belong to their objects now.
  void seal_result_block(WorkerId worker) { result_blocks_.erase(worker); }
  /// Every result block being written, for the error that lists the biggest holders.
  std::vector<Block> result_blocks() const;

  /// A worker's AllocRequest waiting for space. The runtime sets the timer.
  struct DeferredAlloc {
    explicit DeferredAlloc(boost::asio::io_context& io) : timer(io) {}
    AllocRequest request;
    SpaceQueue::Ticket ticket = 0;
    boost::asio::steady_timer timer;  // refuses the request at its deadline; destroying it cancels
  };
  /// Queues `worker`'s request; `grant` is called with the block once it fits (by whichever
  /// thread frees the space, with the runtime's lock held).
  std::shared_ptr<DeferredAlloc> defer_alloc(WorkerId worker, const AllocRequest& request,
                                             boost::asio::io_context& io,
                                             std::function<void(std::uint64_t offset)> grant);
  /// The deferred request of `worker`, or null.
  std::shared_ptr<DeferredAlloc> deferred(WorkerId worker) const;
  /// The deferred request of `worker`, taken out of the store (granted, expired), or null. Its
  /// place in the queue of writers waiting for space is not withdrawn: a caller taking a request
  /// that was not granted (it expired) calls cancel_wait() with its ticket as well.
  std::shared_ptr<DeferredAlloc> take_deferred(WorkerId worker);
  bool has_deferred(WorkerId worker) const noexcept { return deferred_.count(worker) != 0; }

  /// `worker` is gone: its unsealed result block is freed and its deferred request withdrawn.
  void drop_worker(WorkerId worker);
  /// Shutdown: every deferred request is dropped and every waiting writer forgotten (the runtime
  /// wakes program threads itself).
  void close_waiters();

 private:
  std::shared_ptr<Arena> arena_;
  Allocator allocator_;
  SpaceQueue space_queue_{&allocator_};
  std::uint64_t max_object_ = 0;
  std::unordered_map<WorkerId, std::vector<Block>> result_blocks_;
  std::unordered_map<WorkerId, std::shared_ptr<DeferredAlloc>> deferred_;
};

}  // namespace shoal::internal
