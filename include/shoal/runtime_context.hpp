// File: shoal/runtime_context.hpp
//
// Where the calling code runs: which machine (node), which worker process, which task. As Ray's
// ray.get_runtime_context() (get_node_id(), get_worker_id(), get_task_id()).
#pragma once

#include <cstdint>
#include <string>

namespace shoal {

/// What runtime_context() returns.
struct RuntimeContext {
  /// The node's MPI rank: 0 for the driver's machine, and whenever the program was not started by
  /// mpirun (docs/cluster.md).
  int node_rank = 0;
  /// The node's IPv4 address (its first non-loopback interface, else 127.0.0.1), as in the
  /// "node:<address>" entries of cluster_resources(). Ranks that share an address appear there as
  /// "node:<address>/<rank>" (rank 0 keeps the plain form).
  std::string node_address;
  /// The worker process's id in its node's pool, as log lines name it ("worker 3"); -1 outside a
  /// worker (the driver, a node's own process, local mode).
  std::int64_t worker_id = -1;
  /// The running task's id (its result ObjectRef's id(), as printed); 0 outside a task. An actor's
  /// method call is a task.
  std::uint64_t task_id = 0;
  /// The calling process's pid.
  std::int64_t pid = 0;
  /// True inside a task (a remote function or an actor's method).
  bool in_task() const noexcept { return task_id != 0; }
};

/// Where the calling thread runs. Does not block (the address is looked up on the first call in a
/// process, with getifaddrs()). Thread safe. Works before init(), in the driver, in local mode
/// (node 0, worker -1, task 0) and inside tasks. Never throws.
RuntimeContext runtime_context() noexcept;

}  // namespace shoal
