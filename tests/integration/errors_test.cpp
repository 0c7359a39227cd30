// Every mistake a program can make, and every failure of a task, ends in a typed exception with
// a message that says what to do.
#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

struct CustomError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int throws_runtime_error(int) { throw std::runtime_error("boom"); }
int throws_invalid_argument(int x) { throw std::invalid_argument("bad x=" + std::to_string(x)); }
int throws_custom(int) { throw CustomError("custom failure"); }
int throws_int(int) { throw 7; }
int throws_42(int) { throw 42; }
int throws_string(int) { throw std::string("a std::string was thrown"); }
int throws_c_string(int) { throw "a C string was thrown"; }
int throws_double(int) { throw 2.5; }
}  // namespace
namespace app {
struct Oddity {
  int code = 3;
};
}  // namespace app
namespace {
int throws_oddity(int) { throw app::Oddity{}; }
// Breaks std::exception's contract (what() must not be null): shoal must not crash on it.
struct NullWhat : std::exception {
  const char* what() const noexcept override { return nullptr; }
};
int throws_null_what(int) { throw NullWhat(); }
std::string long_message(int n) { return std::string(static_cast<std::size_t>(n), 'm'); }
int throws_long_message(int n) { throw std::runtime_error(long_message(n)); }
int identity(int x) { return x; }
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int init_inside(int x) {
  shoal::init();
  return x;
}
// shutdown() inside a task does nothing (the session is the program's); is_initialized() is true
// inside a task, as Ray's.
int shutdown_inside(int x) {
  shoal::shutdown();
  return shoal::is_initialized() ? x : -1;
}
int not_registered(int x) { return x; }
std::size_t length_of(const std::string& s) { return s.size(); }
std::vector<int> numbers(int n) { return std::vector<int>(static_cast<std::size_t>(n), 7); }

SHOAL_REMOTE(throws_42, throws_string, throws_c_string, throws_double, throws_oddity,
             throws_long_message, throws_null_what);
SHOAL_REMOTE(throws_runtime_error, throws_invalid_argument, throws_custom, throws_int, identity,
             sleep_ms, length_of, numbers, init_inside, shutdown_inside);

// An ObjectRef<To> over the object of `from`: the one way a program can ask for a stored value as
// another type (the library-side constructor), e.g. after a cast in its own bookkeeping.
template <class To, class From>
shoal::ObjectRef<To> reinterpret_ref(const shoal::ObjectRef<From>& from) {
  return shoal::ObjectRef<To>(from.handle());
}

// A TypeMismatchError's message names the type asked for and the type stored.
void expect_names_both(const std::string& what, const char* asked, const char* stored) {
  EXPECT_NE(what.find(asked), std::string::npos) << what;
  EXPECT_NE(what.find(stored), std::string::npos) << what;
}

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

// Issue 9, field report 4: whatever a task throws keeps its type's name, and a thrown string or
// number its value.
TEST_F(ErrorsTest, ThrownValuesThatAreNotStdExceptionsKeepTheirTypeAndValue) {
  struct Case {
    shoal::ObjectRef<int> ref;
    std::string type_name;
    std::string what;
  };
  const Case cases[] = {
      {shoal::task(throws_42).remote(0), "int", "42"},
      {shoal::task(throws_string).remote(0), "std::string", "a std::string was thrown"},
      {shoal::task(throws_c_string).remote(0), "char const*", "a C string was thrown"},
      {shoal::task(throws_double).remote(0), "double", "2.5"},
      {shoal::task(throws_oddity).remote(0), "app::Oddity", ""},
      {shoal::task(throws_null_what).remote(0), "(anonymous namespace)::NullWhat", ""},
  };
  for (const Case& c : cases) {
    try {
      shoal::get(c.ref);
      ADD_FAILURE() << c.type_name << ": get() returned";
    } catch (const shoal::TaskError& e) {
      EXPECT_EQ(e.type_name(), c.type_name);
      EXPECT_EQ(e.original_what(), c.what) << c.type_name;
      EXPECT_NE(std::string(e.what()).find(c.type_name), std::string::npos) << e.what();
    }
  }
}

TEST_F(ErrorsTest, AVeryLongMessageIsCutAt64KiB) {
  try {
    shoal::get(shoal::task(throws_long_message).remote(1 << 20));
    FAIL();
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.original_what(), long_message(64 * 1024));
  }
  EXPECT_EQ(shoal::get(shoal::task(identity).remote(5)), 5);  // the worker carries on
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
    EXPECT_EQ(e.type_name(), "int");
    EXPECT_EQ(e.original_what(), "7");
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
  // get() raises the first failure in input order among those failed when it looks (as Ray, it
  // does not wait for the rest; see GetWaitTest): let both fail first.
  shoal::wait(refs, 3);
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

TEST_F(ErrorsTest, EmptyAndMovedFromRefsThrowInvalidObjectRefEverywhere) {
  shoal::ObjectRef<std::vector<int>> empty;
  auto r = shoal::put(std::vector<int>{1, 2});
  auto moved = std::move(r);
  for (const auto* bad : {&empty, &r}) {  // NOLINT(bugprone-use-after-move)
    EXPECT_THROW(shoal::get(*bad), shoal::InvalidObjectRefError);
    EXPECT_THROW(shoal::get(*bad, std::chrono::seconds(1)), shoal::InvalidObjectRefError);
    EXPECT_THROW(shoal::get_view(*bad), shoal::InvalidObjectRefError);
    EXPECT_THROW(shoal::wait(std::vector<shoal::ObjectRef<std::vector<int>>>{*bad}, 1),
                 shoal::InvalidObjectRefError);
    EXPECT_THROW(shoal::get(std::vector<shoal::ObjectRef<std::vector<int>>>{moved, *bad}),
                 shoal::InvalidObjectRefError);
  }
  try {
    shoal::get(empty);
  } catch (const shoal::InvalidObjectRefError& e) {
    EXPECT_NE(std::string(e.what()).find("shoal:"), std::string::npos) << e.what();
  }
  EXPECT_EQ(shoal::get(moved), (std::vector<int>{1, 2}));
}

TEST_F(ErrorsTest, GetAsAnotherTypeThrowsTypeMismatchNamingBothTypes) {
  auto number = shoal::put(41);
  try {
    shoal::get(reinterpret_ref<std::string>(number));
    FAIL() << "a put int was read as a string";
  } catch (const shoal::TypeMismatchError& e) {
    expect_names_both(e.what(), "string", "int");
  }
  auto result = shoal::task(identity).remote(5);  // a task's result, not a put value
  try {
    shoal::get(reinterpret_ref<std::vector<double>>(result));
    FAIL() << "a task's int result was read as a vector<double>";
  } catch (const shoal::TypeMismatchError& e) {
    expect_names_both(e.what(), "vector<double", "int");
  }
  auto ints = shoal::task(numbers).remote(3);
  try {
    shoal::get_view(reinterpret_ref<std::vector<float>>(ints));
    FAIL() << "a vector<int> was viewed as a vector<float>";
  } catch (const shoal::TypeMismatchError& e) {
    expect_names_both(e.what(), "vector<float", "vector<int");
  }
  // The objects are unharmed and read fine as what they are.
  EXPECT_EQ(shoal::get(number), 41);
  EXPECT_EQ(shoal::get(result), 5);
  EXPECT_EQ(shoal::get(ints), (std::vector<int>{7, 7, 7}));
}

TEST_F(ErrorsTest, ATaskArgumentOfAnotherTypeFailsTheTaskWithTypeMismatch) {
  auto number = shoal::put(12);
  try {
    shoal::get(shoal::task(length_of).remote(reinterpret_ref<std::string>(number)));
    FAIL() << "length_of ran on an int";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "shoal::TypeMismatchError");
    EXPECT_EQ(e.function_name(), "length_of");
    expect_names_both(e.original_what(), "string", "int");
  }
  EXPECT_EQ(shoal::get(shoal::task(length_of).remote(shoal::put(std::string("four")))), 4u);
}

