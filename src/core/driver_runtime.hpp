// The driver: the runtime of the program that called init() with worker processes. It owns every
// object, and coordinates parts that each do one job (docs/architecture.md has the picture):
//
//   ReferenceTable  objects: state, value, holders' references, waiters    src/core/
//   TaskManager     task specs: registration, retries, failure propagation src/core/
//   Scheduler       which task runs on which (node, worker), and when       src/core/
//   NodeStore       the arena, its allocator, writers waiting for space    src/node/
//   WorkerPool      the worker processes, their deaths and replacements    src/node/
//   IoLoop          the I/O thread                                         src/node/
//   ForkHelper      the process that forks the workers                     src/fork_helper/
//
// Threads and locking. Program threads call the API directly: they encode arguments and values
// without any lock, then take mu_ briefly to update the parts and queue messages. The I/O thread
// takes mu_ once per batch of frames read. Registering a task and dropping a reference need no
// answer, so a thread that finds mu_ taken leaves them to its holder (DeferringMutex) instead of
// sleeping; every holder runs them first, so no reader of the parts can miss one. Every part is
// guarded by mu_ and has no lock of its own. A thread blocked in get()/wait() sleeps on a
// condition variable with mu_, woken through the ReferenceTable's waiter callback. An ObjectHandle
// may be destroyed with mu_ held: its release is then left to the holder.
//
// Object life cycle, seen from here:
//   submit():  a pending result object (1 program reference) and a task holding a reference on
//              each ObjectRef argument
//   TaskDone:  the result becomes ready (inline bytes, or a store block the worker asked for with
//              AllocRequest and wrote), the task's argument references are dropped
//   put():     a ready object from the start
//   last reference dropped and no task needs it: freed
// Worker death: tasks queued behind the running one go back to the ready queue at once, an
// unsealed result block is freed, the running task is retried (max_retries, at the back of the
// queue) or, once the helper reports how the worker ended, failed with WorkerCrashedError; then the
// pool replaces the worker.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <sys/types.h>

#include <shoal/config.hpp>
#include <shoal/detail/call_site.hpp>
#include <shoal/detail/runtime_api.hpp>
#include <shoal/shoal.hpp>

#include "src/common/core_runtime.hpp"
#include "src/common/deferring_mutex.hpp"
#include "src/common/logging.hpp"
#include "src/common/mutex.hpp"
#include "src/common/thread_annotations.hpp"
#include "src/core/actor_manager.hpp"
#include "src/core/call_sites.hpp"
#include "src/core/reference_table.hpp"
#include "src/core/remote_nodes.hpp"
#include "src/core/scheduler.hpp"
#include "src/core/task_manager.hpp"
#include "src/core/timeline.hpp"
#include "src/fork_helper/fork_helper.hpp"
#include "src/node/io_loop.hpp"
#include "src/node/node_store.hpp"
#include "src/node/worker_pool.hpp"
#include "src/transport/connection.hpp"

