#include "src/core/scheduler.hpp"

#include <algorithm>
#include <cstdint>

#include "src/core/timeline.hpp"

namespace shoal::internal {
namespace {
constexpr double kPipelineBudgetNs = 500'000;  // known work a task may wait behind
constexpr std::size_t kMaxDepth = 64;          // tasks in flight per worker
constexpr double kAverageWeight = 0.2;         // of the newest run time sample
}  // namespace

Scheduler::Scheduler(double total_cpus, std::uint64_t total_memory)
    : cpus_available_(total_cpus), memory_available_(total_memory) {}

void Scheduler::add(SchedTask task, bool front) {
  const TaskId id = task.id;
  const bool ready = task.deps_pending == 0;
  if (ready) task.ready_ns = task.submitted_ns;
  if (task.actor != 0) {
    add_actor_call(task, front);
    return;
  }
  tasks_.emplace(id, task);
  if (ready) ready_.push_back(id);
}

SchedTask* Scheduler::find(TaskId id) noexcept {
  auto it = tasks_.find(id);
  return it == tasks_.end() ? nullptr : &it->second;
}

std::optional<SchedTask> Scheduler::remove_waiting(TaskId id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return std::nullopt;
  if (it->second.actor != 0) {
    if (!remove_queued_call(it->second)) return std::nullopt;  // its worker has it
  } else if (it->second.deps_pending == 0) {
    auto r = std::find(ready_.begin(), ready_.end(), id);
    if (r == ready_.end()) return std::nullopt;  // a worker has it
    ready_.erase(r);
  }
  const SchedTask task = it->second;
  tasks_.erase(it);
  return task;
}

void Scheduler::dependency_done(TaskId id) {
  SchedTask* t = find(id);
  if (t == nullptr || t->deps_pending == 0) return;
  if (--t->deps_pending != 0) return;
  if (t->submitted_ns != 0) t->ready_ns = steady_now_ns();  // recorded for the timeline
  if (t->actor != 0) {
    actor_may_send(t->actor);
  } else {
    ready_.push_back(id);
  }
}

double Scheduler::expected_ns(std::uint32_t function_index) const {
  return function_index < avg_ns_.size() ? avg_ns_[function_index] : 0;
}

bool Scheduler::can_queue_behind(const WorkerQueue& w, const SchedTask& t) const {
  if (w.queue.size() >= kMaxDepth || w.unknown > 0) return false;
  if (w.blocked > 0 || !w.nested.empty()) return false;  // it waits for other tasks
  const SchedTask& last = tasks_.at(w.queue.back().task);
  if (t.num_cpus > last.num_cpus + 1e-9 || t.memory > last.memory) return false;
  if (w.expected_ns <= kPipelineBudgetNs) return true;  // behind a little known work
  // One task behind a long one, while there is a task waiting for every worker: then no worker
  // will go idle for want of it, and the next task is already there when the running one ends,
  // instead of a round trip through the driver later (which, with every core busy, waits for
  // the driver to get a core: hundreds of microseconds measured on our VMs).
  return w.queue.size() == 1 && ready_.size() >= workers_.size();
}

std::optional<Scheduler::Assignment> Scheduler::next() {
  if (!actors_to_send_.empty()) {
    if (std::optional<Assignment> a = next_actor_call()) return a;
  }
  if (ready_.empty()) return std::nullopt;
  const TaskId id = ready_.front();
  SchedTask& t = tasks_.at(id);
  auto idle = workers_.end(), pipelined = workers_.end();
  std::size_t shortest = SIZE_MAX;
  for (auto it = workers_.begin(); it != workers_.end(); ++it) {
    const WorkerQueue& w = it->second;
    if (w.queue.empty()) {
      if (t.num_cpus <= cpus_available_ + 1e-9 && t.memory <= memory_available_) {
        idle = it;
        break;
      }
    } else if (w.queue.size() < shortest && can_queue_behind(w, t)) {
      pipelined = it;
      shortest = w.queue.size();
    }
  }
  const auto chosen = idle != workers_.end() ? idle : pipelined;
  if (chosen == workers_.end()) return std::nullopt;
  ready_.pop_front();
  t.assigned = true;
  if (t.submitted_ns != 0) t.sent_ns = steady_now_ns();  // recorded for the timeline
  WorkerQueue& w = chosen->second;
  const double expected = expected_ns(t.function_index);
  w.queue.push_back(Queued{id, expected});
  if (expected > 0) {
    w.expected_ns += expected;
  } else {
    ++w.unknown;
  }
  if (w.queue.size() == 1) start(t);
  return Assignment{id, kLocalNode, chosen->first, expected};
}

void Scheduler::start(SchedTask& t) {
  ++t.attempts;
  cpus_available_ -= t.num_cpus;
  memory_available_ -= t.memory;
}

void Scheduler::stop(const SchedTask& t) {
  if (!t.blocked) cpus_available_ += t.num_cpus;
  memory_available_ += t.memory;
}

void Scheduler::record_run_time(std::uint32_t function_index, std::uint64_t exec_ns) {
  if (function_index >= avg_ns_.size()) avg_ns_.resize(function_index + 1, 0);
  double& avg = avg_ns_[function_index];
  const double sample = std::max(1.0, static_cast<double>(exec_ns));
  avg = avg <= 0 ? sample : avg + kAverageWeight * (sample - avg);
}

TaskId Scheduler::pop_front(WorkerQueue& w) {
  const Queued q = w.queue.front();
  w.queue.pop_front();
  if (q.expected_ns > 0) {
    w.expected_ns = w.queue.empty() ? 0 : w.expected_ns - q.expected_ns;
  } else {
    --w.unknown;
  }
  return q.task;
}

std::optional<SchedTask> Scheduler::complete(WorkerId worker, TaskId id, std::uint64_t exec_ns) {
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) {
    auto a = actor_workers_.find(worker);
    if (a == actor_workers_.end()) return std::nullopt;
    std::optional<SchedTask> call = complete_actor_call(worker, a->second, id);
    if (call) record_run_time(call->function_index, exec_ns);
    return call;
  }
  WorkerQueue& w = wit->second;
  const bool head = w.nested.empty();
  if (!head) {
    if (w.nested.back() != id) return std::nullopt;
    w.nested.pop_back();
  } else {
    if (w.queue.empty() || w.queue.front().task != id) return std::nullopt;
    pop_front(w);
  }
  auto it = tasks_.find(id);
  const SchedTask task = it->second;
  tasks_.erase(it);
  if (task.blocked) --w.blocked;  // cannot happen: a blocked task answers nothing
  stop(task);
  if (head && !w.queue.empty()) start(tasks_.at(w.queue.front().task));
  record_run_time(task.function_index, exec_ns);
  return task;
}

