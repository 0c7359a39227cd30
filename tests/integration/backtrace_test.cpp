// A task's exception reaches get() as a TaskError with the worker's stack where the exception was
// THROWN (not where the worker caught it), with its type, message, function name and pid.
//
// The throwing functions are noinline with distinctive names, so that they are real frames and a
// match on their names cannot be a coincidence. The names come from the executable's symbol
// table, so this passes in the Release build (no debug information) as well.
#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"

namespace {

struct NotAStdException {
  int code;
};

// Each of these has its own name, so a backtrace that names one names the right frame.
__attribute__((noinline)) void zq_throw_site_alpha(int x) {
  if (x >= 0) throw std::domain_error("alpha " + std::to_string(x));
}
__attribute__((noinline)) void zq_throw_site_beta(int x) {
  if (x >= 0) throw std::logic_error("beta " + std::to_string(x));
}
__attribute__((noinline)) int zq_reads_past_the_end(int x) {
  const std::vector<int> v(static_cast<std::size_t>(x));
  return v.at(static_cast<std::size_t>(x) + 1);  // libstdc++ throws std::out_of_range
}
__attribute__((noinline)) void zq_throws_a_plain_struct(int x) {
  if (x >= 0) throw NotAStdException{x};
}
__attribute__((noinline)) void zq_recurse_then_throw(int depth) {
  if (depth == 0) throw std::runtime_error("deep");
  zq_recurse_then_throw(depth - 1);
  asm volatile("");  // not a tail call: every level keeps its frame
}

int calls_alpha(int x) {
  zq_throw_site_alpha(x);
  return x;
}

// Catches alpha's exception itself, then fails with beta's: only beta's stack may be reported.
int catches_alpha_then_throws_beta(int x) {
  try {
    zq_throw_site_alpha(x);
  } catch (const std::domain_error&) {
  }
  zq_throw_site_beta(x);
  return x;
}

// Catches alpha's exception and lets it go on with `throw;`: the stack is still alpha's.
int rethrows_alpha(int x) {
  try {
    zq_throw_site_alpha(x);
  } catch (...) {
    throw;
  }
  return x;
}

// Throws and catches alpha's exception, then fails with one that no `throw` made: nothing about
// its origin is known, and alpha's stack must not be passed off as its own.
int rethrows_an_exception_ptr(int x) {
  try {
    zq_throw_site_alpha(x);
  } catch (const std::domain_error&) {
  }
  std::rethrow_exception(std::make_exception_ptr(std::domain_error("made, not thrown")));
}

int calls_vector_at(int x) { return zq_reads_past_the_end(x); }
int calls_plain_struct(int x) {
  zq_throws_a_plain_struct(x);
  return x;
}
int recurses(int depth) {
  zq_recurse_then_throw(depth);
  return depth;
}
int identity(int x) { return x; }

SHOAL_REMOTE(calls_alpha, catches_alpha_then_throws_beta, rethrows_alpha, rethrows_an_exception_ptr,
             calls_vector_at, calls_plain_struct, recurses, identity);

using shoal::testing::SessionTest;
using BacktraceTest = SessionTest;

template <class T>
shoal::TaskError task_error_of(const shoal::ObjectRef<T>& ref) {
  try {
    shoal::get(ref);
  } catch (const shoal::TaskError& e) {
    return e;
  }
  ADD_FAILURE() << "get() did not throw a TaskError";
  return shoal::TaskError("", "", "", "", 0, "");
}

// The backtrace's first line, which must be the frame that threw.
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

TEST_F(BacktraceTest, NamesTheFunctionThatThrewWithTypeMessageFunctionAndPid) {
  const shoal::TaskError e = task_error_of(shoal::task(calls_alpha).remote(4));
  EXPECT_EQ(e.type_name(), "std::domain_error");
  EXPECT_EQ(e.original_what(), "alpha 4");
  EXPECT_EQ(e.function_name(), "calls_alpha");
  const std::vector<pid_t> workers = shoal::testing::driver_runtime()->TEST_worker_pids();
  EXPECT_NE(std::find(workers.begin(), workers.end(), e.pid()), workers.end())
      << "pid " << e.pid() << " is not one of the workers";
  EXPECT_NE(e.pid(), getpid());
  EXPECT_NE(first_line(e.backtrace()).find("zq_throw_site_alpha"), std::string::npos)
      << e.backtrace();
  // The worker loop's own frames, where the exception was caught, are left out.
  EXPECT_EQ(e.backtrace().find("WorkerLoop"), std::string::npos) << e.backtrace();
}

TEST_F(BacktraceTest, AnExceptionCaughtInsideTheTaskIsNotTheOneReported) {
  const shoal::TaskError e = task_error_of(shoal::task(catches_alpha_then_throws_beta).remote(1));
  EXPECT_EQ(e.original_what(), "beta 1");
  EXPECT_NE(first_line(e.backtrace()).find("zq_throw_site_beta"), std::string::npos)
      << e.backtrace();
  EXPECT_EQ(e.backtrace().find("zq_throw_site_alpha"), std::string::npos) << e.backtrace();
}

TEST_F(BacktraceTest, RethrowKeepsTheOriginalThrowSite) {
  const shoal::TaskError e = task_error_of(shoal::task(rethrows_alpha).remote(2));
  EXPECT_NE(first_line(e.backtrace()).find("zq_throw_site_alpha"), std::string::npos)
      << e.backtrace();
}

TEST_F(BacktraceTest, AnExceptionNotMadeByThrowHasNoBacktraceRatherThanAWrongOne) {
  const shoal::TaskError e = task_error_of(shoal::task(rethrows_an_exception_ptr).remote(2));
  EXPECT_EQ(e.original_what(), "made, not thrown");
  EXPECT_EQ(e.backtrace(), "");
}

TEST_F(BacktraceTest, ThrowsInsideTheStandardLibraryAreCaptured) {
  const shoal::TaskError e = task_error_of(shoal::task(calls_vector_at).remote(3));
  EXPECT_EQ(e.type_name(), "std::out_of_range");
  EXPECT_NE(e.backtrace().find("zq_reads_past_the_end"), std::string::npos) << e.backtrace();
}

TEST_F(BacktraceTest, ExceptionsNotDerivedFromStdExceptionHaveABacktraceToo) {
  const shoal::TaskError e = task_error_of(shoal::task(calls_plain_struct).remote(5));
  EXPECT_NE(e.type_name().find("NotAStdException"), std::string::npos) << e.type_name();
  EXPECT_NE(first_line(e.backtrace()).find("zq_throws_a_plain_struct"), std::string::npos)
      << e.backtrace();
}

TEST_F(BacktraceTest, DeepStacksAreCutToABoundedSize) {
  const shoal::TaskError e = task_error_of(shoal::task(recurses).remote(5000));
  const std::string& bt = e.backtrace();
  EXPECT_NE(first_line(bt).find("zq_recurse_then_throw"), std::string::npos) << bt;
  EXPECT_LE(bt.size(), 16u * 1024u);
  EXPECT_LE(std::count(bt.begin(), bt.end(), '\n'), 65);
}

TEST_F(BacktraceTest, TheWorkerKeepsServingAfterFailedTasks) {
  std::vector<shoal::ObjectRef<int>> failing;
  for (int i = 0; i < 50; ++i) failing.push_back(shoal::task(calls_alpha).remote(i));
  std::vector<shoal::ObjectRef<int>> fine;
  for (int i = 0; i < 50; ++i) fine.push_back(shoal::task(identity).remote(i));
  for (int i = 0; i < 50; ++i) {
    const shoal::TaskError e = task_error_of(failing[static_cast<std::size_t>(i)]);
    EXPECT_EQ(e.original_what(), "alpha " + std::to_string(i));
    EXPECT_NE(first_line(e.backtrace()).find("zq_throw_site_alpha"), std::string::npos);
  }
  for (int i = 0; i < 50; ++i) EXPECT_EQ(shoal::get(fine[static_cast<std::size_t>(i)]), i);
}

// The driver's own exceptions are not affected by the workers' throw recording.
TEST_F(BacktraceTest, TheDriverThrowsAndCatchesAsUsual) {
  EXPECT_THROW(zq_throw_site_beta(1), std::logic_error);
  std::vector<int> v;
  EXPECT_THROW((void)v.at(3), std::out_of_range);
}

}  // namespace
