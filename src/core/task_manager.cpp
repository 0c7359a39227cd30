#include "src/core/task_manager.hpp"

#include <algorithm>

#include <shoal/errors.hpp>

namespace shoal::internal {
namespace {

// The objects a task returns: its own id, or its num_returns<N>() list.
std::vector<ObjectId> returns_of(const TaskSpec& spec) {
  return spec.returns().empty() ? std::vector<ObjectId>{spec.id} : spec.returns();
}

}  // namespace

void TaskManager::add(TaskSpec&& spec, const std::shared_ptr<const ErrorInfo>& refused,
                      Holder owner, bool front) {
  const TaskId id = spec.id;
  refs_.add_pending(id, id, owner).call_site = spec.call_site_index;
  for (std::size_t k = 1; k < spec.returns().size(); ++k) {
    refs_.add_pending(spec.returns()[k], id, owner).call_site = spec.call_site_index;
  }
  if (refused) {
    for (ObjectId r : returns_of(spec)) refs_.fail(r, refused);
    return;
  }
  for (ObjectId held : spec.contained()) refs_.add_ref(held, Holder::task());
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
    for (ObjectId r : returns_of(spec)) fail_object(r, failed_dep);
    return;
  }
  SchedTask sched{id, spec.function_index, spec.num_cpus, spec.memory, pending, 0};
  sched.several_returns = !spec.returns().empty();
  sched.actor = spec.actor;
  sched.submitted_ns = spec.submitted_ns;
  scheduler_.add(sched, front);
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
  std::vector<ObjectId> contained;
  if (it->second.rare) contained = std::move(it->second.rare->contained);
  tasks_.erase(it);
  for (ObjectId dep : deps) refs_.release(dep, Holder::task());
  for (ObjectId held : contained) refs_.release(held, Holder::task());
  return true;
}

bool TaskManager::mark_cancelled(TaskId id) noexcept {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return false;
  it->second.cancelled = true;
  return true;
}

std::vector<TaskId> TaskManager::descendants(TaskId id) const {
  std::vector<TaskId> out;
  std::vector<TaskId> parents{id};
  while (!parents.empty()) {
    const TaskId p = parents.back();
    parents.pop_back();
    for (const auto& [child, spec] : tasks_) {
      if (spec.parent == p) {
        out.push_back(child);
        parents.push_back(child);
      }
    }
  }
  return out;
}

bool TaskManager::worker_died(WorkerId worker, const SchedTask& running) {
  auto it = tasks_.find(running.id);
  if (it == tasks_.end()) return true;  // nothing left to fail
  const TaskSpec& spec = it->second;
  if (spec.cancelled) {
    finish(running.id);
    return true;
  }
  if (spec.max_retries < 0 || running.attempts <= spec.max_retries) {
    scheduler_.retry(running);  // at the back of the queue
    return true;
  }
  dying_[worker].push_back(Dying{std::move(it->second), running.attempts});
  tasks_.erase(it);
  return false;
}

const std::vector<TaskManager::Dying>* TaskManager::dying(WorkerId worker) const noexcept {
  auto it = dying_.find(worker);
  return it == dying_.end() ? nullptr : &it->second;
}

void TaskManager::fail_dying(
    WorkerId worker,
    const std::function<std::shared_ptr<const ErrorInfo>(const Dying&)>& error_of) {
  auto it = dying_.find(worker);
  if (it == dying_.end()) return;
  std::vector<Dying> dying = std::move(it->second);
  dying_.erase(it);
  for (Dying& d : dying) {
    const std::shared_ptr<const ErrorInfo> error = error_of(d);
    release_args(d.spec);
    for (ObjectId r : returns_of(d.spec)) fail_object(r, error);
  }
}

std::size_t TaskManager::drop_unreferenced(const std::vector<ObjectId>& objects) {
  std::size_t dropped = 0;
  std::vector<ObjectId> work = objects;
  while (!work.empty()) {
    const ObjectId id = work.back();
    work.pop_back();
    const ObjectEntry* e = refs_.find(id);
    if (e == nullptr || e->state != ObjectState::kPending || e->referenced()) continue;
    auto it = tasks_.find(e->producer);  // the task, whichever of its returns this is
    if (it == tasks_.end()) continue;
    const std::vector<ObjectId> outs = returns_of(it->second);
    const bool all_orphans = std::all_of(outs.begin(), outs.end(), [&](ObjectId r) {
      const ObjectEntry* o = refs_.find(r);
      return o == nullptr || (o->state == ObjectState::kPending && !o->referenced());
    });
    if (!all_orphans || !scheduler_.remove_waiting(it->first)) continue;  // held, or running
    std::vector<ObjectId> deps = std::move(it->second.deps);
    deps.insert(deps.end(), it->second.contained().begin(), it->second.contained().end());
    tasks_.erase(it);
    ++dropped;
    // Nobody can see them: failing them lets the table free them.
    const auto dropped_error = session_error(ErrorInfo::Kind::kCancelled,
                                             "shoal: the task was dropped: the task that submitted "
                                             "it died and nobody held its result");
    for (ObjectId r : outs) refs_.fail(r, dropped_error);
    for (ObjectId dep : deps) {
      refs_.release(dep, Holder::task());
      work.push_back(dep);  // an argument only this task held may be a dropped task's result
    }
  }
  return dropped;
}

void TaskManager::fail_task(TaskId id, const std::shared_ptr<const ErrorInfo>& error) {
  auto it = tasks_.find(id);
  const std::vector<ObjectId> outs =
      it == tasks_.end() ? std::vector<ObjectId>{id} : returns_of(it->second);
  for (ObjectId r : outs) fail_object(r, error);
}

void TaskManager::fail_object(ObjectId id, std::shared_ptr<const ErrorInfo> error) {
  std::vector<ObjectId> work{id};
  while (!work.empty()) {
    const ObjectId object = work.back();
    work.pop_back();
    for (TaskId task : refs_.fail(object, error)) {
      if (!scheduler_.remove_waiting(task)) continue;  // not waiting (any more)
      auto it = tasks_.find(task);
      if (it == tasks_.end()) continue;
      const std::vector<ObjectId> outs = returns_of(it->second);
      finish(task);
      work.insert(work.end(), outs.begin(), outs.end());
    }
  }
}

void TaskManager::fail_all(const std::shared_ptr<const ErrorInfo>& error) {
  scheduler_.clear();
  std::pmr::unordered_map<TaskId, TaskSpec> tasks = std::move(tasks_);
  tasks_.clear();
  for (auto& [worker, stack] : dying_) {
    for (Dying& d : stack) tasks.emplace(d.spec.id, std::move(d.spec));
  }
  dying_.clear();
  for (auto& [id, spec] : tasks) {
    release_args(spec);
    for (ObjectId r : returns_of(spec)) refs_.fail(r, error);
  }
}

void TaskManager::release_args(const TaskSpec& spec) noexcept {
  for (ObjectId dep : spec.deps) refs_.release(dep, Holder::task());
  for (ObjectId held : spec.contained()) refs_.release(held, Holder::task());
}

}  // namespace shoal::internal
