// SpaceQueue (store/space_queue.hpp) over a real Allocator on a heap buffer: requests are served
// when space is freed, in arrival order among those that fit, never twice and never after they
// were withdrawn; and a fragmented arena (enough free bytes, no block big enough) keeps a request
// waiting until neighbours are freed and merge.
#include "store/space_queue.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "store/allocator.hpp"

namespace shoal::internal {
namespace {

constexpr std::uint64_t kArenaSize = 1 << 20;
constexpr std::uint64_t kBlock = 16 * 1024;

struct alignas(64) ArenaBuffer {
  char bytes[kArenaSize];
};

class SpaceQueueTest : public ::testing::Test {
 protected:
  // Fills the arena with kBlock-sized blocks; returns their offsets in address order.
  std::vector<std::uint64_t> fill() {
    std::vector<std::uint64_t> blocks;
    while (std::optional<std::uint64_t> o = allocator_.allocate(kBlock)) blocks.push_back(*o);
    std::sort(blocks.begin(), blocks.end());  // a full arena: each block touches the next
    return blocks;
  }

  std::unique_ptr<ArenaBuffer> arena_ = std::make_unique<ArenaBuffer>();
  Allocator allocator_{arena_->bytes, kArenaSize};
  SpaceQueue queue_{&allocator_};
};

TEST_F(SpaceQueueTest, RequestIsGrantedOnceSpaceIsFreed) {
  const std::vector<std::uint64_t> blocks = fill();
  ASSERT_GT(blocks.size(), 4u);
  std::optional<std::uint64_t> granted;
  int calls = 0;
  queue_.push(kBlock, [&](std::uint64_t at) {
    granted = at;
    ++calls;
  });
  EXPECT_EQ(queue_.serve(), 0u);  // nothing freed yet
  EXPECT_FALSE(granted);
  allocator_.free(blocks[2]);
  EXPECT_EQ(queue_.serve(), 1u);
  ASSERT_TRUE(granted);
  EXPECT_EQ(*granted, blocks[2]);  // the freed block, now owned by the request
  EXPECT_TRUE(queue_.empty());
  allocator_.free(blocks[3]);
  EXPECT_EQ(queue_.serve(), 0u);  // granted requests are gone: never served twice
  EXPECT_EQ(calls, 1);
}

TEST_F(SpaceQueueTest, ServedInArrivalOrderAmongThoseThatFit) {
  const std::vector<std::uint64_t> blocks = fill();
  std::vector<int> order;
  queue_.push(kBlock, [&](std::uint64_t) { order.push_back(1); });
  queue_.push(4 * kBlock, [&](std::uint64_t) { order.push_back(2); });  // does not fit yet
  queue_.push(kBlock, [&](std::uint64_t) { order.push_back(3); });
  queue_.push(kBlock, [&](std::uint64_t) { order.push_back(4); });
  allocator_.free(blocks[1]);  // two blocks apart: they do not merge
  allocator_.free(blocks[3]);
  EXPECT_EQ(queue_.serve(), 2u);
  EXPECT_EQ(order, (std::vector<int>{1, 3}));  // the big one does not hold back the small ones
  EXPECT_EQ(queue_.size(), 2u);
}

TEST_F(SpaceQueueTest, CancelledRequestIsNeverGranted) {
  const std::vector<std::uint64_t> blocks = fill();
  bool first = false, second = false;
  const SpaceQueue::Ticket t = queue_.push(kBlock, [&](std::uint64_t) { first = true; });
  queue_.push(kBlock, [&](std::uint64_t) { second = true; });
  EXPECT_TRUE(queue_.cancel(t));
  EXPECT_FALSE(queue_.cancel(t));  // already gone
  allocator_.free(blocks[0]);
  EXPECT_EQ(queue_.serve(), 1u);
  EXPECT_FALSE(first);
  EXPECT_TRUE(second);
  EXPECT_FALSE(queue_.cancel(12345));
}

TEST_F(SpaceQueueTest, FragmentedArenaWaitsUntilNeighboursMerge) {
  const std::vector<std::uint64_t> blocks = fill();
  ASSERT_GE(blocks.size(), 8u);
  // Free every other block: half the arena is free, but no two free blocks touch.
  for (std::size_t i = 0; i + 1 < blocks.size(); i += 2) allocator_.free(blocks[i]);
  ASSERT_GE(allocator_.free_bytes(), 3 * kBlock);
  std::optional<std::uint64_t> granted;
  queue_.push(2 * kBlock, [&](std::uint64_t at) { granted = at; });
  EXPECT_EQ(queue_.serve(), 0u);
  EXPECT_FALSE(granted) << "enough free bytes, but not in one piece";
  allocator_.free(blocks[3]);  // joins the free blocks 2 and 4 into one of three blocks
  EXPECT_EQ(queue_.serve(), 1u);
  ASSERT_TRUE(granted);
  EXPECT_GE(*granted, blocks[2]);
  EXPECT_LE(*granted + 2 * kBlock, blocks[4] + kBlock);
}

TEST_F(SpaceQueueTest, ClearDropsRequestsWithoutGranting) {
  const std::vector<std::uint64_t> blocks = fill();
  bool granted = false;
  queue_.push(kBlock, [&](std::uint64_t) { granted = true; });
  queue_.clear();
  allocator_.free(blocks[0]);
  EXPECT_EQ(queue_.serve(), 0u);
  EXPECT_FALSE(granted);
  EXPECT_TRUE(queue_.empty());
}

TEST(AllocatorFrees, CountsEveryFreedBlock) {
  auto arena = std::make_unique<ArenaBuffer>();
  Allocator allocator(arena->bytes, kArenaSize);
  const std::uint64_t free_empty = allocator.free_bytes();
  EXPECT_GE(free_empty, allocator.max_object_bytes());
  const std::optional<std::uint64_t> a = allocator.allocate(1000);
  ASSERT_TRUE(a);
  EXPECT_LT(allocator.free_bytes(), free_empty);
  EXPECT_EQ(allocator.frees(), 0u);
  allocator.free(*a);
  EXPECT_EQ(allocator.frees(), 1u);
  allocator.free(*a);  // unknown by now: not counted
  EXPECT_EQ(allocator.frees(), 1u);
  EXPECT_EQ(allocator.free_bytes(), free_empty);
}

}  // namespace
}  // namespace shoal::internal
