// LineSplitter (src/node/line_splitter.hpp): how worker output is cut into log lines.
#include "src/node/line_splitter.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace shoal::internal {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Feeds `chunks` one by one, then finishes; returns every line emitted.
std::vector<std::string> split(std::size_t max_line, const std::vector<std::string>& chunks,
                               bool finish = true) {
  LineSplitter splitter(max_line);
  std::vector<std::string> lines;
  auto emit = [&](std::string_view line) { lines.emplace_back(line); };
  for (const std::string& c : chunks) splitter.feed(c, emit);
  if (finish) splitter.finish(emit);
  return lines;
}

TEST(LineSplitter, SplitsAtNewlinesAndDropsThem) {
  EXPECT_THAT(split(100, {"one\ntwo\n\nthree\n"}), ElementsAre("one", "two", "", "three"));
}

TEST(LineSplitter, JoinsALineSpreadOverManyReads) {
  EXPECT_THAT(split(100, {"he", "ll", "o\nwor", "ld\n"}), ElementsAre("hello", "world"));
}

TEST(LineSplitter, HoldsAPartialLineUntilFinish) {
  EXPECT_THAT(split(100, {"done\npart"}, false), ElementsAre("done"));
  EXPECT_THAT(split(100, {"done\npart"}, true), ElementsAre("done", "part"));
  EXPECT_THAT(split(100, {"", ""}, true), IsEmpty());
}

TEST(LineSplitter, CutsLongLinesIntoPiecesOfTheBound) {
  EXPECT_THAT(split(4, {"abcdefghij\nxy\n"}), ElementsAre("abcd", "efgh", "ij", "xy"));
  EXPECT_THAT(split(4, {"ab", "cdef", "ghij", "\n"}), ElementsAre("abcd", "efgh", "ij"));
}

TEST(LineSplitter, ALineOfExactlyTheBoundIsNotFollowedByAnEmptyOne) {
  EXPECT_THAT(split(4, {"abcd\n"}), ElementsAre("abcd"));
  EXPECT_THAT(split(4, {"abcd", "\n"}), ElementsAre("abcd"));
  EXPECT_THAT(split(4, {"abcd"}), ElementsAre("abcd"));
  EXPECT_THAT(split(4, {"abcd", "e\n"}), ElementsAre("abcd", "e"));
}

TEST(LineSplitter, PassesAnyBytesThrough) {
  const std::string binary("\x00\xff\xfe\x1b[0m\xc3\x28", 9);
  EXPECT_THAT(split(100, {binary + "\n" + binary}), ElementsAre(binary, binary));
}

}  // namespace
}  // namespace shoal::internal