std::vector<TaskId> Scheduler::block(WorkerId worker) {
  auto wit = workers_.find(worker);
  if (wit == workers_.end() || wit->second.queue.empty()) return {};
  WorkerQueue& w = wit->second;
  SchedTask& top = tasks_.at(w.nested.empty() ? w.queue.front().task : w.nested.back());
  if (top.blocked) return {};
  top.blocked = true;
  ++w.blocked;
  cpus_available_ += top.num_cpus;
  // Tasks queued behind the head would wait for the whole stack: they go back, in order.
  std::vector<TaskId> revoked;
  while (w.queue.size() > 1) {
    const Queued q = w.queue.back();
    w.queue.pop_back();
    if (q.expected_ns > 0) {
      w.expected_ns -= q.expected_ns;
    } else {
      --w.unknown;
    }
    ready_.push_front(q.task);
    tasks_.at(q.task).assigned = false;
    revoked.push_back(q.task);
  }
  std::reverse(revoked.begin(), revoked.end());
  return revoked;
}

void Scheduler::unblock(WorkerId worker, TaskId id) {
  SchedTask* t = find(id);
  auto wit = workers_.find(worker);
  if (t == nullptr || !t->blocked || wit == workers_.end()) return;
  t->blocked = false;
  --wit->second.blocked;
  cpus_available_ -= t->num_cpus;  // may go below zero for a while, as in Ray
}

std::optional<Scheduler::Assignment> Scheduler::assign_nested(WorkerId worker, TaskId id) {
  auto wit = workers_.find(worker);
  if (wit == workers_.end() || wit->second.queue.empty()) return std::nullopt;
  WorkerQueue& w = wit->second;
  const SchedTask& top = tasks_.at(w.nested.empty() ? w.queue.front().task : w.nested.back());
  SchedTask* t = find(id);
  if (!top.blocked || t == nullptr || t->deps_pending != 0) return std::nullopt;
  if (t->num_cpus > cpus_available_ + 1e-9 || t->memory > memory_available_) return std::nullopt;
  // Usually just submitted by the blocked task: near the back.
  auto it = std::find(ready_.rbegin(), ready_.rend(), id);
  if (it == ready_.rend()) return std::nullopt;  // assigned already
  ready_.erase(std::next(it).base());
  t->assigned = true;
  if (t->submitted_ns != 0) t->sent_ns = steady_now_ns();
  w.nested.push_back(id);
  start(*t);
  return Assignment{id, kLocalNode, worker, expected_ns(t->function_index)};
}

TaskId Scheduler::running(WorkerId worker) const noexcept {
  auto it = workers_.find(worker);
  if (it == workers_.end()) {
    const ObjectId actor = actor_of(worker);
    const std::vector<TaskId>* in_flight = actor != 0 ? actor_in_flight(actor) : nullptr;
    return in_flight != nullptr && !in_flight->empty() ? in_flight->front() : 0;
  }
  if (it->second.queue.empty()) return 0;
  const WorkerQueue& w = it->second;
  return w.nested.empty() ? w.queue.front().task : w.nested.back();
}

