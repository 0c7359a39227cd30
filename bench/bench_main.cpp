// Google Benchmark's main, plus a clean shoal shutdown before exit so that the session the
// benchmarks share is stopped while the benchmark library is still intact.
#include <benchmark/benchmark.h>

#include <shoal/shoal.hpp>

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  shoal::shutdown();
  return 0;
}
