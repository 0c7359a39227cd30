// File: shoal/detail/runtime_api.hpp (internal)
//
// The narrow, non-template surface the public templates call into. Everything here is
// implemented in the library; no Boost, Asio or spdlog type crosses it. Functions throw the
// public exceptions of <shoal/errors.hpp>. All are thread safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <shoal/config.hpp>
#include <shoal/detail/call_site.hpp>
#include <shoal/detail/value.hpp>

namespace shoal {
struct Progress;  // <shoal/progress.hpp>
}  // namespace shoal

namespace shoal::detail {

/// One stored object as seen by the program: shared by every copy of an ObjectRef. When the last
/// copy goes, the driver drops its reference (the object is freed once tasks no longer need it).
/// Opaque here; defined in the library.
class ObjectHandle;
using HandlePtr = std::shared_ptr<ObjectHandle>;

/// The object's id (unique within the process's lifetime), for printing and hashing.
std::uint64_t object_id_of(const ObjectHandle& handle) noexcept;

/// A generic function pointer: the registry keys functions by address.
using AnyFn = void (*)();

/// Cancels the task whose result `handle` names (shoal::cancel()).
void cancel_task(const ObjectHandle* handle, bool force, bool recursive);

/// shoal::is_cancelled().
bool current_task_cancelled();

}  // namespace shoal::detail

namespace shoal::internal {
class CoreRuntime;  // the process's runtime (defined in the library)
}  // namespace shoal::internal

namespace shoal::detail {

/// Task arguments being built by task(f).remote(args...), in order. A value argument is encoded
/// through the ValueSink interface (large ones go to the store here, as objects of their own); an
/// ObjectRef argument becomes a dependency. Bound to the runtime current when it is made, which
/// submits it. Not thread safe; one call builds one TaskArgs.
class TaskArgs final : public ValueSink {
 public:
  /// Throws what current runtime lookup throws (NotInitializedError, ...). `site`: the remote()
  /// call's place in the program (memory_summary()).
  explicit TaskArgs(detail::CallSite site = {});
  ~TaskArgs();
  TaskArgs(TaskArgs&&) noexcept;
  TaskArgs& operator=(TaskArgs&&) = delete;

  char* reserve_raw(std::uint64_t type_hash, std::size_t size) override;
  ByteBuffer& begin_msgpack(std::uint64_t type_hash) override;
  void finish() override;
  /// Adds an ObjectRef argument; throws InvalidObjectRefError for an empty ref.
  void add_ref(const HandlePtr& ref);

  // Library side.
  struct Space;  // where large values go: objects of their own
  void restore_sink() noexcept;
  internal::CoreRuntime& runtime() const noexcept { return *runtime_; }
  std::uint32_t count() const noexcept { return count_; }
  const detail::CallSite& call_site() const noexcept { return site_; }
  ByteBuffer take_records() noexcept { return std::move(records_); }
  std::vector<HandlePtr> take_refs() noexcept { return std::move(refs_); }
  /// The refs inside the arguments' values (a vector of refs): the task holds them.
  std::vector<HandlePtr> take_contained() noexcept { return std::move(contained_); }

 private:
  std::shared_ptr<internal::CoreRuntime> runtime_;
  detail::CallSite site_;
  ByteBuffer records_;           // wire-format argument records (see docs/protocol.md)
  std::vector<HandlePtr> refs_;  // dependencies, in the order their records reference them
  std::uint32_t count_ = 0;      // arguments added so far
  OpenValue open_;               // the value being written
  HandlePtr open_store_;         // a large value being written straight into the store
  std::shared_ptr<const void> open_keep_;        // keeps that memory valid while it is written
  std::vector<HandlePtr> contained_;             // refs packed inside the values written so far
  void* previous_sink_[2] = {nullptr, nullptr};  // the collector begin_msgpack() replaced
};

/// Submits fn with args to the runtime args was made for; returns the handle of its result.
/// Throws FunctionNotRegisteredError, NotInitializedError, InvalidConfigError (options out of
/// range).
HandlePtr submit_task(AnyFn fn, const char* signature_mangled, const TaskOptions& options,
                      TaskArgs&& args);

/// submit_task() for task(f).num_returns<N>(): returns the N handles of the objects the task
/// returns, in the order of the std::tuple's elements.
std::vector<HandlePtr> submit_task_returns(AnyFn fn, const char* signature_mangled,
                                           const TaskOptions& options, TaskArgs&& args,
                                           std::size_t num_returns);

/// Stores one value: `encode` writes *value into the sink it is given. Returns its handle.
/// `site`: the put() call (memory_summary()).
HandlePtr put_value(void (*encode)(ValueSink&, const void* value), const void* value,
                    const detail::CallSite& site);

/// A value read back by get(): a view of its bytes plus whatever keeps them valid.
struct Fetched {
  ValueView view;
  std::shared_ptr<const void> keep;  // a copy of small bytes, or a pin on a store object
};

/// Waits for the object and returns its bytes; timeout_ns < 0 waits forever. Throws the
/// task's error (TaskError, WorkerCrashedError, ...), GetTimeoutError, InvalidObjectRefError.
Fetched fetch(const ObjectHandle* handle, std::int64_t timeout_ns);

/// fetch() for many objects with one deadline; returns them in input order.
std::vector<Fetched> fetch_all(const std::vector<const ObjectHandle*>& handles,
                               std::int64_t timeout_ns);

/// fetch_all() that draws `progress` on stderr while it waits, when stderr is a terminal (the
/// contract is in <shoal/progress.hpp>); throws what fetch_all() throws.
std::vector<Fetched> fetch_all_with_progress(const std::vector<const ObjectHandle*>& handles,
                                             std::int64_t timeout_ns, const Progress& progress);

/// Waits until num_returns of the objects are ready (finished, with a value or an error) or the
/// timeout passes; returns ready[i] for each input, with at most num_returns set, chosen in input
/// order.
std::vector<bool> wait_ready(const std::vector<const ObjectHandle*>& handles,
                             std::size_t num_returns, std::int64_t timeout_ns);

}  // namespace shoal::detail
