// shoal's microbenchmarks (issue 3's list). Each runs in the shared session of ensure_session()
// (one worker per CPU) except BM_InitShutdown, which makes its own. Latencies are reported as
// p50/p99 counters from per-operation samples; rates as items or bytes per second.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <shoal/shoal.hpp>

#include "bench/bench_util.hpp"

namespace {

using shoal_bench::Clock;
using shoal_bench::ensure_session;
using shoal_bench::micros;

int empty_task(int x) { return x; }
std::vector<std::uint8_t> bytes_of(std::uint64_t n) { return std::vector<std::uint8_t>(n, 7); }
int failing_task(int) { throw std::runtime_error("fails"); }
SHOAL_REMOTE(empty_task, bytes_of, failing_task);

constexpr std::uint64_t k100MB = 100ull << 20;

// init() until every worker is ready, then shutdown(); arg 0 = one worker per CPU.
void BM_InitShutdown(benchmark::State& state) {
  shoal::shutdown();  // this one needs no session running
  shoal::Config c;
  c.num_cpus = static_cast<int>(state.range(0));
  c.object_store_memory = 1ull << 30;
  std::vector<double> init_us, shutdown_us;
  for (auto _ : state) {
    auto t = Clock::now();
    shoal::init(c);
    init_us.push_back(micros(Clock::now() - t));
    t = Clock::now();
    shoal::shutdown();
    shutdown_us.push_back(micros(Clock::now() - t));
  }
  shoal_bench::report_percentiles(state, init_us);
  state.counters["init_p50_us"] = state.counters["p50_us"];
  state.counters.erase("p50_us");
  state.counters.erase("p99_us");
  shoal_bench::report_percentiles(state, shutdown_us);
  state.counters["shutdown_p50_us"] = state.counters["p50_us"];
  state.counters.erase("p50_us");
  state.counters.erase("p99_us");
}
BENCHMARK(BM_InitShutdown)
    ->ArgName("workers")
    ->Arg(2)
    ->Arg(0)
    ->Iterations(30)
    ->Unit(benchmark::kMillisecond);

// As BM_InitShutdown with 2 workers, with the fork helper started as a fresh start of this program
// (Config::start_method "forkserver") instead of a fork of it.
void BM_InitShutdownForkserver(benchmark::State& state) {
  shoal::shutdown();
  shoal::Config c;
  c.num_cpus = 2;
  c.object_store_memory = 1ull << 30;
  c.start_method = "forkserver";
  std::vector<double> init_us;
  for (auto _ : state) {
    const auto t = Clock::now();
    shoal::init(c);
    init_us.push_back(micros(Clock::now() - t));
    shoal::shutdown();
  }
  shoal_bench::report_percentiles(state, init_us);
  state.counters["init_p50_us"] = state.counters["p50_us"];
  state.counters.erase("p50_us");
  state.counters.erase("p99_us");
}
BENCHMARK(BM_InitShutdownForkserver)->Iterations(30)->Unit(benchmark::kMillisecond);

// The first task a fresh worker runs: how long until get() returns its result, and until get()
// throws when it fails (issue 9: a worker's first failure used to cost ~100 ms of symbol reading).
void BM_FirstResultAndFirstFailure(benchmark::State& state) {
  shoal::shutdown();
  shoal::Config c;
  c.num_cpus = 1;
  c.object_store_memory = 256ull << 20;
  std::vector<double> result_us, failure_us;
  for (auto _ : state) {
    shoal::init(c);
    auto t = Clock::now();
    benchmark::DoNotOptimize(shoal::get(shoal::task(empty_task).remote(1)));
    result_us.push_back(micros(Clock::now() - t));
    shoal::shutdown();
    shoal::init(c);
    t = Clock::now();
    try {
      shoal::get(shoal::task(failing_task).remote(1));
    } catch (const shoal::TaskError&) {
    }
    failure_us.push_back(micros(Clock::now() - t));
    shoal::shutdown();
  }
  shoal_bench::report_percentiles(state, failure_us);
  state.counters["first_failure_p50_us"] = state.counters["p50_us"];
  shoal_bench::report_percentiles(state, result_us);
  state.counters["first_result_p50_us"] = state.counters["p50_us"];
  state.counters.erase("p50_us");
  state.counters.erase("p99_us");
}
BENCHMARK(BM_FirstResultAndFirstFailure)->Iterations(20)->Unit(benchmark::kMillisecond);

// remote() + get() of an empty task, int in and out, one at a time.
void BM_SyncRoundTrip(benchmark::State& state) {
  ensure_session();
  std::vector<double> us;
  us.reserve(100000);
  for (auto _ : state) {
    const auto t = Clock::now();
    benchmark::DoNotOptimize(shoal::get(shoal::task(empty_task).remote(1)));
    us.push_back(micros(Clock::now() - t));
  }
  shoal_bench::report_percentiles(state, us);
}
BENCHMARK(BM_SyncRoundTrip)->Unit(benchmark::kMicrosecond);

// 100,000 empty tasks submitted by one thread, then one get() of all.
void BM_AsyncThroughput(benchmark::State& state) {
  ensure_session();
  constexpr int kTasks = 100000;
  std::vector<shoal::ObjectRef<int>> refs;
  refs.reserve(kTasks);
  for (auto _ : state) {
    refs.clear();
    for (int i = 0; i < kTasks; ++i) refs.push_back(shoal::task(empty_task).remote(i));
    benchmark::DoNotOptimize(shoal::get(refs));
  }
  state.SetItemsProcessed(state.iterations() * kTasks);
}
// Sustained throughput: several batches (the first, in a fresh process, pays for faulting in the
// memory its 100,000 tasks use; BM_AsyncThroughputFirstBatch reports that one alone).
BENCHMARK(BM_AsyncThroughput)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

// The first batch of 100,000 tasks of a session, on its own.
void BM_AsyncThroughputFirstBatch(benchmark::State& state) {
  for (auto _ : state) {
    state.PauseTiming();
    shoal::shutdown();
    ensure_session();
    benchmark::DoNotOptimize(shoal::get(shoal::task(empty_task).remote(0)));  // one warm-up call
    state.ResumeTiming();
    std::vector<shoal::ObjectRef<int>> refs;
    refs.reserve(100000);
    for (int i = 0; i < 100000; ++i) refs.push_back(shoal::task(empty_task).remote(i));
    benchmark::DoNotOptimize(shoal::get(refs));
  }
  state.SetItemsProcessed(state.iterations() * 100000);
}
BENCHMARK(BM_AsyncThroughputFirstBatch)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(3);

void BM_Put64B(benchmark::State& state) {
  ensure_session();
  const std::vector<std::uint8_t> value(64, 1);
  for (auto _ : state) benchmark::DoNotOptimize(shoal::put(value));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Put64B);

void BM_Get64B(benchmark::State& state) {
  ensure_session();
  const auto ref = shoal::put(std::vector<std::uint8_t>(64, 1));
  for (auto _ : state) benchmark::DoNotOptimize(shoal::get(ref));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Get64B);

void BM_Put100MB(benchmark::State& state) {
  ensure_session();
  const std::vector<std::uint8_t> value(k100MB, 1);
  for (auto _ : state) benchmark::DoNotOptimize(shoal::put(value));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(k100MB));
}
BENCHMARK(BM_Put100MB)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Get100MB(benchmark::State& state) {
  ensure_session();
  const auto ref = shoal::put(std::vector<std::uint8_t>(k100MB, 1));
  for (auto _ : state) benchmark::DoNotOptimize(shoal::get(ref));
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(k100MB));
}
BENCHMARK(BM_Get100MB)->Unit(benchmark::kMillisecond)->UseRealTime();

