// Blocking socket I/O for the processes that have no event loop (the fork helper and the workers),
// and descriptor passing (SCM_RIGHTS): the driver creates each worker's socketpair and hands one
// end to the fork helper, which forks the worker with it. Only the fork helper's control socket
// carries descriptors.
#pragma once

#include <cstddef>
#include <span>
#include <vector>

#include <sys/types.h>

namespace shoal::internal {

/// Sends all of data[0, size), retrying after signals and waiting out a full buffer on a
/// non-blocking socket. Returns 0, or an errno value (EPIPE when the
/// peer is gone; never raises SIGPIPE).
int send_all(int socket, const char* data, std::size_t size);

/// Sends all of data[0, size) with `fds` (at most kMaxFdsPerMessage) attached to the first byte,
/// in one SCM_RIGHTS message. Blocks (polling if the socket is non-blocking) until sent. Returns 0
/// or an errno value (EINVAL for too many descriptors).
int send_with_fds(int socket, const char* data, std::size_t size, std::span<const int> fds);

/// Descriptors one message may carry, and so what recv_with_fds() can take in one call. A sender's
/// descriptors always arrive in one recv_with_fds() call: Linux ends a read at a message that
/// carries descriptors.
inline constexpr std::size_t kMaxFdsPerMessage = 8;

/// Receives up to `size` bytes; descriptors that arrive are appended to *fds (close-on-exec).
/// Returns the byte count, 0 at EOF, or -errno (-EMSGSIZE if descriptors were cut off).
ssize_t recv_with_fds(int socket, char* data, std::size_t size, std::vector<int>* fds);

}  // namespace shoal::internal
