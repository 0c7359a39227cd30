// Local mode (Config::local_mode, as Ray's local_mode): the runtime runs each task in the calling
// process, at remote(), on the calling thread, with the same API, the same ObjectRef semantics,
// the same typed errors and the same resource maps as a session with workers, and no fork, no
// socket, no shared-memory arena. For stepping through tasks in a debugger, running under
// sanitizers and valgrind, and testing the core without processes.
//
// What differs, on purpose: a task runs to completion inside remote(), so there is no parallelism
// and get() never waits; a task that crashes (a bad pointer, abort()) takes the program down, as
// it would in Ray's local mode; there is no object store, so every value, large or small, lives on
// the heap (ObjectStoreStats::inline_bytes counts them all, used_bytes stays 0) and a put() never
// waits for space. Tasks may call the API themselves (tasks that start tasks work here already).
//
// Thread safety: every call may come from any thread; the table is guarded by mu_, which is never
// held while a task runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <shoal/config.hpp>
#include <shoal/detail/call_site.hpp>

#include "src/common/core_runtime.hpp"
#include "src/common/mutex.hpp"
#include "src/common/thread_annotations.hpp"
#include "src/core/call_sites.hpp"
#include "src/core/reference_table.hpp"
#include "src/core/task_manager.hpp"
#include "src/core/timeline.hpp"

namespace shoal::internal {

class LocalRuntime final : public CoreRuntime, private BlockFreer {
 public:
  /// Validates `config` (the same checks as a session with workers) and starts. Throws
  /// InvalidConfigError.
  static std::shared_ptr<LocalRuntime> start(const Config& config);

  std::vector<detail::HandlePtr> submit_returns(detail::AnyFn fn, const char* signature,
                                                const TaskOptions& options, detail::TaskArgs&& args,
                                                std::size_t num_returns) override
      SHOAL_EXCLUDES(mu_);
  detail::HandlePtr submit(detail::AnyFn fn, const char* signature, const TaskOptions& options,
                           detail::TaskArgs&& args) override SHOAL_EXCLUDES(mu_);
  detail::HandlePtr put(void (*encode)(detail::ValueSink&, const void*), const void* value,
                        const detail::CallSite& site) override SHOAL_EXCLUDES(mu_);
  StoreSpace reserve_object(detail::Format format, std::uint64_t type_hash, std::uint64_t size,
                            ObjectOrigin origin, const detail::CallSite& site) override
      SHOAL_EXCLUDES(mu_);
  detail::Fetched fetch(ObjectId id, std::int64_t timeout_ns) override SHOAL_EXCLUDES(mu_);
  std::vector<detail::Fetched> fetch_all(const std::vector<ObjectId>& ids,
                                         std::int64_t timeout_ns) override SHOAL_EXCLUDES(mu_);
  std::vector<bool> wait(const std::vector<ObjectId>& ids, std::size_t num_returns,
                         std::int64_t timeout_ns) override SHOAL_EXCLUDES(mu_);
  void release(ObjectId id) noexcept override SHOAL_EXCLUDES(mu_);
  /// Every task has finished when remote() returns: checks the ref, does nothing.
  void cancel(ObjectId id, bool force, bool recursive) override SHOAL_EXCLUDES(mu_);
  detail::HandlePtr adopt(ObjectId id) override SHOAL_EXCLUDES(mu_);
  std::map<std::string, double> resources(bool available) override SHOAL_EXCLUDES(mu_);
  ObjectStoreStats stats() override SHOAL_EXCLUDES(mu_);
  // Seeing inside: tasks are drawn on the driver's row, in lanes as timeline.cpp assigns them.
  std::string timeline_json() override SHOAL_EXCLUDES(mu_);
  Status status() override SHOAL_EXCLUDES(mu_);
  MemorySummary memory_summary() override SHOAL_EXCLUDES(mu_);
  // Actors (local_actors.cpp): each instance lives in this process; its constructor runs inside
  // actor<C>().remote() and each call inside its remote(), on the calling thread (one call at a
  // time per actor unless max_concurrency > 1). No process, so no crash, no restart; kill() and
  // the last handle's going run the destructor.
  detail::HandlePtr create_actor(detail::AnyFn constructor, const char* signature,
                                 std::uint64_t class_hash, const ActorOptions& options,
                                 detail::TaskArgs&& args) override SHOAL_EXCLUDES(mu_);
  detail::HandlePtr submit_actor_task(ObjectId actor, detail::AnyFn method, const char* signature,
                                      detail::TaskArgs&& args) override SHOAL_EXCLUDES(mu_);
  detail::HandlePtr find_named_actor(const std::string& name, std::uint64_t class_hash) override
      SHOAL_EXCLUDES(mu_);
  void kill_actor(ObjectId actor, bool no_restart) override SHOAL_EXCLUDES(mu_);
  bool is_session() const noexcept override { return true; }
  void shutdown() override SHOAL_EXCLUDES(mu_);
  void abandon_in_fork() noexcept override { abandoned_.store(true, std::memory_order_relaxed); }

