// The runtime of a worker process: the whole API inside a task (tasks that start tasks). Every call
// becomes a message to the driver on the worker's socket (src/transport/task_calls.hpp), which
// owns every object: remote() and put() of a small value need no answer (the worker names the new
// object itself); get(), wait(), a large put() and resources wait for theirs. While a task is
// blocked in get() or wait() the driver may send it the children it waits for, which then run on
// this thread, inside the call (docs/architecture.md, "Tasks that start tasks").
//
// References a task holds count in the driver as the worker's; they are dropped when its handles
// go, or all at once if the worker dies.
//
// Thread safety: every call may be made from any thread of a task; calls from several threads are
// served one at a time. A call made outside any task (from a thread that outlived its task) is
// refused; so is any call in a process a task fork()ed.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <sys/types.h>

#include "src/common/core_runtime.hpp"
#include "worker/task_channel.hpp"

namespace shoal::internal {

class WorkerRuntime final : public CoreRuntime {
 public:
  explicit WorkerRuntime(TaskChannel& channel);

  detail::HandlePtr submit(detail::AnyFn fn, const char* signature, const TaskOptions& options,
                           detail::TaskArgs&& args) override;
  detail::HandlePtr submit_actor_task(ObjectId actor, detail::AnyFn method, const char* signature,
                                      detail::TaskArgs&& args) override;
  std::vector<detail::HandlePtr> submit_returns(detail::AnyFn fn, const char* signature,
                                                const TaskOptions& options, detail::TaskArgs&& args,
                                                std::size_t num_returns) override;
  detail::HandlePtr put(void (*encode)(detail::ValueSink&, const void*), const void* value,
                        const detail::CallSite& site) override;
  /// Store space from the driver (CreateObject). Does not wait for a full store: throws
  /// ObjectStoreFullError at once.
  StoreSpace reserve_object(detail::Format format, std::uint64_t type_hash, std::uint64_t size,
                            ObjectOrigin origin, const detail::CallSite& site) override;
  detail::Fetched fetch(ObjectId id, std::int64_t timeout_ns) override;
  std::vector<detail::Fetched> fetch_all(const std::vector<ObjectId>& ids,
                                         std::int64_t timeout_ns) override;
  std::vector<bool> wait(const std::vector<ObjectId>& ids, std::size_t num_returns,
                         std::int64_t timeout_ns) override;
  void release(ObjectId id) noexcept override;
  /// Sends Cancel to the driver (no answer: the driver checks the task and does the rest).
  void cancel(ObjectId id, bool force, bool recursive) override;
  /// Holds `id` for this worker (AddRef, sent before anything the task sends next).
  detail::HandlePtr adopt(ObjectId id) override;
  bool is_cancelled() override;
  std::map<std::string, double> resources(bool available) override;
  ObjectStoreStats stats() override;
  bool is_session() const noexcept override { return false; }
  bool in_worker() const noexcept override { return true; }
  /// Throws inside a process a task fork()ed, and on a thread that outlived its task.
  void check_usable() const override;
  void shutdown() override {}
  void abandon_in_fork() noexcept override {}

  /// The worker loop is ending: later releases are dropped (the process exits next).
  void detach() noexcept;

 private:
  std::vector<detail::Fetched> get_values(const std::vector<ObjectId>& ids, std::uint8_t flags,
                                          std::int64_t timeout_ns);
  detail::HandlePtr handle_of(ObjectId id);
  TaskSpec checked_spec(detail::AnyFn fn, const char* signature, const TaskOptions& options,
                        detail::TaskArgs&& args, std::vector<detail::HandlePtr>& refs);

  TaskChannel* channel_;
  const pid_t pid_;  // a fork a task makes gets a copy of this runtime, which must refuse
  std::atomic<bool> detached_{false};
};

}  // namespace shoal::internal
