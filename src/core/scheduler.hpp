// Which task runs where, and when: the scheduler assigns each task to a (node, worker) pair. Pure
// bookkeeping: no I/O and no locking, so it can be tested on its own; the runtime calls it with its
// lock held and sends the messages. One node (the driver's machine) for now.
//
// A task is *waiting* until its ObjectRef arguments exist, then *ready* (FIFO queue), then
// *assigned* to a worker. Each worker has a queue of assigned tasks that it runs in order; the
// head is the one running. Workers are known by id (WorkerId), from worker_up() to worker_down().
//
// Resources, as in Ray: a task holds TaskOptions::num_cpus and memory while it runs (while it is
// the head of its worker's queue). A task starts on an idle worker only if what it needs is
// available.
//
// Pipelining: a task may also be queued behind the running one on a busy worker, so that the
// worker never waits a round trip through the driver between two tasks. It is only queued behind
// work whose length is known (every task ahead of it belongs to a function whose average run time
// has been measured), in two cases:
//  - the work ahead takes at most kPipelineBudget (500 us) in all: a stream of tiny tasks then
//    keeps up to 64 in flight per worker;
//  - it is the only task behind a long one, and the ready queue still holds a task for every
//    worker: no worker can go idle for want of it, and the next task is there the moment the
//    running one ends (with every core busy, the driver's own round trip waits for a core).
// So a task never waits behind an unknown task, nor behind a long one while a worker might free
// up with nothing else to do (head-of-line blocking). Since a queued task starts the moment its
// predecessor ends, it is only queued behind a task that holds at least the resources it needs.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include <boost/container/flat_map.hpp>

#include "src/common/ids.hpp"
#include "src/common/pooled_map.hpp"

namespace shoal::internal {

/// What the scheduler knows of a task (the task manager has the rest of its spec).
struct SchedTask {
  TaskId id = 0;
  std::uint32_t function_index = 0;  // for the function's measured run time
  double num_cpus = 1;
  std::uint64_t memory = 0;
  std::uint32_t deps_pending = 0;  // ObjectRef arguments not finished yet
  int attempts = 0;                // times started on a worker
  bool blocked = false;            // running, blocked in get() or wait(): its CPUs are given back
  bool assigned = false;           // a worker has it (queued or running)
  bool several_returns = false;    // num_returns<N>(): its spec lists its N objects
  ObjectId actor = 0;              // an actor's call: it runs on that actor's worker, in order
  // For the timeline (steady clock, 0: not recorded): when it was submitted, when its arguments
  // all existed, when it was last sent to a worker.
  std::int64_t submitted_ns = 0;
  std::int64_t ready_ns = 0;
  std::int64_t sent_ns = 0;
};

class Scheduler {
 public:
  /// The resources of the one node (kLocalNode) for now.
  Scheduler(double total_cpus, std::uint64_t total_memory);

  /// Takes a new task. It is ready at once if deps_pending is 0. An actor's call joins the back
  /// of its actor's queue (`front`: the front, for a restarted actor's constructor).
  void add(SchedTask task, bool front = false);
  SchedTask* find(TaskId id) noexcept;
  /// Removes a task that will not run (its dependency failed, it was cancelled), if no worker has
  /// it; returns it, or nullopt if it is unknown or assigned.
  std::optional<SchedTask> remove_waiting(TaskId id);
  /// One of the task's dependencies finished; when none is left the task becomes ready.
  void dependency_done(TaskId id);

  struct Assignment {
    TaskId task;
    NodeId node;
    WorkerId worker;
    double expected_ns;  // the function's average run time so far; 0 = unknown
  };
  /// Assigns the next ready task to a (node, worker) if one can take it now (see the header
  /// comment).
  std::optional<Assignment> next();

  /// The worker's running task finished; it must be `id`, the top of its stack (replies come in
  /// order). Returns the finished task, taken out of the scheduler, or nullopt if `id` is not the
  /// worker's running task.
  std::optional<SchedTask> complete(WorkerId worker, TaskId id, std::uint64_t exec_ns);

  /// The task on top of `worker`'s stack blocked in get() or wait(): it gives back its CPUs, and
  /// the tasks queued behind the worker's head go back to the front of the ready queue, in
  /// order; they are returned (the runtime revokes them from the worker). Returns nothing if the
  /// worker runs no task or its top task is blocked already.
  std::vector<TaskId> block(WorkerId worker);
  /// Blocked task `id` on `worker` resumes: it takes its CPUs back.
  void unblock(WorkerId worker, TaskId id);
  /// Runs ready task `id` on top of `worker`'s stack, whose top task is blocked, if what it asks
  /// for is available. Returns the assignment, or nullopt (not ready, already assigned, the top
  /// is not blocked, or not enough CPUs or memory).
  std::optional<Assignment> assign_nested(WorkerId worker, TaskId id);
  /// Workers running a task now.
  int busy_workers() const noexcept;
  /// True if the next ready task's CPUs and memory are available now (it waits for a worker).
  bool ready_task_fits() const noexcept;
  /// Workers up (between worker_up() and worker_down()).
  int workers_up() const noexcept { return static_cast<int>(workers_.size()); }
  /// The id of the task running on `worker` (the top of its stack), or 0.
  TaskId running(WorkerId worker) const noexcept;
  /// Where an assigned task is: its worker, and whether it has started there (the head of the
  /// worker's queue, or a nested task) or waits queued behind the head. nullopt if no worker has
  /// it.
  struct Placement {
    WorkerId worker;
    bool started;
  };
  std::optional<Placement> placement(TaskId id) const noexcept;
  /// Its tasks by state (shoal::status()): arguments pending; ready but not started (queued
  /// behind a worker's running task included; an actor's calls after the first sent); started.
  /// Linear in the number of tasks.
  struct StateCounts {
    std::uint64_t waiting = 0, queued = 0, running = 0;
  };
  StateCounts state_counts() const;
  /// Tasks on `worker`'s stack (its head and the nested ones above it).
  std::size_t stack_depth(WorkerId worker) const noexcept;

