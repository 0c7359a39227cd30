// The arena Allocator (store/allocator.hpp) over a heap buffer: blocks are aligned, inside the
// arena and disjoint, the byte count is exact, and freed space can be used again.
#include "store/allocator.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace shoal::internal {
namespace {

constexpr std::uint64_t kArenaSize = 1 << 20;

struct alignas(64) ArenaBuffer {
  char bytes[kArenaSize];
};

class AllocatorTest : public ::testing::Test {
 protected:
  std::unique_ptr<ArenaBuffer> arena_ = std::make_unique<ArenaBuffer>();
  Allocator allocator_{arena_->bytes, kArenaSize};

  char* at(std::uint64_t offset) { return arena_->bytes + offset; }
};

// Fills [offset, offset + size) with a pattern derived from `seed`, or checks that it is intact.
void fill(char* p, std::uint64_t size, unsigned seed) {
  for (std::uint64_t i = 0; i < size; ++i) p[i] = static_cast<char>((seed * 131 + i) & 0xFF);
}
bool intact(const char* p, std::uint64_t size, unsigned seed) {
  for (std::uint64_t i = 0; i < size; ++i) {
    if (p[i] != static_cast<char>((seed * 131 + i) & 0xFF)) return false;
  }
  return true;
}

TEST_F(AllocatorTest, BlocksAreAlignedInsideTheArenaAndDisjoint) {
  const std::uint64_t sizes[] = {1, 63, 64, 65, 100, 1000, 4096, 7, 12345, 64 * 1024, 3};
  std::vector<std::pair<std::uint64_t, std::uint64_t>> blocks;  // offset, size
  for (std::uint64_t size : sizes) {
    const std::optional<std::uint64_t> offset = allocator_.allocate(size);
    ASSERT_TRUE(offset.has_value()) << size;
    EXPECT_EQ(*offset % Allocator::kAlignment, 0u) << size;
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(at(*offset)) % Allocator::kAlignment, 0u);
    EXPECT_LE(*offset + size, kArenaSize) << size;
    blocks.emplace_back(*offset, size);
  }
  std::vector<std::pair<std::uint64_t, std::uint64_t>> sorted = blocks;
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    EXPECT_LE(sorted[i - 1].first + sorted[i - 1].second, sorted[i].first)
        << "blocks at " << sorted[i - 1].first << " and " << sorted[i].first << " overlap";
  }
  // Writing every block fully, then allocating and freeing more, disturbs none of them: the
  // allocator's own headers in the arena do not overlap the objects either.
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    fill(at(blocks[i].first), blocks[i].second, static_cast<unsigned>(i));
  }
  std::vector<std::uint64_t> more;
  for (int i = 0; i < 20; ++i) {
    const std::optional<std::uint64_t> o = allocator_.allocate(200);
    ASSERT_TRUE(o.has_value());
    fill(at(*o), 200, 999);
    more.push_back(*o);
  }
  for (std::uint64_t o : more) allocator_.free(o);
  allocator_.free(blocks[3].first);
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i == 3) continue;
    EXPECT_TRUE(intact(at(blocks[i].first), blocks[i].second, static_cast<unsigned>(i)))
        << "block " << i << " was overwritten";
  }
}

TEST_F(AllocatorTest, ZeroSizeAllocationsAreDistinct) {
  const std::optional<std::uint64_t> a = allocator_.allocate(0);
  const std::optional<std::uint64_t> b = allocator_.allocate(0);
  ASSERT_TRUE(a.has_value());
  ASSERT_TRUE(b.has_value());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(allocator_.used_bytes(), 0u);
  allocator_.free(*a);
  allocator_.free(*b);
}

TEST_F(AllocatorTest, UsedBytesCountsRequestedSizes) {
  EXPECT_EQ(allocator_.used_bytes(), 0u);
  const std::optional<std::uint64_t> a = allocator_.allocate(100);
  const std::optional<std::uint64_t> b = allocator_.allocate(200);
  const std::optional<std::uint64_t> c = allocator_.allocate(1);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(allocator_.used_bytes(), 301u);
  allocator_.free(*b);
  EXPECT_EQ(allocator_.used_bytes(), 101u);
  allocator_.free(*a);
  allocator_.free(*c);
  EXPECT_EQ(allocator_.used_bytes(), 0u);
}

