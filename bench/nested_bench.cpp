// Tasks that start tasks (issue 11), each beside its driver-side counterpart in the same session
// (ensure_session(): one worker per CPU):
//   BM_NestedFib / BM_FlatTasks21891      a Fibonacci(20) tree of tasks (21,891 of them, each
//                                          leaf and inner node a task) against as many empty
//                                          tasks submitted by the driver and got in one call;
//                                          both report tasks per second.
//   BM_NestedSyncRoundTrip / BM_SyncRoundTrip (shoal_bench.cpp)
//                                          remote() + get() of an empty task from inside a task,
//                                          against the same from the driver; both report p50/p99.
#include <chrono>
#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include <shoal/shoal.hpp>

#include "bench/bench_util.hpp"

namespace {

using shoal_bench::Clock;
using shoal_bench::ensure_session;
using shoal_bench::micros;

constexpr int kFibN = 20;
constexpr std::int64_t kFibTasks = 21891;  // calls of fib(20): 2 * fib(21) - 1

std::int64_t nested_fib(int n) {
  if (n < 2) return n;
  auto a = shoal::task(nested_fib).remote(n - 1);
  auto b = shoal::task(nested_fib).remote(n - 2);
  return shoal::get(a) + shoal::get(b);
}

int nested_empty(int x) { return x; }

// Inside a task: `rounds` synchronous round trips of an empty child, each timed alone, in µs.
std::vector<double> nested_round_trips(int rounds) {
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(rounds));
  for (int i = 0; i < rounds; ++i) {
    const auto t = Clock::now();
    benchmark::DoNotOptimize(shoal::get(shoal::task(nested_empty).remote(i)));
    us.push_back(micros(Clock::now() - t));
  }
  return us;
}

SHOAL_REMOTE(nested_fib, nested_empty, nested_round_trips);

// One task computes fib(20) by submitting fib(n-1) and fib(n-2) and get()ting both, down the tree.
void BM_NestedFib(benchmark::State& state) {
  ensure_session();
  for (auto _ : state) {
    if (shoal::get(shoal::task(nested_fib).remote(kFibN)) != 6765) {
      state.SkipWithError("fib(20) != 6765");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kFibTasks);
}
BENCHMARK(BM_NestedFib)->Unit(benchmark::kMillisecond)->UseRealTime();

// As many empty tasks as BM_NestedFib runs, submitted by the driver, then one get() of all.
void BM_FlatTasks21891(benchmark::State& state) {
  ensure_session();
  std::vector<shoal::ObjectRef<int>> refs;
  refs.reserve(kFibTasks);
  for (auto _ : state) {
    refs.clear();
    for (int i = 0; i < kFibTasks; ++i) refs.push_back(shoal::task(nested_empty).remote(i));
    benchmark::DoNotOptimize(shoal::get(refs));
  }
  state.SetItemsProcessed(state.iterations() * kFibTasks);
}
BENCHMARK(BM_FlatTasks21891)->Unit(benchmark::kMillisecond)->UseRealTime();

// One iteration = one task that makes 1,000 timed round trips inside; p50/p99 are over every
// round trip of every iteration, as BM_SyncRoundTrip's are over its calls.
void BM_NestedSyncRoundTrip(benchmark::State& state) {
  ensure_session();
  constexpr int kRounds = 1000;
  std::vector<double> us;
  for (auto _ : state) {
    const std::vector<double> batch = shoal::get(shoal::task(nested_round_trips).remote(kRounds));
    us.insert(us.end(), batch.begin(), batch.end());
  }
  state.SetItemsProcessed(state.iterations() * kRounds);
  shoal_bench::report_percentiles(state, us);
}
BENCHMARK(BM_NestedSyncRoundTrip)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
