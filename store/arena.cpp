#include "store/arena.hpp"

#include <cerrno>
#include <cstring>
#include <string>

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <shoal/errors.hpp>

namespace shoal::internal {

std::unique_ptr<Arena> Arena::create(std::uint64_t size) {
  // MFD_CLOEXEC: programs the user exec()s never inherit the store.
  const int fd = memfd_create("shoal-object-store", MFD_CLOEXEC);
  if (fd < 0) {
    throw SystemError(
        fmt::format("shoal: memfd_create for the object store failed: {}", std::strerror(errno)));
  }
  // A memfd is created with mode 0777. Nobody else can reach it anyway (it has no name, and
  // /proc/<pid>/fd/ of our processes is closed to other users), but its mode should say so too:
  // owner-only, as the isolation model in docs/reliability.md states.
  if (fchmod(fd, 0600) != 0) {
    const int err = errno;
    close(fd);
    throw SystemError(
        fmt::format("shoal: making the object store owner-only (fchmod 0600) "
                    "failed: {}",
                    std::strerror(err)));
  }
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    const int err = errno;
    close(fd);
    throw SystemError(fmt::format("shoal: sizing the object store to {} bytes failed: {}", size,
                                  std::strerror(err)));
  }
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    close(fd);
    throw SystemError(
        fmt::format("shoal: mapping the {}-byte object store failed: {}; pass a "
                    "smaller Config::object_store_memory",
                    size, std::strerror(err)));
  }
  return std::unique_ptr<Arena>(new Arena(fd, static_cast<char*>(p), size));
}

Arena::~Arena() {
  if (base_ != nullptr) munmap(base_, size_);
  close_fd();
}

void Arena::close_fd() noexcept {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

}  // namespace shoal::internal
