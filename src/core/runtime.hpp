// The driver: one Runtime per init()/shutdown() session. It owns the object store (arena,
// allocator, object table), the scheduler, the fork helper and the connections to the workers,
// and runs one I/O thread (Boost.Asio) that reads every worker's messages.
//
// Threads and locking. User threads call the API directly: they encode arguments and values
// without any lock, then take mu_ briefly to update the tables and queue messages. The I/O thread
// takes mu_ once per batch of frames read. Registering a task and dropping a reference need no
// answer, so a thread that finds mu_ taken leaves them to its holder (DeferringMutex) instead of
// sleeping; every holder runs them first, so no reader of the tables can miss one. Everything in
// "guarded by mu_" below is only touched with mu_ held. A thread blocked in get()/wait() sleeps
// on a condition variable with mu_, woken by the object table when the objects it waits for
// finish. An ObjectHandle may be destroyed with mu_ held: its release is then left to the holder.
//
// Object life cycle, seen from here:
//   submit():  a pending result object (1 ref: the ObjectRef) and a task holding a ref on each
//              ObjectRef argument
//   kTaskDone: the result becomes ready (inline bytes, or an arena block the worker asked for
//              with kAllocRequest and wrote), the task's argument refs are dropped
//   put():     a ready object from the start
//   last ObjectRef dropped + no task needs it: freed (ObjectTable)
// Worker death: tasks queued behind the running one are requeued at once, an unsealed result
// block is freed, the running task is retried (max_retries, at the back of the queue) or, once
// the helper reports how the worker ended, failed with WorkerCrashedError; then the fork helper
// is asked for a replacement.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/types.h>

#include <shoal/config.hpp>
#include <shoal/detail/runtime_api.hpp>
#include <shoal/shoal.hpp>

#include "src/common/core_runtime.hpp"
#include "src/common/deferring_mutex.hpp"
#include "src/core/scheduler.hpp"
#include "src/fork_helper/fork_helper.hpp"
#include "src/node/worker_output.hpp"
#include "src/transport/connection.hpp"
#include "src/transport/protocol.hpp"
#include "store/allocator.hpp"
#include "store/arena.hpp"
#include "store/object_table.hpp"
#include "store/space_queue.hpp"

namespace shoal::internal {

class Runtime final : public CoreRuntime, private Connection::Listener {
 public:
  /// init(): validates config, creates the store, forks the helper and the workers, and returns
  /// once all workers are ready. Throws InvalidConfigError, SystemError.
  static std::shared_ptr<Runtime> start(const Config& config);
  ~Runtime() override;

  // ---- CoreRuntime (thread safe)
  void shutdown() override;  // idempotent; see shoal::shutdown()
  detail::HandlePtr submit(detail::AnyFn fn, const char* signature, const TaskOptions& options,
                           detail::TaskArgs&& args) override;
  detail::HandlePtr put(void (*encode)(detail::ValueSink&, const void*),
                        const void* value) override;
  detail::Fetched fetch(ObjectId id, std::int64_t timeout_ns) override;
  std::vector<detail::Fetched> fetch_all(const std::vector<ObjectId>& ids,
                                         std::int64_t timeout_ns) override;
  std::vector<bool> wait(const std::vector<ObjectId>& ids, std::size_t num_returns,
                         std::int64_t timeout_ns) override;
  void release(ObjectId id) noexcept override;
  std::map<std::string, double> resources(bool available) override;
  ObjectStoreStats stats() override;
  bool is_session() const noexcept override { return true; }
  void abandon_in_fork() noexcept override { abandoned_.store(true, std::memory_order_relaxed); }
  /// A new ready object of `size` bytes in the arena, for the caller to fill at `dst` before
  /// anyone else can see the handle; `keep` keeps the arena mapped while the caller writes,
  /// even if shutdown() runs meanwhile. If the store is full it waits for space (without the
  /// lock) up to Config::object_store_full_timeout_ms (runtime_space.cpp). Throws
  /// ObjectStoreFullError, or Error if shutdown() runs while it waits.
  StoreSpace reserve_object(detail::Format format, std::uint64_t type_hash, std::uint64_t size,
                            ObjectOrigin origin) override;

