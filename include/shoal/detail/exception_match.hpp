// File: shoal/detail/exception_match.hpp (internal)
//
// How a worker tells whether a task's exception is one of the types TaskOptions::retry_exceptions
// names (shoal::retry_on<E...>()): each type's matcher rethrows the exception being handled and
// catches it as `const E&`, so derived types match too. Matchers are registered under the type's
// hash by a static initialiser, which runs before main() in every process of the program (the
// driver, and a fork helper started afresh by the "forkserver" start method), so a worker finds
// the matcher of every type any retry_on<E...>() in the program names.
#pragma once

#include <cstdint>

#include <shoal/config.hpp>
#include <shoal/detail/type_id.hpp>

namespace shoal::detail {

/// Called inside a catch handler: true if the exception being handled is an E (or derived).
using ExceptionMatcher = bool (*)();

/// Registers the matcher of the type whose hash is `hash`. Thread safe; returns true.
bool register_exception_matcher(std::uint64_t hash, ExceptionMatcher matcher) noexcept;

template <class E>
bool matches_current_exception() {
  try {
    throw;
  } catch (const E&) {
    return true;
  } catch (...) {
    return false;
  }
}

template <class E>
struct ExceptionMatcherOf {
  static inline const bool registered =
      register_exception_matcher(type_hash<E>(), &matches_current_exception<E>);
};

}  // namespace shoal::detail

namespace shoal {

/// TaskOptions::retry_exceptions that retries only exceptions of the types E... (or derived from
/// them), as Ray's retry_exceptions=[E, ...]:
///   shoal::task(f).options({.retry_exceptions = shoal::retry_on<std::system_error>()}).remote(x);
template <class... E>
RetryExceptions retry_on() {
  static_assert(sizeof...(E) > 0, "shoal: retry_on<E...>() needs at least one exception type");
  return RetryExceptions::of_types(
      {(static_cast<void>(detail::ExceptionMatcherOf<E>::registered), detail::type_hash<E>())...});
}

}  // namespace shoal
