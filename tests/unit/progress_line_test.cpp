// The text of get(refs, Progress{...})'s bar (src/api/progress_line.hpp): tqdm's layout, the
// rate and time left, and fitting into the terminal's width. Drawing it on a terminal is tested
// in tests/integration/progress_test.cpp.
#include "src/api/progress_line.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <shoal/progress.hpp>

namespace {

using shoal::Progress;
using shoal::internal::format_interval;
using shoal::internal::format_progress_line;
using shoal::internal::ProgressCounts;
using ::testing::EndsWith;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kFull = "\u2588";

// Terminal columns the line takes: one per code point.
std::size_t columns_of(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::size_t count_of(const std::string& text, const std::string& piece) {
  std::size_t n = 0;
  for (std::size_t at = text.find(piece); at != std::string::npos; at = text.find(piece, at + 1)) {
    ++n;
  }
  return n;
}

ProgressCounts counts(std::size_t finished, std::size_t total, double elapsed,
                      std::size_t at_start = 0) {
  ProgressCounts c;
  c.total = total;
  c.finished = finished;
  c.finished_at_start = at_start;
  c.elapsed_seconds = elapsed;
  return c;
}

TEST(ProgressLine, ReadsLikeTqdm) {
  const std::string line = format_progress_line(Progress{"work"}, counts(37, 100, 5.0), 80);
  EXPECT_THAT(line, StartsWith("work:  37%|"));
  // 37 in 5 s: 7.4 a second, 63 left: 8.5 s.
  EXPECT_THAT(line, EndsWith("| 37/100 [00:05<00:08, 7.4 tasks/s]"));
  EXPECT_EQ(columns_of(line), 79u) << line;  // the whole width but the last column
}

// The bar between the two '|' of a line.
std::string bar_of(const std::string& line) {
  const std::size_t open = line.find('|');
  const std::size_t close = line.find('|', open + 1);
  return open == std::string::npos || close == std::string::npos
             ? std::string()
             : line.substr(open + 1, close - open - 1);
}

TEST(ProgressLine, TheBarFillsInEighthsOfACell) {
  // The bar takes what the rest of the line leaves, so its width depends on the counts.
  const auto line = [](std::size_t finished, std::size_t total) {
    return format_progress_line(Progress{"work"}, counts(finished, total, 1.0), 80);
  };
  const std::string empty = bar_of(line(0, 4));
  EXPECT_EQ(empty, std::string(columns_of(empty), ' '));
  const std::string full = bar_of(line(4, 4));
  EXPECT_EQ(count_of(full, kFull), columns_of(full)) << full;
  EXPECT_THAT(line(4, 4), StartsWith("work: 100%|"));
  const std::string half = bar_of(line(2, 4));
  EXPECT_EQ(count_of(half, kFull), columns_of(half) / 2) << half;
  // 1/7 of 8 eighths per cell: whole cells, then one cell partly full, then blanks.
  const std::string seventh = bar_of(line(1, 7));
  const std::size_t eighths = columns_of(seventh) * 8 / 7;
  EXPECT_EQ(count_of(seventh, kFull), eighths / 8) << seventh;
  const char* const partial[] = {"",       "\u258f", "\u258e", "\u258d",
                                 "\u258c", "\u258b", "\u258a", "\u2589"};
  if (eighths % 8 != 0) {
    EXPECT_EQ(count_of(seventh, partial[eighths % 8]), 1u) << seventh;
  }
  for (const std::string& l : {line(0, 4), line(4, 4), line(2, 4), line(1, 7), line(5, 9)}) {
    EXPECT_EQ(columns_of(l), 79u) << l;
    EXPECT_GE(columns_of(bar_of(l)), 4u) << l;
  }
}

TEST(ProgressLine, WithoutADescriptionThePercentageComesFirst) {
  const std::string line = format_progress_line(Progress{}, counts(5, 10, 1.0), 60);
  EXPECT_THAT(line, StartsWith(" 50%|"));
}

TEST(ProgressLine, RateAndTimeLeftAreUnknownUntilARefFinishesDuringTheCall) {
  // 3 were finished when the call started: they count, but not in the rate.
  const std::string none = format_progress_line(Progress{"w"}, counts(3, 10, 2.0, 3), 80);
  EXPECT_THAT(none, EndsWith("| 3/10 [00:02<?, ? tasks/s]"));
  const std::string at_once = format_progress_line(Progress{"w"}, counts(0, 10, 0.0), 80);
  EXPECT_THAT(at_once, EndsWith("| 0/10 [00:00<?, ? tasks/s]"));
  // 4 more in 2 s: 2 a second, 3 left: 1.5 s.
  const std::string some = format_progress_line(Progress{"w"}, counts(7, 10, 2.0, 3), 80);
  EXPECT_THAT(some, EndsWith("| 7/10 [00:02<00:01, 2.0 tasks/s]"));
}

TEST(ProgressLine, SlowRatesKeepTwoDecimalsAndTheUnitIsTheCallers) {
  Progress p{"render", "frames"};
  const std::string line = format_progress_line(p, counts(1, 10, 4.0), 80);
  EXPECT_THAT(line, EndsWith("| 1/10 [00:04<00:36, 0.25 frames/s]"));
}

TEST(ProgressLine, TimesPastAnHourShowHours) {
  EXPECT_EQ(format_interval(0), "00:00");
  EXPECT_EQ(format_interval(59.9), "00:59");
  EXPECT_EQ(format_interval(65), "01:05");
  EXPECT_EQ(format_interval(3599), "59:59");
  EXPECT_EQ(format_interval(3725), "1:02:05");
  EXPECT_EQ(format_interval(100 * 3600.0), "100:00:00");
  EXPECT_EQ(format_interval(-3), "00:00");
  EXPECT_EQ(format_interval(std::numeric_limits<double>::quiet_NaN()), "00:00");
  EXPECT_EQ(format_interval(std::numeric_limits<double>::infinity()), "00:00");
}

TEST(ProgressLine, ANarrowTerminalLosesTheBarThenTheBracketThenTheEnd) {
  const Progress p{"work"};
  const ProgressCounts c = counts(37, 100, 5.0);
  // "work:  37%" (10), " 37/100" (7), " [00:05<00:08, 7.4 tasks/s]" (27), the two '|' and a bar
  // of at least 4 cells: 50 columns, with the last one left free.
  EXPECT_THAT(format_progress_line(p, c, 51), HasSubstr("|"));
  EXPECT_EQ(format_progress_line(p, c, 50), "work:  37% 37/100 [00:05<00:08, 7.4 tasks/s]");
  EXPECT_EQ(format_progress_line(p, c, 45), "work:  37% 37/100 [00:05<00:08, 7.4 tasks/s]");
  EXPECT_EQ(format_progress_line(p, c, 44), "work:  37% 37/100");
  EXPECT_EQ(format_progress_line(p, c, 18), "work:  37% 37/100");
  EXPECT_EQ(format_progress_line(p, c, 17), "work:  37% 37/10");
  EXPECT_EQ(format_progress_line(p, c, 10), "work:  37");
  for (int columns : {0, 1, 2, 10, 17, 18, 19, 44, 45, 50, 51, 52, 200}) {
    const std::string line = format_progress_line(p, c, columns);
    EXPECT_LE(columns_of(line), static_cast<std::size_t>(std::max(columns, 2) - 1))
        << columns << ": " << line;
    EXPECT_EQ(line.find('|') != std::string::npos, columns >= 51) << columns << ": " << line;
  }
}

TEST(ProgressLine, ControlCharactersCannotBreakTheLine) {
  const std::string line =
      format_progress_line(Progress{"two\nlines\r\x1b[2J", "a\tb"}, counts(1, 2, 1.0), 120);
  EXPECT_THAT(line, StartsWith("two lines  [2J: "));
  EXPECT_THAT(line, HasSubstr(" a b/s]"));
  EXPECT_EQ(line.find_first_of("\n\r\t\x1b"), std::string::npos);
}

TEST(ProgressLine, WideTextIsCountedInCodePoints) {
  // "données" is 7 code points and 8 bytes; the bar still ends one column before the edge.
  const std::string line = format_progress_line(Progress{"donn\u00e9es"}, counts(1, 2, 1.0), 70);
  EXPECT_THAT(line, StartsWith("donn\u00e9es:  50%|"));
  EXPECT_EQ(columns_of(line), 69u) << line;
  // Cut inside a multi-byte description: never half a character.
  const std::string cut =
      format_progress_line(Progress{std::string(20, 'x') + "\u00e9\u00e9"}, counts(1, 2, 1.0), 23);
  EXPECT_EQ(columns_of(cut), 22u) << cut;
  EXPECT_THAT(cut, EndsWith("\u00e9"));
}

TEST(ProgressLine, MoreFinishedThanTotalIsShownAsDone) {
  const std::string line = format_progress_line(Progress{"w"}, counts(12, 10, 1.0), 80);
  EXPECT_THAT(line, HasSubstr(" 10/10 "));
  EXPECT_THAT(line, StartsWith("w: 100%|"));
}

}  // namespace
