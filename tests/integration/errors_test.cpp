// Every mistake a program can make, and every failure of a task, ends in a typed exception with
// a message that says what to do.
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"

namespace {

struct CustomError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int throws_runtime_error(int) { throw std::runtime_error("boom"); }
int throws_invalid_argument(int x) { throw std::invalid_argument("bad x=" + std::to_string(x)); }
int throws_custom(int) { throw CustomError("custom failure"); }
int throws_int(int) { throw 7; }
int identity(int x) { return x; }
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int nested_call(int x) { return shoal::get(shoal::task(identity).remote(x)); }
int not_registered(int x) { return x; }

SHOAL_REMOTE(throws_runtime_error, throws_invalid_argument, throws_custom, throws_int, identity,
             sleep_ms, nested_call);

using shoal::testing::SessionTest;
using ErrorsTest = SessionTest;

TEST_F(ErrorsTest, TaskExceptionBecomesTaskErrorWithItsDetails) {
  auto r = shoal::task(throws_invalid_argument).remote(3);
  try {
    shoal::get(r);
    FAIL() << "get() did not throw";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "std::invalid_argument");
    EXPECT_EQ(e.original_what(), "bad x=3");
    EXPECT_EQ(e.function_name(), "throws_invalid_argument");
    EXPECT_GT(e.pid(), 0);
    EXPECT_NE(e.pid(), getpid());
    const std::string what = e.what();
    EXPECT_NE(what.find("throws_invalid_argument"), std::string::npos) << what;
    EXPECT_NE(what.find("bad x=3"), std::string::npos) << what;
  }
}

TEST_F(ErrorsTest, ExceptionsOfSeveralTypesKeepTheirTypeNames) {
  try {
    shoal::get(shoal::task(throws_runtime_error).remote(0));
    FAIL();
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "std::runtime_error");
    EXPECT_EQ(e.original_what(), "boom");
  }
  try {
    shoal::get(shoal::task(throws_custom).remote(0));
    FAIL();
  } catch (const shoal::TaskError& e) {
    EXPECT_NE(e.type_name().find("CustomError"), std::string::npos) << e.type_name();
    EXPECT_EQ(e.original_what(), "custom failure");
  }
  try {
    shoal::get(shoal::task(throws_int).remote(0));
    FAIL();
  } catch (const shoal::TaskError& e) {
    EXPECT_NE(e.type_name().find("not derived from std::exception"), std::string::npos);
  }
}

TEST_F(ErrorsTest, TaskErrorIsAShoalError) {
  EXPECT_THROW(shoal::get(shoal::task(throws_runtime_error).remote(0)), shoal::Error);
}

TEST_F(ErrorsTest, AFailedTaskDoesNotStopOthers) {
  auto bad = shoal::task(throws_runtime_error).remote(0);
  auto good = shoal::task(identity).remote(5);
  EXPECT_THROW(shoal::get(bad), shoal::TaskError);
  EXPECT_EQ(shoal::get(good), 5);
}

TEST_F(ErrorsTest, DependentsOfAFailedTaskFailWithTheSameError) {
  auto bad = shoal::task(throws_invalid_argument).remote(9);
  auto dependent = shoal::task(identity).remote(bad);
  try {
    shoal::get(dependent);
    FAIL();
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.function_name(), "throws_invalid_argument");
    EXPECT_EQ(e.original_what(), "bad x=9");
  }
  // A task submitted after its argument already failed fails the same way.
  EXPECT_THROW(shoal::get(shoal::task(identity).remote(bad)), shoal::TaskError);
}

TEST_F(ErrorsTest, GetOfAListRethrowsTheFirstFailureInInputOrder) {
  std::vector<shoal::ObjectRef<int>> refs{shoal::task(identity).remote(1),
                                          shoal::task(throws_custom).remote(0),
                                          shoal::task(throws_runtime_error).remote(0)};
  try {
    shoal::get(refs);
    FAIL();
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.function_name(), "throws_custom");
  }
}

TEST_F(ErrorsTest, GetWithTimeoutThrowsGetTimeoutError) {
  auto slow = shoal::task(sleep_ms).remote(3000);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(shoal::get(slow, std::chrono::milliseconds(100)), shoal::GetTimeoutError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // The object is still being computed: a later get() succeeds.
  EXPECT_EQ(shoal::get(slow, std::chrono::seconds(30)), 3000);
}

TEST_F(ErrorsTest, GetOfAListWithTimeoutThrowsGetTimeoutError) {
  std::vector<shoal::ObjectRef<int>> refs{shoal::task(identity).remote(1),
                                          shoal::task(sleep_ms).remote(3000)};
  EXPECT_THROW(shoal::get(refs, std::chrono::milliseconds(100)), shoal::GetTimeoutError);
}

TEST_F(ErrorsTest, UnregisteredFunctionIsNamedAtTheCall) {
  try {
    shoal::task(not_registered).remote(1);
    FAIL() << "remote() on an unregistered function did not throw";
  } catch (const shoal::FunctionNotRegisteredError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("SHOAL_REMOTE"), std::string::npos) << what;
    EXPECT_NE(what.find("not_registered"), std::string::npos) << what;
  }
}

