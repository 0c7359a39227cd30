// Space allocation inside the arena. Only the driver allocates, on its own threads, under its own
// lock: workers never take a lock in shared memory. (Boost.Interprocess 1.74 mutexes are not
// robust: a process killed inside allocate() left the segment's mutex held in 39 of 40 trials.)
// Workers ask the driver for space with a message and receive an offset.
//
// Boost.Interprocess's rbtree_best_fit with null_mutex_family does the bookkeeping (best fit over a
// red-black tree of free blocks). Its block headers live inside the arena, next to the objects.
//
// Thread safety: none; the driver serialises calls.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include <sys/types.h>

namespace shoal::internal {

class Allocator {
 public:
  /// Manages [base, base + size). Objects are aligned to kAlignment. Only the process that made
  /// it may allocate: allocate() in a fork of it (a worker) aborts, loudly.
  Allocator(char* base, std::uint64_t size);
  ~Allocator();
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  static constexpr std::uint64_t kAlignment = 64;

  /// The offset of `size` fresh bytes, or nullopt if no free block is large enough.
  std::optional<std::uint64_t> allocate(std::uint64_t size);
  /// Returns a block given by allocate().
  void free(std::uint64_t offset);

  /// Bytes handed out and not yet freed (as requested, without headers or padding).
  std::uint64_t used_bytes() const noexcept { return used_; }
  /// Bytes in free blocks, whether or not they are contiguous (for "fragmented" error messages).
  std::uint64_t free_bytes() const;
  /// How many blocks were freed so far: a writer waiting for space retries only when it grew.
  std::uint64_t frees() const noexcept { return frees_; }
  /// The largest object the arena can hold while empty (its size minus bookkeeping): a larger
  /// one can never be stored. The first call must be made on an empty arena (the runtime makes it
  /// at init()); it takes well under a millisecond, and later calls return the same value.
  std::uint64_t max_object_bytes();

  struct Impl;  // public only so that allocator.cpp's helpers can name it

 private:
  std::unique_ptr<Impl> impl_;
  std::uint64_t size_;
  pid_t owner_;  // the process that made it
  std::uint64_t used_ = 0;
  std::uint64_t frees_ = 0;
  std::uint64_t max_object_ = 0;  // 0 until max_object_bytes() computes it
};

}  // namespace shoal::internal
