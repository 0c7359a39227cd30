// shoal::cancel() on the driver (Ray's ray.cancel): a task that has not started is taken out of
// the scheduler and never runs; one sent to a worker is told to stop (CancelTask: the worker skips
// it if it has not started it, or flags it for shoal::is_cancelled(); a get() or wait() it is
// blocked in ends with TaskCancelledError); with force, the worker running it is killed. In every
// case the task's result fails at once with TaskCancelledError (so do the tasks waiting for it),
// whatever the worker still sends for it is dropped, and it is never retried. Recursive cancels
// also cancel what the task submitted (TaskSpec::parent), transitively.
#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/common/function_registry.hpp"
#include "src/core/driver_runtime.hpp"
#include "src/transport/task_calls.hpp"

namespace shoal::internal {

void DriverRuntime::cancel(ObjectId id, bool force, bool recursive) {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  // Shutting down or broken: every pending task fails anyway; stopped: the ref is stale.
  if (state_ == State::kStopping || state_ == State::kBroken) return;
  check_running();
  const ObjectEntry* e = refs_.find(id);
  if (e == nullptr) {
    throw InvalidObjectRefError("shoal: cancel() was given a ref to an object that is gone");
  }
  if (e->producer == 0) {
    throw InvalidObjectRefError(
        "shoal: cancel() was given the ref of a value that put() made; only tasks can be "
        "cancelled");
  }
  cancel_locked(e->producer, force, recursive);  // any of a task's returns names the task
  pump();
}

void DriverRuntime::on_cancel(WorkerId, const Frame& frame) {
  const Cancel m = decode_cancel(frame);
  const ObjectEntry* e = refs_.find(m.task);
  if (e == nullptr || e->producer == 0) return;  // nothing to cancel (its ref was checked there)
  cancel_locked(e->producer, m.force, m.recursive);
}

void DriverRuntime::cancel_locked(TaskId id, bool force, bool recursive) {
  if (tasks_.find(id) == nullptr) {  // finished, or placed on another node (its own producer)
    const ObjectEntry* e = nodes_ ? refs_.find(id) : nullptr;
    if (e == nullptr || e->state != ObjectState::kPending || e->producer != id) return;
    const RegisteredFunction* fn = FunctionRegistry::instance().at(e->function_index);
    tasks_.fail_object(id, session_error(ErrorInfo::Kind::kCancelled,
                                         fmt::format("shoal: the task {} was cancelled "
                                                     "(shoal::cancel())",
                                                     fn != nullptr ? fn->name : "?")));
    nodes_->cancel(id, force);  // what it submitted there is cancelled with it (recursive)
    return;
  }
  std::vector<TaskId> targets{id};
  if (recursive) {
    const std::vector<TaskId> below = tasks_.descendants(id);
    targets.insert(targets.end(), below.begin(), below.end());
  }
  for (TaskId t : targets) cancel_one(t, force);
}

void DriverRuntime::cancel_one(TaskId t, bool force) {
  if (!tasks_.mark_cancelled(t)) return;  // finished, or dying
  const auto error = session_error(
      ErrorInfo::Kind::kCancelled,
      fmt::format("shoal: the task {} was cancelled (shoal::cancel())", tasks_.find(t)->name));
  const std::optional<Scheduler::Placement> where = scheduler_.placement(t);
  tasks_.fail_task(t, error);  // get() throws now; what a worker sends for it is dropped
  if (!where) {                // waiting for its arguments, or ready: it never runs
    if (scheduler_.remove_waiting(t)) tasks_.finish(t);
    return;
  }
  const WorkerId worker = where->worker;
  if (force && where->started) {
    // Connections are closed on the I/O thread; the task may have finished by then.
    io_->post([this, worker, t] {
      MutexLock<Mutex> lock(mu_);
      if (state_ != State::kRunning) return;
      const std::optional<Scheduler::Placement> now = scheduler_.placement(t);
      if (!now || now->worker != worker || !now->started) return;
      pool_->kill(worker, "was killed by shoal::cancel() with force");
      pump();
    });
    return;
  }
  send_to_worker(worker, [&](detail::ByteBuffer& out) { encode_cancel_task(out, t); });
  end_calls_of(worker, t);
}

}  // namespace shoal::internal
