// The machine's floors, measured in the same run as shoal's figures so that ratios mean
// something on a shared, noisy machine: a Unix-socket round trip between two processes, a
// 100 MB memcpy (into a warm buffer, and into a fresh one as get() must), and forking two
// children that report back.
#include <cstdlib>
#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_util.hpp"

namespace {

using shoal_bench::Clock;
using shoal_bench::micros;

// 64-byte ping-pong over a socketpair with a forked echo process (blocking reads, no pinning).
void BM_Floor_UnixSocketRoundTrip(benchmark::State& state) {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    state.SkipWithError("socketpair failed");
    return;
  }
  const pid_t child = fork();
  if (child == 0) {
    close(fds[0]);
    char buf[64];
    while (read(fds[1], buf, sizeof buf) == static_cast<ssize_t>(sizeof buf)) {
      if (write(fds[1], buf, sizeof buf) != static_cast<ssize_t>(sizeof buf)) break;
    }
    _exit(0);
  }
  close(fds[1]);
  char msg[64] = {1};
  std::vector<double> us;
  for (auto _ : state) {
    const auto t = Clock::now();
    if (write(fds[0], msg, sizeof msg) != static_cast<ssize_t>(sizeof msg) ||
        read(fds[0], msg, sizeof msg) != static_cast<ssize_t>(sizeof msg)) {
      state.SkipWithError("echo failed");
      break;
    }
    us.push_back(micros(Clock::now() - t));
  }
  close(fds[0]);
  waitpid(child, nullptr, 0);
  shoal_bench::report_percentiles(state, us);
}
BENCHMARK(BM_Floor_UnixSocketRoundTrip)->Unit(benchmark::kMicrosecond);

void BM_Floor_Memcpy100MB(benchmark::State& state) {
  constexpr std::size_t kSize = 100u << 20;
  std::vector<char> src(kSize, 1), dst(kSize, 2);  // both touched before timing
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), kSize);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kSize));
}
BENCHMARK(BM_Floor_Memcpy100MB)->Unit(benchmark::kMillisecond)->UseRealTime();

// The same copy into memory fresh from malloc() (freed after): what any copy that allocates its
// destination pays, page faults included. For 100 MB glibc maps new pages every time.
void BM_Floor_MemcpyFresh100MB(benchmark::State& state) {
  constexpr std::size_t kSize = 100u << 20;
  std::vector<char> src(kSize, 1);
  for (auto _ : state) {
    void* dst = std::malloc(kSize);
    if (dst == nullptr) {
      state.SkipWithError("malloc failed");
      break;
    }
    std::memcpy(dst, src.data(), kSize);
    benchmark::DoNotOptimize(dst);
    benchmark::ClobberMemory();
    std::free(dst);
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kSize));
}
BENCHMARK(BM_Floor_MemcpyFresh100MB)->Unit(benchmark::kMillisecond)->UseRealTime();

// Fork two children; each writes one byte to a pipe; done when both bytes are in and both reaped.
void BM_Floor_Fork2(benchmark::State& state) {
  for (auto _ : state) {
    int p[2];
    if (pipe(p) != 0) {
      state.SkipWithError("pipe failed");
      break;
    }
    pid_t kids[2];
    for (pid_t& k : kids) {
      k = fork();
      if (k == 0) {
        const char b = 1;
        (void)!write(p[1], &b, 1);
        _exit(0);
      }
    }
    char got[2];
    (void)!read(p[0], got, 1);
    (void)!read(p[0], got + 1, 1);
    for (pid_t k : kids) waitpid(k, nullptr, 0);
    close(p[0]);
    close(p[1]);
  }
}
BENCHMARK(BM_Floor_Fork2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
