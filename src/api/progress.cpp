// get(refs, Progress{...}) (<shoal/progress.hpp>): fetch_all() with a progress bar on stderr.
//
// How it waits: in rounds. Each round is one wait_ready() of at most kRound over the refs that
// were not finished at the end of the last round, for all of them (so it returns early only when
// they have all finished), then a redraw, then a fetch_all() of the refs that finished in the
// round, whose values are kept in their input slots. A round costs time in the number of refs
// still pending, never in the whole list, and redraws are at least kRound apart (but for the last
// one). The first round does not wait: it checks the refs (an invalid one throws before anything
// is drawn) and finds those already finished; if that is all of them, nothing is drawn at all.
//
// Errors, as get(refs): a ref that failed is found by the fetch_all() of its round, which throws
// the first failure in input order among the refs that finished in that round. Refs that finished
// in earlier rounds were fetched without error then, so that is the first failure in input order
// among all the refs finished by then: what get(refs) throws when it wakes up for a failure (it
// does not wait for the refs still pending). The failure is seen at most kRound after it happened.
//
// Rejected: waking on every single ref that finishes (wait_ready() with num_returns = 1) would
// cost a pass over the pending refs per finished ref, O(n^2) for a list, to redraw more often
// than anyone can read.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include <shoal/progress.hpp>
#include <shoal/shoal.hpp>

#include "src/api/progress_line.hpp"
#include "src/common/core_runtime.hpp"
#include "src/common/status_line.hpp"

namespace shoal {
namespace internal {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kRound(100);  // at most 10 redraws a second

// The bar of one call, on the status line if this call got it (else it draws nothing). Its
// destructor ends the line, so a call that throws leaves the error message a line of its own.
class ProgressBar {
 public:
  ProgressBar(const Progress& progress, std::size_t total, std::size_t finished_at_start,
              Clock::time_point start)
      : progress_(progress), start_(start), holds_(status_line::acquire()) {
    counts_.total = total;
    counts_.finished_at_start = finished_at_start;
  }
  ~ProgressBar() {
    if (holds_) status_line::release();
  }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  void draw(std::size_t finished) {
    if (!holds_) return;
    counts_.finished = finished;
    counts_.elapsed_seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    status_line::draw(format_progress_line(progress_, counts_, status_line::terminal_columns()));
  }

 private:
  const Progress& progress_;
  Clock::time_point start_;
  ProgressCounts counts_;
  bool holds_;
};

bool wants_bar(std::size_t refs) {
  if (refs == 0 || !status_line::stderr_is_terminal()) return false;
  // Inside a task stderr is not the user's terminal, and each wait would give back and take
  // again the task's CPUs: a plain get().
  const std::shared_ptr<CoreRuntime> rt = current_runtime_or_null();
  return !(rt && rt->in_worker());
}

[[noreturn]] void throw_timeout(std::int64_t timeout_ns, std::size_t pending, std::size_t total) {
  // The words of DriverRuntime::fetch_all()'s, which get(refs, timeout) throws.
  throw GetTimeoutError("shoal: get() timed out after " + std::to_string(timeout_ns / 1'000'000) +
                        " ms with " + std::to_string(pending) + " of " + std::to_string(total) +
                        " objects not ready yet. Wait longer, or use shoal::wait() to take "
                        "results as they come");
}

}  // namespace
}  // namespace internal

namespace detail {

std::vector<Fetched> fetch_all_with_progress(const std::vector<const ObjectHandle*>& handles,
                                             std::int64_t timeout_ns, const Progress& progress) {
  if (!internal::wants_bar(handles.size())) return fetch_all(handles, timeout_ns);
  using internal::Clock;
  const Clock::time_point start = Clock::now();
  const bool forever = timeout_ns < 0;
  const Clock::time_point deadline = start + std::chrono::nanoseconds(forever ? 0 : timeout_ns);

  std::vector<Fetched> out(handles.size());
  std::vector<std::size_t> pending(handles.size());  // input positions, in input order
  std::iota(pending.begin(), pending.end(), std::size_t{0});
  std::vector<std::size_t> still;             // the next round's pending
  std::vector<const ObjectHandle*> looked;    // handles of `pending`
  std::vector<const ObjectHandle*> finished;  // those that finished in this round
  std::vector<std::size_t> finished_at;       // and their input positions
  std::unique_ptr<internal::ProgressBar> bar;
  std::int64_t round_ns = 0;  // the first round only looks
  for (;;) {
    looked.clear();
    for (std::size_t i : pending) looked.push_back(handles[i]);
    const std::vector<bool> ready = wait_ready(looked, looked.size(), round_ns);
    still.clear();
    finished.clear();
    finished_at.clear();
    for (std::size_t k = 0; k < pending.size(); ++k) {
      if (ready[k]) {
        finished.push_back(looked[k]);
        finished_at.push_back(pending[k]);
      } else {
        still.push_back(pending[k]);
      }
    }
    pending.swap(still);
    const std::size_t done = handles.size() - pending.size();
    if (!bar && !pending.empty()) {
      bar = std::make_unique<internal::ProgressBar>(progress, handles.size(), done, start);
    }
    if (bar) bar->draw(done);
    if (!finished.empty()) {
      std::vector<Fetched> got = fetch_all(finished, 0);  // throws the first failure among them
      for (std::size_t k = 0; k < got.size(); ++k) out[finished_at[k]] = std::move(got[k]);
    }
    if (pending.empty()) return out;  // ~ProgressBar ends the line
    if (forever) {
      round_ns = std::chrono::nanoseconds(internal::kRound).count();
    } else {
      const auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) {
        internal::throw_timeout(timeout_ns, pending.size(), handles.size());
      }
      round_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::min<Clock::duration>(left, internal::kRound))
                     .count();
    }
  }
}

}  // namespace detail
}  // namespace shoal
