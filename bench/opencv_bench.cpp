// get() of a 100 MB cv::Mat (issue 9): the same copy out of the store as BM_Get100MB, through
// Codec<cv::Mat> (<shoal/opencv.hpp>). Built into shoal_bench only when OpenCV is found.
#include <cstdint>

#include <benchmark/benchmark.h>
#include <opencv2/core.hpp>

#include <shoal/opencv.hpp>
#include <shoal/shoal.hpp>

#include "bench/bench_util.hpp"

namespace {

// 10,240 x 10,240 single-channel 8-bit pixels: 100 MiB, the size of BM_Get100MB's vector.
void BM_GetMat100MB(benchmark::State& state) {
  shoal_bench::ensure_session();
  constexpr int kSide = 10240;
  const auto ref = shoal::put(cv::Mat(kSide, kSide, CV_8UC1, cv::Scalar(1)));
  for (auto _ : state) benchmark::DoNotOptimize(shoal::get(ref));
  state.SetBytesProcessed(state.iterations() * std::int64_t{kSide} * kSide);
}
BENCHMARK(BM_GetMat100MB)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
