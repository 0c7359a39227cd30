// A node: what shoal::init() makes of every rank but 0 under mpirun (docs/cluster.md). The
// process runs a session of its own (a DriverRuntime: fork helper, workers, store, started before
// MPI), says Hello to the driver, then runs the tasks the driver places on it until the driver
// says Shutdown; init() then exits the process with status 0 (it never returns on a node).
//
// For each RunTask: its arguments become objects of the node's session (a copy received now,
// inline or as a payload straight into the node's store, or one received earlier, kept until the
// driver says Free); the task is registered there with the driver's spec (same function, options
// and retries: a worker that dies on this node is retried here); when it finishes, its value or
// error goes back to the driver (TaskResult), and the node keeps the value as a copy, so the next
// task that needs it on this node does not wait for a transfer.
//
// Threads: the process's main thread is the MPI thread (MpiLink::run); the session's own threads
// only queue finished tasks for it (when_finished()).
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <shoal/config.hpp>

#include "src/cluster/cluster_protocol.hpp"
#include "src/cluster/mpi_link.hpp"
#include "src/core/driver_runtime.hpp"

namespace shoal::internal {

class NodeAgent final : private MpiLink::Handler {
 public:
  /// How long a node waits for MPI to start (every rank in MPI_Init) before it gives up.
  static constexpr int kMpiStartTimeoutS = 120;

  /// Runs a node until the driver ends the session; returns the process's exit status (0, or 1
  /// if MPI failed). `session` is the node's runtime, or null with `start_error` saying why it
  /// could not start (the driver is told, and ends the job).
  /// A node that hears nothing from the driver for `driver_timeout_ms` (a heartbeat comes every
  /// kHeartbeatMs) ends its session and returns 1.
  static int run(std::shared_ptr<DriverRuntime> session, const std::string& start_error,
                 const MpiPlace& place, std::int64_t driver_timeout_ms);

 private:
  struct Copy {
    detail::HandlePtr handle;     // the object in this node's session
    bool arriving = false;        // its payload is still being received
    bool freed = false;           // the driver freed it while it arrived: drop it then
    std::string error;            // it could not be stored here (the store is full): why
    std::vector<TaskId> waiting;  // driver tasks waiting for it to arrive
  };
  struct Waiting {
    TaskSpec spec;            // deps: the driver's ids until it starts
    std::size_t missing = 0;  // arguments still arriving
  };
  struct Running {
    TaskId driver_task = 0;
    detail::HandlePtr result;
  };

  NodeAgent(std::shared_ptr<DriverRuntime> session, MpiLink& link, std::int64_t timeout_ms)
      : session_(std::move(session)), link_(link), driver_timeout_ms_(timeout_ms) {}
  void on_message(int source, const char* data, std::size_t size,
                  std::vector<MpiLink::Landing>& landings) override;
  bool on_turn() override;
  void on_run_task(const RunTask& m, std::vector<MpiLink::Landing>& landings);
  void on_cancel(const CancelTask& m);
  void arrived(ObjectId id);
  void start(TaskId driver_task, TaskSpec spec);
  void send_error(TaskId driver_task, const std::string& why);
  void send_result(const Running& r);
  void end_session();

  std::shared_ptr<DriverRuntime> session_;
  MpiLink& link_;
  bool ending_ = false;
  bool driver_lost_ = false;  // the driver went silent: exit 1
  const std::int64_t driver_timeout_ms_;
  std::int64_t last_heard_ns_ = 0;      // steady clock: the driver's last message
  std::int64_t last_heartbeat_ns_ = 0;  // ours
  // The MPI thread's own.
  std::unordered_map<ObjectId, Copy> copies_;      // by the driver's object id
  std::unordered_map<TaskId, Waiting> waiting_;    // by the driver's task id
  std::unordered_map<ObjectId, Running> running_;  // by the node's result id
  // Filled by the session's threads (when_finished), drained by the MPI thread.
  std::mutex done_mu_;
  std::vector<ObjectId> done_;  // guarded by done_mu_: results finished in the session
};

}  // namespace shoal::internal
