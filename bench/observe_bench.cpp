// What recording the timeline costs (<shoal/observe.hpp>): empty-task throughput with recording
// off (Config::timeline_max_tasks = 0) and on (the default), measured side by side in one run:
// rounds alternate a session of each kind, and the medians of their rates are compared. The
// issue's bound: recording costs at most 5% of the empty-task throughput.
#include <algorithm>
#include <cstdint>
#include <vector>

#include <benchmark/benchmark.h>

#include <shoal/shoal.hpp>

#include "bench/bench_util.hpp"

namespace {

int observed_empty_task(int x) { return x; }
SHOAL_REMOTE(observed_empty_task);

// Tasks per second of one batch of `n` empty tasks in a fresh session with `max_tasks`.
double batch_rate(std::int64_t max_tasks, int n) {
  shoal::Config c;
  c.object_store_memory = 1ull << 30;
  c.timeline_max_tasks = max_tasks;
  shoal::init(c);
  std::vector<shoal::ObjectRef<int>> refs;
  refs.reserve(static_cast<std::size_t>(n));
  // A warm-up batch: the first pays for faulting in the tables.
  for (int i = 0; i < n; ++i) refs.push_back(shoal::task(observed_empty_task).remote(i));
  benchmark::DoNotOptimize(shoal::get(refs));
  refs.clear();
  const auto t = shoal_bench::Clock::now();
  for (int i = 0; i < n; ++i) refs.push_back(shoal::task(observed_empty_task).remote(i));
  benchmark::DoNotOptimize(shoal::get(refs));
  const double seconds = std::chrono::duration<double>(shoal_bench::Clock::now() - t).count();
  refs.clear();
  shoal::shutdown();
  return n / seconds;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Counters: off_per_s and on_per_s (medians over the rounds), cost_pct = 100 * (1 - on/off).
void BM_TimelineRecordingCost(benchmark::State& state) {
  constexpr int kTasks = 100000;
  const bool was_up = shoal::is_initialized();
  if (was_up) shoal::shutdown();  // the shared session would compete for the CPUs
  std::vector<double> off, on;
  for (auto _ : state) {
    off.push_back(batch_rate(0, kTasks));
    on.push_back(batch_rate(100'000, kTasks));
  }
  const double off_rate = median(off), on_rate = median(on);
  state.counters["off_per_s"] = off_rate;
  state.counters["on_per_s"] = on_rate;
  state.counters["cost_pct"] = 100.0 * (1.0 - on_rate / off_rate);
  if (was_up) shoal_bench::ensure_session();
}
BENCHMARK(BM_TimelineRecordingCost)->Iterations(9)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
