// Blocking socket I/O for the processes that have no event loop (the fork helper and the workers),
// and descriptor passing (SCM_RIGHTS): the driver creates each worker's socketpair and hands one
// end to the fork helper, which forks the worker with it. Only the fork helper's control socket
// carries descriptors.
#pragma once

#include <cstddef>
#include <vector>

#include <sys/types.h>

namespace shoal::internal {

/// Sends all of data[0, size), retrying after signals and waiting out a full buffer on a
/// non-blocking socket. Returns 0, or an errno value (EPIPE when the
/// peer is gone; never raises SIGPIPE).
int send_all(int socket, const char* data, std::size_t size);

/// Sends all of data[0, size) with `fd` attached to the first byte. Blocks (polling if the
/// socket is non-blocking) until sent. Returns 0 or an errno value.
int send_with_fd(int socket, const char* data, std::size_t size, int fd);

/// Receives up to `size` bytes; descriptors that arrive are appended to *fds (close-on-exec).
/// Returns the byte count, 0 at EOF, or -errno.
ssize_t recv_with_fds(int socket, char* data, std::size_t size, std::vector<int>* fds);

}  // namespace shoal::internal
