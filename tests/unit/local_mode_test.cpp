// Local mode (Config::local_mode): the whole API in this process, without fork, sockets or a
// shared-memory store, with the semantics and errors of a session with workers.
#include <chrono>
#include <map>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

int add(int a, int b) { return a + b; }
int twice(int x) { return 2 * x; }
std::vector<double> ramp(int n) {
  std::vector<double> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 0.0);
  return v;
}
double sum(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }
std::string greet(const std::string& name) { return "hello " + name; }
__attribute__((noinline)) int zq_local_mode_thrower(int x) {
  if (x >= 0) throw std::invalid_argument("bad x=" + std::to_string(x));
  return x;
}
int fails(int x) { return zq_local_mode_thrower(x); }
int pid_of_task(int) { return getpid(); }
double cpus_seen_inside(int) {
  return shoal::available_resources().count("CPU") != 0 ? shoal::available_resources().at("CPU")
                                                        : 0.0;
}
int nested_sum(int n) {  // a task that starts tasks
  std::vector<shoal::ObjectRef<int>> parts;
  for (int i = 0; i < n; ++i) parts.push_back(shoal::task(twice).remote(i));
  const std::vector<int> got = shoal::get(parts);
  return std::accumulate(got.begin(), got.end(), 0);
}
void nothing(int) {}
// Breaks std::exception's contract (what() must not be null): shoal must not crash on it.
struct NullWhat : std::exception {
  const char* what() const noexcept override { return nullptr; }
};
int throws_null_what(int) { throw NullWhat(); }
int throws_long_what(int n) {
  throw std::runtime_error(std::string(static_cast<std::size_t>(n), 'm'));
}
int not_registered(int x) { return x; }
int shuts_down(int x) {
  shoal::shutdown();
  return x;
}

SHOAL_REMOTE(add, twice, ramp, sum, greet, fails, pid_of_task, cpus_seen_inside, nested_sum,
             nothing, shuts_down, throws_null_what, throws_long_what);

class LocalModeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shoal::Config c;
    c.local_mode = true;
    c.num_cpus = 4;
    c.object_store_memory = 64ull << 20;
    shoal::init(c);
  }
  void TearDown() override { shoal::shutdown(); }
};

TEST_F(LocalModeTest, TasksRunInThisProcessWithoutWorkers) {
  const int threads_before = shoal::testing::thread_count(getpid());
  EXPECT_EQ(shoal::get(shoal::task(pid_of_task).remote(0)), getpid());
  EXPECT_TRUE(shoal::testing::children_of(getpid()).empty()) << "local mode forked a process";
  EXPECT_EQ(shoal::testing::thread_count(getpid()), threads_before) << "local mode made a thread";
  EXPECT_TRUE(shoal::is_initialized());
}

TEST_F(LocalModeTest, ValuesRefsAndDependenciesWorkAsWithWorkers) {
  EXPECT_EQ(shoal::get(shoal::task(add).remote(2, 3)), 5);
  auto a = shoal::task(twice).remote(21);
  auto b = shoal::task(add).remote(a, 1);  // a dependency
  EXPECT_EQ(shoal::get(b), 43);
  auto chain = shoal::put(1);
  for (int i = 0; i < 10; ++i) chain = shoal::task(twice).remote(chain);
  EXPECT_EQ(shoal::get(chain), 1024);
  EXPECT_EQ(shoal::get(shoal::task(greet).remote("local")), "hello local");
  EXPECT_EQ(shoal::get(shoal::task(greet).remote(shoal::put(std::string("ref")))), "hello ref");
  const std::vector<int> all =
      shoal::get(std::vector{shoal::task(twice).remote(1), shoal::task(twice).remote(2)});
  EXPECT_EQ(all, (std::vector<int>{2, 4}));
  shoal::get(std::vector{shoal::task(nothing).remote(1)});  // void tasks
}