TEST_F(AllocatorTest, FreeingMakesRoomAgain) {
  constexpr std::uint64_t kBlock = 4096;
  std::vector<std::uint64_t> blocks;
  while (std::optional<std::uint64_t> o = allocator_.allocate(kBlock)) {
    blocks.push_back(*o);
    ASSERT_LE(blocks.size(), kArenaSize / kBlock) << "more blocks than the arena can hold";
  }
  const std::size_t capacity = blocks.size();
  ASSERT_GT(capacity, kArenaSize / kBlock / 2);  // bookkeeping costs little
  EXPECT_EQ(allocator_.used_bytes(), capacity * kBlock);

  for (std::uint64_t o : blocks) allocator_.free(o);
  EXPECT_EQ(allocator_.used_bytes(), 0u);

  // Freed neighbours merge: the whole arena is again available, in one piece or in blocks.
  const std::optional<std::uint64_t> big = allocator_.allocate(allocator_.max_object_bytes());
  ASSERT_TRUE(big.has_value());
  allocator_.free(*big);
  blocks.clear();
  while (std::optional<std::uint64_t> o = allocator_.allocate(kBlock)) blocks.push_back(*o);
  EXPECT_EQ(blocks.size(), capacity);
}

TEST_F(AllocatorTest, MaxObjectBytesIsTheLargestObjectAnEmptyArenaTakes) {
  const std::uint64_t max = allocator_.max_object_bytes();
  EXPECT_GT(max, kArenaSize / 2);
  EXPECT_LT(max, kArenaSize);
  const std::optional<std::uint64_t> o = allocator_.allocate(max);
  ASSERT_TRUE(o.has_value());
  EXPECT_LE(*o + max, kArenaSize);
  allocator_.free(*o);
}

TEST_F(AllocatorTest, RequestLargerThanTheArenaReturnsNullopt) {
  EXPECT_FALSE(allocator_.allocate(kArenaSize).has_value());
  EXPECT_FALSE(allocator_.allocate(kArenaSize + 1).has_value());
  EXPECT_FALSE(allocator_.allocate(1ull << 40).has_value());
  EXPECT_FALSE(allocator_.allocate(1ull << 63).has_value());
  EXPECT_EQ(allocator_.used_bytes(), 0u);
  EXPECT_TRUE(allocator_.allocate(allocator_.max_object_bytes()).has_value());
}

TEST_F(AllocatorTest, SizeNearTheTopOfTheRangeReturnsNullopt) {
  // The size comes from a worker's kAllocRequest, so it is untrusted. Rounding it up for headers
  // and alignment must not wrap around to a small block.
  for (std::uint64_t size : {~std::uint64_t{0}, ~std::uint64_t{0} - 63, ~std::uint64_t{0} - 128}) {
    const std::optional<std::uint64_t> o = allocator_.allocate(size);
    EXPECT_FALSE(o.has_value()) << "a block of " << size << " bytes at offset " << o.value_or(0)
                                << " in an arena of " << kArenaSize;
    if (o) allocator_.free(*o);
  }
  EXPECT_EQ(allocator_.used_bytes(), 0u);
}

TEST_F(AllocatorTest, RequestLargerThanMaxObjectBytesReturnsNullopt) {
  // max_object_bytes() is documented as the most one object can take in an empty arena.
  const std::uint64_t max = allocator_.max_object_bytes();
  for (std::uint64_t extra : {1u, 64u, 200u}) {
    const std::optional<std::uint64_t> o = allocator_.allocate(max + extra);
    EXPECT_FALSE(o.has_value()) << "max_object_bytes() + " << extra << " was allocated";
    if (o) allocator_.free(*o);
  }
}

TEST_F(AllocatorTest, FreeOfAnUnknownOffsetIsIgnored) {
  const std::optional<std::uint64_t> a = allocator_.allocate(1000);
  ASSERT_TRUE(a.has_value());
  fill(at(*a), 1000, 7);
  allocator_.free(*a + 64);    // inside the block
  allocator_.free(*a + 2048);  // past it
  allocator_.free(kArenaSize);
  allocator_.free(~std::uint64_t{0});
  EXPECT_EQ(allocator_.used_bytes(), 1000u);
  EXPECT_TRUE(intact(at(*a), 1000, 7));

  allocator_.free(*a);
  allocator_.free(*a);  // a second free of the same block is unknown by then
  EXPECT_EQ(allocator_.used_bytes(), 0u);
  const std::optional<std::uint64_t> b = allocator_.allocate(allocator_.max_object_bytes());
  EXPECT_TRUE(b.has_value());
}

}  // namespace
}  // namespace shoal::internal