 private:
  // submit() and submit_returns(): runs the task now, returns its `num_returns` objects.
  std::vector<detail::HandlePtr> run(detail::AnyFn fn, const char* signature,
                                     const TaskOptions& options, detail::TaskArgs&& args,
                                     std::size_t num_returns) SHOAL_EXCLUDES(mu_);
  LocalRuntime(const Config& config, double cpus, std::uint64_t memory, std::uint64_t store);
  // Nothing is ever in a store here: every value is on the heap.
  void free_block(std::uint64_t) noexcept override {}

  /// A new ready object holding `bytes`.
  detail::HandlePtr add_object(detail::Format format, std::uint64_t type_hash,
                               detail::ByteBuffer bytes, const detail::CallSite& site)
      SHOAL_EXCLUDES(mu_);
  detail::HandlePtr handle_of(ObjectId id);
  void check_not_abandoned() const;                   // throws in a fork of this process
  void check_usable_now() const SHOAL_REQUIRES(mu_);  // throws after shutdown()
  detail::Fetched fetched_of(ObjectId id) SHOAL_REQUIRES(mu_);
  struct LocalActor;
  // An actor ends (killed, no handle left, shutdown): returns its instance, for the caller to
  // destroy without the lock (its destructor may call shoal).
  std::shared_ptr<void> end_actor(LocalActor& a, std::shared_ptr<const ErrorInfo> death)
      SHOAL_REQUIRES(mu_);
  // Actors not dead (a killed one stays in the table until its handles go).
  std::uint64_t live_actors() const SHOAL_REQUIRES(mu_);
  // The instances of actors whose last handle went, taken out of the table.
  std::vector<std::shared_ptr<void>> take_ended_actors() SHOAL_REQUIRES(mu_);

  const Config config_;
  const double cpus_;
  const std::uint64_t memory_;
  const std::uint64_t store_bytes_;
  std::atomic<bool> abandoned_{false};

  mutable Mutex mu_;
  bool stopped_ SHOAL_GUARDED_BY(mu_) = false;
  ReferenceTable refs_ SHOAL_GUARDED_BY(mu_){this};
  double cpus_in_use_ SHOAL_GUARDED_BY(mu_) = 0;  // by tasks running now, on any thread
  std::uint64_t memory_in_use_ SHOAL_GUARDED_BY(mu_) = 0;
  std::string node_address_ SHOAL_GUARDED_BY(mu_);
  std::map<ObjectId, std::shared_ptr<LocalActor>> actors_ SHOAL_GUARDED_BY(mu_);
  std::map<std::string, ObjectId> actor_names_ SHOAL_GUARDED_BY(mu_);
  // Seeing inside
  const std::int64_t origin_ns_;
  const bool recording_;  // Config::timeline_max_tasks > 0
  CallSites call_sites_ SHOAL_GUARDED_BY(mu_);
  TaskTimeline timeline_ SHOAL_GUARDED_BY(mu_);
  CallTimeline program_calls_;                             // its own lock
  std::uint64_t tasks_running_ SHOAL_GUARDED_BY(mu_) = 0;  // on any thread, now
};

}  // namespace shoal::internal
