// The core runtime: what the public API asks of shoal, as one abstract interface, and the one
// current runtime of this process.
//
// Modelled on Ray's C++ runtime (AbstractRayRuntime over a task submitter, an object store and a
// task executor, with a local-mode and a cluster implementation). Implementations:
//   - DriverRuntime (src/core/driver_runtime.hpp): the program that called init() with worker
//     processes; it owns every object.
//   - LocalRuntime (src/core/local_runtime.hpp): Config::local_mode, everything in the calling
//     process.
//   - in a worker, and in a process the program fork()ed from a running driver, a runtime that
//     refuses every call with the reason (UnusableRuntime below). A worker's own client runtime,
//     which sends requests to the driver, will take its place for tasks that start tasks.
// The public handles (ObjectHandle, behind every ObjectRef) hold the runtime that made them, never
// a concrete class, and the public free functions find the process's current one here.
//
// Thread safety: every member function of a runtime may be called from any thread. The current
// runtime slot is guarded by its own mutex.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <shoal/actor.hpp>
#include <shoal/config.hpp>
#include <shoal/detail/call_site.hpp>
#include <shoal/detail/runtime_api.hpp>
#include <shoal/observe.hpp>
#include <shoal/shoal.hpp>

#include "src/common/ids.hpp"

namespace shoal::internal {

/// Who made an object, for ObjectStoreFullError's list of the biggest holders.
enum class ObjectOrigin : std::uint8_t {
  kPut,         // put()
  kArgument,    // a large value passed by value to remote(), stored for the task
  kTaskResult,  // the result of a task
};

/// A new object of `size` bytes whose value the caller writes at `dst` before anyone else can see
/// the handle; `keep` keeps the memory valid while the caller writes, even if shutdown() runs.
struct StoreSpace {
  detail::HandlePtr handle;
  char* dst = nullptr;
  std::shared_ptr<const void> keep;
};

class CoreRuntime : public std::enable_shared_from_this<CoreRuntime> {
 public:
  virtual ~CoreRuntime() = default;

  // ---- tasks and objects (see the public functions in <shoal/shoal.hpp> for each contract)
  virtual detail::HandlePtr submit(detail::AnyFn fn, const char* signature,
                                   const TaskOptions& options, detail::TaskArgs&& args) = 0;
  /// submit() of a task returning `num_returns` (2 or more) objects: their handles, in order.
  virtual std::vector<detail::HandlePtr> submit_returns(detail::AnyFn fn, const char* signature,
                                                        const TaskOptions& options,
                                                        detail::TaskArgs&& args,
                                                        std::size_t num_returns) = 0;
  /// `site`: the put() call, for memory_summary().
  virtual detail::HandlePtr put(void (*encode)(detail::ValueSink&, const void*), const void* value,
                                const detail::CallSite& site) = 0;
  /// A new object for a value the caller writes itself (a large task argument).
  virtual StoreSpace reserve_object(detail::Format format, std::uint64_t type_hash,
                                    std::uint64_t size, ObjectOrigin origin,
                                    const detail::CallSite& site) = 0;
  /// timeout_ns: detail::kNoTimeout waits without limit, 0 does not wait.
  virtual detail::Fetched fetch(ObjectId id, std::int64_t timeout_ns) = 0;
  virtual std::vector<detail::Fetched> fetch_all(const std::vector<ObjectId>& ids,
                                                 std::int64_t timeout_ns) = 0;
  virtual std::vector<bool> wait(const std::vector<ObjectId>& ids, std::size_t num_returns,
                                 std::int64_t timeout_ns) = 0;
  /// Drops one reference the program held (an ObjectHandle's). Never throws; does nothing in a
  /// process forked from the one that owns the runtime.
  virtual void release(ObjectId id) noexcept = 0;
  /// A handle for object `id`, read from inside a value (an ObjectRef a value held): this process
  /// holds it from now on, until the handle goes. Throws InvalidObjectRefError if the object is
  /// gone (or from another session).
  virtual detail::HandlePtr adopt(ObjectId id) = 0;
  /// shoal::cancel() of the task whose result is `id`.
  virtual void cancel(ObjectId id, bool force, bool recursive) = 0;
  /// shoal::is_cancelled(): the task running on this thread was asked to stop.
  virtual bool is_cancelled() { return false; }

  // ---- actors (see <shoal/actor.hpp> for each contract). The defaults refuse with Error
  // saying where actors work.
  /// Creates an actor whose constructor call is `constructor` with `args`; returns the handle
  /// that keeps it alive (its id is the actor's id).
  virtual detail::HandlePtr create_actor(detail::AnyFn constructor, const char* signature,
                                         std::uint64_t class_hash, const ActorOptions& options,
                                         detail::TaskArgs&& args);
  /// A call of `method` (a registered method call function) on actor `actor`.
  virtual detail::HandlePtr submit_actor_task(ObjectId actor, detail::AnyFn method,
                                              const char* signature, detail::TaskArgs&& args);
  /// A handle to the live actor named `name` (of class `class_hash`), or null.
  virtual detail::HandlePtr find_named_actor(const std::string& name, std::uint64_t class_hash);
  virtual void kill_actor(ObjectId actor, bool no_restart);

