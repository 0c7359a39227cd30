// The programming model end to end, with real worker processes: remote calls, get, put, wait,
// dependencies, void functions, options, many tasks, long chains.
#include <atomic>
#include <chrono>
#include <map>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

int square(int x) { return x * x; }
int add(int a, int b) { return a + b; }
int increment(int x) { return x + 1; }
std::string concat(const std::string& a, std::string b) { return a + b; }
long long worker_pid() { return static_cast<long long>(getpid()); }
void do_nothing(int) {}
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
double sum_vector(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0); }
std::map<std::string, int> count_words(const std::vector<std::string>& words) {
  std::map<std::string, int> counts;
  for (const auto& w : words) ++counts[w];
  return counts;
}
std::optional<int> maybe_half(int x) {
  return x % 2 == 0 ? std::optional<int>(x / 2) : std::nullopt;
}
std::tuple<int, std::string> pair_up(int n, const std::string& s) { return {n, s}; }

struct Point {
  double x = 0, y = 0;
  std::string label;
  MSGPACK_DEFINE(x, y, label)
};
Point midpoint(const Point& a, const Point& b) {
  return {(a.x + b.x) / 2, (a.y + b.y) / 2, a.label + b.label};
}

SHOAL_REMOTE(square, add, increment, concat, worker_pid, do_nothing, sleep_ms, sum_vector,
             count_words, maybe_half, pair_up, midpoint);

using shoal::testing::SessionTest;
using ApiTest = SessionTest;

TEST_F(ApiTest, RemoteReturnsTheFunctionsResult) {
  EXPECT_EQ(shoal::get(shoal::task(square).remote(7)), 49);
  EXPECT_EQ(shoal::get(shoal::task(add).remote(2, 3)), 5);
}

TEST_F(ApiTest, RunsInWorkerProcessesNotTheDriver) {
  std::vector<shoal::ObjectRef<long long>> refs;
  for (int i = 0; i < 20; ++i) refs.push_back(shoal::task(worker_pid).remote());
  for (long long pid : shoal::get(refs)) EXPECT_NE(pid, static_cast<long long>(getpid()));
}

TEST_F(ApiTest, TasksRunInParallelOnAllWorkers) {
  // Two 300 ms sleeps on two workers overlap; the check is on overlap, not on speed: both must
  // be running at once, as seen by available_resources().
  auto a = shoal::task(sleep_ms).remote(300);
  auto b = shoal::task(sleep_ms).remote(300);
  ASSERT_TRUE(
      shoal::testing::eventually([] { return shoal::available_resources().count("CPU") == 0; },
                                 std::chrono::milliseconds(2000)));
  EXPECT_EQ(shoal::get(a) + shoal::get(b), 600);
}

TEST_F(ApiTest, ConvertsArgumentsToParameterTypes) {
  EXPECT_EQ(shoal::get(shoal::task(concat).remote("ab", std::string("cd"))), "abcd");
  EXPECT_DOUBLE_EQ(shoal::get(shoal::task(sum_vector).remote(std::vector<double>{1.5, 2.5, 3})),
                   7.0);
}

TEST_F(ApiTest, StandardTypesRoundTrip) {
  const auto counts =
      shoal::get(shoal::task(count_words).remote(std::vector<std::string>{"a", "b", "a"}));
  EXPECT_EQ(counts, (std::map<std::string, int>{{"a", 2}, {"b", 1}}));
  EXPECT_EQ(shoal::get(shoal::task(maybe_half).remote(8)), std::optional<int>(4));
  EXPECT_EQ(shoal::get(shoal::task(maybe_half).remote(7)), std::nullopt);
  EXPECT_EQ(shoal::get(shoal::task(pair_up).remote(3, "x")), std::make_tuple(3, std::string("x")));
}

TEST_F(ApiTest, UserTypesWithMsgpackDefine) {
  const Point m = shoal::get(shoal::task(midpoint).remote(Point{0, 0, "a"}, Point{2, 4, "b"}));
  EXPECT_DOUBLE_EQ(m.x, 1);
  EXPECT_DOUBLE_EQ(m.y, 2);
  EXPECT_EQ(m.label, "ab");
}

TEST_F(ApiTest, VoidFunctionsComplete) {
  shoal::ObjectRef<void> r = shoal::task(do_nothing).remote(1);
  shoal::get(r);
  std::vector<shoal::ObjectRef<void>> many{shoal::task(do_nothing).remote(2),
                                           shoal::task(do_nothing).remote(3)};
  shoal::get(many);
  shoal::get(many, std::chrono::seconds(10));
}

TEST_F(ApiTest, GetOfAListKeepsItsOrder) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 100; ++i) refs.push_back(shoal::task(square).remote(i));
  const std::vector<int> values = shoal::get(refs);
  ASSERT_EQ(values.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(values[i], i * i);
}

TEST_F(ApiTest, TenThousandSmallTasks) {
  std::vector<shoal::ObjectRef<int>> refs;
  refs.reserve(10000);
  for (int i = 0; i < 10000; ++i) refs.push_back(shoal::task(increment).remote(i));
  const std::vector<int> values = shoal::get(refs);
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(values[i], i + 1) << "at " << i;
}