// init() and shutdown() inside a task must not touch the driver's lock of init(): a worker is a
// fork of the thread that held it, so taking it would hang the task for ever.
TEST_F(ErrorsTest, InitInsideATaskGivesAClearErrorAndShutdownDoesNothing) {
  try {
    shoal::get(shoal::task(init_inside).remote(1), std::chrono::seconds(60));
    FAIL() << "init() inside a task did not throw";
  } catch (const shoal::TaskError& e) {
    EXPECT_NE(e.original_what().find("init() was called inside a task"), std::string::npos)
        << e.original_what();
  }
  EXPECT_EQ(shoal::get(shoal::task(shutdown_inside).remote(2), std::chrono::seconds(60)), 2);
  EXPECT_TRUE(shoal::is_initialized());
  EXPECT_EQ(shoal::get(shoal::task(identity).remote(3)), 3);
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
  EXPECT_THROW(shoal::wait(std::vector<shoal::ObjectRef<int>>{old}, 1),
               shoal::InvalidObjectRefError);
  EXPECT_THROW(shoal::get(std::vector<shoal::ObjectRef<int>>{shoal::put(1), old}),
               shoal::InvalidObjectRefError);
  shoal::shutdown();
  // A ref from an earlier session, when no session runs.
  EXPECT_THROW(shoal::wait(std::vector<shoal::ObjectRef<int>>{old}, 1), shoal::Error);
}

