// Which task runs where, and when. Pure bookkeeping: no I/O and no locking, so it can be tested
// on its own; the runtime calls it with its lock held and sends the messages.
//
// A task is *waiting* until its ObjectRef arguments exist, then *ready* (FIFO queue), then
// *assigned* to a worker slot. Each slot has a queue of assigned tasks that the worker runs in
// order; the head is the one running.
//
// Resources, as in Ray: a task holds TaskOptions::num_cpus and memory while it runs (while it is
// the head of its slot's queue). A task starts on an idle worker only if what it needs is
// available. Pipelining: a short task may also be queued behind the running one on a busy worker,
// so the worker never waits for a round trip between tasks; it then starts the moment its
// predecessor ends, so it is only queued behind a task that holds at least as much as it needs.
// How deep to pipeline comes from the function's measured run time: about 500 us of work per
// worker queue, at most 64 tasks, and none for functions that take a millisecond or more (there
// the round trip is noise and an unlucky queue would cost a whole task at the end of a batch).
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
  std::string name;      // for logs and errors
  double num_cpus = 1;
  std::uint64_t memory = 0;
  int max_retries = 3;   // -1 = forever
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
  };
  /// Assigns the next ready task to a slot if one can take it now (see the header comment).
  std::optional<Assignment> next();

  /// The slot's running task finished; it must be `id` (replies come in order). Returns the
  /// finished task, taken out of the scheduler, or nullopt if `id` is not the slot's running task.
  std::optional<TaskSpec> complete(int slot, std::uint64_t id, std::uint64_t exec_ns);
  /// The id of the task running on slot, or 0.
  std::uint64_t running(int slot) const noexcept;

  void worker_up(int slot);
  /// The slot's worker died. Tasks queued behind the running one go back to the front of the ready
  /// queue, in order. Returns the running task (taken out), or nullopt if it was idle.
  std::optional<TaskSpec> worker_down(int slot);
  /// Puts a task that was running on a dead worker back at the front of the ready queue.
  void retry(TaskSpec spec);

  double cpus_available() const noexcept { return cpus_available_; }
  std::uint64_t memory_available() const noexcept { return memory_available_; }
  std::size_t size() const noexcept { return tasks_.size(); }
  /// Removes every task (shutdown). Returns their ids.
  std::vector<std::uint64_t> clear();

 private:
  struct Slot {
    bool up = false;
    std::deque<std::uint64_t> queue;  // front is running
  };
  void start(TaskSpec& t);  // the task became a slot's head: it runs and holds its resources
  void stop(const TaskSpec& t);   // it no longer does
  std::size_t depth(std::uint32_t function_index) const;

  std::unordered_map<std::uint64_t, TaskSpec> tasks_;
  std::deque<std::uint64_t> ready_;
  std::vector<Slot> slots_;
  std::vector<double> avg_ns_;  // per function index: moving average of run time, 0 = unknown
  double cpus_available_;
  std::uint64_t memory_available_;
};

}  // namespace shoal::internal