  /// A worker can take tasks.
  void worker_up(WorkerId worker);
  /// The worker died. Tasks queued behind the running one go back to the front of the ready
  /// queue, in order. Returns the tasks it was running (taken out), bottom of its stack first;
  /// none if it was idle.
  std::vector<SchedTask> worker_down(WorkerId worker);
  /// Puts a task that was running on a dead worker back at the back of the ready queue, so that
  /// a task that keeps killing its worker cannot starve the tasks behind it (a task the scheduler
  /// still holds is left alone).
  void retry(SchedTask task);

  double cpus_available() const noexcept { return cpus_available_; }
  std::uint64_t memory_available() const noexcept { return memory_available_; }
  std::size_t size() const noexcept { return tasks_.size(); }
  /// Faults in the table's first memory now rather than in the session's first task
  /// (PooledMap::prime; 0 is never an id).
  void prime() { tasks_.prime(0); }
  /// Removes every task and releases what running ones held (shutdown, or a broken pool).
  /// Returns the tasks. Workers keep their up/down state.
  std::vector<SchedTask> clear();

  // ---- Actors (scheduler_actors.cpp). An actor's calls (SchedTask::actor) wait in its own FIFO
  // queue, not the ready queue, and go to its one worker in that order, only while the call at
  // the front has its arguments: a call never overtakes one submitted before it. Up to
  // `max_in_flight` are sent ahead (the worker runs them in order, or max_concurrency at once).
  // Its calls hold no CPUs: the actor holds its own, reserve()d for its whole life.

  /// A new actor; its calls may be add()ed from now on.
  void add_actor(ObjectId actor, std::size_t max_in_flight);
  /// The actor's (new) worker can take its calls.
  void actor_worker_up(ObjectId actor, WorkerId worker);
  /// The actor's worker died: its calls in flight, taken out of the scheduler, in the order they
  /// were sent; its queued calls stay (requeue_actor() puts calls back in front of them).
  std::vector<SchedTask> actor_worker_down(ObjectId actor);
  /// Puts calls taken out by actor_worker_down() back at the front of their actor's queue, in
  /// the order given.
  void requeue_actor(const std::vector<SchedTask>& calls);
  /// Forgets the actor: returns its queued calls, taken out (it has no worker, or it is idle).
  std::vector<SchedTask> remove_actor(ObjectId actor);
  /// Calls of the actor queued or in flight.
  std::size_t actor_pending(ObjectId actor) const noexcept;
  /// The actor whose worker this is, or 0.
  ObjectId actor_of(WorkerId worker) const noexcept;
  /// The actor's calls in flight (sent to its worker), oldest first.
  const std::vector<TaskId>* actor_in_flight(ObjectId actor) const noexcept;
  /// Takes `cpus` for an actor's life if that many are available now; false otherwise.
  bool reserve(double cpus) noexcept;
  /// Gives back what reserve() took.
  void unreserve(double cpus) noexcept { cpus_available_ += cpus; }

 private:
  struct Queued {
    TaskId task;
    double expected_ns;  // the function's average when assigned; 0 = unknown
  };
  struct WorkerQueue {
    std::deque<Queued> queue;    // front is running (the bottom of its stack)
    double expected_ns = 0;      // sum of the known expected_ns in queue
    int unknown = 0;             // tasks in queue whose run time is unknown
    std::vector<TaskId> nested;  // tasks running on top of the front, innermost last
    int blocked = 0;             // tasks of its stack that are blocked
  };
  void start(SchedTask& t);       // the task became a worker's head: it runs and holds resources
  void stop(const SchedTask& t);  // it no longer does (a blocked task holds no CPUs)
  void record_run_time(std::uint32_t function_index, std::uint64_t exec_ns);
  double expected_ns(std::uint32_t function_index) const;
  bool can_queue_behind(const WorkerQueue& w, const SchedTask& t) const;
  TaskId pop_front(WorkerQueue& w);

  struct ActorQueue {
    WorkerId worker = 0;            // 0: none (not started yet, or restarting)
    std::deque<TaskId> queue;       // not sent yet, in submission order
    std::vector<TaskId> in_flight;  // sent to the worker, in order
    std::size_t max_in_flight = 1;
  };
  std::optional<Assignment> next_actor_call();
  void actor_may_send(ObjectId actor);  // its front call may be sendable now
  bool add_actor_call(const SchedTask& t, bool front);
  std::optional<SchedTask> complete_actor_call(WorkerId worker, ObjectId actor, TaskId id);
  bool remove_queued_call(const SchedTask& t);

  PooledMap<TaskId, SchedTask> tasks_;  // nodes from a pool of its own (pooled_map.hpp)
  std::unordered_map<ObjectId, ActorQueue> actors_;
  std::unordered_map<WorkerId, ObjectId> actor_workers_;
  std::deque<ObjectId> actors_to_send_;  // actors whose front call may be sendable
  std::deque<TaskId> ready_;
  // The workers up, in id order. A flat map: walked on every assignment, and there are about as
  // many workers as CPUs.
  boost::container::flat_map<WorkerId, WorkerQueue> workers_;
  std::vector<double> avg_ns_;  // per function index: moving average of run time, 0 = unknown
  double cpus_available_;
  std::uint64_t memory_available_;
};

}  // namespace shoal::internal