TEST_F(LocalModeTest, LargeValuesAndViewsLiveOnTheHeap) {
  const int n = 1 << 20;  // 8 MiB of doubles: past the inline threshold
  auto big = shoal::task(ramp).remote(n);
  const shoal::View<std::vector<double>> view = shoal::get_view(big);
  ASSERT_EQ(view.size(), static_cast<std::size_t>(n));
  EXPECT_EQ(view[n - 1], n - 1.0);
  EXPECT_DOUBLE_EQ(shoal::get(shoal::task(sum).remote(big)), 0.5 * n * (n - 1.0));
  const std::vector<double> arg(200'000, 1.5);  // a large argument passed by value
  EXPECT_DOUBLE_EQ(shoal::get(shoal::task(sum).remote(arg)), 300'000.0);
  const shoal::ObjectStoreStats stats = shoal::object_store_stats();
  EXPECT_EQ(stats.used_bytes, 0u);
  EXPECT_GE(stats.inline_bytes, static_cast<std::uint64_t>(n) * sizeof(double));
  EXPECT_EQ(stats.capacity_bytes, 64ull << 20);
}

TEST_F(LocalModeTest, ObjectsAreFreedWhenTheirLastRefGoes) {
  const std::uint64_t before = shoal::object_store_stats().num_objects;
  {
    auto r = shoal::put(std::vector<double>(1000, 1.0));
    auto t = shoal::task(sum).remote(r);
    EXPECT_EQ(shoal::object_store_stats().num_objects, before + 2);
    EXPECT_DOUBLE_EQ(shoal::get(t), 1000.0);
  }
  EXPECT_EQ(shoal::object_store_stats().num_objects, before);
  EXPECT_EQ(shoal::object_store_stats().inline_bytes, 0u);
}

TEST_F(LocalModeTest, ATaskExceptionIsATaskErrorWithItsDetailsAndBacktrace) {
  auto r = shoal::task(fails).remote(3);
  try {
    shoal::get(r);
    FAIL() << "get() returned";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "std::invalid_argument");
    EXPECT_EQ(e.original_what(), "bad x=3");
    EXPECT_EQ(e.function_name(), "fails");
    EXPECT_EQ(e.pid(), getpid());
    EXPECT_NE(std::string(e.what()).find("local mode"), std::string::npos)
        << "the message must not send the user looking for a worker: " << e.what();
    EXPECT_NE(e.backtrace().find("zq_local_mode_thrower"), std::string::npos) << e.backtrace();
  }
  // Ray's rule: a task whose argument failed fails with the same error, and get() of a list
  // raises it.
  auto dependent = shoal::task(add).remote(r, 1);
  EXPECT_THROW(shoal::get(dependent), shoal::TaskError);
  EXPECT_THROW(shoal::get(std::vector{shoal::task(twice).remote(1), dependent}), shoal::TaskError);
}

// As with workers: a null what() is an empty message, and a message is cut at 64 KiB.
TEST_F(LocalModeTest, ANullOrVeryLongWhatIsReportedAsWithWorkers) {
  try {
    shoal::get(shoal::task(throws_null_what).remote(0));
    FAIL() << "get() returned";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "(anonymous namespace)::NullWhat");
    EXPECT_EQ(e.original_what(), "");
  }
  try {
    shoal::get(shoal::task(throws_long_what).remote(1 << 20));
    FAIL() << "get() returned";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.original_what(), std::string(std::size_t{64} * 1024, 'm'));
  }
}

TEST_F(LocalModeTest, TimeoutsAndWaitNeverBlock) {
  auto r = shoal::task(twice).remote(5);
  EXPECT_EQ(shoal::get(r, 0ns), 10);  // finished already: no timeout applies
  auto [ready, not_ready] = shoal::wait(std::vector{r, shoal::put(1)}, 1, 0s);
  EXPECT_EQ(ready.size(), 1u);
  EXPECT_EQ(not_ready.size(), 1u);
  EXPECT_THROW(shoal::wait(std::vector{r}, 2), shoal::InvalidConfigError);
}