  /// A new ready object holding small `bytes` on the driver's heap.
  detail::HandlePtr store_inline(detail::Format format, std::uint64_t type_hash,
                                 detail::ByteBuffer bytes);

  // ---- for tests: the processes of this session
  pid_t TEST_fork_helper_pid() const;
  std::vector<pid_t> TEST_worker_pids();
  /// Writers waiting for store space: program threads and deferred kAllocRequests.
  std::size_t TEST_space_waiters();
  /// Program threads blocked in get() or wait() right now.
  std::size_t TEST_waiting_threads() const;
  /// "fork" or "forkserver": how this session's helper was started.
  std::string TEST_start_method() const {
    return start_method_ == StartMethod::kForkserver ? "forkserver" : "fork";
  }

 private:
  // kBroken: the fork helper died, or no worker can be started; every call fails until
  // shutdown(), and init() can start a new session.
  enum class State { kStarting, kRunning, kBroken, kStopping, kStopped };

  struct DeferredAlloc;  // a worker's kAllocRequest waiting for space (runtime_space.cpp)

  // Work a thread leaves for the holder of mu_ instead of waiting for it (DeferringMutex).
  struct Deferred {
    std::uint64_t release = 0;  // nonzero: drop one program reference to this object;
    TaskSpec task;              // otherwise register this task (its id is already taken)
  };
  using Mutex = DeferringMutex<Deferred>;
  static void run_deferred(void* runtime, Deferred& op) noexcept;
  void register_task(TaskSpec&& spec) noexcept;  // the locked half of submit()

  // A worker's death is seen twice: its socket closes (at once: its queued tasks go elsewhere),
  // and the fork helper reports kExited with the wait status (how it died, for the error). The
  // slot is kExiting in between, and is only refilled after kExited, so a slot never has two
  // workers and the helper's kKill by slot is unambiguous.
  struct WorkerSlot {
    enum class Phase { kStarting, kReady, kExiting, kDead };
    std::shared_ptr<Connection> connection;
    Phase phase = Phase::kStarting;
    pid_t pid = 0;
    std::optional<std::uint64_t> result_block;  // arena block given to the running task
    std::uint64_t result_block_size = 0;
    std::shared_ptr<DeferredAlloc> deferred_alloc;  // the running task's request, while deferred
    int failed_starts = 0;                          // workers in a row that died before Ready
    // ---- kExiting
    std::string lost_reason;             // why the connection ended
    bool lost_while_starting = false;    // it never sent Ready
    std::optional<TaskSpec> dying_task;  // its task, out of retries: failed at kExited
    // ---- reaped before its socket's EOF was read (see on_worker_exited)
    std::optional<int> exit_status;
    std::unique_ptr<boost::asio::steady_timer> eof_timer;
    // Says how it ended instead of the wait status: we cut it off for bad input (the SIGKILL is
    // ours, not the OOM killer's), or its fork failed.
    std::string exit_override;
  };

  Runtime(const Config& config, int num_workers, std::uint64_t store_bytes,
          std::uint64_t memory_bytes);
  void launch();  // the part of start() that forks and waits
  Connection::Listener* listener() noexcept { return this; }
  void run_io();  // the I/O thread's loop

  // Connection::Listener (I/O thread)
  void on_frames(Connection& connection, FrameParser& parser) override;
  void on_closed(Connection& connection, const std::string& reason, bool peer_alive) override;

