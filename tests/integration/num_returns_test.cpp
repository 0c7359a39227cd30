// task(f).num_returns<N>() (Ray's num_returns): a function returning std::tuple<A, B, ...> gives
// one ObjectRef per element, each stored, read, viewed and freed on its own; a failure reaches
// every ref; works inside a task and in local mode.
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

// A small value, a large one (through the store) and a string.
std::tuple<int, std::vector<double>, std::string> split(int n) {
  return {n * 2, std::vector<double>(static_cast<std::size_t>(n), 0.5), std::to_string(n)};
}
std::tuple<std::vector<char>, std::vector<char>> two_large(int n) {
  return {std::vector<char>(static_cast<std::size_t>(n), 'a'),
          std::vector<char>(static_cast<std::size_t>(n), 'b')};
}
std::tuple<int, int> fails(int) { throw std::runtime_error("no halves today"); }
std::size_t count(const std::vector<double>& v) { return v.size(); }
// Inside a task: split, pass one part on, read the others.
std::string nested_split(int n) {
  auto [twice, values, text] = shoal::task(split).num_returns<3>().remote(n);
  return std::to_string(shoal::get(twice)) + "/" +
         std::to_string(shoal::get(shoal::task(count).remote(values))) + "/" + shoal::get(text);
}
SHOAL_REMOTE(split, two_large, fails, count, nested_split);

class NumReturnsTest : public shoal::testing::SessionTest {};

TEST_F(NumReturnsTest, EachElementIsAnObjectOfItsOwn) {
  auto [twice, values, text] = shoal::task(split).num_returns<3>().remote(100000);
  static_assert(std::is_same_v<decltype(twice), shoal::ObjectRef<int>>);
  static_assert(std::is_same_v<decltype(values), shoal::ObjectRef<std::vector<double>>>);
  EXPECT_EQ(shoal::get(twice), 200000);
  EXPECT_EQ(shoal::get(text), "100000");
  const shoal::View<std::vector<double>> view = shoal::get_view(values);
  ASSERT_EQ(view.size(), 100000u);
  EXPECT_EQ(view[99999], 0.5);
  // An element passed to another task is a dependency like any ref.
  EXPECT_EQ(shoal::get(shoal::task(count).remote(values)), 100000u);
  EXPECT_NE(twice.id(), values.id());
}

TEST_F(NumReturnsTest, EachIsFreedOnItsOwn) {
  const shoal::ObjectStoreStats before = shoal::object_store_stats();
  {
    auto [a, b] = shoal::task(two_large).num_returns<2>().remote(1 << 20);
    shoal::get(a);
    shoal::get(b);
    const std::uint64_t both = shoal::object_store_stats().used_bytes;
    EXPECT_GE(both, before.used_bytes + (2u << 20));
    a = shoal::ObjectRef<std::vector<char>>();  // drop one: its block goes back, not the other's
    EXPECT_LT(shoal::object_store_stats().used_bytes, both);
    EXPECT_EQ(shoal::get(b).back(), 'b');
  }
  EXPECT_EQ(shoal::object_store_stats().used_bytes, before.used_bytes);
  EXPECT_EQ(shoal::object_store_stats().num_objects, before.num_objects);
}

TEST_F(NumReturnsTest, AFailureReachesEveryRef) {
  auto [a, b] = shoal::task(fails).num_returns<2>().remote(1);
  EXPECT_THROW(shoal::get(a), shoal::TaskError);
  try {
    shoal::get(b);
    FAIL() << "the second ref has a value";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.original_what(), "no halves today");
  }
}

TEST_F(NumReturnsTest, OptionsAndCancelWorkOnSplitCalls) {
  auto [a, b] = shoal::task(two_large).num_returns<2>().options({.name = "halves"}).remote(10);
  EXPECT_EQ(shoal::get(a).size(), 10u);
  shoal::cancel(b);  // finished: nothing happens
  EXPECT_EQ(shoal::get(b).size(), 10u);
}

TEST_F(NumReturnsTest, WorksInsideATask) {
  EXPECT_EQ(shoal::get(shoal::task(nested_split).remote(70000), 60s), "140000/70000/70000");
}

TEST_F(NumReturnsTest, WorksInLocalMode) {
  shoal::shutdown();
  shoal::Config c = test_config();
  c.local_mode = true;
  shoal::init(c);
  auto [twice, values, text] = shoal::task(split).num_returns<3>().remote(5);
  EXPECT_EQ(shoal::get(twice), 10);
  EXPECT_EQ(shoal::get(values).size(), 5u);
  EXPECT_EQ(shoal::get(text), "5");
  auto [x, y] = shoal::task(fails).num_returns<2>().remote(1);
  EXPECT_THROW(shoal::get(y), shoal::TaskError);
  EXPECT_EQ(shoal::get(shoal::task(nested_split).remote(3)), "6/3/3");
}

}  // namespace
