// Where the time of get() of a large value goes (issue 9): copying 100 MB out of warm memory into
// each kind of destination the decoders could use, side by side in one process. get() must
// allocate its result, and a fresh allocation is faulted in page by page on first write, so the
// floors are a memcpy into a warm buffer and into a fresh malloc() one. The variants are the
// decoder's options, one change at a time; "shipped" is Codec<std::vector<std::uint8_t>>::decode
// as it is. Run them with --benchmark_filter=Copy100MB (not part of compare.py's rounds); the
// figures and the reasoning are in bench/NOTES.md.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <shoal/detail/codec.hpp>

namespace {

constexpr std::size_t kSize = 100u << 20;
constexpr std::uintptr_t kHugePage = 2u << 20;

enum class Variant {
  kMemcpyWarm,            // memcpy into a buffer faulted in before timing
  kMemcpyFresh,           // malloc, memcpy, free
  kResizeMemcpy,          // the old decoder: resize() (a zero fill), then memcpy
  kAssign,                // reserve(), then assign() from the source: no zero fill
  kAssignPopulate,        // + madvise(MADV_POPULATE_WRITE) on the whole destination
  kAssignHugepage,        // + madvise(MADV_HUGEPAGE) on its 2 MiB-aligned interior
  kAssignHugepageBoth,    // + both, MADV_HUGEPAGE first
  kAssignHugepageEdges,   // + MADV_HUGEPAGE, and MADV_POPULATE_WRITE on the 4 KiB-page edges only
  kResizeMemcpyHugepage,  // the old decoder + MADV_HUGEPAGE
  kShipped,               // Codec<std::vector<std::uint8_t>>::decode
  kShippedSrcPage0,       // the same from a source that starts a page
  kShippedSrcPage192,     // ... 192 bytes into a page, where the store put BM_Get100MB's object
};

void advise(void* p, std::size_t n, bool hugepage, bool populate, bool edges_only) {
  const auto a = reinterpret_cast<std::uintptr_t>(p), e = a + n;
  const std::uintptr_t first = (a + kHugePage - 1) & ~(kHugePage - 1), last = e & ~(kHugePage - 1);
  const std::uintptr_t page_first = (a + 4095) & ~std::uintptr_t{4095},
                       page_last = e & ~std::uintptr_t{4095};
  if (hugepage && last > first) {
    madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  }
#ifdef MADV_POPULATE_WRITE
  if (populate && !edges_only && page_last > page_first) {
    madvise(reinterpret_cast<void*>(page_first), page_last - page_first, MADV_POPULATE_WRITE);
  }
  if (populate && edges_only && last > first) {
    if (first > page_first) {
      madvise(reinterpret_cast<void*>(page_first), first - page_first, MADV_POPULATE_WRITE);
    }
    if (page_last > last) {
      madvise(reinterpret_cast<void*>(last), page_last - last, MADV_POPULATE_WRITE);
    }
  }
#else
  (void)populate, (void)edges_only, (void)page_first, (void)page_last;
#endif
}

std::vector<std::uint8_t> assign_into_reserved(const std::vector<std::uint8_t>& src, bool hugepage,
                                               bool populate, bool edges_only) {
  std::vector<std::uint8_t> v;
  v.reserve(src.size());
  advise(v.data(), src.size(), hugepage, populate, edges_only);
  v.assign(src.data(), src.data() + src.size());
  return v;
}

std::vector<std::uint8_t> resize_then_memcpy(const std::vector<std::uint8_t>& src, bool hugepage) {
  std::vector<std::uint8_t> v;
  v.reserve(src.size());
  advise(v.data(), src.size(), hugepage, false, false);
  v.resize(src.size());
  std::memcpy(v.data(), src.data(), src.size());
  return v;
}

void BM_Copy100MB(benchmark::State& state, Variant variant) {
  // The source is warm (every page written before timing). A vector's bytes start 16 bytes into
  // a page, as the destination's do (glibc), except for the two variants that place the source
  // on purpose: glibc's memmove into a fresh destination is slower when the destination starts a
  // little before the source, modulo 4 KiB (bench/NOTES.md).
  const std::vector<std::uint8_t> src(kSize, 1);
  std::vector<std::uint8_t> placed(kSize + 8192, 1);
  const auto page_start = [&](std::size_t offset) {
    const auto p = reinterpret_cast<std::uintptr_t>(placed.data());
    return reinterpret_cast<const char*>(placed.data() + (4096 - p % 4096) + offset);
  };
  std::vector<std::uint8_t> warm(kSize, 2);
  for (auto _ : state) {
    switch (variant) {
      case Variant::kMemcpyWarm:
        std::memcpy(warm.data(), src.data(), kSize);
        benchmark::DoNotOptimize(warm.data());
        break;
      case Variant::kMemcpyFresh: {
        void* dst = std::malloc(kSize);
        std::memcpy(dst, src.data(), kSize);
        benchmark::DoNotOptimize(dst);
        benchmark::ClobberMemory();
        std::free(dst);
        break;
      }
      case Variant::kResizeMemcpy:
        benchmark::DoNotOptimize(resize_then_memcpy(src, false));
        break;
      case Variant::kAssign:
        benchmark::DoNotOptimize(assign_into_reserved(src, false, false, false));
        break;
      case Variant::kAssignPopulate:
        benchmark::DoNotOptimize(assign_into_reserved(src, false, true, false));
        break;
      case Variant::kAssignHugepage:
        benchmark::DoNotOptimize(assign_into_reserved(src, true, false, false));
        break;
      case Variant::kAssignHugepageBoth:
        benchmark::DoNotOptimize(assign_into_reserved(src, true, true, false));
        break;
      case Variant::kAssignHugepageEdges:
        benchmark::DoNotOptimize(assign_into_reserved(src, true, true, true));
        break;
      case Variant::kResizeMemcpyHugepage:
        benchmark::DoNotOptimize(resize_then_memcpy(src, true));
        break;
      case Variant::kShipped:
        benchmark::DoNotOptimize(shoal::detail::Codec<std::vector<std::uint8_t>>::decode(
            reinterpret_cast<const char*>(src.data()), kSize));
        break;
      case Variant::kShippedSrcPage0:
        benchmark::DoNotOptimize(
            shoal::detail::Codec<std::vector<std::uint8_t>>::decode(page_start(0), kSize));
        break;
      case Variant::kShippedSrcPage192:
        benchmark::DoNotOptimize(
            shoal::detail::Codec<std::vector<std::uint8_t>>::decode(page_start(192), kSize));
        break;
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(kSize));
}

#define SHOAL_COPY_BENCH(name, variant) \
  BENCHMARK_CAPTURE(BM_Copy100MB, name, variant)->Unit(benchmark::kMillisecond)->UseRealTime()
SHOAL_COPY_BENCH(memcpy_warm, Variant::kMemcpyWarm);
SHOAL_COPY_BENCH(memcpy_fresh, Variant::kMemcpyFresh);
SHOAL_COPY_BENCH(resize_memcpy, Variant::kResizeMemcpy);
SHOAL_COPY_BENCH(assign, Variant::kAssign);
SHOAL_COPY_BENCH(assign_populate, Variant::kAssignPopulate);
SHOAL_COPY_BENCH(assign_hugepage, Variant::kAssignHugepage);
SHOAL_COPY_BENCH(assign_hugepage_populate, Variant::kAssignHugepageBoth);
SHOAL_COPY_BENCH(assign_hugepage_populate_edges, Variant::kAssignHugepageEdges);
SHOAL_COPY_BENCH(resize_memcpy_hugepage, Variant::kResizeMemcpyHugepage);
SHOAL_COPY_BENCH(shipped, Variant::kShipped);
SHOAL_COPY_BENCH(shipped_src_page_offset_0, Variant::kShippedSrcPage0);
SHOAL_COPY_BENCH(shipped_src_page_offset_192, Variant::kShippedSrcPage192);

}  // namespace
