// Actors (issue 12), in the session the other shoal benchmarks share (ensure_session(): one worker
// per CPU). Each benchmark creates its actors before its timed loop (one warm-up call each, so
// that the actor's process start and constructor are not timed) and drops them at its end. The
// names follow Ray's microbenchmarks (1_1_actor_calls_sync, 1_1_actor_calls_async,
// n_n_actor_calls_async):
//   BM_ActorSyncCall          c.task(&Counter::add).remote(1) then get(), one at a time; p50/p99
//                             of the calls, as BM_SyncRoundTrip reports an empty task's.
//   BM_ActorAsyncCalls        100,000 calls submitted by one thread to one actor, then one get()
//                             of all; calls per second, as BM_AsyncThroughput reports tasks.
//   BM_ActorNCallersNActors   as many driver threads as CPUs, each submitting 20,000 calls to an
//                             actor of its own, then one get() of all; calls per second in all.
// The actors take num_cpus = 0: their processes exist whatever they reserve, and an actor of the
// previous run of the same benchmark, still stopping, must not delay the creation of the next.
// Each benchmark checks the counter's answers (calls to one actor run in submission order).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <benchmark/benchmark.h>

#include <shoal/shoal.hpp>

#include "bench/bench_util.hpp"

namespace {

using shoal_bench::Clock;
using shoal_bench::ensure_session;
using shoal_bench::micros;

class Counter {
 public:
  explicit Counter(std::int64_t start) : total_(start) {}
  std::int64_t add(std::int64_t x) { return total_ += x; }

 private:
  std::int64_t total_;
};
SHOAL_ACTOR(Counter, &Counter::add);

// A new counter actor at 0, ready: its process has started and its constructor has run.
shoal::ActorHandle<Counter> ready_counter() {
  shoal::ActorHandle<Counter> c = shoal::actor<Counter>().options({.num_cpus = 0}).remote(0);
  shoal::get(c.task(&Counter::add).remote(0));
  return c;
}

// `calls` calls of add(1) to `c`, then one get() of all; false if an answer is not the count the
// counter should have reached (`*total`, advanced by `calls`).
bool add_ones(const shoal::ActorHandle<Counter>& c, int calls, std::int64_t* total,
              std::vector<shoal::ObjectRef<std::int64_t>>& refs) {
  refs.clear();
  const auto add = c.task(&Counter::add);
  for (int i = 0; i < calls; ++i) refs.push_back(add.remote(1));
  const std::vector<std::int64_t> answers = shoal::get(refs);
  bool in_order = true;
  for (const std::int64_t a : answers) in_order = in_order && a == ++*total;
  return in_order;
}

// One synchronous actor call at a time, each timed alone.
void BM_ActorSyncCall(benchmark::State& state) {
  ensure_session();
  const shoal::ActorHandle<Counter> c = ready_counter();
  std::vector<double> us;
  us.reserve(100000);
  std::int64_t total = 0;
  for (auto _ : state) {
    const auto t = Clock::now();
    const std::int64_t answer = shoal::get(c.task(&Counter::add).remote(1));
    us.push_back(micros(Clock::now() - t));
    if (answer != ++total) {
      state.SkipWithError("the counter's answer is not the number of calls made");
      break;
    }
  }
  shoal_bench::report_percentiles(state, us);
}
BENCHMARK(BM_ActorSyncCall)->Unit(benchmark::kMicrosecond);

// 100,000 calls from one thread to one actor, then one get() of all.
void BM_ActorAsyncCalls(benchmark::State& state) {
  ensure_session();
  constexpr int kCalls = 100000;
  const shoal::ActorHandle<Counter> c = ready_counter();
  std::vector<shoal::ObjectRef<std::int64_t>> refs;
  refs.reserve(kCalls);
  std::int64_t total = 0;
  for (auto _ : state) {
    if (!add_ones(c, kCalls, &total, refs)) {
      state.SkipWithError("an answer is out of order");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kCalls);
}
// Sustained, as BM_AsyncThroughput: several batches.
BENCHMARK(BM_ActorAsyncCalls)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// n threads of the program (n = the session's CPUs), each with an actor of its own: each submits
// 20,000 calls, then gets all. One iteration ends when every thread is done.
void BM_ActorNCallersNActors(benchmark::State& state) {
  ensure_session();
  constexpr int kCalls = 20000;
  const auto n = static_cast<std::size_t>(shoal::cluster_resources().at("CPU"));
  std::vector<shoal::ActorHandle<Counter>> actors;
  for (std::size_t i = 0; i < n; ++i) actors.push_back(ready_counter());
  std::vector<std::vector<shoal::ObjectRef<std::int64_t>>> refs(n);
  std::vector<std::int64_t> totals(n, 0);
  std::atomic<bool> in_order{true};
  for (auto _ : state) {
    std::vector<std::thread> callers;
    for (std::size_t i = 0; i < n; ++i) {
      callers.emplace_back([&, i] {
        if (!add_ones(actors[i], kCalls, &totals[i], refs[i])) in_order = false;
      });
    }
    for (std::thread& t : callers) t.join();
    if (!in_order) {
      state.SkipWithError("an answer is out of order");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n) * kCalls);
  state.counters["callers"] = static_cast<double>(n);
}
BENCHMARK(BM_ActorNCallersNActors)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

}  // namespace
