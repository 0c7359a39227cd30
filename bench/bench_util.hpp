// Shared by the benchmark files: the session the shoal benchmarks run in, percentiles, RSS.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <vector>

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

namespace shoal_bench {

using Clock = std::chrono::steady_clock;

inline double micros(Clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

/// One session for all benchmarks that need one: one worker per CPU, a 1 GiB store.
inline void ensure_session() {
  if (shoal::is_initialized()) return;
  shoal::Config c;
  c.object_store_memory = 1ull << 30;
  shoal::init(c);
}

/// Adds p50/p99 counters (in microseconds) from per-operation samples.
inline void report_percentiles(benchmark::State& state, std::vector<double>& samples_us) {
  if (samples_us.empty()) return;
  std::sort(samples_us.begin(), samples_us.end());
  const auto at = [&](double q) {
    return samples_us[std::min(samples_us.size() - 1,
                               static_cast<std::size_t>(q * samples_us.size()))];
  };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
}

/// Resident set size of this process, in bytes.
inline std::uint64_t rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace shoal_bench
