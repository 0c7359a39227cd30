// The object store: large values through shared memory, reference counting back to baseline,
// and type checks.
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"

namespace {

std::vector<std::uint8_t> make_bytes(std::uint64_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 31 + 7);
  return v;
}
std::uint64_t checksum(const std::vector<std::uint8_t>& v) {
  std::uint64_t h = 0;
  for (std::uint8_t b : v) h = h * 131 + b;
  return h;
}
std::vector<std::string> many_strings(int n) {
  return std::vector<std::string>(n, std::string(100, 'x'));
}
std::uint64_t total_size(const std::vector<std::string>& v) {
  std::uint64_t n = 0;
  for (const auto& s : v) n += s.size();
  return n;
}
int identity(int x) { return x; }

SHOAL_REMOTE(make_bytes, checksum, many_strings, total_size, identity);

using shoal::testing::SessionTest;
using ObjectsTest = SessionTest;

TEST_F(ObjectsTest, HundredMegabyteResult) {
  constexpr std::uint64_t kSize = 100ull << 20;
  auto r = shoal::task(make_bytes).remote(kSize);
  const std::vector<std::uint8_t> v = shoal::get(r);
  ASSERT_EQ(v.size(), kSize);
  for (std::uint64_t i = 0; i < kSize; i += 4093)
    ASSERT_EQ(v[i], static_cast<std::uint8_t>(i * 31 + 7));
  EXPECT_GE(shoal::object_store_stats().used_bytes, kSize);  // it lives in shared memory
}

TEST_F(ObjectsTest, LargeResultPassesToAnotherTaskThroughTheStore) {
  auto bytes = shoal::task(make_bytes).remote(std::uint64_t{10} << 20);
  const std::uint64_t remote_sum = shoal::get(shoal::task(checksum).remote(bytes));
  EXPECT_EQ(remote_sum, checksum(shoal::get(bytes)));
}

TEST_F(ObjectsTest, LargeMsgpackValuesGoThroughTheStore) {
  auto strings = shoal::task(many_strings).remote(20000);  // about 2 MB of msgpack
  EXPECT_EQ(shoal::get(shoal::task(total_size).remote(strings)), 2'000'000u);
  EXPECT_EQ(shoal::get(strings).size(), 20000u);
}

TEST_F(ObjectsTest, LargeArgumentsByValueGoThroughTheStore) {
  const std::vector<std::uint8_t> big = make_bytes(8 << 20);
  EXPECT_EQ(shoal::get(shoal::task(checksum).remote(big)), checksum(big));
  EXPECT_EQ(shoal::get(shoal::task(total_size).remote(many_strings(5000))), 500'000u);
}

TEST_F(ObjectsTest, StoreUsageReturnsToBaselineOnceRefsAreDropped) {
  const shoal::ObjectStoreStats baseline = shoal::object_store_stats();
  {
    std::vector<shoal::ObjectRef<std::vector<std::uint8_t>>> big;
    std::vector<shoal::ObjectRef<int>> small;
    for (int i = 0; i < 20; ++i)
      big.push_back(shoal::task(make_bytes).remote(std::uint64_t{1} << 20));
    for (int i = 0; i < 200; ++i) small.push_back(shoal::task(identity).remote(i));
    auto put_big = shoal::put(make_bytes(3 << 20));
    auto chained = shoal::task(checksum).remote(big[0]);
    shoal::get(chained);
    shoal::get(small);
    shoal::get(big);
    const shoal::ObjectStoreStats during = shoal::object_store_stats();
    EXPECT_GE(during.used_bytes, baseline.used_bytes + (23u << 20));
    EXPECT_GE(during.num_objects, baseline.num_objects + 222);
  }
  const shoal::ObjectStoreStats after = shoal::object_store_stats();
  EXPECT_EQ(after.used_bytes, baseline.used_bytes);
  EXPECT_EQ(after.inline_bytes, baseline.inline_bytes);
  EXPECT_EQ(after.num_objects, baseline.num_objects);
}

TEST_F(ObjectsTest, ResultOfADroppedRefIsFreedWhenItsTaskFinishes) {
  const shoal::ObjectStoreStats baseline = shoal::object_store_stats();
  auto keep = shoal::task(make_bytes).remote(std::uint64_t{1} << 20);
  shoal::task(make_bytes).remote(std::uint64_t{4} << 20);  // ref dropped at once
  shoal::get(shoal::task(checksum).remote(keep));          // runs after it on some worker
  keep = {};
  EXPECT_TRUE(shoal::testing::eventually(
      [&] { return shoal::object_store_stats().used_bytes == baseline.used_bytes; },
      std::chrono::seconds(10)));
}

TEST_F(ObjectsTest, ArgumentsStayAliveWhileTheirTaskIsPending) {
  auto input = shoal::put(make_bytes(2 << 20));
  const std::uint64_t expected = checksum(shoal::get(input));
  auto result = shoal::task(checksum).remote(input);
  input = {};  // the task still holds the object
  EXPECT_EQ(shoal::get(result), expected);
}

TEST_F(ObjectsTest, ObjectLargerThanTheStoreThrowsObjectStoreFull) {
  try {
    shoal::put(std::vector<std::uint8_t>(300u << 20));
    FAIL();
  } catch (const shoal::ObjectStoreFullError& e) {
    EXPECT_EQ(e.requested_bytes(), 300u << 20);
    EXPECT_EQ(e.capacity_bytes(), 256u << 20);
  }
  try {
    shoal::get(shoal::task(make_bytes).remote(std::uint64_t{300} << 20));
    FAIL();
  } catch (const shoal::ObjectStoreFullError& e) {
    EXPECT_EQ(e.requested_bytes(), 300u << 20);
  }
  EXPECT_EQ(shoal::get(shoal::task(identity).remote(1)), 1);  // the session goes on
}

TEST_F(ObjectsTest, StatsReportTheConfiguredCapacity) {
  EXPECT_EQ(shoal::object_store_stats().capacity_bytes, 256u << 20);
}

}  // namespace