Scheduler::StateCounts Scheduler::state_counts() const {
  StateCounts c;
  for (const auto& [id, t] : tasks_) {
    if (t.deps_pending != 0) {
      ++c.waiting;
    } else if (!t.assigned) {
      ++c.queued;
    }
  }
  for (const auto& [worker, w] : workers_) {
    if (w.queue.empty()) continue;
    ++c.running;  // its head
    c.queued += w.queue.size() - 1;
    c.running += w.nested.size();
  }
  for (const auto& [actor, a] : actors_) {
    if (a.in_flight.empty()) continue;
    ++c.running;
    c.queued += a.in_flight.size() - 1;
  }
  return c;
}

std::optional<Scheduler::Placement> Scheduler::placement(TaskId id) const noexcept {
  auto t = tasks_.find(id);
  if (t == tasks_.end() || !t->second.assigned) return std::nullopt;
  if (t->second.actor != 0) {
    auto a = actors_.find(t->second.actor);
    if (a == actors_.end()) return std::nullopt;
    const std::vector<TaskId>& f = a->second.in_flight;
    const auto at = std::find(f.begin(), f.end(), id);
    if (at == f.end()) return std::nullopt;
    // Calls run in order, max_in_flight ahead; the first one surely runs.
    return Placement{a->second.worker, at == f.begin()};
  }
  for (const auto& [worker, w] : workers_) {
    if (std::find(w.nested.begin(), w.nested.end(), id) != w.nested.end()) {
      return Placement{worker, true};
    }
    for (std::size_t i = 0; i < w.queue.size(); ++i) {
      if (w.queue[i].task == id) return Placement{worker, i == 0};
    }
  }
  return std::nullopt;
}

std::size_t Scheduler::stack_depth(WorkerId worker) const noexcept {
  auto it = workers_.find(worker);
  if (it == workers_.end() || it->second.queue.empty()) return 0;
  return 1 + it->second.nested.size();
}

int Scheduler::busy_workers() const noexcept {
  return static_cast<int>(std::count_if(workers_.begin(), workers_.end(),
                                        [](const auto& w) { return !w.second.queue.empty(); }));
}

bool Scheduler::ready_task_fits() const noexcept {
  if (ready_.empty()) return false;
  auto it = tasks_.find(ready_.front());
  return it != tasks_.end() && it->second.num_cpus <= cpus_available_ + 1e-9 &&
         it->second.memory <= memory_available_;
}

void Scheduler::worker_up(WorkerId worker) { workers_.try_emplace(worker); }

std::vector<SchedTask> Scheduler::worker_down(WorkerId worker) {
  auto wit = workers_.find(worker);
  if (wit == workers_.end()) return {};
  WorkerQueue w = std::move(wit->second);
  workers_.erase(wit);
  if (w.queue.empty()) return {};
  // Queued tasks never started: back to the front of the ready queue, keeping their order.
  for (auto it = w.queue.rbegin(); it + 1 != w.queue.rend(); ++it) {
    ready_.push_front(it->task);
    tasks_.at(it->task).assigned = false;
  }
  std::vector<TaskId> stack{w.queue.front().task};
  stack.insert(stack.end(), w.nested.begin(), w.nested.end());
  std::vector<SchedTask> running;
  for (TaskId id : stack) {
    auto it = tasks_.find(id);
    SchedTask task = it->second;
    tasks_.erase(it);
    stop(task);
    task.blocked = false;
    task.assigned = false;
    running.push_back(task);
  }
  return running;
}

void Scheduler::retry(SchedTask task) {
  const TaskId id = task.id;
  task.assigned = false;
  task.blocked = false;
  // At the back: a task that keeps killing its worker must not starve the tasks behind it.
  if (tasks_.emplace(id, task).second) ready_.push_back(id);
}

std::vector<SchedTask> Scheduler::clear() {
  for (auto& [id, w] : workers_) {
    if (!w.queue.empty()) stop(tasks_.at(w.queue.front().task));  // give back what it held
    for (TaskId nested : w.nested) stop(tasks_.at(nested));
    w.nested.clear();
    w.blocked = 0;
    w.queue.clear();
    w.expected_ns = 0;
    w.unknown = 0;
  }
  for (auto& [actor, a] : actors_) {
    a.queue.clear();
    a.in_flight.clear();
  }
  actors_to_send_.clear();
  std::vector<SchedTask> out;
  out.reserve(tasks_.size());
  for (auto& [id, task] : tasks_) out.push_back(task);
  tasks_.clear();
  ready_.clear();
  return out;
}

}  // namespace shoal::internal
