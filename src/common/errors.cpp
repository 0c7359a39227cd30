// Throw helpers called from the public templates. They live here so that the templates stay
// small and the messages are written in one place.
#include <fmt/format.h>

#include <shoal/detail/codec.hpp>
#include <shoal/detail/timeout.hpp>
#include <shoal/errors.hpp>
#include <shoal/remote.hpp>

namespace shoal::detail {

void throw_type_mismatch(const char* expected_mangled, const ValueView& value, const char* detail) {
  throw TypeMismatchError(fmt::format(
      "shoal: cannot read the stored value as {}: it holds a {} ({}). Read it with the type it was "
      "stored with: the ObjectRef's type, or the remote function's parameter type",
      demangle(expected_mangled), type_name_of_hash(value.type_hash), detail));
}

void throw_arg_count(std::size_t expected, std::size_t got) {
  throw TypeMismatchError(fmt::format(
      "shoal: the task message has {} arguments but the function takes {}", got, expected));
}

void throw_returns_count(std::size_t asked) {
  throw TypeMismatchError(fmt::format(
      "shoal: the task was asked for {} returns, but its function returns a std::tuple of another "
      "size",
      asked));
}

void throw_nan_timeout() {
  throw InvalidConfigError(
      "shoal: the timeout is NaN (not a number); pass a duration, zero to check without waiting, "
      "or call the overload without a timeout to wait without limit");
}

}  // namespace shoal::detail