TEST_F(LocalModeTest, ResourcesHaveTheSameKeysAndARunningTaskHoldsItsCpus) {
  const std::map<std::string, double> total = shoal::cluster_resources();
  EXPECT_EQ(total.at("CPU"), 4.0);
  EXPECT_GT(total.at("memory"), 0.0);
  EXPECT_EQ(total.at("object_store_memory"), static_cast<double>(64ull << 20));
  bool has_node = false;
  for (const auto& [key, value] : total) has_node = has_node || key.rfind("node:", 0) == 0;
  EXPECT_TRUE(has_node);
  EXPECT_EQ(shoal::available_resources().at("CPU"), 4.0);
  EXPECT_EQ(shoal::get(shoal::task(cpus_seen_inside).options({.num_cpus = 3}).remote(0)), 1.0);
  EXPECT_EQ(shoal::available_resources().at("CPU"), 4.0);
}

TEST_F(LocalModeTest, TasksCanStartTasks) {
  EXPECT_EQ(shoal::get(shoal::task(nested_sum).remote(10)), 90);
}

TEST_F(LocalModeTest, MistakesGetTheSameTypedErrors) {
  EXPECT_THROW(shoal::task(not_registered).remote(1), shoal::FunctionNotRegisteredError);
  EXPECT_THROW(shoal::task(twice).options({.num_cpus = 5}).remote(1), shoal::InvalidConfigError);
  auto r = shoal::put(1);
  EXPECT_THROW(shoal::get(shoal::ObjectRef<std::string>(r.handle())), shoal::TypeMismatchError);
  EXPECT_THROW(shoal::get(shoal::ObjectRef<int>()), shoal::InvalidObjectRefError);
  EXPECT_THROW(shoal::init(), shoal::AlreadyInitializedError);
}

TEST(LocalModeSession, RefsAreStaleAfterShutdownAndBadConfigIsRefused) {
  shoal::Config c;
  c.local_mode = true;
  c.num_cpus = 2;
  shoal::init(c);
  auto r = shoal::put(7);
  shoal::shutdown();
  EXPECT_FALSE(shoal::is_initialized());
  EXPECT_THROW(shoal::get(r), shoal::InvalidObjectRefError);
  c.num_cpus = -1;
  EXPECT_THROW(shoal::init(c), shoal::InvalidConfigError);
  EXPECT_FALSE(shoal::is_initialized());
}

// A task that shuts shoal down (in local mode it runs inside remote()) loses its result: remote()
// says so, rather than blaming an ObjectRef.
TEST(LocalModeSession, ShutdownInsideATaskDropsItsResultWithAClearError) {
  shoal::Config c;
  c.local_mode = true;
  shoal::init(c);
  try {
    shoal::task(shuts_down).remote(1);
    ADD_FAILURE() << "remote() returned a result that no session holds";
  } catch (const shoal::Error& e) {
    EXPECT_NE(std::string(e.what()).find("shutdown() ran while the task"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(shoal::is_initialized());
}

// A fork() of a local-mode program cannot use the parent's session: every call says why.
TEST(LocalModeSession, AForkOfTheProgramIsRefusedWithTheReason) {
  shoal::Config c;
  c.local_mode = true;
  shoal::init(c);
  auto r = shoal::put(7);
  const pid_t child = fork();
  ASSERT_NE(child, -1) << "fork() failed";
  if (child == 0) {
    int code = 0;
    try {
      shoal::get(r);
      code = 1;
    } catch (const shoal::Error& e) {
      code = std::string(e.what()).find("fork()") != std::string::npos ? 0 : 2;
    }
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "the fork's get(): 1 = returned a value, 2 = an error without the reason; status "
      << status;
  EXPECT_EQ(shoal::get(r), 7) << "the parent's session is untouched";
  shoal::shutdown();
}

}  // namespace
