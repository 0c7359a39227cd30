// File: shoal/detail/copy_destination.hpp (internal; used by the raw decoders of codec.hpp and
// opencv.hpp)
//
// get() of a large raw value copies it out of the store into memory the allocator has just handed
// out. Without help the kernel faults that memory in one 4 KiB page at a time during the copy, and
// those faults, not the copy, are most of get()'s time (docs/benchmarks.md, "get() of 100 MB").
// This one library function prepares such a destination; it is not a template, so the decoders
// stay small and no OS header reaches a public header.
#pragma once

#include <cstddef>

namespace shoal::detail {

/// Hints the kernel that [dst, dst + bytes), freshly allocated and about to be written in full
/// by one copy, should be backed by transparent huge pages where it can be. Only above a size
/// threshold (4 MiB, where it starts to pay); below it, and on any error (a kernel without THP or
/// that rejects the hint), it does nothing. It never reads or writes the bytes, so the caller's
/// copy is the only write, and the result is the same whatever the hint did.
/// Does not block beyond one madvise() call; never throws; safe from any thread.
void prepare_copy_destination(void* dst, std::size_t bytes) noexcept;

}  // namespace shoal::detail
