#include "src/core/task_manager.hpp"

#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/common/function_registry.hpp"
#include "src/common/symbolize.hpp"

namespace shoal::internal {
namespace {

std::string describe_function(detail::AnyFn fn, const char* signature) {
  std::string name = function_name_at(reinterpret_cast<const void*>(fn));
  if (name.empty()) name = fmt::format("the function at {}", reinterpret_cast<const void*>(fn));
  return fmt::format("{} (type {})", name, detail::demangle(signature));
}

}  // namespace

TaskSpec TaskManager::make_spec(detail::AnyFn fn, const char* signature, const TaskOptions& options,
                                const TaskLimits& limits) {
  const FunctionRegistry& registry = FunctionRegistry::instance();
  const std::optional<std::uint32_t> index = registry.index_of(fn);
  if (!index) {
    const std::string what = describe_function(fn, signature);
    throw FunctionNotRegisteredError(
        fmt::format(
            "shoal: {} is not a remote function; add SHOAL_REMOTE(name) for it at namespace "
            "scope in a file linked into the program",
            what),
        what);
  }
  const RegisteredFunction* function = registry.at(*index);
  if (*index >= limits.known_functions) {
    throw FunctionNotRegisteredError(
        fmt::format(
            "shoal: {} was registered after {}, so the workers do not have it; make sure its "
            "SHOAL_REMOTE runs before init(), at namespace scope in the program itself (with "
            "Config::start_method \"forkserver\", workers know only what the program's static "
            "initialisers register, not a library it loads at run time)",
            function->name, limits.functions_from_fresh_start ? "the program started" : "init()"),
        function->name);
  }
  if (!(options.num_cpus >= 0) || options.num_cpus > limits.cpus) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::num_cpus is {} for {}; use 0 to {} (the CPUs shoal was started with)",
        options.num_cpus, function->name, limits.cpus));
  }
  if (options.memory > limits.memory) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::memory is {} bytes for {}, more than the {} bytes shoal has for tasks",
        options.memory, function->name, limits.memory));
  }
  if (options.max_retries && *options.max_retries < -1) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::max_retries is {}; use 0 or more, or -1 to retry without limit",
        *options.max_retries));
  }
  TaskSpec spec;
  spec.function_index = *index;
  spec.function_check = function->check;
  spec.name = options.name.empty() ? function->name : options.name;
  spec.num_cpus = options.num_cpus;
  spec.memory = options.memory;
  spec.max_retries = options.max_retries.value_or(limits.default_max_retries);
  return spec;
}

void TaskManager::add(TaskSpec&& spec, const std::shared_ptr<const ErrorInfo>& refused) {
  const TaskId id = spec.id;
  refs_.add_pending(id, id);
  if (refused) {
    refs_.fail(id, refused);
    return;
  }
  std::shared_ptr<const ErrorInfo> failed_dep;
  std::uint32_t pending = 0;
  for (ObjectId dep : spec.deps) {
    refs_.add_ref(dep, Holder::task());  // the task holds its arguments until it finishes
    ObjectEntry* e = refs_.find(dep);
    if (e->state == ObjectState::kPending) {
      e->dependents.push_back(id);
      ++pending;
    } else if (e->state == ObjectState::kFailed && !failed_dep) {
      failed_dep = e->error;
    }
  }
  if (failed_dep) {  // Ray's rule: a task whose argument failed fails with the same error
    release_args(spec);
    fail_object(id, failed_dep);
    return;
  }
  scheduler_.add(SchedTask{id, spec.function_index, spec.num_cpus, spec.memory, pending, 0});
  tasks_.emplace(id, std::move(spec));
}

const TaskSpec* TaskManager::find(TaskId id) const noexcept {
  auto it = tasks_.find(id);
  return it == tasks_.end() ? nullptr : &it->second;
}

void TaskManager::dependencies_done(const std::vector<TaskId>& tasks) {
  for (TaskId t : tasks) scheduler_.dependency_done(t);
}

bool TaskManager::finish(TaskId id, std::string* name) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return false;
  if (name != nullptr) *name = std::move(it->second.name);
  // Erased before its arguments are released: a release may free objects, never this entry.
  const std::vector<ObjectId> deps = std::move(it->second.deps);
  tasks_.erase(it);
  for (ObjectId dep : deps) refs_.release(dep, Holder::task());
  return true;
}

bool TaskManager::worker_died(WorkerId worker, const SchedTask& running) {
  auto it = tasks_.find(running.id);
  if (it == tasks_.end()) return true;  // nothing left to fail
  const TaskSpec& spec = it->second;
  if (spec.max_retries < 0 || running.attempts <= spec.max_retries) {
    scheduler_.retry(running);  // at the back of the queue
    return true;
  }
  dying_[worker] = Dying{std::move(it->second), running.attempts};
  tasks_.erase(it);
  return false;
}

const TaskManager::Dying* TaskManager::dying(WorkerId worker) const noexcept {
  auto it = dying_.find(worker);
  return it == dying_.end() ? nullptr : &it->second;
}

void TaskManager::fail_dying(WorkerId worker, std::shared_ptr<const ErrorInfo> error) {
  auto it = dying_.find(worker);
  if (it == dying_.end()) return;
  TaskSpec spec = std::move(it->second.spec);
  dying_.erase(it);
  release_args(spec);
  fail_object(spec.id, std::move(error));
}

void TaskManager::fail_object(ObjectId id, std::shared_ptr<const ErrorInfo> error) {
  std::vector<ObjectId> work{id};
  while (!work.empty()) {
    const ObjectId object = work.back();
    work.pop_back();
    for (TaskId task : refs_.fail(object, error)) {
      if (!scheduler_.remove_waiting(task)) continue;  // not waiting (any more)
      if (finish(task)) work.push_back(task);
    }
  }
}

void TaskManager::fail_all(const std::shared_ptr<const ErrorInfo>& error) {
  scheduler_.clear();
  std::pmr::unordered_map<TaskId, TaskSpec> tasks = std::move(tasks_);
  tasks_.clear();
  for (auto& [worker, d] : dying_) tasks.emplace(d.spec.id, std::move(d.spec));
  dying_.clear();
  for (auto& [id, spec] : tasks) {
    release_args(spec);
    refs_.fail(id, error);
  }
}

void TaskManager::release_args(const TaskSpec& spec) noexcept {
  for (ObjectId dep : spec.deps) refs_.release(dep, Holder::task());
}

}  // namespace shoal::internal
