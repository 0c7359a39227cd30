// Which task runs where, and when. Pure bookkeeping: no I/O and no locking, so it can be tested
// on its own; the runtime calls it with its lock held and sends the messages.
//
// A task is *waiting* until its ObjectRef arguments exist, then *ready* (FIFO queue), then
// *assigned* to a worker slot. Each slot has a queue of assigned tasks that the worker runs in
// order; the head is the one running.
//
// Resources, as in Ray: a task holds TaskOptions::num_cpus and memory while it runs (while it is
// the head of its slot's queue). A task starts on an idle worker only if what it needs is
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
#include <string>
#include <unordered_map>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>

namespace shoal::internal {

struct TaskSpec {
  std::uint64_t id = 0;  // the task's id is its result object's id
  std::uint32_t function_index = 0;
  std::uint64_t function_check = 0;
  std::string name;  // for logs and errors
  double num_cpus = 1;
  std::uint64_t memory = 0;
  int max_retries = 3;      // -1 = forever
  detail::ByteBuffer args;  // argument records, refs unresolved
  std::uint32_t arg_count = 0;
  std::vector<std::uint64_t> deps;  // object ids of the ref records, by ref index
  std::uint32_t deps_pending = 0;   // deps not finished yet
  int attempts = 0;                 // times started on a worker
};

class Scheduler {
 public:
  Scheduler(double total_cpus, std::uint64_t total_memory, int num_slots);

  /// Takes a new task. It is ready at once if deps_pending is 0.
  void add(TaskSpec spec);
  TaskSpec* find(std::uint64_t id) noexcept;
  /// Removes a task that will not run (its dependency failed); it must not be assigned.
  std::optional<TaskSpec> remove_waiting(std::uint64_t id);
  /// One of the task's dependencies finished; when none is left the task becomes ready.
  void dependency_done(std::uint64_t id);

  struct Assignment {
    std::uint64_t task;
    int slot;
    double expected_ns;  // the function's average run time so far; 0 = unknown
  };
  /// Assigns the next ready task to a slot if one can take it now (see the header comment).
  std::optional<Assignment> next();

  /// The slot's running task finished; it must be `id` (replies come in order). Returns the
  /// finished task, taken out of the scheduler, or nullopt if `id` is not the slot's running task.
  std::optional<TaskSpec> complete(int slot, std::uint64_t id, std::uint64_t exec_ns);
  /// Slots running a task now.
  int busy_slots() const noexcept;
  /// The id of the task running on slot, or 0.
  std::uint64_t running(int slot) const noexcept;

  void worker_up(int slot);
  /// The slot's worker died. Tasks queued behind the running one go back to the front of the ready
  /// queue, in order. Returns the running task (taken out), or nullopt if it was idle.
  std::optional<TaskSpec> worker_down(int slot);
  /// Puts a task that was running on a dead worker back at the front of the ready queue (a task
  /// the scheduler still holds is left alone).
  void retry(TaskSpec spec);

  double cpus_available() const noexcept { return cpus_available_; }
  std::uint64_t memory_available() const noexcept { return memory_available_; }
  std::size_t size() const noexcept { return tasks_.size(); }
  /// Removes every task and releases what running ones held (shutdown, or a broken pool).
  /// Returns the tasks. Slots keep their up/down state.
  std::vector<TaskSpec> clear();

 private:
  struct Queued {
    std::uint64_t task;
    double expected_ns;  // the function's average when assigned; 0 = unknown
  };
  struct Slot {
    bool up = false;
    std::deque<Queued> queue;  // front is running
    double expected_ns = 0;    // sum of the known expected_ns in queue
    int unknown = 0;           // tasks in queue whose run time is unknown
  };
  void start(TaskSpec& t);       // the task became a slot's head: it runs and holds its resources
  void stop(const TaskSpec& t);  // it no longer does
  double expected_ns(std::uint32_t function_index) const;
  bool can_queue_behind(const Slot& slot, const TaskSpec& t) const;
  std::size_t up_slots() const;
  std::uint64_t pop_front(Slot& slot);

  std::unordered_map<std::uint64_t, TaskSpec> tasks_;
  std::deque<std::uint64_t> ready_;
  std::vector<Slot> slots_;
  std::vector<double> avg_ns_;  // per function index: moving average of run time, 0 = unknown
  double cpus_available_;
  std::uint64_t memory_available_;
};

}  // namespace shoal::internal
