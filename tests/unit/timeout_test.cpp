// The one conversion from a std::chrono::duration to the library's timeout (issue 9, field report
// 2: seconds::max() overflowed into a deadline in the past and acted as zero). Every kind of
// duration at its extremes: integral and floating-point counts, signed and unsigned, periods from
// picoseconds to hours.
#include <chrono>
#include <cstdint>
#include <limits>
#include <ratio>

#include <gtest/gtest.h>

#include <shoal/errors.hpp>
#include <shoal/shoal.hpp>

namespace {

using shoal::detail::kNoTimeout;
using shoal::detail::to_timeout_ns;
using namespace std::chrono;

template <class Rep, class Period>
void expect_extremes_of() {
  using D = duration<Rep, Period>;
  EXPECT_EQ(to_timeout_ns(D::max()), kNoTimeout) << typeid(D).name();
  EXPECT_EQ(to_timeout_ns(D::zero()), 0) << typeid(D).name();
  EXPECT_EQ(to_timeout_ns(D::min()), 0) << typeid(D).name();  // negative, or 0 when unsigned
}

TEST(Timeout, TheLargestValueOfEveryDurationMeansNoLimit) {
  expect_extremes_of<std::int64_t,
                     std::nano>();  // nanoseconds::max(): overflowed when added to now
  expect_extremes_of<std::int64_t, std::micro>();
  expect_extremes_of<std::int64_t, std::milli>();
  expect_extremes_of<std::int64_t, std::ratio<1>>();     // seconds::max()
  expect_extremes_of<std::int32_t, std::ratio<60>>();    // minutes
  expect_extremes_of<std::int32_t, std::ratio<3600>>();  // hours::max()
  expect_extremes_of<std::uint64_t, std::milli>();
  expect_extremes_of<double, std::ratio<1>>();
  expect_extremes_of<float, std::ratio<3600>>();
  expect_extremes_of<long double, std::nano>();
  EXPECT_EQ(to_timeout_ns(years::max()), kNoTimeout);
  // Maxima that fit below the limit are waited for as they are: 136 years, 106 days.
  EXPECT_EQ(to_timeout_ns(duration<std::uint32_t>::max()), 4'294'967'295'000'000'000);
  EXPECT_EQ(to_timeout_ns(duration<std::int64_t, std::pico>::max()), 9'223'372'036'854'776);
  EXPECT_EQ(to_timeout_ns(duration<std::uint32_t>::min()), 0);
  EXPECT_EQ(to_timeout_ns(duration<double>(std::numeric_limits<double>::infinity())), kNoTimeout);
}

TEST(Timeout, NegativeTimeoutsDoNotWait) {
  EXPECT_EQ(to_timeout_ns(seconds(-1)), 0);
  EXPECT_EQ(to_timeout_ns(nanoseconds::min()), 0);
  EXPECT_EQ(to_timeout_ns(hours::min()), 0);
  EXPECT_EQ(to_timeout_ns(duration<double>(-0.0)), 0);
  EXPECT_EQ(to_timeout_ns(duration<double>(-std::numeric_limits<double>::infinity())), 0);
  EXPECT_EQ(to_timeout_ns(duration<double>(std::numeric_limits<double>::lowest())), 0);
}

TEST(Timeout, OrdinaryTimeoutsAreExactOrRoundedUp) {
  EXPECT_EQ(to_timeout_ns(milliseconds(250)), 250'000'000);
  EXPECT_EQ(to_timeout_ns(hours(1000)), 3'600'000'000'000'000);
  EXPECT_EQ(to_timeout_ns(duration<std::int8_t, std::ratio<3600>>(127)), 457'200'000'000'000);
  EXPECT_EQ(to_timeout_ns(duration<double>(1.5)), 1'500'000'000);
  EXPECT_EQ(to_timeout_ns(duration<double, std::nano>(1.25)), 2);  // never earlier than asked
  EXPECT_EQ(to_timeout_ns(duration<std::int64_t, std::pico>(1)), 1);
  EXPECT_EQ(to_timeout_ns(duration<double>(std::numeric_limits<double>::denorm_min())), 1);
  // The largest limited timeout and the first unlimited one.
  EXPECT_EQ(to_timeout_ns(nanoseconds(shoal::detail::kMaxTimeout - 1)),
            shoal::detail::kMaxTimeout - 1);
  EXPECT_EQ(to_timeout_ns(nanoseconds(shoal::detail::kMaxTimeout)), kNoTimeout);
}

TEST(Timeout, NanIsAnError) {
  EXPECT_THROW(to_timeout_ns(duration<double>(std::numeric_limits<double>::quiet_NaN())),
               shoal::InvalidConfigError);
  EXPECT_THROW(to_timeout_ns(duration<float, std::milli>(std::numeric_limits<float>::quiet_NaN())),
               shoal::InvalidConfigError);
}

}  // namespace
