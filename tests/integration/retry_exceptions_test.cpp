// TaskOptions::retry_exceptions (Ray's option): a task that throws runs again, up to max_retries,
// for any exception or only for the types retry_on<E...>() names (derived types too, matched in
// the worker with catch).
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <system_error>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"

namespace {

// Each attempt appends a byte to `path` (attempts may run on different workers); the first
// `failures` attempts throw the exception `kind` names.
int flaky(const std::string& path, int failures, int kind) {
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (fd < 0 || write(fd, "x", 1) != 1) throw std::runtime_error("cannot count attempts");
  close(fd);
  struct stat st {};
  stat(path.c_str(), &st);
  const int attempt = static_cast<int>(st.st_size);
  if (attempt <= failures) {
    if (kind == 0) throw std::range_error("flaky range error");  // derived from runtime_error
    if (kind == 1) throw std::logic_error("flaky logic error");
    throw 42;
  }
  return attempt;
}
SHOAL_REMOTE(flaky);

class RetryExceptionsTest : public shoal::testing::SessionTest {
 protected:
  void SetUp() override {
    SessionTest::SetUp();
    char tmpl[] = "/tmp/shoal-retry-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    for (int i = 0; i < counter_; ++i) unlink(counter(i).c_str());
    rmdir(dir_.c_str());
    SessionTest::TearDown();
  }
  std::string next_counter() { return counter(counter_++); }
  std::string counter(int i) const { return dir_ + "/attempts-" + std::to_string(i); }
  static int attempts(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_size) : 0;
  }

 private:
  std::string dir_;
  int counter_ = 0;
};

TEST_F(RetryExceptionsTest, ATaskThatThrowsRunsAgainUntilItSucceeds) {
  const std::string path = next_counter();
  auto r =
      shoal::task(flaky).options({.max_retries = 3, .retry_exceptions = true}).remote(path, 2, 0);
  EXPECT_EQ(shoal::get(r), 3);
  EXPECT_EQ(attempts(path), 3);
}

TEST_F(RetryExceptionsTest, OnceRetriesRunOutGetThrowsTheLastAttemptsError) {
  const std::string path = next_counter();
  auto r =
      shoal::task(flaky).options({.max_retries = 1, .retry_exceptions = true}).remote(path, 5, 2);
  try {
    shoal::get(r);
    FAIL() << "the task succeeded";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "int");
    EXPECT_EQ(e.original_what(), "42");
  }
  EXPECT_EQ(attempts(path), 2);
}

TEST_F(RetryExceptionsTest, ByDefaultAThrowIsNotRetried) {
  const std::string path = next_counter();
  EXPECT_THROW(shoal::get(shoal::task(flaky).remote(path, 1, 0)), shoal::TaskError);
  EXPECT_EQ(attempts(path), 1);
}

TEST_F(RetryExceptionsTest, RetryOnMatchesTheTypeAndItsDerivedTypesOnly) {
  const std::string derived = next_counter();
  auto retried = shoal::task(flaky)
                     .options({.retry_exceptions = shoal::retry_on<std::runtime_error>()})
                     .remote(derived, 1, 0);  // std::range_error: a runtime_error
  EXPECT_EQ(shoal::get(retried), 2);

  const std::string other = next_counter();
  auto not_retried = shoal::task(flaky)
                         .options({.retry_exceptions = shoal::retry_on<std::runtime_error>()})
                         .remote(other, 1, 1);  // std::logic_error: no
  try {
    shoal::get(not_retried);
    FAIL() << "a logic_error was retried into success";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "std::logic_error");
  }
  EXPECT_EQ(attempts(other), 1);

  const std::string several = next_counter();
  auto either = shoal::task(flaky)
                    .options({.retry_exceptions = shoal::retry_on<std::system_error, int>()})
                    .remote(several, 2, 2);  // throw 42
  EXPECT_EQ(shoal::get(either), 3);
}

TEST_F(RetryExceptionsTest, LocalModeRetriesTheSameWay) {
  shoal::shutdown();
  shoal::Config c = test_config();
  c.local_mode = true;
  shoal::init(c);
  const std::string path = next_counter();
  auto r = shoal::task(flaky)
               .options({.retry_exceptions = shoal::retry_on<std::runtime_error>()})
               .remote(path, 2, 0);
  EXPECT_EQ(shoal::get(r), 3);
  const std::string other = next_counter();
  EXPECT_THROW(shoal::get(shoal::task(flaky)
                              .options({.retry_exceptions = shoal::retry_on<std::runtime_error>()})
                              .remote(other, 2, 1)),
               shoal::TaskError);
  EXPECT_EQ(attempts(other), 1);
}

}  // namespace
