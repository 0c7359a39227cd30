// The NodeStore (src/node/node_store.hpp) on a real memfd arena: allocation, the result blocks
// held for workers, and writers waiting for space (deferred worker requests and program threads),
// served in arrival order as blocks are freed. No process is forked.
#include "src/node/node_store.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace shoal::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kCapacity = 4 * kMiB;

class NodeStoreTest : public ::testing::Test {
 protected:
  std::uint64_t allocate(std::uint64_t size) {
    const std::optional<std::uint64_t> o = store_.allocate(size);
    EXPECT_TRUE(o.has_value()) << "no room for " << size << " bytes";
    return o.value_or(0);
  }

  // Takes all the space there is; returns the block.
  std::uint64_t fill() {
    const std::uint64_t o = allocate(store_.max_object_bytes());
    EXPECT_FALSE(store_.allocate(1).has_value()) << "the store is not full";
    return o;
  }

  // A worker's request, answered as the runtime does: the grant takes the request out of the
  // store and gives the worker the block as its result block.
  std::shared_ptr<NodeStore::DeferredAlloc> defer(WorkerId worker, std::uint64_t size,
                                                  TaskId task) {
    AllocRequest request;
    request.task = task;
    request.request = 100 + worker;
    request.size = size;
    return store_.defer_alloc(worker, request, io_, [this, worker](std::uint64_t offset) {
      const std::shared_ptr<NodeStore::DeferredAlloc> d = store_.take_deferred(worker);
      ASSERT_NE(d, nullptr) << "granted a request the store does not have";
      store_.give_result_block(worker, {offset, d->request.size, d->request.task});
      granted.push_back(worker);
    });
  }

  boost::asio::io_context io_;
  NodeStore store_{kCapacity};
  std::vector<WorkerId> granted;  // workers whose deferred requests were granted, in order
};

TEST_F(NodeStoreTest, AllocateAndFreeCountUsedBytes) {
  EXPECT_EQ(store_.capacity(), kCapacity);
  ASSERT_NE(store_.base(), nullptr);
  ASSERT_NE(store_.arena(), nullptr);
  EXPECT_EQ(store_.arena()->base(), store_.base());
  EXPECT_EQ(store_.used_bytes(), 0u);
  const std::uint64_t free_before = store_.free_bytes();

  const std::uint64_t a = allocate(1000);
  const std::uint64_t b = allocate(kMiB);
  EXPECT_EQ(store_.used_bytes(), 1000 + kMiB);
  EXPECT_LT(store_.free_bytes(), free_before);
  EXPECT_EQ(a % Allocator::kAlignment, 0u);
  EXPECT_EQ(b % Allocator::kAlignment, 0u);
  EXPECT_TRUE(a + 1000 <= b || b + kMiB <= a) << "blocks overlap";
  EXPECT_LE(std::max(a + 1000, b + kMiB), kCapacity);
  // The memory is there, shared and writable.
  std::memset(store_.base() + a, 'a', 1000);
  std::memset(store_.base() + b, 'b', kMiB);
  EXPECT_EQ(store_.base()[a + 999], 'a');
  EXPECT_EQ(store_.base()[b], 'b');

  store_.free_block(a);
  EXPECT_EQ(store_.used_bytes(), kMiB);
  store_.free_block(b);
  EXPECT_EQ(store_.used_bytes(), 0u);
  EXPECT_EQ(store_.free_bytes(), free_before);

  EXPECT_FALSE(store_.allocate(kCapacity + 1).has_value());
}

TEST_F(NodeStoreTest, MaxObjectBytesIsTheLargestBlockAnEmptyStoreHolds) {
  const std::uint64_t max = store_.max_object_bytes();
  EXPECT_LT(max, kCapacity);
  EXPECT_GT(max, kCapacity - 64 * 1024) << "bookkeeping takes most of the store";
  EXPECT_FALSE(store_.allocate(max + 1).has_value());
  const std::uint64_t o = allocate(max);
  EXPECT_EQ(store_.used_bytes(), max);
  store_.free_block(o);
  // Measured once, while empty: the same however full the store is now.
  const std::uint64_t small = allocate(4096);
  EXPECT_EQ(store_.max_object_bytes(), max);
  EXPECT_FALSE(store_.allocate(max).has_value());
  store_.free_block(small);
}

TEST_F(NodeStoreTest, ResultBlocksAreKeptPerWorkerUntilSealed) {
  const std::uint64_t a = allocate(1000);
  const std::uint64_t b = allocate(2000);
  store_.give_result_block(1, {a, 1000, 10});
  store_.give_result_block(2, {b, 2000, 20});

  const NodeStore::Block* one = store_.result_block(1);
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->offset, a);
  EXPECT_EQ(one->size, 1000u);
  EXPECT_EQ(one->task, 10u);
  ASSERT_NE(store_.result_block(2), nullptr);
  EXPECT_EQ(store_.result_block(2)->task, 20u);
  EXPECT_EQ(store_.result_block(3), nullptr);
  std::vector<TaskId> tasks;
  for (const NodeStore::Block& block : store_.result_blocks()) tasks.push_back(block.task);
  EXPECT_THAT(tasks, UnorderedElementsAre(10u, 20u));

  // Sealed: the block is the object's now; the store still holds its bytes.
  store_.seal_result_block(1);
  EXPECT_EQ(store_.result_block(1), nullptr);
  EXPECT_EQ(store_.result_blocks().size(), 1u);
  EXPECT_EQ(store_.used_bytes(), 3000u);
  // A worker that dies after sealing does not take the object's block with it.
  store_.drop_worker(1);
  EXPECT_EQ(store_.used_bytes(), 3000u);
}