namespace shoal::internal {

class DriverRuntime final : public CoreRuntime,
                            private Connection::Listener,
                            private WorkerPool::Events {
 public:
  /// init(): validates config, creates the store, starts the helper and the workers, and returns
  /// once all workers are ready. Throws InvalidConfigError, SystemError.
  static std::shared_ptr<DriverRuntime> start(const Config& config);
  ~DriverRuntime() override;

  // ---- CoreRuntime (thread safe)
  void shutdown() override;  // idempotent; see shoal::shutdown()
  detail::HandlePtr submit(detail::AnyFn fn, const char* signature, const TaskOptions& options,
                           detail::TaskArgs&& args) override;
  std::vector<detail::HandlePtr> submit_returns(detail::AnyFn fn, const char* signature,
                                                const TaskOptions& options, detail::TaskArgs&& args,
                                                std::size_t num_returns) override;
  detail::HandlePtr put(void (*encode)(detail::ValueSink&, const void*), const void* value,
                        const detail::CallSite& site) override;
  /// A new ready object of `size` bytes in the store, for the caller to fill before anyone else
  /// can see the handle. If the store is full it waits for space (without the lock) up to
  /// Config::object_store_full_timeout_ms. Throws ObjectStoreFullError, or Error if shutdown()
  /// runs while it waits.
  StoreSpace reserve_object(detail::Format format, std::uint64_t type_hash, std::uint64_t size,
                            ObjectOrigin origin, const detail::CallSite& site) override;
  detail::Fetched fetch(ObjectId id, std::int64_t timeout_ns) override;
  std::vector<detail::Fetched> fetch_all(const std::vector<ObjectId>& ids,
                                         std::int64_t timeout_ns) override;
  std::vector<bool> wait(const std::vector<ObjectId>& ids, std::size_t num_returns,
                         std::int64_t timeout_ns) override;
  void release(ObjectId id) noexcept override;
  void cancel(ObjectId id, bool force, bool recursive) override;
  detail::HandlePtr adopt(ObjectId id) override;
  std::map<std::string, double> resources(bool available) override;
  ObjectStoreStats stats() override;
  // Seeing inside (driver_observe.cpp)
  std::string timeline_json() override;
  Status status() override;
  MemorySummary memory_summary() override;
  bool is_session() const noexcept override { return true; }
  void abandon_in_fork() noexcept override { abandoned_.store(true, std::memory_order_relaxed); }
  // Actors (driver_actors.cpp)
  detail::HandlePtr create_actor(detail::AnyFn constructor, const char* signature,
                                 std::uint64_t class_hash, const ActorOptions& options,
                                 detail::TaskArgs&& args) override;
  detail::HandlePtr submit_actor_task(ObjectId actor, detail::AnyFn method, const char* signature,
                                      detail::TaskArgs&& args) override;
  detail::HandlePtr find_named_actor(const std::string& name, std::uint64_t class_hash) override;
  void kill_actor(ObjectId actor, bool no_restart) override;

  // ---- other machines (src/cluster/; driver_cluster.cpp). All thread safe.
  /// Lets `nodes` place tasks on other machines and adds their resources to resources(). Called
  /// once, by init(), before the runtime becomes the process's current one.
  void attach_nodes(std::shared_ptr<RemoteNodes> nodes);
  /// What attach_nodes() attached, or null (one machine).
  RemoteNodes* nodes() const noexcept { return nodes_.get(); }
  /// Tasks this machine holds now (waiting, queued, running), for placement. Lock-free; a
  /// snapshot taken each time the driver hands out work.
  std::size_t local_tasks() const noexcept { return local_tasks_.load(std::memory_order_relaxed); }
  /// Calls `done` once every object of `ids` has finished (ready or failed; an unknown id counts
  /// as finished): at once on this thread if they all have, else on the thread that finishes the
  /// last, with mu_ held, so `done` must only queue work.
  void when_finished(std::vector<ObjectId> ids, std::function<void()> done);
  /// A finished object: its error, or its bytes (valid while `value.keep` and a reference live).
  struct Finished {
    std::shared_ptr<const ErrorInfo> error;
    detail::Fetched value;
  };
  /// Throws Error if the object is unknown (freed) or still pending.
  Finished read_finished(ObjectId id);
  /// The object's value (or error) was made on another machine, which keeps a copy that must be
  /// freed with it (`copy_elsewhere`). False if the object is no longer pending here (freed,
  /// failed at shutdown): the caller frees the other copy itself.
  bool complete_remote(ObjectId id, detail::Format format, std::uint64_t type_hash,
                       detail::ByteBuffer bytes, bool copy_elsewhere);
  bool fail_remote(ObjectId id, std::shared_ptr<const ErrorInfo> error);
  /// Store space for a value arriving from another machine; waits for space as put() does.
  /// Throws ObjectStoreFullError, or Error if the session is not running.
  struct RemoteSpace {
    std::uint64_t offset = 0;
    char* dst = nullptr;
    std::shared_ptr<const void> keep;
  };
  RemoteSpace reserve_remote(std::uint64_t size);
  /// The bytes at `space` are the pending object's value now (see complete_remote()); if the
  /// object is not pending any more the block is freed and false returned.
  bool complete_remote_store(ObjectId id, detail::Format format, std::uint64_t type_hash,
                             const RemoteSpace& space, std::uint64_t size, bool copy_elsewhere);
  /// Gives back reserve_remote()'s block unused (the transfer failed).
  void free_remote_space(const RemoteSpace& space) noexcept;
  /// The object now has a copy on another machine: copies_freed() is called when it is freed.
  /// False if it is gone.
  bool mark_copied(ObjectId id);
  /// Registers a task that another machine's driver placed here (a node's agent): its deps are
  /// objects of this runtime, its function is checked against this process's registry; a new id
  /// is given. Returns its result's handle. Throws Error for an unknown function or a stopped
  /// session.
  detail::HandlePtr submit_spec(TaskSpec&& spec);
  /// A new ready object holding `bytes` (a node's copy of a small argument).
  detail::HandlePtr put_bytes(detail::Format format, std::uint64_t type_hash,
                              detail::ByteBuffer bytes);

  // ---- for tests
  pid_t TEST_fork_helper_pid() const;
  std::vector<pid_t> TEST_worker_pids();
  /// Writers waiting for store space: program threads and deferred AllocRequests.
  std::size_t TEST_space_waiters();
  /// Program threads blocked in get() or wait() right now.
  std::size_t TEST_waiting_threads() const;
  /// Runs `hook` in the next program thread that is about to wait for store space, with mu_ held
  /// (then forgets it): a test can make an operation deferred to that thread's unlock.
  void TEST_before_space_wait(std::function<void()> hook) {
    MutexLock<Mutex> lock(mu_);
    before_space_wait_ = std::move(hook);
  }
  /// Calls (get, wait) that workers' tasks are blocked in right now.
  std::size_t TEST_blocked_calls();
  /// "fork" or "forkserver": how this session's helper was started.
  std::string TEST_start_method() const {
    return start_method_ == StartMethod::kForkserver ? "forkserver" : "fork";
  }

 private:
  // kBroken: the fork helper died, or no worker can be started; every call fails until
  // shutdown(), and init() can start a new session.
  enum class State { kStarting, kRunning, kBroken, kStopping, kStopped };

  // Work a thread leaves for the holder of mu_ instead of waiting for it (DeferringMutex).
  struct Deferred {
    ObjectId release = 0;  // nonzero: drop one program reference to this object;
    TaskSpec task;         // otherwise register this task (its id is already taken)
  };
  using Mutex = DeferringMutex<Deferred>;
  static void run_deferred(void* runtime, Deferred& op) noexcept;

  class ThreadWaiter;  // a program thread in get() or wait() (driver_objects.cpp)
  struct BlockedCall;  // a worker's task blocked in get() or wait() (driver_requests.cpp)

  DriverRuntime(const Config& config, int num_workers, std::uint64_t store_bytes,
                std::uint64_t memory_bytes, logging::Level level, StartMethod method);
  void launch();  // the part of start() that starts the processes and waits

  // Connection::Listener (I/O thread)
  void on_frames(Connection& connection, FrameParser& parser) override SHOAL_EXCLUDES(mu_);
  void on_closed(Connection& connection, const std::string& reason, bool peer_alive) override
      SHOAL_EXCLUDES(mu_);

  // WorkerPool::Events (mu_ held)
  void on_worker_ready(WorkerId worker) override SHOAL_REQUIRES(mu_);
  void on_worker_lost(WorkerId worker, bool was_ready, const std::string& reason) override
      SHOAL_REQUIRES(mu_);
  void on_worker_exited(WorkerId worker, pid_t pid, const ExitStatus& how,
                        const std::string& reason) override SHOAL_REQUIRES(mu_);
  void on_pool_failed(const std::string& why) override SHOAL_REQUIRES(mu_);
  void on_start_failed(const std::string& why) override SHOAL_REQUIRES(mu_);
  void on_helper_ready(const HelperReady& ready) override SHOAL_REQUIRES(mu_);
  void on_eof_timeout(WorkerId worker) override SHOAL_EXCLUDES(mu_);

  // Everything below requires mu_.
  void handle_worker_frame(WorkerId worker, const Frame& frame) SHOAL_REQUIRES(mu_);
  void on_task_done(WorkerId worker, const Frame& frame) SHOAL_REQUIRES(mu_);
  bool retry_after_throw(const SchedTask& ran, const TaskDone& done) SHOAL_REQUIRES(mu_);
  void on_alloc_request(WorkerId worker, const Frame& frame) SHOAL_REQUIRES(mu_);
  TaskSpec checked_spec(detail::AnyFn fn, const char* signature, const TaskOptions& options,
                        detail::TaskArgs&& args,
                        std::vector<detail::HandlePtr>& refs);       // submit()'s unlocked half
  void register_task(TaskSpec&& spec) noexcept SHOAL_REQUIRES(mu_);  // submit()'s locked half
  void release_program_ref(ObjectId id) noexcept SHOAL_REQUIRES(mu_);
  void pump() SHOAL_REQUIRES(mu_);
  void send_task(const Scheduler::Assignment& a, bool nested = false) SHOAL_REQUIRES(mu_);
  void encode_task(detail::ByteBuffer& out, const TaskSpec& task, std::uint32_t flags)
      SHOAL_REQUIRES(mu_);
  TaskLimits task_limits() const;
  // Tasks that start tasks (driver_requests.cpp): the calls a worker's running task makes.
  void on_submit(WorkerId worker, const Frame& frame) SHOAL_REQUIRES(mu_);
  void on_put(WorkerId worker, const Frame& frame) SHOAL_REQUIRES(mu_);
  void on_create_object(WorkerId worker, const Frame& frame) SHOAL_REQUIRES(mu_);
  void on_get(WorkerId worker, const Frame& frame) SHOAL_REQUIRES(mu_);
  void on_wait(WorkerId worker, const Frame& frame) SHOAL_REQUIRES(mu_);
  void on_release(WorkerId worker, const Frame& frame) SHOAL_REQUIRES(mu_);
  void on_info(WorkerId worker, const Frame& frame) SHOAL_REQUIRES(mu_);
  void on_cancel(WorkerId worker, const Frame& frame) SHOAL_REQUIRES(mu_);
  // Actors (driver_actors.cpp)
  std::shared_ptr<const ErrorInfo> prepare_actor_call(TaskSpec& spec) SHOAL_REQUIRES(mu_);
  void start_waiting_actors() SHOAL_REQUIRES(mu_);
  void warn_if_actors_hold_the_cpus(ActorRecord& waiting) SHOAL_REQUIRES(mu_);
  void start_actor_process(ActorRecord& a) SHOAL_REQUIRES(mu_);
  void actor_worker_ready(ActorRecord& a, WorkerId worker) SHOAL_REQUIRES(mu_);
  void actor_call_done(const SchedTask& ran) SHOAL_REQUIRES(mu_);
  void actor_constructor_failed(ActorRecord& a, const std::shared_ptr<const ErrorInfo>& error)
      SHOAL_REQUIRES(mu_);
  void actor_dies(ActorRecord& a, std::shared_ptr<const ErrorInfo> error, bool kill_process)
      SHOAL_REQUIRES(mu_);
  void end_actor_process(ActorRecord& a, const std::string& why, bool kill) SHOAL_REQUIRES(mu_);
  void stop_idle_actor(ActorRecord& a) SHOAL_REQUIRES(mu_);
  void actors_out_of_scope() SHOAL_REQUIRES(mu_);
  void actor_lost(ActorRecord& a) SHOAL_REQUIRES(mu_);
  void actor_exited(ActorRecord& a, pid_t pid, const ExitStatus& how) SHOAL_REQUIRES(mu_);
  void stop_all_actors() SHOAL_EXCLUDES(mu_);  // shutdown's first step
  void cancel_actor_restarts() SHOAL_REQUIRES(mu_);
  bool actor_call_deadlocks(WorkerId worker, const std::vector<ObjectId>& ids) SHOAL_REQUIRES(mu_);
  // shoal::cancel() (driver_cancel.cpp)
  void cancel_locked(TaskId id, bool force, bool recursive) SHOAL_REQUIRES(mu_);
  void cancel_one(TaskId t, bool force) SHOAL_REQUIRES(mu_);
  void end_calls_of(WorkerId worker, TaskId task) SHOAL_REQUIRES(mu_);  // cancelled while blocked
  void block_call(WorkerId worker, std::shared_ptr<BlockedCall> call, std::int64_t timeout_ns)
      SHOAL_REQUIRES(mu_);
  void answer(BlockedCall& call) SHOAL_REQUIRES(mu_);
  void answer_calls() SHOAL_REQUIRES(mu_);  // replies to the blocked calls that are done
  void answer_actor_calls(std::vector<std::shared_ptr<BlockedCall>>& calls) SHOAL_REQUIRES(mu_);
  void run_nested_tasks() SHOAL_REQUIRES(mu_);  // awaited children, on their blocked workers
  void drop_calls(WorkerId worker) SHOAL_REQUIRES(mu_);  // the worker died
  void balance_workers() SHOAL_REQUIRES(mu_);  // lends or retires workers while tasks block
  void drop_all_calls() SHOAL_REQUIRES(mu_);   // shutdown
  void send_to_worker(WorkerId worker, const std::function<void(detail::ByteBuffer&)>& encode)
      SHOAL_REQUIRES(mu_);
  void break_session(const std::string& why) SHOAL_REQUIRES(mu_);
  void check_running() const SHOAL_REQUIRES(mu_);
  void check_not_abandoned() const;  // throws in a fork() of the driver
  // Why a task registered now must fail (the session is ending or broken), or null.
  std::shared_ptr<const ErrorInfo> refusal() const SHOAL_REQUIRES(mu_);
  std::shared_ptr<const ErrorInfo> broken_error() const SHOAL_REQUIRES(mu_);
  detail::HandlePtr handle_of(ObjectId id);
  ObjectId new_object(TaskId producer) SHOAL_REQUIRES(mu_);
  detail::HandlePtr store_inline(detail::Format format, std::uint64_t type_hash,
                                 detail::ByteBuffer bytes, const detail::CallSite& site)
      SHOAL_EXCLUDES(mu_);
  detail::Fetched fetched_of(const ObjectEntry& entry) SHOAL_REQUIRES(mu_);
  /// Waits until `waiter` is done or the timeout passes; mu_ is held on entry and on return.
  void wait_for(ThreadWaiter& waiter, std::int64_t timeout_ns) SHOAL_REQUIRES(mu_);
  std::string producer_name(const ObjectEntry& entry) SHOAL_REQUIRES(mu_);
  /// submit() of a task placed on another machine (driver_cluster.cpp).
  detail::HandlePtr submit_remote(int node, TaskSpec&& spec, std::vector<detail::HandlePtr>&& refs);
  bool finished(ObjectId id) SHOAL_REQUIRES(mu_);  // ready or failed
  // The store's space (driver_space.cpp)
  std::uint64_t wait_for_space(std::uint64_t size, ObjectOrigin origin) SHOAL_REQUIRES(mu_);
  void answer_alloc(WorkerId worker, const AllocRequest& request) SHOAL_REQUIRES(mu_);
  void grant_deferred_alloc(WorkerId worker, std::uint64_t offset) SHOAL_REQUIRES(mu_);
  void send_alloc_reply(WorkerId worker, const AllocRequest& request,
                        std::optional<std::uint64_t> offset) SHOAL_REQUIRES(mu_);
  void close_space_waiters() SHOAL_REQUIRES(mu_);
  void wake_space_waiters();  // they see the state (not running) and throw
  // Seeing inside (driver_observe.cpp)
  /// Records a finished attempt of `ran` on `worker` in the timeline, and counts it.
  void record_attempt(const SchedTask& ran, WorkerId worker, const TaskDone& done,
                      std::uint64_t result_bytes) noexcept SHOAL_REQUIRES(mu_);
  /// Records the attempt of `running` cut short by its worker's death.
  void record_lost_attempt(const SchedTask& running, WorkerId worker,
                           const std::string& reason) noexcept SHOAL_REQUIRES(mu_);
  /// A process that runs tasks joined: its timeline row.
  void add_timeline_row(WorkerId worker) SHOAL_REQUIRES(mu_);
  /// SHOAL_TIMELINE=path: writes the timeline there (at shutdown()); logs a failure.
  void write_timeline_from_env();

  // Immutable after start().
  const Config config_;
  const int num_workers_;
  const std::uint64_t store_bytes_;
  const std::uint64_t memory_bytes_;
  const logging::Level log_level_;
  const StartMethod start_method_;
  std::unique_ptr<ForkHelper> helper_;
  std::unique_ptr<IoLoop> io_;  // its thread is finished by shutdown(); it goes with the runtime

  mutable Mutex mu_{&DriverRuntime::run_deferred, this};
  // ---- guarded by mu_
  // The arena outlives it in Views and Fetched values (shared_ptr); shutdown() drops the rest.
  std::unique_ptr<NodeStore> store_ SHOAL_GUARDED_BY(mu_);
  State state_ SHOAL_GUARDED_BY(mu_) = State::kStarting;
  std::string failure_ SHOAL_GUARDED_BY(mu_);  // why start() failed, or why the session broke
  std::condition_variable_any started_cv_;
  int ready_workers_ SHOAL_GUARDED_BY(mu_) = 0;
  std::string node_address_ SHOAL_GUARDED_BY(mu_);  // looked up on first use
  ReferenceTable refs_ SHOAL_GUARDED_BY(mu_);
  Scheduler scheduler_ SHOAL_GUARDED_BY(mu_);
  TaskManager tasks_ SHOAL_GUARDED_BY(mu_){refs_, scheduler_};
  std::unique_ptr<WorkerPool> pool_ SHOAL_GUARDED_BY(mu_);
  ActorManager actors_ SHOAL_GUARDED_BY(mu_);
  std::condition_variable_any actors_cv_;  // shutdown() waits for actors' processes to end
  std::shared_ptr<Connection> helper_connection_ SHOAL_GUARDED_BY(mu_);
  // Workers' calls blocked in get() or wait(), per worker in stack order (innermost last).
  std::unordered_map<WorkerId, std::vector<std::shared_ptr<BlockedCall>>> calls_
      SHOAL_GUARDED_BY(mu_);
  // Program threads in wait_for_space() sleep on space_cv_ under space_mu_, not on mu_: a grant
  // may be made by an operation deferred to mu_'s unlock(), and condition_variable_any::wait
  // unlocks mu_ while it holds its own internal mutex, which notifying it from there would take
  // again (a self-deadlock). Lock order: mu_, then space_mu_.
  std::mutex space_mu_;
  std::condition_variable space_cv_;
  bool space_closed_ = false;  // guarded by space_mu_: shutdown() or a broken session
  std::function<void()> before_space_wait_ SHOAL_GUARDED_BY(mu_);  // TEST_before_space_wait()
  // ---- read without the lock
  std::atomic<bool> running_{false};    // state_ == kRunning
  std::atomic<bool> abandoned_{false};  // this is a copy in a fork() of the driver
  // Functions the workers know: registered before the fork, or known to a fresh start of the
  // program (HelperReady).
  std::atomic<std::uint32_t> known_functions_{0};
  std::atomic<int> waiting_threads_{0};      // program threads in wait_for(), for tests
  std::atomic<std::size_t> local_tasks_{0};  // tasks_.size() at the last pump()
  // Other machines (attach_nodes()): written once before the runtime is published, then read.
  std::shared_ptr<RemoteNodes> nodes_;
  static void copies_freed(void* runtime, ObjectId id) noexcept;

  // ---- seeing inside (<shoal/observe.hpp>)
  const std::int64_t origin_ns_;  // init(): the timeline's 0
  const bool recording_;          // Config::timeline_max_tasks > 0
  TaskTimeline timeline_ SHOAL_GUARDED_BY(mu_);
  CallTimeline program_calls_;  // its own lock
  CallSites call_sites_ SHOAL_GUARDED_BY(mu_);
  std::unordered_map<WorkerId, std::uint64_t> tasks_done_ SHOAL_GUARDED_BY(mu_);  // per worker
};

}  // namespace shoal::internal
