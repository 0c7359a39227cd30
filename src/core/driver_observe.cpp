// Seeing inside the driver: the timeline's records, status(), memory_summary(), and what the
// shoal command asks over the control socket (<shoal/observe.hpp>, docs/observability.md).
#include <fmt/format.h>
#include <unistd.h>

#include "src/common/function_registry.hpp"
#include "src/common/system_info.hpp"
#include "src/core/driver_runtime.hpp"
#include "src/core/memory_summary.hpp"
#include "src/core/session_config.hpp"

namespace shoal::internal {
namespace {

// What the scheduler's record says of an attempt of `t` run by process `pid`.
TaskAttempt attempt_of(const SchedTask& t, pid_t pid) {
  TaskAttempt a;
  a.task = t.id;
  a.function_index = t.function_index;
  a.attempt = static_cast<std::uint32_t>(std::max(t.attempts, 1));
  a.pid = pid;
  a.submitted_ns = t.submitted_ns;
  a.ready_ns = t.ready_ns;
  return a;
}

}  // namespace

void DriverRuntime::record_attempt(const SchedTask& ran, WorkerId worker, const TaskDone& done,
                                   std::uint64_t result_bytes) noexcept try {
  ++tasks_done_[worker];
  if (!recording_) return;
  TaskAttempt a = attempt_of(ran, pool_->pid(worker));
  a.start_ns = done.start_ns;
  a.end_ns = done.start_ns + static_cast<std::int64_t>(done.exec_ns);
  a.store_ns = done.store_ns;
  a.result_bytes = result_bytes;
  switch (done.status) {
    case TaskStatus::kError:
    case TaskStatus::kRetryableError:
      a.error =
          std::make_shared<const std::string>(fmt::format("{}: {}", done.type_name, done.what));
      break;
    case TaskStatus::kStoreFull:
      a.error = std::make_shared<const std::string>(fmt::format(
          "ObjectStoreFullError: a result of {} bytes did not fit in the store", done.requested));
      break;
    default:
      break;
  }
  timeline_.add(std::move(a));
} catch (...) {  // out of memory: the task's result matters more than its record
}

void DriverRuntime::record_lost_attempt(const SchedTask& running, WorkerId worker,
                                        const std::string& reason) noexcept try {
  if (!recording_) return;
  TaskAttempt a = attempt_of(running, pool_->pid(worker));
  // The worker never said when it started: from when it was sent.
  a.start_ns = running.sent_ns != 0 ? running.sent_ns : running.ready_ns;
  a.end_ns = steady_now_ns();
  a.error = std::make_shared<const std::string>("the worker died: " + reason);
  timeline_.add(std::move(a));
} catch (...) {  // out of memory: the retry or the failure matters more than the record
}

void DriverRuntime::add_timeline_row(WorkerId worker) {
  const pid_t pid = pool_->pid(worker);
  std::string name;
  if (const ActorRecord* a = actors_.of_worker(worker)) {
    name = fmt::format("actor {} (pid {})", a->label, pid);
  } else {
    name = fmt::format("worker {} (pid {})", worker, pid);
  }
  // Rows in the order processes started, after the driver's (0).
  timeline_.add_row(TimelineRow{pid, std::move(name), static_cast<int>(worker) + 1});
}

std::string DriverRuntime::timeline_json() {
  check_not_abandoned();
  TraceInput in;
  {
    MutexLock<Mutex> lock(mu_);
    if (state_ == State::kStarting) throw NotInitializedError("shoal: init() has not finished");
    in.tasks = timeline_.snapshot();
  }
  in.calls = program_calls_.snapshot();
  in.driver_pid = static_cast<int>(getpid());
  in.origin_ns = origin_ns_;
  return chrome_trace_json(in);  // without the lock: tasks run on meanwhile
}

Status DriverRuntime::status() {
  check_not_abandoned();
  Status s;
  s.driver_pid = static_cast<int>(getpid());
  MutexLock<Mutex> lock(mu_);
  check_running();
  if (node_address_.empty()) node_address_ = node_address();
  s.total = resource_map(false, num_workers_, static_cast<double>(memory_bytes_), store_bytes_,
                         node_address_);
  s.available =
      resource_map(false, scheduler_.cpus_available(),
                   static_cast<double>(scheduler_.memory_available()), store_bytes_, node_address_);
  s.available["object_store_memory"] =
      static_cast<double>(store_bytes_ - std::min(store_bytes_, store_->used_bytes()));
  for (const WorkerPool::ProcessInfo& p : pool_->processes()) {
    WorkerStatus w;
    w.pid = static_cast<int>(p.pid);
    auto done = tasks_done_.find(p.id);
    if (done != tasks_done_.end()) w.tasks_done = done->second;
    if (const ActorRecord* a = actors_.of_worker(p.id)) w.actor = a->label;
    const TaskId running = scheduler_.running(p.id);
    if (running != 0) {
      if (const TaskSpec* spec = tasks_.find(running)) w.current_task = spec->name;
    }
    if (std::string_view(p.phase) != "ready") {
      w.state = p.phase;
    } else if (!w.actor.empty()) {
      w.state = "actor";
    } else if (running == 0) {
      w.state = "idle";
    } else {
      const SchedTask* t = scheduler_.find(running);
      w.state = t != nullptr && t->blocked ? "blocked" : "running";
    }
    s.workers.push_back(std::move(w));
  }
  std::stable_partition(s.workers.begin(), s.workers.end(),
                        [](const WorkerStatus& w) { return w.actor.empty(); });
  const Scheduler::StateCounts counts = scheduler_.state_counts();
  s.tasks.waiting_for_arguments = counts.waiting;
  s.tasks.queued = counts.queued;
  s.tasks.running = counts.running;
  s.tasks.finished = refs_.tasks_finished();
  s.tasks.failed = refs_.tasks_failed();
  actors_.for_each([&](const ActorRecord& a) {
    if (a.state != ActorRecord::State::kDead) ++s.actors;
  });
  s.store.capacity_bytes = store_bytes_;
  s.store.used_bytes = store_->used_bytes();
  s.store.inline_bytes = refs_.inline_bytes();
  s.store.num_objects = refs_.size();
  return s;
}

MemorySummary DriverRuntime::memory_summary() {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_running();
  MemorySummary m = summarize_objects(refs_, call_sites_);
  m.store.capacity_bytes = store_bytes_;
  m.store.used_bytes = store_->used_bytes();
  m.store.inline_bytes = refs_.inline_bytes();
  m.store.num_objects = refs_.size();
  return m;
}

void DriverRuntime::write_timeline_from_env() {
  {
    MutexLock<Mutex> lock(mu_);
    if (state_ != State::kRunning && state_ != State::kBroken) return;  // written already
  }
  write_timeline_for_env([this] { return timeline_json(); });
}

}  // namespace shoal::internal