TEST_F(ApiTest, PutThenGetReturnsTheValue) {
  EXPECT_EQ(shoal::get(shoal::put(42)), 42);
  shoal::ObjectRef<std::string> s = shoal::put("literal");  // string literals become std::string
  EXPECT_EQ(shoal::get(s), "literal");
  const std::vector<float> big(1 << 20, 0.5f);  // 4 MB: goes to the shared-memory arena
  EXPECT_EQ(shoal::get(shoal::put(big)), big);
}

TEST_F(ApiTest, RefArgumentsAreDependencies) {
  auto a = shoal::task(sleep_ms).remote(100);
  auto b = shoal::task(square).remote(4);
  auto sum = shoal::task(add).remote(a, b);  // runs once a and b exist
  EXPECT_EQ(shoal::get(sum), 116);
  auto put_ref = shoal::put(std::vector<double>(1000, 1.0));
  EXPECT_DOUBLE_EQ(shoal::get(shoal::task(sum_vector).remote(put_ref)), 1000.0);
}

TEST_F(ApiTest, ChainOfOneHundredTasks) {
  shoal::ObjectRef<int> r = shoal::task(increment).remote(0);
  for (int i = 1; i < 100; ++i) r = shoal::task(increment).remote(r);
  EXPECT_EQ(shoal::get(r), 100);
}

TEST_F(ApiTest, WaitSplitsReadyAndNotReadyInInputOrder) {
  // Two workers: the squares finish in milliseconds, the sleeps take 5 s each, and the ready and
  // not-ready refs interleave in the input, so both lists must keep the input's order.
  std::vector<shoal::ObjectRef<int>> refs{
      shoal::task(square).remote(2), shoal::task(sleep_ms).remote(5000),
      shoal::task(square).remote(3), shoal::task(sleep_ms).remote(5000)};
  auto [ready, not_ready] = shoal::wait(refs, 2, std::chrono::seconds(20));
  ASSERT_EQ(ready.size(), 2u);
  ASSERT_EQ(not_ready.size(), 2u);
  EXPECT_EQ(ready[0], refs[0]);
  EXPECT_EQ(ready[1], refs[2]);
  EXPECT_EQ(not_ready[0], refs[1]);
  EXPECT_EQ(not_ready[1], refs[3]);
}

TEST_F(ApiTest, WaitCapsReadyAtNumReturnsAndKeepsTheRestInOrder) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 5; ++i) refs.push_back(shoal::task(square).remote(i));
  shoal::get(refs);  // all finished
  auto [ready, not_ready] = shoal::wait(refs, 2);
  ASSERT_EQ(ready.size(), 2u);
  EXPECT_EQ(ready[0], refs[0]);
  EXPECT_EQ(ready[1], refs[1]);
  ASSERT_EQ(not_ready.size(), 3u);
  EXPECT_EQ(not_ready[0], refs[2]);
  EXPECT_EQ(not_ready[2], refs[4]);
}

TEST_F(ApiTest, WaitTimeoutReturnsWhatIsReady) {
  std::vector<shoal::ObjectRef<int>> refs{shoal::task(square).remote(5),
                                          shoal::task(sleep_ms).remote(5000)};
  shoal::get(refs[0]);
  auto [ready, not_ready] = shoal::wait(refs, 2, std::chrono::milliseconds(50));
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0], refs[0]);
  ASSERT_EQ(not_ready.size(), 1u);
  EXPECT_EQ(not_ready[0], refs[1]);
}

TEST_F(ApiTest, WaitOneAtATimeTakesEveryRef) {
  std::vector<shoal::ObjectRef<int>> pending;
  for (int i = 0; i < 50; ++i) pending.push_back(shoal::task(square).remote(i));
  int seen = 0;
  while (!pending.empty()) {
    auto [ready, rest] = shoal::wait(pending, 1);
    ASSERT_EQ(ready.size(), 1u);
    (void)shoal::get(ready[0]);
    ++seen;
    pending = std::move(rest);
  }
  EXPECT_EQ(seen, 50);
}

TEST_F(ApiTest, TaskOptionsNumCpusHoldsThatManyCpus) {
  // A task holding both CPUs runs alone: while it runs, no CPU is available.
  auto hog = shoal::task(sleep_ms).options({.num_cpus = 2}).remote(300);
  ASSERT_TRUE(
      shoal::testing::eventually([] { return shoal::available_resources().count("CPU") == 0; },
                                 std::chrono::milliseconds(2000)));
  auto small = shoal::task(square).remote(3);
  auto [ready, not_ready] =
      shoal::wait(std::vector<shoal::ObjectRef<int>>{small}, 1, std::chrono::milliseconds(100));
  EXPECT_TRUE(ready.empty()) << "a 1-CPU task ran while a 2-CPU task held both CPUs";
  EXPECT_EQ(shoal::get(hog), 300);
  EXPECT_EQ(shoal::get(small), 9);
}

TEST_F(ApiTest, ObjectRefsAreComparableAndHashable) {
  auto a = shoal::put(1);
  auto b = a;
  auto c = shoal::put(1);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a.id(), c.id());
  EXPECT_EQ(std::hash<shoal::ObjectRef<int>>()(a), std::hash<shoal::ObjectRef<int>>()(b));
  EXPECT_TRUE(a.valid());
  EXPECT_FALSE(shoal::ObjectRef<int>().valid());
}

}  // namespace