TEST_F(NodeStoreTest, DropWorkerFreesItsUnsealedBlockAndWithdrawsItsRequest) {
  const std::uint64_t result = allocate(kMiB);
  store_.give_result_block(1, {result, kMiB, 10});
  const std::uint64_t filler = allocate(store_.max_object_bytes() - 2 * kMiB);
  defer(2, 2 * kMiB, 20);  // does not fit while worker 1's block and the filler are there
  defer(3, 64, 30);
  ASSERT_TRUE(store_.has_deferred(2));
  EXPECT_EQ(store_.waiters(), 2u);

  store_.drop_worker(1);  // died while writing its result
  EXPECT_EQ(store_.result_block(1), nullptr);
  EXPECT_EQ(store_.used_bytes(), store_.max_object_bytes() - 2 * kMiB);
  store_.drop_worker(2);  // died while waiting for space
  EXPECT_FALSE(store_.has_deferred(2));
  EXPECT_EQ(store_.deferred(2), nullptr);
  EXPECT_EQ(store_.waiters(), 1u);

  // Space is freed: the dead worker's request is not granted; the live one is.
  store_.free_block(filler);
  store_.serve_waiters();
  EXPECT_THAT(granted, ElementsAre(3u));
  EXPECT_EQ(store_.used_bytes(), 64u);
  EXPECT_EQ(store_.waiters(), 0u);

  store_.drop_worker(99);  // holds nothing: nothing happens
  EXPECT_EQ(store_.used_bytes(), 64u);
}

TEST_F(NodeStoreTest, DeferredRequestIsGrantedABlockOfItsSizeOnceSpaceIsFreed) {
  const std::uint64_t filler = fill();
  const std::shared_ptr<NodeStore::DeferredAlloc> d = defer(7, kMiB, 70);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->request.task, 70u);
  EXPECT_EQ(d->request.request, 107u);
  EXPECT_EQ(d->request.size, kMiB);
  EXPECT_TRUE(store_.has_deferred(7));
  EXPECT_EQ(store_.deferred(7), d);
  EXPECT_EQ(store_.waiters(), 1u);

  store_.serve_waiters();  // nothing freed yet
  EXPECT_THAT(granted, IsEmpty());

  store_.free_block(filler);
  EXPECT_THAT(granted, IsEmpty()) << "granted before serve_waiters()";
  store_.serve_waiters();
  ASSERT_THAT(granted, ElementsAre(7u));
  const NodeStore::Block* block = store_.result_block(7);
  ASSERT_NE(block, nullptr);
  EXPECT_EQ(block->size, kMiB);
  EXPECT_EQ(block->task, 70u);
  EXPECT_EQ(store_.used_bytes(), kMiB);
  EXPECT_LE(block->offset + kMiB, kCapacity);
  std::memset(store_.base() + block->offset, 'r', kMiB);
  EXPECT_FALSE(store_.has_deferred(7));
  EXPECT_EQ(store_.waiters(), 0u);

  store_.serve_waiters();  // granted once only
  EXPECT_THAT(granted, ElementsAre(7u));
}

TEST_F(NodeStoreTest, WaitersAreServedInArrivalOrderAmongThoseThatFit) {
  const std::uint64_t first_half = allocate(2 * kMiB);
  const std::uint64_t rest = allocate(store_.max_object_bytes() - 2 * kMiB - 4096);
  std::vector<std::uint64_t> program_blocks;

  defer(1, 3 * kMiB, 10);  // fits only once everything is free
  defer(2, kMiB / 2, 20);
  store_.wait_for_space(kMiB / 2, [&](std::uint64_t offset) {  // a program thread in put()
    program_blocks.push_back(offset);
  });
  defer(3, kMiB / 2, 30);
  EXPECT_EQ(store_.waiters(), 4u);

  // 2 MiB come free: not enough for worker 1, which does not hold back the smaller ones behind it.
  store_.free_block(first_half);
  store_.serve_waiters();
  EXPECT_THAT(granted, ElementsAre(2u, 3u));
  EXPECT_EQ(program_blocks.size(), 1u);
  EXPECT_EQ(store_.waiters(), 1u);
  EXPECT_TRUE(store_.has_deferred(1));

  // Everything else comes free: worker 1's turn.
  store_.free_block(rest);
  for (const WorkerId w : {2u, 3u}) store_.free_block(store_.result_block(w)->offset);
  store_.free_block(program_blocks[0]);
  store_.serve_waiters();
  EXPECT_THAT(granted, ElementsAre(2u, 3u, 1u));
  ASSERT_NE(store_.result_block(1), nullptr);
  EXPECT_EQ(store_.result_block(1)->size, 3 * kMiB);
  EXPECT_EQ(store_.waiters(), 0u);
}

