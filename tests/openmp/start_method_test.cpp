// Start methods (issue 15): a program whose threads exist before init() must not hang, and what
// workers see of the program's globals under each method.
//
// The field report: a program built with -fopenmp runs an OpenMP loop in main() (GCC's OpenMP
// runtime starts its thread pool), then init(), then 200 tasks that run OpenMP loops. With workers
// forked from that program, every task hung: fork() copies only the calling thread, and libgomp's
// pool does not survive it.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <omp.h>
#include <pthread.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "src/common/system_info.hpp"
#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"

namespace {

using namespace std::chrono_literals;

// The sum of i * 0.5 for i < n, computed by an OpenMP loop in whatever process runs it.
double omp_sum(int n) {
  double s = 0;
#pragma omp parallel for reduction(+ : s)
  for (int i = 0; i < n; ++i) s += i * 0.5;
  return s;
}
double expected_sum(int n) { return 0.25 * n * (n - 1.0); }

int g_set_by_main = 1;  // main() (this test) changes it before init()
int set_at_start() { return 7; }
const int g_set_by_a_static_initialiser = set_at_start();

int read_globals(int) { return g_set_by_main * 100 + g_set_by_a_static_initialiser; }
int registered_late(int x) { return x + 1; }

SHOAL_REMOTE(omp_sum, read_globals);

shoal::Config config_with(const std::string& start_method) {
  shoal::Config c = shoal::testing::SessionTest::test_config();
  c.start_method = start_method;
  return c;
}

void run_openmp_tasks() {
  std::vector<shoal::ObjectRef<double>> refs;
  for (int i = 0; i < 200; ++i) refs.push_back(shoal::task(omp_sum).remote(1000 + i));
  const std::vector<double> sums = shoal::get(refs, 120s);  // hung for ever before
  for (int i = 0; i < 200; ++i)
    EXPECT_DOUBLE_EQ(sums[static_cast<std::size_t>(i)], expected_sum(1000 + i));
}

std::string start_method_of_session() {
  return shoal::testing::driver_runtime()->TEST_start_method();
}

TEST(StartMethod, OpenMpBeforeInitAndInTasksCompletesWithTheDefaultConfig) {
  if (std::getenv("SHOAL_START_METHOD") != nullptr) GTEST_SKIP() << "checks the default";
  EXPECT_DOUBLE_EQ(omp_sum(1000), expected_sum(1000));  // OpenMP's pool runs in this process now
  ASSERT_GT(omp_get_max_threads(), 0);
  shoal::init(shoal::testing::SessionTest::test_config());
  EXPECT_EQ(start_method_of_session(), "forkserver") << "other threads exist: fork is unsafe";
  run_openmp_tasks();
  shoal::shutdown();
}

TEST(StartMethod, OpenMpBeforeInitAndInTasksCompletesWithForkserver) {
  EXPECT_DOUBLE_EQ(omp_sum(1000), expected_sum(1000));
  shoal::init(config_with("forkserver"));
  EXPECT_EQ(start_method_of_session(), "forkserver");
  run_openmp_tasks();
  shoal::shutdown();
}

// fork stays right for a program that starts its threads after init(): the workers' own OpenMP
// pools start in the workers.
TEST(StartMethod, OpenMpOnlyInTasksCompletesWithFork) {
  shoal::init(config_with("fork"));
  EXPECT_EQ(start_method_of_session(), "fork");
  run_openmp_tasks();
  EXPECT_DOUBLE_EQ(omp_sum(1000), expected_sum(1000));  // and afterwards in the driver
  shoal::shutdown();
}

TEST(StartMethod, WithoutOtherThreadsTheDefaultIsFork) {
  if (std::getenv("SHOAL_START_METHOD") != nullptr) GTEST_SKIP() << "checks the default";
  shoal::init(shoal::testing::SessionTest::test_config());
  EXPECT_EQ(start_method_of_session(), "fork");
  shoal::shutdown();
}

// What a worker sees of a global: with fork, the value the program set before init(); with
// forkserver, the value a fresh start of the program has (static initialisers run, main() not).
TEST(StartMethod, WhatWorkersSeeOfGlobalsDependsOnTheStartMethod) {
  g_set_by_main = 2;
  shoal::init(config_with("fork"));
  EXPECT_EQ(shoal::get(shoal::task(read_globals).remote(0)), 207);
  shoal::shutdown();
  shoal::init(config_with("forkserver"));
  EXPECT_EQ(shoal::get(shoal::task(read_globals).remote(0)), 107);
  shoal::shutdown();
  g_set_by_main = 1;
}

// A function registered by main() (as a library loaded at run time would register its own) is
// known to forked workers, not to a fresh start of the program, and the error says why.
TEST(StartMethod, FunctionsRegisteredAfterTheProgramStartedNeedFork) {
  shoal::detail::register_functions("registered_late", &registered_late);
  shoal::init(config_with("fork"));
  EXPECT_EQ(shoal::get(shoal::task(registered_late).remote(1)), 2);
  shoal::shutdown();
  shoal::init(config_with("forkserver"));
  try {
    shoal::task(registered_late).remote(1);
    ADD_FAILURE() << "remote() accepted a function the workers do not know";
  } catch (const shoal::FunctionNotRegisteredError& e) {
    EXPECT_NE(std::string(e.what()).find("forkserver"), std::string::npos) << e.what();
  }
  EXPECT_EQ(shoal::get(shoal::task(read_globals).remote(0)), 107);  // the others still work
  shoal::shutdown();
}

TEST(StartMethod, AnUnknownStartMethodIsAnError) {
  try {
    shoal::init(config_with("spawnish"));
    ADD_FAILURE();
    shoal::shutdown();
  } catch (const shoal::InvalidConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("Config::start_method"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(shoal::is_initialized());
}

// Points fd 2 at a temporary file while it lives.
class CapturedStderr {
 public:
  CapturedStderr() {
    std::fflush(stderr);
    std::FILE* f = std::tmpfile();
    file_ = dup(fileno(f));
    std::fclose(f);
    saved_ = dup(STDERR_FILENO);
    dup2(file_, STDERR_FILENO);
  }
  ~CapturedStderr() {
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(file_);
  }
  std::string text() const {
    std::string out;
    char buf[4096];
    for (off_t at = 0;;) {
      const ssize_t n = pread(file_, buf, sizeof buf, at);
      if (n <= 0) return out;
      out.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
  }

 private:
  int file_ = -1;
  int saved_ = -1;
};

// As Python 3.12 warns: at the default log level, with the threads' count and names.
TEST(StartMethod, InitNamesTheOtherThreadsAtTheDefaultLogLevel) {
  if (std::getenv("SHOAL_START_METHOD") != nullptr) GTEST_SKIP() << "checks the default";
  std::mutex mu;
  std::condition_variable cv;
  bool named = false, done = false;
  std::thread other([&] {
    pthread_setname_np(pthread_self(), "zq-named-pool");
    std::unique_lock<std::mutex> lock(mu);
    named = true;
    cv.notify_all();
    cv.wait(lock, [&] { return done; });
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return named; });
  }
  std::string log;
  const std::size_t others = shoal::internal::other_threads().size();  // sanitizers add their own
  {
    const CapturedStderr captured;
    shoal::Config config = shoal::testing::SessionTest::test_config();
    config.log_level = "";  // the default, warn
    unsetenv("SHOAL_LOG_LEVEL");
    shoal::init(config);
    log = captured.text();
    shoal::shutdown();
  }
  std::string fork_log;  // "fork" asked for: taken, with the same warning (as Python 3.12 warns)
  {
    const CapturedStderr captured;
    shoal::Config config = shoal::testing::SessionTest::test_config();
    config.log_level = "";
    config.start_method = "fork";
    shoal::init(config);
    fork_log = captured.text();
    shoal::shutdown();
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  other.join();
  EXPECT_NE(log.find(std::to_string(others) + " other thread(s)"), std::string::npos) << log;
  EXPECT_NE(log.find("zq-named-pool"), std::string::npos) << log;
  EXPECT_NE(log.find("forkserver"), std::string::npos) << log;
  EXPECT_NE(log.find("warning"), std::string::npos) << log;
  EXPECT_NE(fork_log.find(std::to_string(others) + " other thread(s)"), std::string::npos)
      << fork_log;
  EXPECT_NE(fork_log.find("zq-named-pool"), std::string::npos) << fork_log;
  EXPECT_NE(fork_log.find("start method \"fork\", from Config::start_method"), std::string::npos)
      << fork_log;
}

}  // namespace
