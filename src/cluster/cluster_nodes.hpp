// The driver's view of the other machines of a session started by mpirun (docs/cluster.md): rank 0
// is the driver, every other rank a node with its own fork helper, workers and store
// (NodeAgent). ClusterNodes places tasks (RemoteNodes), sends each placed task with its arguments
// once they exist, and completes its result object in the driver's table when the node answers.
//
// Objects. The driver stays the owner of every object. A node receives a copy of each argument it
// lacks (one copy per object and node, ever: a second task needing it is told "you have it"), and
// keeps the result of each task it ran; the driver receives every result at once (so get() and
// get_view() on the driver never wait for a transfer after the task is done). When the driver frees
// an object, the nodes holding copies are told to drop them (Free).
//
// Placement (place()): a task whose largest argument with a known place lives on a node goes there
// (pipelines stay on a machine), unless that node already holds twice as many tasks as CPUs; any
// other task goes to the node, this one included, with the fewest tasks per CPU (ties: the lower
// rank). Only tasks without refs inside their values, and not actors' calls, leave the driver's
// machine.
//
// Threads and locks. One thread (the MPI thread, started by start()) makes every MPI call and
// sends and receives; program threads call place() and dispatch(); the driver's lock may be held
// when copies_freed() and the when_finished() callbacks run: they only queue. mu_ is never held
// while calling the driver (lock order: the driver's mu_, then mu_).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <shoal/config.hpp>

#include "src/cluster/cluster_protocol.hpp"
#include "src/cluster/mpi_link.hpp"
#include "src/core/driver_runtime.hpp"
#include "src/core/remote_nodes.hpp"

