// The other machines of a session run under mpirun, as the driver sees them: where a task goes,
// and what their resources add. Declared here, in core, so that the driver can ask without knowing
// MPI; implemented by src/cluster/ (ClusterNodes), which the api layer attaches at init().
//
// Lock order: the driver calls in with its lock (mu_) held only where a member says so, and such a
// member only queues work; the implementation never holds a lock of its own while it calls the
// driver.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <shoal/detail/runtime_api.hpp>

#include "src/common/ids.hpp"
#include "src/common/task_spec.hpp"

namespace shoal::internal {

class RemoteNodes {
 public:
  virtual ~RemoteNodes() = default;

  /// Where a new task should run: 0 for this machine, or the number (> 0) of another node; -1 if
  /// the task asks for a node (TaskSpec::node) that is not a live one. Called by submit() without
  /// the driver's lock. Thread safe.
  virtual int place(const TaskSpec& spec) noexcept = 0;
  /// A task placed on node `node`: its pending result object exists in the driver's table;
  /// `refs` hold its arguments until it is done. Called without the driver's lock. Thread safe.
  virtual void dispatch(int node, TaskSpec&& spec, std::vector<detail::HandlePtr>&& refs) = 0;
  /// Adds the other nodes' resources (totals, or what is available now) to `into`.
  virtual void add_resources(std::map<std::string, double>& into, bool available) = 0;
  /// Ends the other nodes' sessions (the driver's shutdown() calls it first, without its lock).
  /// Idempotent.
  virtual void shutdown() = 0;
  /// An object with copies on other nodes was freed. Called with the driver's lock held: it only
  /// queues the message that frees the copies.
  virtual void copies_freed(ObjectId id) noexcept = 0;
  /// shoal::cancel() of a task placed on another node; the driver has already failed its result
  /// with TaskCancelledError. A task not yet sent is never sent; a sent one is cancelled on its
  /// node (`force`: its worker there is killed), and what the node still sends for it is dropped.
  /// Called with the driver's lock held: it only queues.
  virtual void cancel(TaskId id, bool force) noexcept = 0;
};

}  // namespace shoal::internal
