// ObjectRefs inside values (Ray's nested refs): a vector of refs, a struct, a map, a task's result
// travel as references, not resolved; each object stays alive while any holder remains (the
// program, a pending task's arguments, a worker's copy, a stored value that contains it), and
// after a workload the store is back to its baseline.
#include <chrono>
#include <cstdint>
#include <map>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

struct Labelled {
  std::string label;
  shoal::ObjectRef<std::vector<int>> data;
  MSGPACK_DEFINE(label, data)
};

int square(int x) { return x * x; }
// Submits children and returns their refs, without waiting: the result holds them.
std::vector<shoal::ObjectRef<int>> fan_out(int n) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(shoal::task(square).remote(i));
  return refs;
}
// Takes refs inside an argument (not resolved) and gets them itself.
int sum_refs(const std::vector<shoal::ObjectRef<int>>& refs) {
  const std::vector<int> v = shoal::get(refs);
  return std::accumulate(v.begin(), v.end(), 0);
}
// put()s a large value inside the task and returns a struct holding its ref.
Labelled make_labelled(int n) {
  return Labelled{"n=" + std::to_string(n),
                  shoal::put(std::vector<int>(static_cast<std::size_t>(n), 7))};
}
std::size_t size_of_labelled(const Labelled& l) { return shoal::get(l.data).size(); }
std::map<std::string, shoal::ObjectRef<int>> named(int n) {
  return {{"a", shoal::put(n)}, {"b", shoal::task(square).remote(n)}};
}
int slow_square(int x) {
  std::this_thread::sleep_for(3s);
  return x * x;
}
std::size_t count_refs(const std::vector<shoal::ObjectRef<int>>& refs) { return refs.size(); }
SHOAL_REMOTE(square, fan_out, sum_refs, make_labelled, size_of_labelled, named, slow_square,
             count_refs);

class RefsInValuesTest : public shoal::testing::SessionTest {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    baseline_ = shoal::object_store_stats();
  }
  // Everything made during the test is freed once its refs are gone.
  void expect_baseline() {
    EXPECT_TRUE(shoal::testing::eventually(
        [&] {
          const shoal::ObjectStoreStats now = shoal::object_store_stats();
          return now.num_objects == baseline_.num_objects && now.used_bytes == baseline_.used_bytes;
        },
        10s))
        << shoal::object_store_stats().num_objects << " objects, "
        << shoal::object_store_stats().used_bytes << " bytes used";
  }
  shoal::ObjectStoreStats baseline_;
};

TEST_F(RefsInValuesTest, ATaskReturnsRefsToItsChildren) {
  {
    const std::vector<shoal::ObjectRef<int>> refs =
        shoal::get(shoal::task(fan_out).remote(10), 60s);
    ASSERT_EQ(refs.size(), 10u);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(shoal::get(refs[static_cast<std::size_t>(i)]), i * i);
  }
  expect_baseline();
}

TEST_F(RefsInValuesTest, AStoredValueKeepsTheObjectsItHoldsAlive) {
  {
    shoal::ObjectRef<std::vector<shoal::ObjectRef<int>>> container;
    {
      auto inner = shoal::put(41);
      container = shoal::put(std::vector<shoal::ObjectRef<int>>{inner});
    }  // the program's own ref to 41 is gone; the container still holds it
    const std::vector<shoal::ObjectRef<int>> back = shoal::get(container);
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(shoal::get(back[0]), 41);
  }
  expect_baseline();
}

TEST_F(RefsInValuesTest, RefsInsideArgumentsAreNotResolved) {
  {
    std::vector<shoal::ObjectRef<int>> refs;
    for (int i = 1; i <= 4; ++i) refs.push_back(shoal::task(square).remote(i));
    auto total = shoal::task(sum_refs).remote(refs);
    refs.clear();  // the pending task holds them
    EXPECT_EQ(shoal::get(total, 60s), 1 + 4 + 9 + 16);
  }
  expect_baseline();
}

// As in Ray, a task does not wait for the objects its arguments merely refer to.
TEST_F(RefsInValuesTest, ATaskDoesNotWaitForTheRefsInsideItsArguments) {
  auto slow = shoal::task(slow_square).remote(3);
  EXPECT_EQ(
      shoal::get(shoal::task(count_refs).remote(std::vector<shoal::ObjectRef<int>>{slow}), 2s), 1u);
  EXPECT_EQ(shoal::get(slow, 60s), 9);
}

TEST_F(RefsInValuesTest, AStructWithARefOutlivesTheTaskThatMadeIt) {
  {
    const Labelled l = shoal::get(shoal::task(make_labelled).remote(100000), 60s);
    EXPECT_EQ(l.label, "n=100000");
    EXPECT_EQ(shoal::get(l.data).size(), 100000u);  // a large value, put() inside the task
    EXPECT_EQ(shoal::get(shoal::task(size_of_labelled).remote(l), 60s), 100000u);
  }
  expect_baseline();
}

TEST_F(RefsInValuesTest, MapsOfRefsWork) {
  {
    const auto m = shoal::get(shoal::task(named).remote(6), 60s);
    EXPECT_EQ(shoal::get(m.at("a")), 6);
    EXPECT_EQ(shoal::get(m.at("b")), 36);
  }
  expect_baseline();
}

TEST_F(RefsInValuesTest, ARefReadAsAnotherTypeIsATypeMismatch) {
  auto container = shoal::put(std::vector<shoal::ObjectRef<int>>{shoal::put(1)});
  const auto as_strings =
      shoal::ObjectRef<std::vector<shoal::ObjectRef<std::string>>>(container.handle());
  EXPECT_THROW(shoal::get(as_strings), shoal::TypeMismatchError);
}

TEST_F(RefsInValuesTest, WorksInLocalMode) {
  shoal::shutdown();
  shoal::Config c = test_config();
  c.local_mode = true;
  shoal::init(c);
  baseline_ = shoal::object_store_stats();
  {
    const auto refs = shoal::get(shoal::task(fan_out).remote(3));
    EXPECT_EQ(shoal::get(shoal::task(sum_refs).remote(refs)), 0 + 1 + 4);
    const Labelled l = shoal::get(shoal::task(make_labelled).remote(10));
    EXPECT_EQ(shoal::get(l.data).size(), 10u);
  }
  expect_baseline();
}

}  // namespace
