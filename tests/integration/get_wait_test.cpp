// How get(), get_view() and wait() wait: timeouts of every kind and size (issue 9, field report
// 2), and get() of a list that raises a failure without waiting for the rest (field report 3,
// Ray's behaviour).
#include <chrono>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono;
using shoal::testing::SessionTest;

constexpr int kTaskMs = 150;

int sleep_ms(int ms) {
  std::this_thread::sleep_for(milliseconds(ms));
  return ms;
}
std::string text_after_ms(int ms) {
  std::this_thread::sleep_for(milliseconds(ms));
  return std::string(static_cast<std::size_t>(ms), 't');
}
int fail_after_ms(int ms) {
  std::this_thread::sleep_for(milliseconds(ms));
  throw std::runtime_error("failed after " + std::to_string(ms) + " ms");
}
SHOAL_REMOTE(sleep_ms, text_after_ms, fail_after_ms);

using GetWaitTest = SessionTest;

// A timeout too long for the clock is no limit: every timed call waits for the task. Each call
// gets a task of its own that is still running when the call starts.
template <class Duration>
void expect_waits_for_the_task(Duration forever) {
  EXPECT_EQ(shoal::get(shoal::task(sleep_ms).remote(kTaskMs), forever), kTaskMs)
      << typeid(Duration).name();
  std::vector<shoal::ObjectRef<int>> refs{shoal::task(sleep_ms).remote(kTaskMs)};
  EXPECT_EQ(shoal::get(refs, forever), std::vector<int>{kTaskMs});
  auto [ready, not_ready] = shoal::wait(refs = {shoal::task(sleep_ms).remote(kTaskMs)}, 1, forever);
  EXPECT_EQ(ready.size(), 1u);
  EXPECT_TRUE(not_ready.empty());
  EXPECT_EQ(shoal::get_view(shoal::task(text_after_ms).remote(kTaskMs), forever).size(),
            static_cast<std::size_t>(kTaskMs));
}

TEST_F(GetWaitTest, TheLargestTimeoutOfEveryKindMeansNoLimit) {
  expect_waits_for_the_task(seconds::max());
  expect_waits_for_the_task(hours::max());
  expect_waits_for_the_task(nanoseconds::max());
  expect_waits_for_the_task(milliseconds::max());
  expect_waits_for_the_task(duration<double>::max());
  expect_waits_for_the_task(duration<double>(std::numeric_limits<double>::infinity()));
  expect_waits_for_the_task(duration<float, std::ratio<3600>>::max());
  expect_waits_for_the_task(duration<std::uint64_t, std::milli>::max());
}

TEST_F(GetWaitTest, ZeroAndNegativeTimeoutsReturnAtOnce) {
  auto slow = shoal::task(sleep_ms).remote(5000);
  const std::vector<shoal::ObjectRef<int>> refs{slow};
  for (const nanoseconds t : {nanoseconds(0), nanoseconds(-1), nanoseconds::min()}) {
    const auto start = steady_clock::now();
    EXPECT_THROW(shoal::get(slow, t), shoal::GetTimeoutError);
    EXPECT_THROW(shoal::get(refs, t), shoal::GetTimeoutError);
    auto [ready, not_ready] = shoal::wait(refs, 1, t);
    EXPECT_TRUE(ready.empty());
    EXPECT_EQ(not_ready.size(), 1u);
    EXPECT_LT(steady_clock::now() - start, seconds(2)) << "a zero or negative timeout waited";
  }
  EXPECT_THROW(shoal::get(slow, hours::min()), shoal::GetTimeoutError);
  EXPECT_THROW(shoal::get(slow, duration<double>(-std::numeric_limits<double>::infinity())),
               shoal::GetTimeoutError);
  // A finished object is returned whatever the timeout.
  auto done = shoal::put(3);
  EXPECT_EQ(shoal::get(done, nanoseconds::min()), 3);
}

TEST_F(GetWaitTest, NanTimeoutIsAnError) {
  auto r = shoal::put(1);
  EXPECT_THROW(shoal::get(r, duration<double>(std::numeric_limits<double>::quiet_NaN())),
               shoal::InvalidConfigError);
}

// Ray's rule: get() of a list raises a failure as soon as it happens, in either order.
TEST_F(GetWaitTest, GetOfAListRaisesAFailureWithoutWaitingForTheRest) {
  for (bool failing_first : {true, false}) {
    auto failing = shoal::task(fail_after_ms).remote(100);
    auto slow = shoal::task(sleep_ms).remote(5000);
    const std::vector<shoal::ObjectRef<int>> refs =
        failing_first ? std::vector{failing, slow} : std::vector{slow, failing};
    const auto start = steady_clock::now();
    try {
      shoal::get(refs);
      FAIL() << "get() returned although a task failed";
    } catch (const shoal::TaskError& e) {
      EXPECT_EQ(e.function_name(), "fail_after_ms");
    }
    // The bound the issue names: the failure at 100 ms, not after the 5 s task.
    EXPECT_LT(steady_clock::now() - start, milliseconds(2500))
        << "get() waited for the slow task before raising the failure";
    // And with a timeout longer than the slow task.
    const auto again = steady_clock::now();
    EXPECT_THROW(shoal::get(refs, seconds(60)), shoal::TaskError);
    EXPECT_LT(steady_clock::now() - again, milliseconds(2500));
    // The slow task is still there, and wait() still works on it afterwards.
    EXPECT_EQ(shoal::wait(std::vector{slow}, 1, milliseconds(0)).not_ready.size(), 1u);
  }
}

TEST_F(GetWaitTest, WithSeveralFailuresTheFirstInInputOrderIsRaised) {
  auto slow = shoal::task(sleep_ms).remote(5000);
  auto first = shoal::task(fail_after_ms).remote(1);
  auto second = shoal::task(fail_after_ms).remote(2);
  shoal::wait(std::vector{first, second}, 2);  // both have failed now
  try {
    shoal::get(std::vector{slow, second, first});
    FAIL();
  } catch (const shoal::TaskError& e) {
    EXPECT_NE(e.original_what().find("after 2 ms"), std::string::npos) << e.original_what();
  }
  try {
    shoal::get(std::vector{first, slow, second});
    FAIL();
  } catch (const shoal::TaskError& e) {
    EXPECT_NE(e.original_what().find("after 1 ms"), std::string::npos) << e.original_what();
  }
}

TEST_F(GetWaitTest, GetOfVoidTasksRaisesAFailureWithoutWaitingForTheRest) {
  auto failing = shoal::task(fail_after_ms).remote(50);
  auto slow = shoal::task(sleep_ms).remote(5000);
  const auto start = steady_clock::now();
  EXPECT_THROW(shoal::get(std::vector{slow, failing}), shoal::TaskError);
  EXPECT_LT(steady_clock::now() - start, milliseconds(2500));
  // A failure does not leave the waiter registered: later calls on the slow task still work.
  EXPECT_THROW(shoal::get(slow, milliseconds(1)), shoal::GetTimeoutError);
}

}  // namespace