namespace shoal::internal {

class ClusterNodes final : public RemoteNodes,
                           private MpiLink::Handler,
                           public std::enable_shared_from_this<ClusterNodes> {
 public:
  /// How long start() waits for every node's Hello, and shutdown() for every Bye.
  static constexpr int kHelloTimeoutS = 120;
  static constexpr int kByeTimeoutS = 30;

  /// Starts the MPI thread (which initialises MPI) and waits until every node has said Hello. The
  /// caller then attaches the result to `runtime` (DriverRuntime::attach_nodes()), which keeps it.
  /// Throws Error: built without MPI, MPI failed, a node could not start its session (its reason),
  /// a node runs another program (its functions differ), or no Hello within kHelloTimeoutS.
  static std::shared_ptr<ClusterNodes> start(std::shared_ptr<DriverRuntime> runtime,
                                             const MpiPlace& place, std::int64_t node_timeout_ms);
  ~ClusterNodes() override;

  /// Ends every node's session (Shutdown, then each node's Bye, at most kByeTimeoutS), stops the
  /// MPI thread and finalises MPI. Idempotent. Tasks still on nodes are failed by the driver's
  /// own shutdown, which follows.
  void shutdown();

  // RemoteNodes
  int place(const TaskSpec& spec) noexcept override;
  void dispatch(int node, TaskSpec&& spec, std::vector<detail::HandlePtr>&& refs) override;
  void add_resources(std::map<std::string, double>& into, bool available) override;
  void copies_freed(ObjectId id) noexcept override;
  void cancel(TaskId id, bool force) noexcept override;

  /// Benchmarks: `rounds` blocking MPI round trips of `bytes` between the driver and node `rank`,
  /// on the MPI threads of both (no task runs meanwhile on the link); each one's nanoseconds.
  /// Blocks. Throws Error if the rank is not a live node or the session is ending.
  std::vector<std::int64_t> mpi_ping_pong(int rank, std::uint64_t bytes, std::uint32_t rounds);

  /// The MPI library in use, e.g. "Open MPI v4.1.4" (benchmarks' machine line).
  std::string mpi_version() const { return mpi_version_; }

 private:
  struct Node {
    Hello hello;
    std::string name;  // "node:<address>", distinct among nodes
    bool said_hello = false;
    bool said_bye = false;
    bool dead = false;               // silent for node_timeout_ms: nothing goes there any more
    std::int64_t last_heard_ns = 0;  // steady clock: its last message
    std::uint64_t in_flight = 0;     // tasks placed there and not finished
  };
  struct RemoteTask {
    TaskSpec spec;
    std::vector<detail::HandlePtr> refs;  // its arguments, held until it finishes
    int node = 0;
    int attempts = 0;            // times sent to a node
    bool cancelled = false;      // shoal::cancel(): never sent (again); its result is dropped
    std::vector<ObjectId> sent;  // arguments its last RunTask carried (copies made for it)
    detail::HandlePtr local;     // run again on the driver's machine (its node died): that task
  };
  struct Copies {
    std::vector<int> nodes;  // ranks that hold a copy (or will: the task making it runs there)
    std::uint64_t size = 0;  // 0 while unknown
  };

  explicit ClusterNodes(DriverRuntime* runtime) : runtime_(runtime) {}
  void thread_main(MpiPlace place);
  // MpiLink::Handler (the MPI thread)
  void on_message(int source, const char* data, std::size_t size,
                  std::vector<MpiLink::Landing>& landings) override;
  bool on_turn() override;
  void on_hello(int source, Hello hello);
  void on_result(int source, TaskResult result, std::vector<MpiLink::Landing>& landings);
  void send_task(TaskId id);    // its arguments exist: RunTask
  void finish_task(TaskId id);  // its result arrived (or it failed here): forget it
  void fail_task(TaskId id, const std::string& why);
  void fail_all(const std::string& why);  // every task still out there
  void check_nodes(MpiLink& link);        // heartbeats out, silent nodes declared dead
  void node_died(MpiLink& link, int rank, std::int64_t silent_ms);
  void run_locally(TaskId id);     // a dead node's task, where no other node can take it
  void finish_locally(TaskId id);  // that run finished: its value or error becomes the task's
  // mu_ held: the live node other than the driver with the fewest tasks per CPU, heard from in the
  // last kSuspectMs (a silent one may be dying too), or 0.
  int least_loaded_node() const;
  static constexpr std::int64_t kSuspectMs = 1000;
  std::shared_ptr<const ErrorInfo> node_error(const std::string& what) const;

  // The driver owns this object (attach_nodes()), so it outlives it; a shared_ptr would be a cycle.
  DriverRuntime* const runtime_;
  std::thread thread_;
  std::string mpi_version_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // start() and shutdown() wait on it
  MpiLink* link_ = nullptr;     // guarded by mu_; set while the MPI thread runs
  std::string failure_;         // guarded by mu_: the MPI thread failed, why
  bool thread_done_ = false;    // guarded by mu_
  bool running_ = false;        // guarded by mu_: tasks may be placed
  bool shut_down_ = false;      // guarded by mu_
  std::vector<Node> nodes_;     // guarded by mu_; index = rank (0: the driver, unused)
  std::string local_address_;
  double local_cpus_ = 1;
  std::int64_t node_timeout_ms_ = 30'000;         // Config::node_timeout_ms
  std::int64_t last_heartbeat_ns_ = 0;            // the MPI thread's own
  std::unordered_map<TaskId, RemoteTask> tasks_;  // guarded by mu_
  std::deque<TaskId> ready_;                      // guarded by mu_: arguments exist, not sent
  std::unordered_map<ObjectId, Copies> copies_;   // guarded by mu_
  std::vector<std::vector<ObjectId>> frees_;      // guarded by mu_: per rank, Free to send
  std::vector<CancelTask> cancels_;               // guarded by mu_: shoal::cancel() to pass on
  std::vector<TaskId> local_done_;                // guarded by mu_: run_locally() runs finished
  bool shutdown_requested_ = false;               // guarded by mu_: send Shutdown to every node
  bool shutdown_sent_ = false;                    // guarded by mu_
  struct PingRequest {
    int rank = 0;
    PingPong what;
    std::vector<std::int64_t> result;
    std::string error;
    bool done = false;
  };
  PingRequest* ping_ = nullptr;  // guarded by mu_: mpi_ping_pong() waiting for the MPI thread
  std::chrono::steady_clock::time_point shutdown_deadline_;  // guarded by mu_: wait for Byes
};

}  // namespace shoal::internal
