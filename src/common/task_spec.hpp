// A task as submitted: which function, its options, its encoded arguments, and the objects it
// waits for; and the checks a call must pass before it becomes one. Shared by every runtime that
// submits tasks (the driver, local mode, a worker's task calling remote()).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <shoal/config.hpp>
#include <shoal/detail/byte_buffer.hpp>
#include <shoal/detail/call_site.hpp>
#include <shoal/detail/runtime_api.hpp>

#include "src/common/ids.hpp"

namespace shoal::internal {

class CoreRuntime;

struct TaskSpec {
  TaskId id = 0;  // the task's id is its result object's id
  std::uint32_t function_index = 0;
  std::uint64_t function_check = 0;
  std::string name;  // for logs and errors
  double num_cpus = 1;
  std::uint64_t memory = 0;
  int max_retries = 3;            // -1 = forever
  bool retry_exceptions = false;  // a throw makes it run again (attempts permitting)
  bool cancelled = false;         // shoal::cancel(): never retried; its result is an error
  detail::ByteBuffer args;        // argument records, refs unresolved
  std::uint32_t arg_count = 0;
  std::vector<ObjectId> deps;  // object ids of the ref records, by ref index
  TaskId parent = 0;           // the task that submitted it (0: the program)
  // Where it was submitted: the program's remote() call (a worker's arrives as text instead, see
  // decode_submit()), and its number in the driver's CallSites once registered.
  detail::CallSite call_site{};
  std::uint32_t call_site_index = 0;
  std::int64_t submitted_ns = 0;  // steady clock, for the timeline; 0 when it does not record
  // An actor's call (or its constructor): it runs on that actor's process, in submission order.
  // The actor's id is the id of the object its handles hold.
  ObjectId actor = 0;
  int node = -1;  // TaskOptions::node_rank: the node that must run it (src/cluster/); -1: any

  // What few tasks have, kept out of line: every pending task's spec lives in the task table,
  // whose nodes stay small (and in cache) this way.
  struct Rare {
    std::vector<std::uint64_t> retry_types;  // retry only these exception types; empty: any
    // Refs inside its by-value arguments (a vector of refs): not waited for, but held while the
    // task is pending, since the worker will read them.
    std::vector<ObjectId> contained;
    // num_returns<N>(): the N objects it returns, the first being `id`; empty for one return.
    std::vector<ObjectId> returns;
  };
  std::unique_ptr<Rare> rare;  // null: none of them

  /// The rare parts, made on first use.
  Rare& rare_parts() {
    if (!rare) rare = std::make_unique<Rare>();
    return *rare;
  }
  const std::vector<std::uint64_t>& retry_types() const noexcept {
    return rare ? rare->retry_types : none();
  }
  const std::vector<ObjectId>& contained() const noexcept {
    return rare ? rare->contained : none();
  }
  const std::vector<ObjectId>& returns() const noexcept { return rare ? rare->returns : none(); }

 private:
  static const std::vector<std::uint64_t>& none() noexcept {
    static const std::vector<std::uint64_t> empty;
    return empty;
  }
};

/// A copy of `spec` (a restarted actor runs its constructor's call again).
TaskSpec copy_task_spec(const TaskSpec& spec);

/// What a session allows a task to ask for.
struct TaskLimits {
  double cpus = 0;                          // Config::num_cpus, resolved
  std::uint64_t memory = 0;                 // bytes for tasks
  int default_max_retries = 3;              // Config::max_retries
  std::uint32_t known_functions = 0;        // registered functions the workers have
  bool functions_from_fresh_start = false;  // the workers are a fresh start of the program
};

/// Checks the call (a registered function the workers know, options in range) and builds its
/// spec, without its id, arguments and dependencies yet. Needs no lock. Throws
/// FunctionNotRegisteredError, InvalidConfigError.
TaskSpec make_task_spec(detail::AnyFn fn, const char* signature, const TaskOptions& options,
                        const TaskLimits& limits);

/// Moves a remote() call's arguments into `spec`: their records, the ObjectRef arguments as
/// dependencies (the task waits for them) and the refs inside by-value values as refs it holds
/// (not waited for, as in Ray). Their handles go to `refs`, which the caller keeps until the task
/// is registered (a large argument's object has no other holder before). Throws
/// InvalidObjectRefError for an ObjectRef argument that `owner` did not make.
void take_arguments(TaskSpec& spec, detail::TaskArgs& args, const CoreRuntime& owner,
                    std::vector<detail::HandlePtr>& refs);

/// wait()'s num_returns against the number of refs: InvalidConfigError if it asks for more.
void check_num_returns(std::size_t num_returns, std::size_t refs);

}  // namespace shoal::internal
