// File: shoal/progress.hpp -- get() of a list, with a progress bar on the terminal.
//
// What Python users get from tqdm around ray.get(): while a long get() of many refs waits, one
// line on stderr says how many are done, how fast, and how long the rest should take:
//
//   std::vector<shoal::ObjectRef<double>> refs = ...;              // 100 tasks
//   std::vector<double> values = shoal::get(refs, shoal::Progress{"rotating"});
//
//   rotating:  37%|█████▏        | 37/100 [00:05<00:08, 7.4 tasks/s]
//
// The line. "<description>: " (nothing if it is empty), the share of refs finished (right-aligned
// in 3 columns), a bar of block characters (eighths of a cell, UTF-8), finished/total, then
// [elapsed<left, rate]: the time since the call started and the time left (MM:SS, or H:MM:SS from
// an hour on), and finished refs per second with Progress::unit (one decimal; two below 1). The
// rate counts only refs that finished during the call (those ready when it started are in the
// count, not in the rate); until one has, rate and time left read "?". A ref counts as finished
// when its task has ended, with a value or with an error.
//
// Where and when. The line goes to stderr (file descriptor 2), and only if stderr is a terminal
// (isatty) whose TERM is not "dumb" (unset counts as a terminal). Otherwise nothing is printed and
// the call is exactly get(refs). Nothing is printed either for an empty list, when every ref is
// already finished at the call (always so in local mode, where remote() runs the task), inside a
// task (in a worker: a task's stderr is not the user's terminal; the call is get(refs)), or while
// another thread's progress bar is on the terminal (one bar at a time per process: the later call
// draws nothing). The line is first drawn when the call finds refs still running, then redrawn in
// place ("\r", the text, "erase to the end of the line") every 100 ms while it waits, so at most
// 10 times a second, and once more when the last ref finishes. It is fitted to the terminal's
// width (TIOCGWINSZ, asked at every redraw, so a resized window is followed; COLUMNS, else 80, if
// the terminal does not say): the bar takes what the rest leaves and is dropped below 4 cells;
// narrower still, the bracket goes, then the line is cut. The last line stays on the terminal,
// ended with a newline, whether the call returns or throws. shoal's own log lines and the
// workers' output (Config::log_to_driver) printed while the bar is shown go above it: the bar is
// erased, the lines are printed, and the bar is drawn again below them. Anything else the program
// writes to stderr or stdout meanwhile lands on the bar's line (as with tqdm).
//
// Results and errors: the same as get(refs) in every case. Values come back in input order and
// are the ones get(refs) returns. A ref that failed makes the call throw that error (TaskError,
// WorkerCrashedError, TaskCancelledError, ObjectStoreFullError, ...), found within 100 ms of the
// failure, without waiting for the rest; if several have failed by then, the first in input order.
// Also as get(refs): InvalidObjectRefError for an empty or stale ref, or refs from two sessions
// (before anything is printed), TypeMismatchError, NotInitializedError (for an empty list too),
// Error if shutdown() runs meanwhile or the session breaks; with a timeout, GetTimeoutError naming
// how many refs were not ready. Before any of these propagates, the bar's line is ended with a
// newline, so the error message starts on a line of its own.
//
// Blocking and threads: blocks until every ref is finished (or the timeout, or the first failure),
// as get(refs). Thread safe, like get(): any thread may call it, several at once (one of them
// draws). How it waits: rounds of shoal::wait() of at most 100 ms over the refs not yet finished
// (each round costs time in the number of those), then a redraw; the values of the refs finished
// in a round are read then, so the call ends without a last pass over the whole list.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <shoal/object_ref.hpp>
#include <shoal/shoal.hpp>

namespace shoal {

/// What the progress bar of get(refs, Progress{...}) says; see the file comment for the line.
struct Progress {
  /// Printed before the bar as "<description>: " (tqdm's desc); nothing if empty.
  std::string description;
  /// What the rate counts: "7.4 tasks/s" (tqdm's unit), e.g. "images".
  std::string unit = "tasks";
};

/// get(refs), showing progress on stderr while it waits when stderr is a terminal (see the file
/// comment). Returns the values in input order; throws what get(refs) throws.
///   auto values = shoal::get(refs, shoal::Progress{"rotating"});
template <class T>
std::vector<T> get(const std::vector<ObjectRef<T>>& refs, const Progress& progress);

/// get(refs, timeout), with progress: GetTimeoutError once timeout passes with refs not ready
/// (timeouts as in get(refs, timeout); the bar's line is ended first).
template <class T, class Rep, class Period>
std::vector<T> get(const std::vector<ObjectRef<T>>& refs,
                   std::chrono::duration<Rep, Period> timeout, const Progress& progress);

/// For a list of void tasks: waits for all of them, with progress, or throws the first failure.
void get(const std::vector<ObjectRef<void>>& refs, const Progress& progress);
template <class Rep, class Period>
void get(const std::vector<ObjectRef<void>>& refs, std::chrono::duration<Rep, Period> timeout,
         const Progress& progress);

// ---------------------------------- inline implementation --------------------------------------

template <class T>
std::vector<T> get(const std::vector<ObjectRef<T>>& refs, const Progress& progress) {
  return detail::decode_all<T>(
      detail::fetch_all_with_progress(detail::handles_of(refs), detail::kNoTimeout, progress));
}

template <class T, class Rep, class Period>
std::vector<T> get(const std::vector<ObjectRef<T>>& refs,
                   std::chrono::duration<Rep, Period> timeout, const Progress& progress) {
  return detail::decode_all<T>(detail::fetch_all_with_progress(
      detail::handles_of(refs), detail::to_timeout_ns(timeout), progress));
}

inline void get(const std::vector<ObjectRef<void>>& refs, const Progress& progress) {
  detail::fetch_all_with_progress(detail::handles_of(refs), detail::kNoTimeout, progress);
}

template <class Rep, class Period>
void get(const std::vector<ObjectRef<void>>& refs, std::chrono::duration<Rep, Period> timeout,
         const Progress& progress) {
  detail::fetch_all_with_progress(detail::handles_of(refs), detail::to_timeout_ns(timeout),
                                  progress);
}

}  // namespace shoal