  // Everything below requires mu_.
  void handle_worker_frame(int slot, const FrameParser::Frame& frame);
  void handle_helper_frame(const FrameParser::Frame& frame);
  void on_helper_ready(const FrameParser::Frame& frame);
  void on_ready(int slot, const FrameParser::Frame& frame);
  void on_alloc_request(int slot, const FrameParser::Frame& frame);
  void on_task_done(int slot, const FrameParser::Frame& frame);
  void on_connection_lost(int slot, const std::string& reason);
  void on_worker_exited(int slot, pid_t pid, int wait_status);
  void finish_worker_exit(int slot, int wait_status);
  void respawn(int slot);
  std::shared_ptr<Connection> spawn_worker(int slot);  // asks the helper; output_ gets the pipes
  void break_session(const std::string& why);
  void pump();
  void encode_task(detail::ByteBuffer& out, const TaskSpec& task, bool expected_short);
  void release_args(const TaskSpec& task);
  void complete_dependents(const std::vector<std::uint64_t>& tasks);
  void fail_object(std::uint64_t id, std::shared_ptr<const ErrorInfo> error);
  std::uint64_t new_object(std::uint64_t producer);
  detail::Fetched fetched_of(const ObjectEntry& entry);
  detail::HandlePtr handle_of(std::uint64_t id);
  void check_running() const;
  void check_not_abandoned() const;  // throws in a fork() of the driver
  void wait_for(std::unique_lock<Mutex>& lock, Waiter& waiter, std::int64_t timeout_ns);
  void unregister(Waiter& waiter, const std::vector<std::uint64_t>& ids);
  std::string producer_name(const ObjectEntry& entry);
  // Store space (runtime_space.cpp); all require mu_.
  std::uint64_t wait_for_space(std::unique_lock<Mutex>& lock, std::uint64_t size,
                               ObjectOrigin origin);
  std::shared_ptr<ErrorInfo> store_full_error(std::uint64_t size, const std::string& what_for);
  std::vector<ObjectStoreHolder> biggest_holders();
  void answer_alloc(int slot, const AllocRequest& request);
  void send_alloc_reply(int slot, const AllocRequest& request, std::optional<std::uint64_t> offset);
  void grant_deferred_alloc(int slot, std::uint64_t offset);
  void cancel_deferred_alloc(int slot);
  void serve_space_waiters();
  void close_space_waiters();

  // Immutable after start().
  const Config config_;
  const int num_workers_;
  const std::uint64_t store_bytes_;
  const std::uint64_t memory_bytes_;
  std::string node_address_;  // looked up on first use (guarded by mu_)
  logging::Level log_level_ = logging::Level::kWarn;
  std::shared_ptr<Arena> arena_;  // readers decoding a value keep it mapped
  std::unique_ptr<Allocator> allocator_;
  std::unique_ptr<ForkHelper> helper_;
  StartMethod start_method_ = StartMethod::kFork;
  // Functions the workers know: registered before the fork, or known to a fresh start of the
  // program (HelperReady). Read by submit() without the lock.
  std::atomic<std::uint32_t> registry_size_{0};

  mutable Mutex mu_{&Runtime::run_deferred, this};
  // ---- guarded by mu_
  State state_ = State::kStarting;
  std::string failure_;  // why start() failed, for its error message
  std::condition_variable_any started_cv_;
  int ready_workers_ = 0;
  std::unique_ptr<ObjectTable> objects_;
  std::unique_ptr<SpaceQueue> space_queue_;  // writers waiting for arena space
  std::condition_variable_any space_cv_;     // program threads in wait_for_space() sleep here
  Scheduler scheduler_;
  std::vector<WorkerSlot> slots_;
  std::shared_ptr<Connection> helper_connection_;
  std::unique_ptr<WorkerOutput> output_;  // workers' stdout/stderr; used on the I/O thread only
  // ---- I/O
  std::unique_ptr<boost::asio::io_context> io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread io_thread_;
  std::atomic<std::uint64_t> next_id_{1};  // taken without the lock: submit() needs its id first
  std::atomic<bool> running_{false};       // state_ == kRunning, readable without the lock
  std::atomic<bool> abandoned_{false};     // this is a copy in a fork() of the driver
  std::atomic<bool> io_may_poll_{true};    // some worker is idle: the I/O thread may poll (run_io)
  std::atomic<int> spinning_waiters_{0};   // program threads polling in wait_for(): it may not
  std::atomic<int> waiting_threads_{0};    // program threads in wait_for(), for tests
  std::atomic<std::int64_t> last_waiter_spin_{0};  // when one last stopped (steady_clock ns)
};

}  // namespace shoal::internal
