// The object store's memory: one anonymous shared-memory file (memfd) per session, mapped
// read-write by the driver and inherited by the fork helper and every worker through fork().
//
// Why memfd and not a named /dev/shm segment: it has no name, so a crash cannot leave a file
// behind and no other user can open it; it is not limited by the size of /dev/shm (Docker's
// 64 MB); and it is freed by the kernel when the last process mapping it exits.
// The mapping is sparse: pages are taken on first touch and kept after that (the allocator reuses
// them), because a fresh shared page costs many times a reused one (bench/NOTES.md,
// "This machine's floors").
//
// Thread safety: immutable after create(); base() may be read from any thread.
#pragma once

#include <cstdint>
#include <memory>

namespace shoal::internal {

class Arena {
 public:
  /// Creates and maps a store of `size` bytes. Throws SystemError (with errno text) on failure.
  static std::unique_ptr<Arena> create(std::uint64_t size);

  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  /// Unmaps and closes.
  ~Arena();

  char* base() const noexcept { return base_; }
  std::uint64_t size() const noexcept { return size_; }

  /// Closes the file descriptor but keeps the mapping (children keep only the mapping).
  void close_fd() noexcept;
  /// The memfd (close-on-exec), for a process that must map the store afresh; -1 once closed.
  int fd() const noexcept { return fd_; }

 private:
  Arena(int fd, char* base, std::uint64_t size) : fd_(fd), base_(base), size_(size) {}
  int fd_;
  char* base_;
  std::uint64_t size_;
};

}  // namespace shoal::internal
