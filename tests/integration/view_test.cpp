// get_view(): reading stored buffers in place, without a copy, and the lifetime rules.
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"

namespace {

std::vector<std::uint32_t> iota_of(std::uint32_t n) {
  std::vector<std::uint32_t> v(n);
  std::iota(v.begin(), v.end(), 0u);
  return v;
}
std::string text_of(int n) { return std::string(static_cast<std::size_t>(n), 'z'); }
SHOAL_REMOTE(iota_of, text_of);

using ViewTest = shoal::testing::SessionTest;

TEST_F(ViewTest, ViewOfALargeTaskResultReadsTheStoreInPlace) {
  auto ref = shoal::task(iota_of).remote(25u << 20);  // 100 MB
  const shoal::View<std::vector<std::uint32_t>> a = shoal::get_view(ref);
  const shoal::View<std::vector<std::uint32_t>> b = shoal::get_view(ref);
  ASSERT_EQ(a.size(), 25u << 20);
  EXPECT_EQ(a.data(), b.data()) << "two views of one object must see the same bytes, not copies";
  for (std::size_t i = 0; i < a.size(); i += 99991) ASSERT_EQ(a[i], i);
  EXPECT_EQ(a.span().back(), (25u << 20) - 1);
}

TEST_F(ViewTest, ViewOfASmallValue) {
  auto ref = shoal::put(std::vector<double>{1.5, 2.5});
  const auto v = shoal::get_view(ref);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(std::accumulate(v.begin(), v.end(), 0.0), 4.0);
  EXPECT_EQ(v.to_vector(), (std::vector<double>{1.5, 2.5}));
  EXPECT_EQ(shoal::get_view(shoal::task(text_of).remote(3)).str(), "zzz");
}

TEST_F(ViewTest, ViewKeepsItsObjectAliveAfterTheRefsAreGone) {
  const shoal::ObjectStoreStats baseline = shoal::object_store_stats();
  shoal::View<std::vector<std::uint32_t>> view;
  {
    auto ref = shoal::task(iota_of).remote(1u << 20);  // 4 MB, in the arena
    view = shoal::get_view(ref);
  }
  // Other objects must not take its place while the view is alive.
  auto other = shoal::put(std::vector<std::uint32_t>(1u << 20, 0xFFFFFFFFu));
  for (std::size_t i = 0; i < view.size(); i += 4099) ASSERT_EQ(view[i], i);
  other = {};
  EXPECT_GT(shoal::object_store_stats().used_bytes, baseline.used_bytes);
  view = {};
  EXPECT_EQ(shoal::object_store_stats().used_bytes, baseline.used_bytes);
}

TEST_F(ViewTest, ViewWithTimeoutThrowsGetTimeoutError) {
  auto ref = shoal::task(iota_of).remote(1u << 20);
  EXPECT_EQ(shoal::get_view(ref, std::chrono::seconds(30)).size(), 1u << 20);
  shoal::ObjectRef<std::vector<std::uint32_t>> empty;
  EXPECT_THROW(shoal::get_view(empty), shoal::InvalidObjectRefError);
}

TEST(ViewAfterShutdown, ViewStaysReadableAfterShutdown) {
  shoal::init(shoal::testing::SessionTest::test_config());
  auto view = shoal::get_view(shoal::task(iota_of).remote(1u << 20));
  shoal::shutdown();
  for (std::size_t i = 0; i < view.size(); i += 4099) ASSERT_EQ(view[i], i);
}

}  // namespace