TEST(ErrorsWithoutSession, ViewOfARefFromAnEarlierSessionThrowsInvalidObjectRef) {
  shoal::init(SessionTest::test_config());
  auto old = shoal::put(std::vector<int>(100000, 1));  // in the store, not inline
  shoal::shutdown();
  EXPECT_THROW(shoal::get_view(old), shoal::InvalidObjectRefError);
  shoal::init(SessionTest::test_config());
  EXPECT_THROW(shoal::get_view(old), shoal::InvalidObjectRefError);
  EXPECT_THROW(shoal::task(identity).remote(shoal::ObjectRef<int>(old.handle())),
               shoal::InvalidObjectRefError);
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

// Each bad field gets InvalidConfigError naming the field and what to pass instead, and leaves
// nothing running.
TEST(ErrorsWithoutSession, EveryBadConfigFieldIsNamedWithWhatToPass) {
  struct Case {
    const char* field;
    shoal::Config config;
  };
  const std::vector<Case> cases = {
      {"num_cpus", {.num_cpus = -1}},
      {"num_cpus", {.num_cpus = std::numeric_limits<int>::min()}},
      {"num_cpus", {.num_cpus = 100000}},
      {"object_store_memory", {.object_store_memory = 1}},
      {"object_store_memory", {.object_store_memory = std::numeric_limits<std::uint64_t>::max()}},
      {"max_retries", {.max_retries = -2}},
      {"max_retries", {.max_retries = std::numeric_limits<int>::min()}},
      {"log_level", {.log_level = "loud"}},
  };
  for (const Case& c : cases) {
    try {
      shoal::init(c.config);
      ADD_FAILURE() << c.field << ": init() accepted a bad value";
      shoal::shutdown();
    } catch (const shoal::InvalidConfigError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(c.field), std::string::npos) << what;
      EXPECT_NE(what.find("shoal:"), std::string::npos) << what;
    }
    EXPECT_FALSE(shoal::is_initialized());
    EXPECT_TRUE(shoal::testing::children_of(getpid()).empty()) << c.field;
  }
}

TEST(ErrorsWithoutSession, ZeroCpusMeansAllUsableCpus) {
  shoal::Config c = SessionTest::test_config();
  c.num_cpus = 0;
  shoal::init(c);
  EXPECT_GE(shoal::cluster_resources().at("CPU"), 1.0);
  EXPECT_EQ(shoal::get(shoal::task(identity).remote(3)), 3);
  shoal::shutdown();
}

// Runs `call` (which blocks in get() or wait() on tasks that take 10 s) on this thread while
// another thread calls shutdown() once this one is blocked: a call made after shutdown() throws
// too, so only a blocked one shows that waiters are woken. Returns whether it was blocked.
bool shutdown_while_blocked_in(const std::function<void()>& call) {
  auto runtime = shoal::testing::driver_runtime();
  bool was_blocked = false;
  std::thread stopper([&] {
    was_blocked = shoal::testing::eventually([&] { return runtime->TEST_waiting_threads() == 1; },
                                             std::chrono::seconds(10));
    shoal::shutdown();
  });
  call();
  stopper.join();
  return was_blocked;
}

TEST(ErrorsWithoutSession, GetBlockedWhenShutdownRunsIsWokenWithAnError) {
  shoal::init(SessionTest::test_config());
  auto slow = shoal::task(sleep_ms).remote(10000);
  const bool was_blocked = shutdown_while_blocked_in([&] {
    try {
      shoal::get(slow);
      ADD_FAILURE() << "get() returned although shutdown() ran while it waited";
    } catch (const shoal::Error& e) {
      EXPECT_NE(std::string(e.what()).find("shut"), std::string::npos) << e.what();
    }
  });
  EXPECT_TRUE(was_blocked) << "the main thread never blocked in get()";
}

// The same for wait(): shutdown() fails every pending object, which must not read as "ready" to a
// polling loop built on wait() (found by a new user's trial: wait() returned the ref as ready).
TEST(ErrorsWithoutSession, WaitBlockedWhenShutdownRunsIsWokenWithAnError) {
  shoal::init(SessionTest::test_config());
  const std::vector<shoal::ObjectRef<int>> slow{shoal::task(sleep_ms).remote(10000),
                                                shoal::task(sleep_ms).remote(10000)};
  const bool was_blocked = shutdown_while_blocked_in([&] {
    try {
      const auto got = shoal::wait(slow, 1);
      ADD_FAILURE() << "wait() returned " << got.ready.size()
                    << " ready although shutdown() ran while it waited";
    } catch (const shoal::Error& e) {
      EXPECT_NE(std::string(e.what()).find("shut"), std::string::npos) << e.what();
    }
  });
  EXPECT_TRUE(was_blocked) << "the main thread never blocked in wait()";
}

}  // namespace