// get_view() of a 100 MB object: no copy, a view over shared memory.
void BM_GetView100MB(benchmark::State& state) {
  ensure_session();
  const auto ref = shoal::put(std::vector<std::uint8_t>(k100MB, 1));
  std::vector<double> us;
  for (auto _ : state) {
    const auto t = Clock::now();
    benchmark::DoNotOptimize(shoal::get_view(ref).data());
    us.push_back(micros(Clock::now() - t));
  }
  shoal_bench::report_percentiles(state, us);
}
BENCHMARK(BM_GetView100MB)->Unit(benchmark::kMicrosecond);

// get_view() of a 100 MB task result already in the store (the task is not timed).
void BM_GetViewTaskResult100MB(benchmark::State& state) {
  ensure_session();
  std::vector<double> us;
  for (auto _ : state) {
    state.PauseTiming();
    auto ref = shoal::task(bytes_of).remote(k100MB);
    shoal::wait(std::vector<shoal::ObjectRef<std::vector<std::uint8_t>>>{ref}, 1);
    state.ResumeTiming();
    const auto t = Clock::now();
    benchmark::DoNotOptimize(shoal::get_view(ref).data());
    us.push_back(micros(Clock::now() - t));
  }
  shoal_bench::report_percentiles(state, us);
}
BENCHMARK(BM_GetViewTaskResult100MB)->Unit(benchmark::kMicrosecond)->Iterations(20);