TEST_F(ErrorsTest, SecondInitThrowsAlreadyInitialized) {
  EXPECT_THROW(shoal::init(), shoal::AlreadyInitializedError);
  EXPECT_TRUE(shoal::is_initialized());
  EXPECT_EQ(shoal::get(shoal::task(identity).remote(2)), 2);  // the session is unharmed
}

TEST_F(ErrorsTest, EmptyAndMovedFromRefsThrowInvalidObjectRef) {
  shoal::ObjectRef<int> empty;
  EXPECT_THROW(shoal::get(empty), shoal::InvalidObjectRefError);
  EXPECT_THROW(shoal::task(identity).remote(empty), shoal::InvalidObjectRefError);
  auto r = shoal::put(1);
  auto moved = std::move(r);
  EXPECT_THROW(shoal::get(r), shoal::InvalidObjectRefError);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(shoal::get(moved), 1);
}

TEST_F(ErrorsTest, NestedApiCallsInsideATaskGiveAClearError) {
  try {
    shoal::get(shoal::task(nested_call).remote(1));
    FAIL();
  } catch (const shoal::TaskError& e) {
    EXPECT_NE(e.original_what().find("nested"), std::string::npos) << e.original_what();
  }
}

TEST_F(ErrorsTest, BadTaskOptionsThrowInvalidConfig) {
  EXPECT_THROW(shoal::task(identity).options({.num_cpus = 3}).remote(1), shoal::InvalidConfigError);
  EXPECT_THROW(shoal::task(identity).options({.num_cpus = -1}).remote(1),
               shoal::InvalidConfigError);
  EXPECT_THROW(shoal::task(identity).options({.max_retries = -2}).remote(1),
               shoal::InvalidConfigError);
}

TEST_F(ErrorsTest, WaitForMoreThanGivenThrowsInvalidConfig) {
  std::vector<shoal::ObjectRef<int>> refs{shoal::put(1)};
  EXPECT_THROW(shoal::wait(refs, 2), shoal::InvalidConfigError);
}

// Outside a session.

TEST(ErrorsWithoutSession, ApiBeforeInitThrowsNotInitialized) {
  ASSERT_FALSE(shoal::is_initialized());
  EXPECT_THROW(shoal::task(identity).remote(1), shoal::NotInitializedError);
  EXPECT_THROW(shoal::put(1), shoal::NotInitializedError);
  EXPECT_THROW(shoal::available_resources(), shoal::NotInitializedError);
  EXPECT_THROW(shoal::cluster_resources(), shoal::NotInitializedError);
  shoal::shutdown();  // harmless when not running
}

TEST(ErrorsWithoutSession, RefFromAnEarlierSessionThrowsInvalidObjectRef) {
  shoal::init(SessionTest::test_config());
  auto old = shoal::put(5);
  shoal::shutdown();
  EXPECT_FALSE(shoal::is_initialized());
  EXPECT_THROW(shoal::get(old), shoal::InvalidObjectRefError);
  shoal::init(SessionTest::test_config());
  EXPECT_THROW(shoal::get(old), shoal::InvalidObjectRefError);
  EXPECT_THROW(shoal::task(identity).remote(old), shoal::InvalidObjectRefError);
  shoal::shutdown();
}

TEST(ErrorsWithoutSession, InvalidConfigIsRejectedWithTheFieldName) {
  shoal::Config c;
  c.num_cpus = -1;
  try {
    shoal::init(c);
    FAIL();
  } catch (const shoal::InvalidConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("num_cpus"), std::string::npos);
  }
  c.num_cpus = 100000;
  EXPECT_THROW(shoal::init(c), shoal::InvalidConfigError);
  c = {};
  c.object_store_memory = 1ull << 50;  // a petabyte
  try {
    shoal::init(c);
    FAIL();
  } catch (const shoal::InvalidConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("object_store_memory"), std::string::npos);
  }
  c = {};
  c.log_level = "loud";
  EXPECT_THROW(shoal::init(c), shoal::InvalidConfigError);
  EXPECT_FALSE(shoal::is_initialized());
}

TEST(ErrorsWithoutSession, GetBlockedWhenShutdownRunsIsWokenWithAnError) {
  shoal::init(SessionTest::test_config());
  auto slow = shoal::task(sleep_ms).remote(10000);
  std::thread stopper([] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    shoal::shutdown();
  });
  EXPECT_THROW(shoal::get(slow), shoal::Error);
  stopper.join();
}

}  // namespace
