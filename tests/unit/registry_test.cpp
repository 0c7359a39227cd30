// FunctionRegistry::split_names (src/common/function_registry.hpp): the names written in one
// SHOAL_REMOTE(...) line become one registered name each, whatever casts and templates they use.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "src/common/function_registry.hpp"

namespace shoal::internal {
namespace {

using ::testing::ElementsAre;

TEST(FunctionRegistry, SplitNamesStripsCastsAndAddressOf) {
  EXPECT_THAT(FunctionRegistry::split_names("f, ns::g, static_cast<int (*)(int, int)>(h), &k"),
              ElementsAre("f", "ns::g", "h", "k"));
}

TEST(FunctionRegistry, SplitNamesKeepsTemplateArgumentsInOneName) {
  EXPECT_THAT(FunctionRegistry::split_names("add<int, double>, ns::apply<std::map<int, int>>, f"),
              ElementsAre("add<int, double>", "ns::apply<std::map<int, int>>", "f"));
}

TEST(FunctionRegistry, SplitNamesHandlesACastOfATemplate) {
  EXPECT_THAT(FunctionRegistry::split_names(
                  "static_cast<int (*)(std::pair<int, int>, int)>(sum<int, int>), "
                  "reinterpret_cast<void (*)()>(raw)"),
              ElementsAre("sum<int, int>", "raw"));
}

TEST(FunctionRegistry, SplitNamesTrimsWhitespaceAndParentheses) {
  EXPECT_THAT(FunctionRegistry::split_names("  f  "), ElementsAre("f"));
  EXPECT_THAT(FunctionRegistry::split_names("(f),\n  & ns::g ,\t(&h)"),
              ElementsAre("f", "ns::g", "h"));
}

TEST(FunctionRegistry, SplitNamesOfOneNameIsThatName) {
  EXPECT_THAT(FunctionRegistry::split_names("rotate_image90"), ElementsAre("rotate_image90"));
  EXPECT_THAT(FunctionRegistry::split_names("outer::inner::fn"), ElementsAre("outer::inner::fn"));
}

}  // namespace
}  // namespace shoal::internal
