// File: shoal/observe.hpp
//
// Seeing what a running session does, as Ray's ray.timeline(), `ray status` and `ray memory` do:
//
//   shoal::timeline("trace.json");         // open it in https://ui.perfetto.dev
//   std::cout << shoal::status();          // CPUs, workers, tasks by state, store use
//   std::cout << shoal::memory_summary();  // live objects, biggest first, who made them
//
// The same three answers reach a program from outside through the `shoal` command (`shoal status
// PID`, `shoal memory PID`, `shoal timeline PID -o trace.json`, docs/observability.md), which
// asks the program's driver over a control socket only the same user can open.
//
// Recording. The driver records every task attempt (where and when it ran, its phases) and every
// get(), put() and wait() of the program, in memory, bounded by Config::timeline_max_tasks (the
// oldest are dropped first and counted: the trace says how many). Recording is on by default: it
// costs a few clock reads per task (docs/benchmarks.md has the measured cost on empty tasks).
// SHOAL_TIMELINE=path in the environment writes the timeline to path at shutdown().
//
// All three calls are for the program (the driver) and local mode: inside a task on a worker they
// throw Error (Ray's are driver calls too). timeline() takes the runtime's lock only to copy the
// records, and formats without it; status() and memory_summary() build their answer under it
// (memory_summary() in time linear in the live objects, which tasks wait for). Thread safe.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include <shoal/shoal.hpp>

namespace shoal {

// ------------------------------------------------------------------------------------------------
// The timeline

/// Writes the session's timeline so far to `path` as Chrome trace JSON (the "JSON Object Format"
/// of the Trace Event Format), which Perfetto (ui.perfetto.dev) and chrome://tracing open:
///   - one process row per worker process ("worker 3 (pid 4711)"), per actor ("actor Counter
///     (pid 4712)") and one for the driver ("driver (pid 4700)"); a worker replaced after a
///     crash is a new row (a new pid);
///   - one complete event ("ph": "X", ts and dur in microseconds since init()) per task attempt on
///     the row of the worker that ran it, named after the task's function (an actor's method as
///     "Class::method"), with args task_id, attempt (1 for the first), result_bytes, and error
///     (the exception's type and message, or how the worker died) when the attempt failed; a task
///     nested in a blocked one is drawn inside it;
///   - the phases cheap to record: "waiting for arguments" (submitted until its ObjectRef
///     arguments existed) and "queued" (until it started) as async spans of the row that ran it,
///     and "storing the result" inside the attempt;
///   - the program's get(), put() and wait() calls on the driver's row, one lane per thread, with
///     args objects (how many refs).
/// Blocks while it writes the file (no task waits for it). Throws NotInitializedError before
/// init(), Error inside a task, SystemError if the file cannot be written (the message names it).
/// As Ray's ray.timeline(filename).
void timeline(const std::string& path);

// ------------------------------------------------------------------------------------------------
// Status

/// One worker process, as status() saw it.
struct WorkerStatus {
  int pid = 0;
  /// "starting", "idle", "running" (a task), "blocked" (its task waits in get() or wait()),
  /// "actor" (it runs an actor), "exiting".
  std::string state;
  std::string current_task;      // the function running on it ("" if none); the innermost if nested
  std::string actor;             // the actor's class (and name) if it runs one, else ""
  std::uint64_t tasks_done = 0;  // task attempts it finished (value or exception)
};

/// Tasks of this session by state, as Ray's task states. The first three are the tasks pending
/// now; the last two count since init().
struct TaskCounts {
  std::uint64_t waiting_for_arguments = 0;  // some ObjectRef argument is not ready yet
  std::uint64_t queued = 0;                 // ready, waiting for a worker or CPUs (or its actor)
  std::uint64_t running = 0;                // started on a worker (blocked ones included)
  std::uint64_t finished = 0;               // returned a value
  std::uint64_t failed = 0;                 // ended with an error (thrown, crashed, cancelled...)
};

/// What shoal::status() returns: a snapshot, exact at one moment.
struct Status {
  int driver_pid = 0;
  bool local_mode = false;
  std::map<std::string, double> total;      // cluster_resources()
  std::map<std::string, double> available;  // available_resources() (zero entries kept here)
  std::vector<WorkerStatus> workers;        // by worker number; actors' processes last
  TaskCounts tasks;
  std::uint64_t actors = 0;  // actors alive (or restarting)
  ObjectStoreStats store;

  /// A printable summary, as `ray status` prints: resources used of total (memory in GiB), one
  /// line per worker, tasks by state, store use.
  std::string to_string() const;
};
/// Prints Status::to_string().
std::ostream& operator<<(std::ostream& out, const Status& status);

/// The session's state now. Throws NotInitializedError before init(), Error inside a task. As
/// `ray status` (and ray.util.state's task summary).
Status status();

// ------------------------------------------------------------------------------------------------
// Memory

/// One live object, as memory_summary() saw it.
struct ObjectSummary {
  std::uint64_t id = 0;
  std::uint64_t size_bytes = 0;  // its value's encoded size (0 while it is pending)
  /// "put", "task result", "argument" (a large value passed by value to remote()), "actor" (the
  /// object that stands for an actor: its handles hold it).
  std::string kind;
  std::string state;      // "pending", "ready", "failed"
  bool in_store = false;  // in the shared-memory arena (else in the driver's memory)
  // Who holds it (Ray's reference types): ObjectRefs in the program, pending tasks that take it
  // as an argument, workers' tasks (their ObjectRefs), stored values that contain it.
  std::uint32_t program_refs = 0;
  std::uint32_t task_refs = 0;
  std::uint32_t worker_refs = 0;
  std::uint32_t object_refs = 0;
  /// The put() or remote() that made it, "file:line (function)"; "" if unknown.
  std::string call_site;
};

/// What shoal::memory_summary() returns.
struct MemorySummary {
  std::vector<ObjectSummary> objects;  // biggest first (ties: oldest first)
  std::uint64_t total_bytes = 0;       // the sum of their sizes
  ObjectStoreStats store;

  /// A printable table, as `ray memory` prints: one line per object (the 100 biggest; the rest
  /// summed up), then the totals.
  std::string to_string() const;
};
/// Prints MemorySummary::to_string().
std::ostream& operator<<(std::ostream& out, const MemorySummary& summary);

/// The live objects now. Linear in their number. Throws NotInitializedError before init(), Error
/// inside a task. As `ray memory`.
MemorySummary memory_summary();

}  // namespace shoal
