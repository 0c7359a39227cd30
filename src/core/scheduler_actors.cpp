// The scheduler's actor queues (see "Actors" in scheduler.hpp).
#include <algorithm>

#include "src/core/scheduler.hpp"
#include "src/core/timeline.hpp"

namespace shoal::internal {

void Scheduler::add_actor(ObjectId actor, std::size_t max_in_flight) {
  ActorQueue& a = actors_[actor];
  a.max_in_flight = std::max<std::size_t>(1, max_in_flight);
}

bool Scheduler::add_actor_call(const SchedTask& t, bool front) {
  auto it = actors_.find(t.actor);
  if (it == actors_.end()) return false;  // the runtime fails calls to unknown actors first
  tasks_.emplace(t.id, t);
  if (front) {
    it->second.queue.push_front(t.id);
  } else {
    it->second.queue.push_back(t.id);
  }
  if (t.deps_pending == 0) actor_may_send(t.actor);
  return true;
}

void Scheduler::actor_may_send(ObjectId actor) {
  auto it = actors_.find(actor);
  if (it == actors_.end() || it->second.worker == 0 || it->second.queue.empty()) return;
  if (std::find(actors_to_send_.begin(), actors_to_send_.end(), actor) == actors_to_send_.end()) {
    actors_to_send_.push_back(actor);
  }
}

std::optional<Scheduler::Assignment> Scheduler::next_actor_call() {
  while (!actors_to_send_.empty()) {
    const ObjectId actor = actors_to_send_.front();
    auto it = actors_.find(actor);
    if (it != actors_.end()) {
      ActorQueue& a = it->second;
      if (a.worker != 0 && !a.queue.empty() && a.in_flight.size() < a.max_in_flight) {
        SchedTask& t = tasks_.at(a.queue.front());
        if (t.deps_pending == 0) {  // else the calls behind it wait too: order holds
          a.queue.pop_front();
          a.in_flight.push_back(t.id);
          t.assigned = true;
          if (t.submitted_ns != 0) t.sent_ns = steady_now_ns();  // for the timeline
          ++t.attempts;
          // Its measured run time: a short call's reply may share a write with the next one's.
          // Stays in the list: maybe more.
          return Assignment{t.id, kLocalNode, a.worker, expected_ns(t.function_index)};
        }
      }
    }
    actors_to_send_.pop_front();
  }
  return std::nullopt;
}

std::optional<SchedTask> Scheduler::complete_actor_call(WorkerId, ObjectId actor, TaskId id) {
  ActorQueue& a = actors_.at(actor);
  auto at = std::find(a.in_flight.begin(), a.in_flight.end(), id);
  if (at == a.in_flight.end()) return std::nullopt;
  // With max_concurrency 1 the worker answers in order; with more, in any order.
  a.in_flight.erase(at);
  auto it = tasks_.find(id);
  const SchedTask task = it->second;
  tasks_.erase(it);
  actor_may_send(actor);
  return task;
}

bool Scheduler::remove_queued_call(const SchedTask& t) {
  auto it = actors_.find(t.actor);
  if (it == actors_.end()) return true;
  std::deque<TaskId>& q = it->second.queue;
  auto at = std::find(q.begin(), q.end(), t.id);
  if (at == q.end()) return false;  // in flight
  const bool was_front = at == q.begin();
  q.erase(at);
  if (was_front) actor_may_send(t.actor);  // the call behind it may go now
  return true;
}

void Scheduler::actor_worker_up(ObjectId actor, WorkerId worker) {
  ActorQueue& a = actors_.at(actor);
  a.worker = worker;
  actor_workers_[worker] = actor;
  actor_may_send(actor);
}

std::vector<SchedTask> Scheduler::actor_worker_down(ObjectId actor) {
  auto it = actors_.find(actor);
  if (it == actors_.end()) return {};
  ActorQueue& a = it->second;
  if (a.worker != 0) actor_workers_.erase(a.worker);
  a.worker = 0;
  std::vector<SchedTask> calls;
  for (TaskId id : a.in_flight) {
    auto t = tasks_.find(id);
    SchedTask task = t->second;
    tasks_.erase(t);
    task.assigned = false;
    task.blocked = false;
    calls.push_back(task);
  }
  a.in_flight.clear();
  return calls;
}

void Scheduler::requeue_actor(const std::vector<SchedTask>& calls) {
  for (auto c = calls.rbegin(); c != calls.rend(); ++c) {
    SchedTask task = *c;
    task.assigned = false;
    add_actor_call(task, /*front=*/true);
  }
}

std::vector<SchedTask> Scheduler::remove_actor(ObjectId actor) {
  auto it = actors_.find(actor);
  if (it == actors_.end()) return {};
  std::vector<SchedTask> calls;
  for (TaskId id : it->second.queue) {
    auto t = tasks_.find(id);
    calls.push_back(t->second);
    tasks_.erase(t);
  }
  for (TaskId id : it->second.in_flight) {  // the caller stopped its worker: they will not run
    auto t = tasks_.find(id);
    calls.push_back(t->second);
    tasks_.erase(t);
  }
  if (it->second.worker != 0) actor_workers_.erase(it->second.worker);
  actors_.erase(it);
  return calls;
}

std::size_t Scheduler::actor_pending(ObjectId actor) const noexcept {
  auto it = actors_.find(actor);
  return it == actors_.end() ? 0 : it->second.queue.size() + it->second.in_flight.size();
}

ObjectId Scheduler::actor_of(WorkerId worker) const noexcept {
  auto it = actor_workers_.find(worker);
  return it == actor_workers_.end() ? 0 : it->second;
}

const std::vector<TaskId>* Scheduler::actor_in_flight(ObjectId actor) const noexcept {
  auto it = actors_.find(actor);
  return it == actors_.end() ? nullptr : &it->second.in_flight;
}

bool Scheduler::reserve(double cpus) noexcept {
  if (cpus > cpus_available_ + 1e-9) return false;
  cpus_available_ -= cpus;
  return true;
}

}  // namespace shoal::internal
