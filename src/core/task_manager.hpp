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
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <shoal/config.hpp>
#include <shoal/detail/byte_buffer.hpp>
#include <shoal/detail/runtime_api.hpp>

#include "src/common/ids.hpp"
#include "src/common/pooled_map.hpp"
#include "src/core/error_info.hpp"
#include "src/core/reference_table.hpp"
#include "src/core/scheduler.hpp"

namespace shoal::internal {

struct TaskSpec {
  TaskId id = 0;  // the task's id is its result object's id
  std::uint32_t function_index = 0;
  std::uint64_t function_check = 0;
  std::string name;  // for logs and errors
  double num_cpus = 1;
  std::uint64_t memory = 0;
  int max_retries = 3;      // -1 = forever
  detail::ByteBuffer args;  // argument records, refs unresolved
  std::uint32_t arg_count = 0;
  std::vector<ObjectId> deps;  // object ids of the ref records, by ref index
};

/// What a session allows a task to ask for.
struct TaskLimits {
  double cpus = 0;                          // Config::num_cpus, resolved
  std::uint64_t memory = 0;                 // bytes for tasks
  int default_max_retries = 3;              // Config::max_retries
  std::uint32_t known_functions = 0;        // registered functions the workers have
  bool functions_from_fresh_start = false;  // the workers are a fresh start of the program
};

class TaskManager {
 public:
  TaskManager(ReferenceTable& refs, Scheduler& scheduler) : refs_(refs), scheduler_(scheduler) {}
  TaskManager(const TaskManager&) = delete;
  TaskManager& operator=(const TaskManager&) = delete;

  /// Checks the call (a registered function the workers know, options in range) and builds its
  /// spec, without its id, arguments and dependencies yet. Needs no lock. Throws
  /// FunctionNotRegisteredError, InvalidConfigError.
  static TaskSpec make_spec(detail::AnyFn fn, const char* signature, const TaskOptions& options,
                            const TaskLimits& limits);

  /// Registers a submitted task (spec.id set): its result object, its argument references; then
  /// the scheduler, or at once a failure if an argument has failed. If `refused` is set (the
  /// session is ending or broken), the task fails with it instead.
  void add(TaskSpec&& spec, const std::shared_ptr<const ErrorInfo>& refused = nullptr);

  const TaskSpec* find(TaskId id) const noexcept;

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

  /// `worker` died running the task (the scheduler's record of it). Retried at the back of the
  /// queue while it has attempts left: returns true. Otherwise it is kept, with its arguments,
  /// as `worker`'s dying task (fail_dying()), and false is returned.
  bool worker_died(WorkerId worker, const SchedTask& running);
  /// The task `worker` was running when it died, out of retries, or null.
  const Dying* dying(WorkerId worker) const noexcept;
  /// Fails `worker`'s dying task with `error`, releasing its arguments.
  void fail_dying(WorkerId worker, std::shared_ptr<const ErrorInfo> error);

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
  std::unordered_map<WorkerId, Dying> dying_;
};

}  // namespace shoal::internal
