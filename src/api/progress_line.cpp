// The progress bar's text, after tqdm's default format ("{l_bar}{bar}{r_bar}"):
//   "<description>: " "<pct>%" "|" <bar> "|" " <n>/<total> [<elapsed><<left>, <rate> <unit>/s]"
// Widths are counted in code points, one column each: right for the ASCII the line is made of and
// for the block characters of the bar; a description in a script of double-width characters may
// make the cut fall a little late.
#include "src/api/progress_line.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace shoal::internal {
namespace {

constexpr int kMinBarCells = 4;
constexpr int kEighthsPerCell = 8;
constexpr std::string_view kFullCell = "\u2588";  // █
// A cell one eighth to seven eighths full: ▏▎▍▌▋▊▉
constexpr std::string_view kPartialCells[] = {"\u258f", "\u258e", "\u258d", "\u258c",
                                              "\u258b", "\u258a", "\u2589"};

bool continuation_byte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

std::size_t columns_of(std::string_view text) {
  return static_cast<std::size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !continuation_byte(c); }));
}

// The first `columns` code points of text.
std::string cut(const std::string& text, std::size_t columns) {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!continuation_byte(text[i]) && seen++ == columns) return text.substr(0, i);
  }
  return text;
}

std::string printable(const std::string& text) {
  std::string out = text;
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = ' ';
  }
  return out;
}

std::string bar_cells(double fraction, int cells) {
  const auto eighths = static_cast<long>(std::floor(fraction * cells * kEighthsPerCell));
  const long full = eighths / kEighthsPerCell;
  const long partial = eighths % kEighthsPerCell;
  std::string out;
  for (long i = 0; i < full; ++i) out.append(kFullCell);
  if (partial > 0) out.append(kPartialCells[partial - 1]);
  out.append(static_cast<std::size_t>(cells - full - (partial > 0 ? 1 : 0)), ' ');
  return out;
}

std::string format_rate(double rate) {
  char buf[64];
  std::snprintf(buf, sizeof buf, rate >= 1 ? "%.1f" : "%.2f", rate);
  return buf;
}

}  // namespace

std::string format_interval(double seconds) {
  const auto s = static_cast<long long>(std::isfinite(seconds) && seconds > 0 ? seconds : 0);
  char buf[64];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%02lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

std::string format_progress_line(const Progress& progress, const ProgressCounts& counts,
                                 int columns) {
  const std::size_t total = counts.total;
  const std::size_t done = std::min(counts.finished, total);
  const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);

  std::string left;
  if (!progress.description.empty()) left = printable(progress.description) + ": ";
  char pct[16];
  std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(std::floor(fraction * 100)));
  left += pct;

  // The rate counts only refs that finished during the call.
  const std::size_t during = done - std::min(counts.finished_at_start, done);
  const bool known = during > 0 && counts.elapsed_seconds > 0;
  const double rate = known ? static_cast<double>(during) / counts.elapsed_seconds : 0;
  const std::string eta =
      done == total ? format_interval(0)
                    : (known ? format_interval(static_cast<double>(total - done) / rate) : "?");
  // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) about " " + string.
  std::string count(" ");
  count.append(std::to_string(done)).append("/").append(std::to_string(total));
  std::string right = count;
  right.append(" [").append(format_interval(counts.elapsed_seconds)).append("<").append(eta);
  right.append(", ").append(known ? format_rate(rate) : "?");
  right.append(" ").append(printable(progress.unit)).append("/s]");

  const std::size_t limit = static_cast<std::size_t>(std::max(columns, 2) - 1);
  const std::size_t fixed = columns_of(left) + columns_of(right) + 2;  // the two '|'
  if (fixed + kMinBarCells <= limit) {
    return left + "|" + bar_cells(fraction, static_cast<int>(limit - fixed)) + "|" + right;
  }
  // Without the bar; then without the times and the rate; then cut.
  if (columns_of(left) + columns_of(right) <= limit) return left + right;
  return cut(left + count, limit);
}

}  // namespace shoal::internal