// get() of a 100 MB task result that is already in the store (the task is not timed).
void BM_GetTaskResult100MB(benchmark::State& state) {
  ensure_session();
  for (auto _ : state) {
    state.PauseTiming();
    auto ref = shoal::task(bytes_of).remote(k100MB);
    shoal::wait(std::vector<shoal::ObjectRef<std::vector<std::uint8_t>>>{ref}, 1);
    state.ResumeTiming();
    benchmark::DoNotOptimize(shoal::get(ref));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(k100MB));
}
BENCHMARK(BM_GetTaskResult100MB)->Unit(benchmark::kMillisecond)->UseRealTime();

// Ray's "wait 1k refs": 1,000 tasks, then wait(num_returns = 1) until none is left.
void BM_Wait1000OneAtATime(benchmark::State& state) {
  ensure_session();
  for (auto _ : state) {
    std::vector<shoal::ObjectRef<int>> pending;
    pending.reserve(1000);
    for (int i = 0; i < 1000; ++i) pending.push_back(shoal::task(empty_task).remote(i));
    while (!pending.empty()) pending = std::move(shoal::wait(pending, 1).not_ready);
  }
}
BENCHMARK(BM_Wait1000OneAtATime)->Unit(benchmark::kMillisecond)->UseRealTime();

// 1,000 tasks, each taking the previous one's ref; one get() of the last.
void BM_Chain1000(benchmark::State& state) {
  ensure_session();
  for (auto _ : state) {
    shoal::ObjectRef<int> r = shoal::task(empty_task).remote(0);
    for (int i = 1; i < 1000; ++i) r = shoal::task(empty_task).remote(r);
    benchmark::DoNotOptimize(shoal::get(r));
  }
}
BENCHMARK(BM_Chain1000)->Unit(benchmark::kMillisecond)->UseRealTime();

// 1,000,000 tasks in batches of 10,000: RSS and store usage must stay flat after warm-up.
void BM_MillionTasks(benchmark::State& state) {
  ensure_session();
  constexpr int kBatch = 10000, kBatches = 100, kWarmup = 10;
  std::uint64_t rss_warm = 0, objects_warm = 0;
  for (auto _ : state) {
    std::vector<shoal::ObjectRef<int>> refs;
    refs.reserve(kBatch);
    for (int b = 0; b < kBatches; ++b) {
      refs.clear();
      for (int i = 0; i < kBatch; ++i) refs.push_back(shoal::task(empty_task).remote(i));
      benchmark::DoNotOptimize(shoal::get(refs));
      if (b + 1 == kWarmup) {
        refs.clear();
        rss_warm = shoal_bench::rss_bytes();
        objects_warm = shoal::object_store_stats().num_objects;
      }
    }
  }
  const shoal::ObjectStoreStats end = shoal::object_store_stats();
  state.counters["rss_warm_MB"] = static_cast<double>(rss_warm) / (1 << 20);
  state.counters["rss_end_MB"] = static_cast<double>(shoal_bench::rss_bytes()) / (1 << 20);
  state.counters["objects_warm"] = static_cast<double>(objects_warm);
  state.counters["objects_end"] = static_cast<double>(end.num_objects);  // all refs dropped
  state.counters["store_used_end"] = static_cast<double>(end.used_bytes);
  state.SetItemsProcessed(state.iterations() * kBatch * kBatches);
}
BENCHMARK(BM_MillionTasks)->Iterations(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
