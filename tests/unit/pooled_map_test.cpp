// PooledMap and its NodePoolResource (src/common/pooled_map.hpp): a map that behaves as a map,
// nodes reused from the free list, other sizes and larger alignments passed on.
#include "src/common/pooled_map.hpp"

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

namespace shoal::internal {
namespace {

TEST(PooledMap, BehavesAsAnUnorderedMap) {
  PooledMap<std::uint64_t, std::string> m;
  for (std::uint64_t i = 1; i <= 1000; ++i) m.try_emplace(i, std::to_string(i));
  EXPECT_EQ(m.size(), 1000u);
  for (std::uint64_t i = 1; i <= 1000; i += 2) m.erase(i);
  EXPECT_EQ(m.size(), 500u);
  for (std::uint64_t i = 2; i <= 1000; i += 2) EXPECT_EQ(m.at(i), std::to_string(i));
  EXPECT_EQ(m.count(1), 0u);
}

TEST(PooledMap, PrimeLeavesTheMapEmpty) {
  PooledMap<std::uint64_t, int> m;
  m.prime(0);
  EXPECT_TRUE(m.empty());
  m.try_emplace(7, 1);
  m.prime(0);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.count(0), 0u);
}

TEST(NodePoolResource, FreedBlockOfThePoolSizeIsHandedBackNext) {
  NodePoolResource r;
  void* a = r.allocate(48, 8);  // the first size asked for is the pool's
  void* b = r.allocate(48, 8);
  EXPECT_NE(a, b);
  r.deallocate(a, 48, 8);
  EXPECT_EQ(r.allocate(48, 8), a) << "a freed node is reused first";
  r.deallocate(a, 48, 8);
  r.deallocate(b, 48, 8);
}

TEST(NodePoolResource, OtherSizesAndLargerAlignmentsArePassedOnAndStayUsable) {
  NodePoolResource r;
  void* node = r.allocate(48, 8);
  void* big = r.allocate(4096, 8);  // a bucket array, say
  auto* aligned = static_cast<unsigned char*>(r.allocate(48, 64));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(aligned) % 64, 0u);
  for (int i = 0; i < 48; ++i) aligned[i] = static_cast<unsigned char>(i);  // ASan checks bounds
  for (int i = 0; i < 4096; ++i) static_cast<unsigned char*>(big)[i] = 1;
  r.deallocate(aligned, 48, 64);
  r.deallocate(big, 4096, 8);
  r.deallocate(node, 48, 8);
}

}  // namespace
}  // namespace shoal::internal
