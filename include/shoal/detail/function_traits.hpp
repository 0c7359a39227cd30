// File: shoal/detail/function_traits.hpp (internal)
//
// Compile-time rules for what a remote function may look like, with messages that say what to
// change. A remote function runs in another process, so everything it takes and returns crosses
// a process boundary by value.
#pragma once

#include <type_traits>

namespace shoal {
template <class T>
class ObjectRef;
}

namespace shoal::detail {

template <class T>
struct IsObjectRef : std::false_type {};
template <class T>
struct IsObjectRef<ObjectRef<T>> : std::true_type {};

template <class P>
constexpr bool check_parameter() {
  static_assert(!(std::is_lvalue_reference_v<P> && !std::is_const_v<std::remove_reference_t<P>>),
                "shoal: a remote function cannot take a non-const reference (it runs in another "
                "process and cannot write back); take the argument by value or const reference "
                "and return the result");
  static_assert(!std::is_pointer_v<std::decay_t<P>>,
                "shoal: a remote function cannot take a pointer (it runs in another process); "
                "take a value such as std::string or std::vector instead");
  static_assert(!IsObjectRef<std::decay_t<P>>::value,
                "shoal: declare the parameter as T, not ObjectRef<T>; pass an ObjectRef<T> at the "
                "call and the task receives the value");
  return true;
}

template <class R>
constexpr bool check_result() {
  static_assert(!std::is_reference_v<R>,
                "shoal: a remote function must return by value, not by reference");
  static_assert(!std::is_pointer_v<R>,
                "shoal: a remote function cannot return a pointer (it would point into another "
                "process); return the value itself");
  return true;
}

template <class R, class... Args>
constexpr bool check_signature() {
  return check_result<R>() && (check_parameter<Args>() && ...);
}

/// The type a remote call's argument must match for parameter type P.
template <class P>
using param_value_t = std::decay_t<P>;

}  // namespace shoal::detail
