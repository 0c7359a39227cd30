// Choosing the start method (src/core/start_method.hpp): Config::start_method, the
// SHOAL_START_METHOD variable, the program's other threads and whether forkserver is available.
// No process is forked.
#include "src/core/start_method.hpp"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <shoal/errors.hpp>

#include "tests/support/test_support.hpp"

namespace shoal::internal {
namespace {

using ::testing::HasSubstr;

// SHOAL_START_METHOD set (or, for null, unset) for one test.
struct ScopedStartMethodEnv : shoal::testing::ScopedEnv {
  explicit ScopedStartMethodEnv(const char* value) : ScopedEnv("SHOAL_START_METHOD", value) {}
};

const std::vector<std::string> kNoThreads;
const std::vector<std::string> kOmpThreads{"omp-worker", "omp-worker"};

std::string error_of(const std::string& asked, bool available) {
  try {
    choose_start_method(asked, kNoThreads, available);
  } catch (const InvalidConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "\"" << asked << "\" was accepted";
  return {};
}

TEST(StartMethod, AskedMethodIsTakenWhateverTheThreads) {
  const ScopedStartMethodEnv env(nullptr);
  EXPECT_EQ(choose_start_method("fork", kOmpThreads, true), StartMethod::kFork);
  EXPECT_EQ(choose_start_method("fork", kNoThreads, false), StartMethod::kFork);
  EXPECT_EQ(choose_start_method("forkserver", kNoThreads, true), StartMethod::kForkserver);
  EXPECT_EQ(choose_start_method("forkserver", kOmpThreads, true), StartMethod::kForkserver);
}

TEST(StartMethod, DefaultIsForkWithoutOtherThreadsAndForkserverWithThem) {
  const ScopedStartMethodEnv env(nullptr);
  EXPECT_EQ(choose_start_method("", kNoThreads, true), StartMethod::kFork);
  EXPECT_EQ(choose_start_method("", kOmpThreads, true), StartMethod::kForkserver);
  // Without a wrapped main() there is nothing safer to choose: fork, with a warning.
  EXPECT_EQ(choose_start_method("", kOmpThreads, false), StartMethod::kFork);
}

TEST(StartMethod, EnvironmentVariableIsUsedOnlyWhenConfigLeavesItEmpty) {
  const ScopedStartMethodEnv env("forkserver");
  EXPECT_EQ(choose_start_method("", kNoThreads, true), StartMethod::kForkserver);
  EXPECT_EQ(choose_start_method("fork", kNoThreads, true), StartMethod::kFork);
  const ScopedStartMethodEnv empty("");
  EXPECT_EQ(choose_start_method("", kNoThreads, true), StartMethod::kFork) << "empty means unset";
}

TEST(StartMethod, UnknownNameIsRefusedNamingItsSourceAndTheChoices) {
  const ScopedStartMethodEnv env(nullptr);
  const std::string what = error_of("spawn", true);
  EXPECT_THAT(what, HasSubstr("Config::start_method is \"spawn\""));
  EXPECT_THAT(what, HasSubstr("use \"fork\", \"forkserver\", or \"\""));

  const ScopedStartMethodEnv bad_env("threads");
  const std::string from_env = error_of("", true);
  EXPECT_THAT(from_env, HasSubstr("SHOAL_START_METHOD is \"threads\""));
}

TEST(StartMethod, ForkserverWithoutAWrappedMainIsRefusedWithTheLinkOption) {
  const ScopedStartMethodEnv env(nullptr);
  const std::string what = error_of("forkserver", false);
  EXPECT_THAT(what, HasSubstr("-Wl,--wrap=main"));
  EXPECT_THAT(what, HasSubstr("shoal::shoal"));

  const ScopedStartMethodEnv from_env("forkserver");
  EXPECT_THAT(error_of("", false), HasSubstr("SHOAL_START_METHOD is \"forkserver\""));
}

}  // namespace
}  // namespace shoal::internal
