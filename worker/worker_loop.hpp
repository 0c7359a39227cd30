// A worker process's main loop. The worker reads task messages from its socket in order, runs
// each function, and answers with one result message per task. It is single-threaded and uses
// blocking I/O: there is nothing else for it to do while it waits.
//
// Replies are coalesced: after a short task whose successor is already buffered, the reply waits
// in the output buffer and goes out with the next ones in one write (one write per message caps a
// socket near 1 M messages/s here; batched, 40 M). After a long task, or before blocking for
// input, everything buffered is written.
//
// A worker exits when its driver socket reaches EOF (the driver is gone) and is killed with its
// fork helper (PR_SET_PDEATHSIG) if it is stuck in user code. A malformed message from the driver
// is logged and ends the worker with exit code 2; the driver sees the socket close.
#pragma once

#include <cstdint>

#include "src/common/logging.hpp"

namespace shoal::internal {

struct WorkerParams {
  int socket = -1;           // this worker's end of its socketpair with the driver
  std::uint64_t worker = 0;  // the worker's id in the pool
  char* arena_base = nullptr;
  std::uint64_t arena_size = 0;
  /// Its stdout and stderr are pipes to the driver's log (Config::log_to_driver), not the
  /// driver's own stdout and stderr.
  bool output_forwarded = false;
};

/// Runs the worker until its driver goes away. Returns the process exit code.
int run_worker(const WorkerParams& params);

/// The task running on the calling thread of a worker (its result object's id), or 0.
std::uint64_t current_task_id() noexcept;
/// This worker process's id, or -1 outside a worker.
std::int64_t current_worker_id() noexcept;

}  // namespace shoal::internal
