// More than one machine (docs/cluster.md): what a trip to another rank costs, beside what MPI
// itself does between the same two ranks, measured in the same run. Run under mpirun (ranks 1
// and up are nodes; rank 0 runs the benchmarks):
//
//   mpirun --bind-to none -np 3 build/bench/cluster_bench   (scripts/bench-cluster.sh runs it both
//                                                            over TCP between namespaces and here)
//
// Each benchmark alternates shoal and its yardstick inside every iteration, so both see the same
// machine noise, and reports medians and their ratio as counters:
//   BM_RoundTrip        an empty task on rank 1 and back, get() on the driver (p50, p99) beside
//                       an MPI ping-pong of 64 bytes between the driver's and rank 1's MPI threads;
//                       and the same task on the driver's own machine (local_p50_us)
//   BM_Move100MB        a 100 MB argument put() on the driver and read by a task on rank 1 (it
//                       travels), minus the same on rank 0 (it does not): the transfer, beside an
//                       MPI ping-pong of 100 MB (bandwidth = bytes / one-way time)
//   BM_EmptyTasks       20,000 empty tasks spread over every rank, beside the same on rank 0 only
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <shoal/shoal.hpp>

#include "src/cluster/cluster_nodes.hpp"
#include "src/common/core_runtime.hpp"
#include "src/core/driver_runtime.hpp"

namespace {

using Clock = std::chrono::steady_clock;

int empty_task(int x) { return x; }
int byte_at(const std::vector<std::uint8_t>& v, std::size_t i) { return v[i]; }
SHOAL_REMOTE(empty_task, byte_at);

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}
double us_since(Clock::time_point t) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t).count();
}

shoal::internal::ClusterNodes& nodes() {
  auto rt =
      std::dynamic_pointer_cast<shoal::internal::DriverRuntime>(shoal::internal::current_runtime());
  auto* n = rt ? dynamic_cast<shoal::internal::ClusterNodes*>(rt->nodes()) : nullptr;
  if (n == nullptr) {
    std::fprintf(stderr, "cluster_bench: run it under mpirun with 2 or more ranks\n");
    std::exit(2);
  }
  return *n;
}

std::vector<double> ping_pong_us(std::uint64_t bytes, std::uint32_t rounds) {
  std::vector<double> out;
  for (std::int64_t ns : nodes().mpi_ping_pong(1, bytes, rounds)) out.push_back(ns / 1000.0);
  return out;
}

void BM_RoundTrip(benchmark::State& state) {
  constexpr int kBatch = 50;
  std::vector<double> shoal_us, local_us, mpi_us;
  int i = 0;
  for (auto _ : state) {
    for (int k = 0; k < kBatch; ++k) {
      auto t = Clock::now();
      benchmark::DoNotOptimize(
          shoal::get(shoal::task(empty_task).options({.node_rank = 1}).remote(++i)));
      shoal_us.push_back(us_since(t));
      t = Clock::now();
      benchmark::DoNotOptimize(
          shoal::get(shoal::task(empty_task).options({.node_rank = 0}).remote(++i)));
      local_us.push_back(us_since(t));
    }
    for (double us : ping_pong_us(64, kBatch)) mpi_us.push_back(us);
  }
  state.counters["local_p50_us"] = percentile(local_us, 0.5);
  state.counters["shoal_p50_us"] = percentile(shoal_us, 0.5);
  state.counters["shoal_p99_us"] = percentile(shoal_us, 0.99);
  state.counters["mpi_p50_us"] = percentile(mpi_us, 0.5);
  state.counters["mpi_p99_us"] = percentile(mpi_us, 0.99);
  state.counters["ratio_p50"] = percentile(shoal_us, 0.5) / percentile(mpi_us, 0.5);
  state.counters["ratio_p99"] = percentile(shoal_us, 0.99) / percentile(mpi_us, 0.99);
}

void BM_Move100MB(benchmark::State& state) {
  constexpr std::size_t kBytes = 100'000'000;
  std::vector<double> remote_us, local_us, mpi_us;
  const std::vector<std::uint8_t> value(kBytes, 7);
  for (auto _ : state) {
    for (int node : {1, 0}) {
      state.PauseTiming();
      const auto ref = shoal::put(value);  // a fresh object: no node has a copy of it yet
      state.ResumeTiming();
      const auto t = Clock::now();
      benchmark::DoNotOptimize(
          shoal::get(shoal::task(byte_at).options({.node_rank = node}).remote(ref, kBytes - 1)));
      (node == 1 ? remote_us : local_us).push_back(us_since(t));
    }
    for (double us : ping_pong_us(kBytes, 1)) mpi_us.push_back(us / 2);  // one way
  }
  const double transfer_us = median(remote_us) - median(local_us);
  state.counters["remote_p50_ms"] = median(remote_us) / 1000;
  state.counters["local_p50_ms"] = median(local_us) / 1000;
  state.counters["transfer_ms"] = transfer_us / 1000;
  state.counters["shoal_GBps"] = kBytes / (transfer_us * 1000);
  state.counters["mpi_one_way_ms"] = median(mpi_us) / 1000;
  state.counters["mpi_GBps"] = kBytes / (median(mpi_us) * 1000);
  state.counters["ratio"] = median(mpi_us) / transfer_us;  // shoal's share of MPI's bandwidth
}

void BM_EmptyTasks(benchmark::State& state) {
  constexpr int kTasks = 20'000;
  std::vector<double> spread_rate, local_rate;
  for (auto _ : state) {
    for (int node : {-1, 0}) {
      std::vector<shoal::ObjectRef<int>> refs;
      refs.reserve(kTasks);
      const auto t = Clock::now();
      for (int i = 0; i < kTasks; ++i) {
        refs.push_back(shoal::task(empty_task).options({.node_rank = node}).remote(i));
      }
      benchmark::DoNotOptimize(shoal::get(refs));
      (node < 0 ? spread_rate : local_rate).push_back(kTasks / (us_since(t) / 1e6));
    }
  }
  state.counters["all_ranks_per_s"] = median(spread_rate);
  state.counters["rank0_per_s"] = median(local_rate);
  state.counters["ratio"] = median(spread_rate) / median(local_rate);
}

BENCHMARK(BM_RoundTrip)->Unit(benchmark::kMicrosecond)->Iterations(40);
BENCHMARK(BM_Move100MB)->Unit(benchmark::kMillisecond)->Iterations(7);
BENCHMARK(BM_EmptyTasks)->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace

int main(int argc, char** argv) {
  shoal::Config config;
  config.object_store_memory = std::uint64_t{1} << 30;
  shoal::init(config);  // ranks 1 and up become nodes here and never return
  benchmark::Initialize(&argc, argv);
  const std::map<std::string, double> resources = shoal::cluster_resources();
  const auto node_count = std::count_if(resources.begin(), resources.end(), [](const auto& kv) {
    return kv.first.rfind("node:", 0) == 0;
  });
  std::printf("cluster_bench: %d nodes, %s\n", static_cast<int>(node_count),
              nodes().mpi_version().c_str());
  std::fflush(stdout);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  shoal::shutdown();
  return 0;
}
