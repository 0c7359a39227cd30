// Log level parsing (src/common/logging.hpp): what Config::log_level and SHOAL_LOG_LEVEL accept,
// and the error a bad value gives.
#include "src/common/logging.hpp"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <shoal/errors.hpp>

#include "tests/support/test_support.hpp"

namespace shoal::internal::logging {
namespace {

using ::testing::HasSubstr;

// SHOAL_LOG_LEVEL set (or, for null, unset) for one test.
struct ScopedLogLevelEnv : shoal::testing::ScopedEnv {
  explicit ScopedLogLevelEnv(const char* value) : ScopedEnv("SHOAL_LOG_LEVEL", value) {}
};

TEST(Logging, ParseLevelAcceptsEveryLevelInAnyCase) {
  const struct {
    const char* text;
    Level level;
  } cases[] = {
      {"trace", Level::kTrace},  {"DEBUG", Level::kDebug}, {"Info", Level::kInfo},
      {"warn", Level::kWarn},    {"wArN", Level::kWarn},   {"warning", Level::kWarn},
      {"WARNING", Level::kWarn}, {"error", Level::kError}, {"Critical", Level::kCritical},
      {"OFF", Level::kOff},
  };
  for (const auto& c : cases) {
    Level level = Level::kInfo;
    EXPECT_TRUE(parse_level(c.text, &level)) << c.text;
    EXPECT_EQ(level, c.level) << c.text;
  }
}

TEST(Logging, ParseLevelRejectsOtherText) {
  for (const char* text : {"loud", "", "warn ", " info", "war", "errors", "0", "verbose"}) {
    Level level = Level::kInfo;
    EXPECT_FALSE(parse_level(text, &level)) << "'" << text << "'";
  }
}

TEST(Logging, LevelNamesParseBack) {
  for (Level level : {Level::kTrace, Level::kDebug, Level::kInfo, Level::kWarn, Level::kError,
                      Level::kCritical, Level::kOff}) {
    Level parsed = Level::kInfo;
    ASSERT_TRUE(parse_level(level_name(level), &parsed)) << level_name(level);
    EXPECT_EQ(parsed, level);
  }
}

TEST(Logging, ResolveLevelDefaultsToWarn) {
  ScopedLogLevelEnv env(nullptr);
  EXPECT_EQ(resolve_level(""), Level::kWarn);
  ScopedLogLevelEnv empty("");
  EXPECT_EQ(resolve_level(""), Level::kWarn);
}

TEST(Logging, ResolveLevelHonoursTheEnvironment) {
  ScopedLogLevelEnv env("DeBuG");
  EXPECT_EQ(resolve_level(""), Level::kDebug);
}

TEST(Logging, ResolveLevelPrefersTheConfiguredLevel) {
  ScopedLogLevelEnv env("debug");
  EXPECT_EQ(resolve_level("error"), Level::kError);
}

TEST(Logging, ResolveLevelRejectsABadEnvironmentValueNamingIt) {
  ScopedLogLevelEnv env("loud");
  try {
    resolve_level("");
    FAIL() << "SHOAL_LOG_LEVEL=loud was accepted";
  } catch (const InvalidConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'loud'"));
    EXPECT_THAT(e.what(), HasSubstr("SHOAL_LOG_LEVEL"));
  }
}

TEST(Logging, ResolveLevelRejectsABadConfiguredValueNamingIt) {
  ScopedLogLevelEnv env("info");  // a good environment value does not rescue a bad config
  try {
    resolve_level("chatty");
    FAIL() << "log_level=chatty was accepted";
  } catch (const InvalidConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'chatty'"));
    EXPECT_THAT(e.what(), HasSubstr("log_level"));
  }
}

}  // namespace
}  // namespace shoal::internal::logging
