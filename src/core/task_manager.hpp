// The task manager: every submitted task's spec, from remote() until it finishes or fails, and
// the rules around it (Ray's TaskManager on the owner):
//   - validation of a call's options against the session (make_spec);
//   - registration: the task's result object, a reference held on each ObjectRef argument for as
//     long as the task is pending, and, once its arguments exist, the scheduler;
//   - failure propagation (Ray's rule): a task whose argument failed fails with the same error,
//     and so, transitively, do the tasks waiting for its result;
//   - retries: a task whose worker died runs again, at the back of the queue, while it has
//     attempts left (max_retries; -1 = forever); after that it fails with how its worker ended;
//   - releasing its arguments when it finishes, whichever way.
//
// Thread safety: none. The runtime calls it with its lock held.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <shoal/config.hpp>
#include <shoal/detail/byte_buffer.hpp>
#include <shoal/detail/runtime_api.hpp>

#include "src/common/error_info.hpp"
#include "src/common/ids.hpp"
#include "src/common/pooled_map.hpp"
#include "src/common/task_spec.hpp"
#include "src/core/reference_table.hpp"
#include "src/core/scheduler.hpp"

namespace shoal::internal {

class TaskManager {
 public:
  TaskManager(ReferenceTable& refs, Scheduler& scheduler) : refs_(refs), scheduler_(scheduler) {}
  TaskManager(const TaskManager&) = delete;
  TaskManager& operator=(const TaskManager&) = delete;

  /// make_task_spec() (src/common/task_spec.hpp), under the name the tests know.
  static TaskSpec make_spec(detail::AnyFn fn, const char* signature, const TaskOptions& options,
                            const TaskLimits& limits) {
    return make_task_spec(fn, signature, options, limits);
  }

  /// Registers a submitted task (spec.id set): its result object, held by `owner` (the program, or
  /// the worker whose task submitted it), its argument references; then the scheduler, or at once
  /// a failure if an argument has failed. If `refused` is set (the session is ending or broken),
  /// the task fails with it instead. An actor's call joins the back of its actor's queue (with
  /// `front`, the front: a restarted actor's constructor).
  void add(TaskSpec&& spec, const std::shared_ptr<const ErrorInfo>& refused = nullptr,
           Holder owner = Holder::program(), bool front = false);

  /// Tasks whose results nobody holds any more (the worker that submitted them died) and that have
  /// not started: they are dropped, never run, and their arguments released (which may drop
  /// more). Ray's rule: a dead owner's tasks live on only while someone holds their refs.
  /// Returns how many were dropped.
  std::size_t drop_unreferenced(const std::vector<ObjectId>& objects);

  const TaskSpec* find(TaskId id) const noexcept;

  /// Marks a pending task cancelled (it will not be retried). False if it is unknown (finished).
  bool mark_cancelled(TaskId id) noexcept;
  /// The tasks `id` submitted, and theirs, that are still known (shoal::cancel's recursion).
  std::vector<TaskId> descendants(TaskId id) const;

  /// Objects finished: the tasks waiting for them may now be ready.
  void dependencies_done(const std::vector<TaskId>& tasks);

  /// The task finished on its worker (a value or an error in its result): it leaves the manager
  /// and its arguments are released. False if it is unknown. With `name`, the task's name is
  /// moved there (only failures need it: finishing is on every task's path, so nothing else is
  /// copied).
  bool finish(TaskId id, std::string* name = nullptr);

  /// A task out of retries whose worker died: failed once it is known how the worker ended.
  struct Dying {
    TaskSpec spec;
    int attempts = 0;  // times it was started
  };

  /// `worker` died running the task (the scheduler's record of it). A cancelled task is finished
  /// (its result already holds the error): returns true. Retried at the back of the queue while it
  /// has attempts left: returns true. Otherwise it is kept, with its arguments,
  /// as one of `worker`'s dying tasks (fail_dying()), and false is returned.
  bool worker_died(WorkerId worker, const SchedTask& running);
  /// The tasks `worker` was running when it died (its stack: nested tasks too), out of retries,
  /// or null.
  const std::vector<Dying>* dying(WorkerId worker) const noexcept;
  /// Fails `worker`'s dying tasks, each with the error `error_of` makes for it, releasing their
  /// arguments.
  void fail_dying(WorkerId worker,
                  const std::function<std::shared_ptr<const ErrorInfo>(const Dying&)>& error_of);

  /// Fails every object task `id` returns (its result, or its num_returns<N>() objects), and
  /// their waiting dependents; a task no longer known fails object `id` only.
  void fail_task(TaskId id, const std::shared_ptr<const ErrorInfo>& error);

  /// Fails object `id` and, transitively, every waiting task that needs it.
  void fail_object(ObjectId id, std::shared_ptr<const ErrorInfo> error);

  /// Fails every task, dying ones included (shutdown, a broken session); the scheduler is
  /// cleared.
  void fail_all(const std::shared_ptr<const ErrorInfo>& error);

  std::size_t size() const noexcept { return tasks_.size(); }
  /// Faults in the table's first memory now rather than in the session's first task
  /// (PooledMap::prime; 0 is never an id).
  void prime() { tasks_.prime(0); }

 private:
  void release_args(const TaskSpec& spec) noexcept;

  ReferenceTable& refs_;
  Scheduler& scheduler_;
  PooledMap<TaskId, TaskSpec> tasks_;  // nodes from a pool of its own (pooled_map.hpp)
  std::unordered_map<WorkerId, std::vector<Dying>> dying_;
};

}  // namespace shoal::internal