TEST_F(NodeStoreTest, GrantsFollowArrivalOrder) {
  const std::uint64_t filler = fill();
  std::vector<std::string> order;
  for (int i = 0; i < 6; ++i) {
    if (i % 2 == 0) {
      store_.wait_for_space(
          kMiB / 4, [&order, i](std::uint64_t) { order.push_back("put" + std::to_string(i)); });
    } else {
      AllocRequest request;
      request.task = static_cast<TaskId>(i);
      request.size = kMiB / 4;
      store_.defer_alloc(static_cast<WorkerId>(i), request, io_, [&order, i](std::uint64_t) {
        order.push_back("worker" + std::to_string(i));
      });
    }
  }
  store_.free_block(filler);
  store_.serve_waiters();
  EXPECT_THAT(order, ElementsAre("put0", "worker1", "put2", "worker3", "put4", "worker5"));
}

TEST_F(NodeStoreTest, CancelledWaitIsNotGranted) {
  const std::uint64_t filler = fill();
  bool called = false;
  const SpaceQueue::Ticket ticket =
      store_.wait_for_space(kMiB, [&](std::uint64_t) { called = true; });
  EXPECT_EQ(store_.waiters(), 1u);
  store_.cancel_wait(ticket);  // the put() timed out
  EXPECT_EQ(store_.waiters(), 0u);
  store_.free_block(filler);
  store_.serve_waiters();
  EXPECT_FALSE(called);
  EXPECT_EQ(store_.used_bytes(), 0u);
}

// The runtime's timer path: the request expires, is taken out, and its wait withdrawn.
TEST_F(NodeStoreTest, TakeDeferredHandsTheRequestOutOnce) {
  EXPECT_EQ(store_.deferred(5), nullptr);
  EXPECT_EQ(store_.take_deferred(5), nullptr);
  EXPECT_FALSE(store_.has_deferred(5));

  const std::uint64_t filler = fill();
  const std::shared_ptr<NodeStore::DeferredAlloc> d = defer(5, kMiB, 50);
  EXPECT_EQ(store_.deferred(5), d);
  EXPECT_EQ(store_.take_deferred(5), d);
  EXPECT_FALSE(store_.has_deferred(5));
  EXPECT_EQ(store_.deferred(5), nullptr);
  EXPECT_EQ(store_.take_deferred(5), nullptr);
  store_.cancel_wait(d->ticket);
  EXPECT_EQ(store_.waiters(), 0u);

  store_.free_block(filler);
  store_.serve_waiters();
  EXPECT_THAT(granted, IsEmpty());
  EXPECT_EQ(store_.used_bytes(), 0u);
}

// A deferred request's deadline is its timer: once the request is gone from the store (granted,
// or its worker dropped) and the caller lets go, the wait ends as cancelled, never as expired.
TEST_F(NodeStoreTest, TimerOfARequestThatLeftTheStoreIsCancelled) {
  const std::uint64_t filler = fill();
  std::vector<boost::system::error_code> ended;
  for (const WorkerId w : {1u, 2u}) {
    std::shared_ptr<NodeStore::DeferredAlloc> d = defer(w, kMiB, 10 * w);
    d->timer.expires_after(std::chrono::hours(1));
    d->timer.async_wait([&ended](const boost::system::error_code& ec) { ended.push_back(ec); });
  }
  store_.drop_worker(2);
  store_.free_block(filler);
  store_.serve_waiters();  // worker 1's grant takes its request out of the store
  ASSERT_THAT(granted, ElementsAre(1u));

  io_.poll();
  ASSERT_EQ(ended.size(), 2u);
  for (const boost::system::error_code& ec : ended) {
    EXPECT_EQ(ec, boost::asio::error::operation_aborted);
  }
}

TEST_F(NodeStoreTest, CloseWaitersDropsEveryRequest) {
  const std::uint64_t filler = fill();
  defer(1, kMiB, 10);
  defer(2, kMiB, 20);
  bool program_granted = false;
  store_.wait_for_space(kMiB, [&](std::uint64_t) { program_granted = true; });
  EXPECT_EQ(store_.waiters(), 3u);

  store_.close_waiters();
  EXPECT_EQ(store_.waiters(), 0u);
  EXPECT_FALSE(store_.has_deferred(1));
  EXPECT_FALSE(store_.has_deferred(2));
  EXPECT_EQ(store_.deferred(1), nullptr);

  store_.free_block(filler);
  store_.serve_waiters();
  EXPECT_THAT(granted, IsEmpty());
  EXPECT_FALSE(program_granted);
  EXPECT_EQ(store_.used_bytes(), 0u);
}

}  // namespace
}  // namespace shoal::internal
