// A session's timeline (Chrome trace JSON, as the `timeline` command returns it) drawn as one
// self-contained HTML page, for `shoal timeline --html`: inline CSS and JavaScript, the trace
// embedded, no network, so it opens offline in any browser and can be mailed around.
//
// The page has one lane per process that has a "process_name" metadata event (the driver, each
// worker, each actor), ordered by "process_sort_index", and inside a lane one row per thread id
// and nesting depth (a task run inside a blocked task's get() sits below it). Each complete ("X")
// event is a bar placed on a time axis, coloured by its name; "phase" events are drawn as thin
// bars inside their task; a failed attempt ("error" in args) is striped red. Hovering a bar shows
// its name, start, duration and args; the page can be zoomed and scrolled in time.
//
// Checkable by machine (tests/cli/html_render_test.cpp): every lane's label cell starts at the
// left edge of the page and is filled with kLaneLabelColour (nothing else on the page uses it),
// with a gap of page background between lanes, so counting the runs of that colour down the
// page's first columns in a screenshot counts the lanes. Each lane's element carries
// data-lane="<index>", data-pid, data-kind ("driver", "worker" or "actor") and data-name; each bar
// carries data-e, the index of its event in the embedded trace's traceEvents.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <shoal/errors.hpp>

namespace shoal::internal::control {

/// The lane label cells' fill, as CSS, and its components.
inline constexpr std::string_view kLaneLabelColour = "#1b3a6b";
inline constexpr std::uint8_t kLaneLabelRed = 0x1b;
inline constexpr std::uint8_t kLaneLabelGreen = 0x3a;
inline constexpr std::uint8_t kLaneLabelBlue = 0x6b;

/// Width in CSS pixels of the lane label cells (the left column).
inline constexpr int kLaneLabelWidthPx = 220;

/// The trace text is not a Chrome trace this page can draw (not JSON, or not an object with a
/// "traceEvents" array nor such an array itself). The message says which.
class TraceFormatError : public Error {
 public:
  using Error::Error;
};

/// Options of the page.
struct HtmlOptions {
  /// Shown as the page's title and heading, e.g. "shoal timeline of process 1234 (my_program)".
  std::string title = "shoal timeline";
};

/// Draws `trace_json` (Chrome trace JSON, object or array format) as a self-contained HTML page.
/// Text from the trace (names, args) is escaped: it can hold "</script>" or markup safely. Pure
/// function, thread safe; time and memory grow linearly with the number of events. Throws
/// TraceFormatError.
std::string trace_to_html(std::string_view trace_json, const HtmlOptions& options = {});

}  // namespace shoal::internal::control
