// prepare_copy_destination(): transparent huge pages for the destination of a large get().
//
// A fresh 100 MB destination takes 25,600 faults of 4 KiB pages as the copy first writes it, and
// on this project's VMs those faults cost several times the copy. With madvise(MADV_HUGEPAGE) the
// faults map 2 MiB pages: 50 for 100 MB. Measured and rejected (docs/benchmarks.md, "get() of
// 100 MB"): MADV_POPULATE_WRITE still takes every 4 KiB page, and with huge pages it is slower
// than without, since it zeroes all of the range before the copy instead of each 2 MiB page just
// before the copy writes it; populating only the unaligned edges gained nothing measurable.
// Only the 2 MiB-aligned interior is advised, so the hint never covers another allocation's bytes.
// The hint stays on the range after the value is freed: moot for glibc's large blocks, which are
// unmapped on free; a heap range was written in full anyway, so it costs memory only if the heap
// gives the range back to the kernel and a later allocation touches it sparsely.
// An advised fault may compact memory when no free 2 MiB page is left (THP "defrag" setting).
// With THP off ("never") madvise() changes nothing; a kernel without THP returns EINVAL, which is
// ignored: the copy then faults 4 KiB pages as before.
#include <cerrno>
#include <cstdint>

#include <sys/mman.h>

#include <shoal/detail/copy_destination.hpp>

namespace shoal::detail {
namespace {

// Below this a destination holds at most one aligned huge page, and glibc usually hands out memory
// that is already mapped, so the syscall would not pay (measured: the first copy into fresh
// memory gains from 4 MiB on, not at 2 MiB; docs/benchmarks.md).
constexpr std::size_t kMinBytes = std::size_t{4} << 20;
constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;  // x86-64 and arm64 (4 KiB base)

}  // namespace

void prepare_copy_destination(void* dst, std::size_t bytes) noexcept {
#ifdef MADV_HUGEPAGE
  if (dst == nullptr || bytes < kMinBytes) return;
  const auto begin = reinterpret_cast<std::uintptr_t>(dst);
  const std::uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t last = (begin + bytes) & ~(kHugePage - 1);
  if (last <= first) return;
  // A hint: its failure only means 4 KiB pages. errno is put back so that a caller's errno is
  // not changed by a get() that succeeded.
  const int saved_errno = errno;
  (void)madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  errno = saved_errno;
#else
  (void)dst;
  (void)bytes;
#endif
}

}  // namespace shoal::detail
