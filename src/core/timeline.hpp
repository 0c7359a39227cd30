// The timeline: what shoal::timeline() writes (<shoal/observe.hpp>), recorded as the session runs.
//
// Two recorders, each a bounded ring (Config::timeline_max_tasks; the oldest entry goes first and
// is counted, so a trace says what it lost):
//   - TaskTimeline: one TaskAttempt per task attempt that ran on a worker (or inline, in local
//     mode), added by the runtime when the attempt ends. Guarded by the runtime's lock: the runtime
//     already holds it there, so recording costs a clock read and a copy.
//   - CallTimeline: the program's get(), put() and wait() calls, from any thread. Guarded by its
//     own mutex, never held while anything else is: program threads record without the runtime's
//     lock.
// chrome_trace_json() turns snapshots of both into the Trace Event Format (JSON Object Format),
// without any lock. Times are steady-clock nanoseconds (CLOCK_MONOTONIC: the workers' clock too).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "src/common/error_info.hpp"
#include "src/common/ids.hpp"

namespace shoal::internal {

/// Now on the steady clock, in nanoseconds.
std::int64_t steady_now_ns() noexcept;

/// One attempt of one task.
struct TaskAttempt {
  TaskId task = 0;
  std::uint32_t function_index = 0;
  std::uint32_t attempt = 1;  // 1 for the first run, 2 for the first retry, ...
  int pid = 0;                // the process that ran it: its timeline row
  std::int64_t submitted_ns = 0;
  std::int64_t ready_ns = 0;  // its ObjectRef arguments all existed
  std::int64_t start_ns = 0;  // started running (the worker's clock; or sent, if it never said)
  std::int64_t end_ns = 0;
  std::uint64_t store_ns = 0;  // the end of the run spent storing the result
  std::uint64_t result_bytes = 0;
  std::shared_ptr<const std::string> error;  // null: it succeeded
};

/// One lane of the trace: a process.
struct TimelineRow {
  int pid = 0;
  std::string name;    // "worker 3 (pid 4711)", "actor Counter (pid 4712)", "driver (pid 4700)"
  int sort_index = 0;  // rows are shown in this order
};

/// A program thread's get(), put() or wait().
struct DriverCall {
  enum class Kind : std::uint8_t { kGet, kPut, kWait };
  Kind kind = Kind::kGet;
  std::uint32_t thread = 0;  // a small number per program thread, from 1
  std::uint32_t objects = 0;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
};

/// A ring of at most `capacity` entries that counts what it drops. capacity 0 keeps nothing.
template <class T>
class BoundedLog {
 public:
  explicit BoundedLog(std::size_t capacity) : capacity_(capacity) {}
  bool enabled() const noexcept { return capacity_ != 0; }
  void add(T&& entry) {
    if (capacity_ == 0) return;
    if (entries_.size() == capacity_) {
      entries_.pop_front();
      ++dropped_;
    }
    entries_.push_back(std::move(entry));
  }
  std::vector<T> copy() const { return {entries_.begin(), entries_.end()}; }
  std::uint64_t dropped() const noexcept { return dropped_; }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::size_t capacity_;
  std::deque<T> entries_;
  std::uint64_t dropped_ = 0;
};

/// The task attempts and the rows. Thread safety: none (the runtime's lock guards it).
class TaskTimeline {
 public:
  explicit TaskTimeline(std::size_t capacity) : attempts_(capacity) {}
  bool enabled() const noexcept { return attempts_.enabled(); }
  void add(TaskAttempt&& attempt) { attempts_.add(std::move(attempt)); }
  /// A process that may run tasks (a worker started, an actor's process, the driver).
  void add_row(TimelineRow row) { rows_.push_back(std::move(row)); }

  struct Snapshot {
    std::vector<TaskAttempt> attempts;
    std::vector<TimelineRow> rows;
    std::uint64_t dropped = 0;
    bool enabled = true;
  };
  Snapshot snapshot() const { return {attempts_.copy(), rows_, attempts_.dropped(), enabled()}; }

 private:
  BoundedLog<TaskAttempt> attempts_;
  std::vector<TimelineRow> rows_;
};

/// The program's calls. Thread safe.
class CallTimeline {
 public:
  explicit CallTimeline(std::size_t capacity) : calls_(capacity), enabled_(capacity != 0) {}
  bool enabled() const noexcept { return enabled_; }
  /// Records a call that started at start_ns and ends now, made by the calling thread.
  void add(DriverCall::Kind kind, std::int64_t start_ns, std::size_t objects);

  struct Snapshot {
    std::vector<DriverCall> calls;
    std::uint64_t dropped = 0;
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  BoundedLog<DriverCall> calls_;  // guarded by mu_
  const bool enabled_;
};

/// Times a program call from construction to destruction into a CallTimeline (if it records).
class TimedCall {
 public:
  TimedCall(CallTimeline& timeline, DriverCall::Kind kind, std::size_t objects) noexcept
      : timeline_(timeline.enabled() ? &timeline : nullptr),
        kind_(kind),
        objects_(objects),
        start_ns_(timeline_ != nullptr ? steady_now_ns() : 0) {}
  ~TimedCall();
  TimedCall(const TimedCall&) = delete;
  TimedCall& operator=(const TimedCall&) = delete;

 private:
  CallTimeline* timeline_;
  DriverCall::Kind kind_;
  std::size_t objects_;
  std::int64_t start_ns_;
};

/// What a trace is made of.
struct TraceInput {
  TaskTimeline::Snapshot tasks;
  CallTimeline::Snapshot calls;
  int driver_pid = 0;
  std::int64_t origin_ns = 0;  // the session's start: ts 0
  bool local_mode = false;
};
/// The trace as Chrome trace JSON (see shoal::timeline() for its contents). Function names come
/// from the FunctionRegistry.
std::string chrome_trace_json(const TraceInput& input);

/// Writes `text` to the file at `path` (replacing it). Throws SystemError naming the file.
void write_text_file(const std::string& path, const std::string& text);

/// SHOAL_TIMELINE=path at shutdown(): writes make_json() there if the variable is set; logs a
/// failure (shutdown() does not throw for it).
void write_timeline_for_env(const std::function<std::string()>& make_json);

}  // namespace shoal::internal
