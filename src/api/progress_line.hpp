// The text of the progress bar that get(refs, Progress{...}) draws (the format is documented in
// <shoal/progress.hpp>): a pure function of the counts, the time and the terminal's width, so that
// unit tests can check every shape of the line without a terminal.
#pragma once

#include <cstddef>
#include <string>

#include <shoal/progress.hpp>

namespace shoal::internal {

/// Where a get() with progress stands.
struct ProgressCounts {
  std::size_t total = 0;              // refs in the call
  std::size_t finished = 0;           // refs finished so far (value or error)
  std::size_t finished_at_start = 0;  // of which were finished when the call started
  double elapsed_seconds = 0;         // since the call started
};

/// "MM:SS", or "H:MM:SS" from an hour on (tqdm's format_interval); negative counts as 0.
std::string format_interval(double seconds);

/// The line for `counts`, fitted into `columns` terminal columns (it uses at most columns - 1, so
/// that the terminal never wraps it): the bar takes what the rest leaves and is left out below 4
/// cells; on a terminal narrower still, the bracket with the times and the rate goes too, and then
/// the line is cut. Control characters in the description and the unit
/// are shown as spaces, so they cannot break the line.
std::string format_progress_line(const Progress& progress, const ProgressCounts& counts,
                                 int columns);

}  // namespace shoal::internal