  // ---- seeing inside (<shoal/observe.hpp>). The defaults throw Error: only the program that
  // runs a session (the driver, local mode) has them, as in Ray.
  /// The timeline as Chrome trace JSON (shoal::timeline()).
  virtual std::string timeline_json();
  virtual Status status();
  virtual MemorySummary memory_summary();

  // ---- resources and the store
  virtual std::map<std::string, double> resources(bool available) = 0;
  virtual ObjectStoreStats stats() = 0;

  // ---- the session
  /// True for a runtime that init() made (a driver or local mode), false for one that only
  /// refuses calls.
  virtual bool is_session() const noexcept = 0;
  /// True for a worker's runtime (the API inside a task).
  virtual bool in_worker() const noexcept { return false; }
  /// Throws why this process may not use shoal now, if it may not (a worker, a fork).
  virtual void check_usable() const {}
  /// Ends the session; idempotent.
  virtual void shutdown() = 0;
  /// This process is a fork() of the one that made this runtime: leave the copy alone from now
  /// on (its locks may be held by threads that do not exist here). Async-signal-safe.
  virtual void abandon_in_fork() noexcept = 0;
};

/// A runtime that refuses every call with one error message: the current runtime of a worker
/// process and of a process the program fork()ed from a running driver.
class UnusableRuntime final : public CoreRuntime {
 public:
  explicit UnusableRuntime(std::string why) : why_(std::move(why)) {}

  detail::HandlePtr submit(detail::AnyFn, const char*, const TaskOptions&,
                           detail::TaskArgs&&) override;
  std::vector<detail::HandlePtr> submit_returns(detail::AnyFn, const char*, const TaskOptions&,
                                                detail::TaskArgs&&, std::size_t) override;
  detail::HandlePtr put(void (*)(detail::ValueSink&, const void*), const void*,
                        const detail::CallSite&) override;
  StoreSpace reserve_object(detail::Format, std::uint64_t, std::uint64_t, ObjectOrigin,
                            const detail::CallSite&) override;
  detail::Fetched fetch(ObjectId, std::int64_t) override;
  std::vector<detail::Fetched> fetch_all(const std::vector<ObjectId>&, std::int64_t) override;
  std::vector<bool> wait(const std::vector<ObjectId>&, std::size_t, std::int64_t) override;
  void release(ObjectId) noexcept override {}
  void cancel(ObjectId, bool, bool) override;
  detail::HandlePtr adopt(ObjectId) override;
  std::map<std::string, double> resources(bool) override;
  ObjectStoreStats stats() override;
  bool is_session() const noexcept override { return false; }
  void check_usable() const override;
  void shutdown() override {}
  void abandon_in_fork() noexcept override {}

 private:
  [[noreturn]] void refuse() const;
  std::string why_;
};

/// A new object id, unique for the life of this process (across sessions, so that a stale ref can
/// never name a later session's object). Lock-free: submit() needs its id before any lock.
ObjectId new_object_id() noexcept;

/// Why a fork() of a process running a session cannot use it: every runtime's refusal says this.
const char* forked_session_refusal() noexcept;

/// This process's runtime, or null before init() (and after shutdown()).
std::shared_ptr<CoreRuntime> current_runtime_or_null();
/// This process's runtime. Throws its reason if the process may not use shoal (check_usable()),
/// NotInitializedError if there is none.
std::shared_ptr<CoreRuntime> current_runtime();
/// Makes `runtime` this process's runtime (null: none); returns the one it replaces.
std::shared_ptr<CoreRuntime> exchange_current_runtime(std::shared_ptr<CoreRuntime> runtime);

/// Installs, once per process, the fork() handlers that keep a fork of this process away from its
/// session: in the child, the current session runtime is abandoned (abandon_in_fork(), and kept
/// alive: destroying it there would touch locks that threads that do not exist may hold) and an
/// UnusableRuntime saying why takes its place. shoal's own processes set their runtime themselves.
void protect_sessions_from_fork();

}  // namespace shoal::internal

namespace shoal::detail {

/// Shared by all copies of one ObjectRef. Its destructor drops the program's reference.
class ObjectHandle {
 public:
  ObjectHandle(std::shared_ptr<internal::CoreRuntime> runtime, std::uint64_t id) noexcept
      : runtime_(std::move(runtime)), id_(id) {}
  ~ObjectHandle() { runtime_->release(id_); }
  ObjectHandle(const ObjectHandle&) = delete;
  ObjectHandle& operator=(const ObjectHandle&) = delete;

  internal::CoreRuntime& runtime() const noexcept { return *runtime_; }
  std::uint64_t id() const noexcept { return id_; }

 private:
  std::shared_ptr<internal::CoreRuntime> runtime_;
  std::uint64_t id_;
};

}  // namespace shoal::detail
