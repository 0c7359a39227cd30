// The type comes from the C++ ABI (__cxa_current_exception_type), which knows it for every thrown
// object; the message from rethrowing the exception into handlers for the types that carry one.
// Only on a failure path: each rethrow costs about a microsecond.
#include "worker/exception_description.hpp"

#include <exception>
#include <optional>
#include <typeinfo>

#include <cxxabi.h>
#include <fmt/format.h>

#include <shoal/detail/type_id.hpp>

namespace shoal::internal {
namespace {

// The value of a thrown number, tried as each type in turn (a catch clause matches one type
// exactly: `throw 42` is caught by `int` only).
template <class T, class... Rest>
std::optional<std::string> number_text() {
  try {
    throw;
  } catch (const T& value) {
    return fmt::format("{}", value);
  } catch (...) {
  }
  if constexpr (sizeof...(Rest) > 0) {
    return number_text<Rest...>();
  } else {
    return std::nullopt;
  }
}

void cap(ExceptionDescription& d) {
  if (d.what.size() > kMaxExceptionText) d.what.resize(kMaxExceptionText);
  if (d.type_name.size() > kMaxExceptionText) d.type_name.resize(kMaxExceptionText);
}

}  // namespace

ExceptionDescription describe_current_exception() {
  ExceptionDescription d;
  const std::type_info* type = abi::__cxa_current_exception_type();
  d.type_name = type != nullptr ? detail::demangle(type->name()) : "an unknown type";
  try {
    throw;
  } catch (const std::exception& e) {
    d.type_name = detail::demangle(typeid(e).name());  // the dynamic type, not the static one
    const char* what = e.what();  // null breaks std::exception's contract; not ours to crash on
    d.what = what != nullptr ? what : "";
    cap(d);
    return d;
  } catch (const std::string& s) {
    d.what = s;
    cap(d);
    return d;
  } catch (const char* s) {
    d.what = s != nullptr ? s : "";
    cap(d);
    return d;
  } catch (...) {
  }
  d.what = number_text<int, long, long long, unsigned, unsigned long, unsigned long long, short,
                       unsigned short, char, signed char, unsigned char, bool, float, double,
                       long double>()
               .value_or("");
  cap(d);
  return d;
}

}  // namespace shoal::internal
