// File: shoal/detail/timeout.hpp (internal)
//
// The one conversion from a caller's std::chrono::duration to the timeout the library waits with,
// used by every timed call (get, get_view, wait). It accepts every duration: integral and
// floating-point counts, signed and unsigned, any period.
//
//  - Zero, negative and -infinity mean "do not wait": the call checks once and returns or throws
//    at once.
//  - A timeout at or beyond kMaxTimeout (about 146 years), +infinity included, means "no limit".
//    Such a value is longer than any wait can last, and capping it here keeps the deadline the
//    library computes (the steady clock's now plus the timeout) from overflowing: a
//    std::chrono::seconds::max() used to wrap around to a deadline in the past and time out at
//    once.
//  - Anything in between is rounded up to whole nanoseconds, so a call never gives up earlier than
//    asked.
//  - NaN is a mistake, not a timeout: InvalidConfigError.
//
// The arithmetic is done in long double (a 64-bit mantissa on x86-64), so no count and no period
// can overflow, and results up to kMaxTimeout are exact for integral counts of whole nanoseconds.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>

namespace shoal::detail {

/// What to_timeout_ns() returns for "no limit".
inline constexpr std::int64_t kNoTimeout = -1;
/// Timeouts at or beyond this many nanoseconds (2^62, about 146 years) mean "no limit".
inline constexpr std::int64_t kMaxTimeout = std::int64_t{1} << 62;

/// Throws InvalidConfigError for a NaN timeout (defined in the library).
[[noreturn]] void throw_nan_timeout();

/// Nanoseconds to wait (0: do not wait), or kNoTimeout; see the file comment.
template <class Rep, class Period>
std::int64_t to_timeout_ns(std::chrono::duration<Rep, Period> timeout) {
  const long double ns = static_cast<long double>(timeout.count()) *
                         static_cast<long double>(Period::num) * 1e9L /
                         static_cast<long double>(Period::den);
  if (std::isnan(ns)) throw_nan_timeout();
  if (!(ns > 0)) return 0;
  if (ns >= static_cast<long double>(kMaxTimeout)) return kNoTimeout;
  return static_cast<std::int64_t>(std::ceil(ns));
}

}  // namespace shoal::detail
