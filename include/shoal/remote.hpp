// File: shoal/remote.hpp
//
// SHOAL_REMOTE(f, g, ...) registers plain functions as remote functions, by name. Write it once,
// at namespace scope, in any file linked into the program:
//
//   double rotate_image90(const std::string& fname) { ... }
//   SHOAL_REMOTE(rotate_image90);
//
// Registration runs before main(), in the driver and (because workers are forks of the driver)
// in every worker, so a worker knows every function without shared libraries or search paths.
// Overloaded names need a cast: SHOAL_REMOTE(static_cast<int (*)(int)>(f)) registers f(int).
// Functions registered after shoal::init() (e.g. in a library loaded later) are not known to the
// workers; calling them throws FunctionNotRegisteredError.
#pragma once

#include <cstdint>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>

#include <shoal/detail/codec.hpp>
#include <shoal/detail/function_traits.hpp>
#include <shoal/detail/runtime_api.hpp>

namespace shoal::detail {

/// What a worker's loop gives a function's invoker: the encoded arguments, and a sink for the
/// encoded result. Implemented in the library (worker/invoke_context.cpp).
class InvokeContext {
 public:
  virtual std::size_t arg_count() const = 0;
  virtual ValueView arg(std::size_t index) const = 0;
  virtual ValueSink& result() = 0;
  virtual void set_void_result() = 0;
  /// How many objects the call returns: 1, or N for task(f).num_returns<N>(), whose tuple's
  /// elements are then written one after the other into result().
  virtual std::size_t num_returns() const { return 1; }

 protected:
  ~InvokeContext() = default;
};

/// Decodes the arguments, calls the function, encodes the result.
using Invoker = void (*)(AnyFn fn, InvokeContext& ctx);

[[noreturn]] void throw_arg_count(std::size_t expected, std::size_t got);
[[noreturn]] void throw_returns_count(std::size_t asked);

template <class T>
struct IsTuple : std::false_type {};
template <class... E>
struct IsTuple<std::tuple<E...>> : std::true_type {};

template <class R, class... Args, std::size_t... I>
void invoke_impl(AnyFn fn, InvokeContext& ctx, std::index_sequence<I...>) {
  auto* f = reinterpret_cast<R (*)(Args...)>(fn);
  if (ctx.arg_count() != sizeof...(Args)) throw_arg_count(sizeof...(Args), ctx.arg_count());
  // Braced initialisation evaluates left to right, so arguments decode in order.
  std::tuple<param_value_t<Args>...> args{decode_value<param_value_t<Args>>(ctx.arg(I))...};
  if constexpr (std::is_void_v<R>) {
    std::apply(f, std::move(args));
    ctx.set_void_result();
  } else {
    const R result = std::apply(f, std::move(args));
    if constexpr (IsTuple<R>::value) {
      if (ctx.num_returns() != 1) {  // num_returns<N>(): each element an object of its own
        if (ctx.num_returns() != std::tuple_size_v<R>) throw_returns_count(ctx.num_returns());
        std::apply([&](const auto&... e) { (encode_value(ctx.result(), e), ...); }, result);
        return;
      }
    }
    encode_value(ctx.result(), result);
  }
}

template <class R, class... Args>
void invoke(AnyFn fn, InvokeContext& ctx) {
  invoke_impl<R, Args...>(fn, ctx, std::index_sequence_for<Args...>{});
}

struct FunctionInfo {
  AnyFn address;
  Invoker invoker;
  const char* signature;  // typeid(R(Args...)).name()
};

/// Registers functions; `names` is the macro's stringified argument list, split on top-level
/// commas. Returns true so that it can initialise a namespace-scope constant.
bool register_function_list(const char* names, const FunctionInfo* infos, std::size_t count);

template <class R, class... Args>
FunctionInfo make_function_info(R (*f)(Args...)) {
  static_assert(check_signature<R, Args...>());
  if constexpr (!std::is_void_v<R>) (void)type_hash<R>();  // so errors can name the result type
  ((void)type_hash<param_value_t<Args>>(), ...);
  return FunctionInfo{reinterpret_cast<AnyFn>(f), &invoke<R, Args...>, typeid(R(Args...)).name()};
}

template <class F>
constexpr bool check_registrable() {
  static_assert(std::is_pointer_v<F> && std::is_function_v<std::remove_pointer_t<F>>,
                "shoal: SHOAL_REMOTE takes plain (free or static member) functions; lambdas and "
                "member functions are not supported. Overloads need a cast to one signature.");
  return true;
}

template <class... F>
bool register_functions(const char* names, F... fns) {
  static_assert((check_registrable<F>() && ...));
  const FunctionInfo infos[] = {make_function_info(fns)...};
  return register_function_list(names, infos, sizeof...(F));
}

}  // namespace shoal::detail

#define SHOAL_DETAIL_CAT2(a, b) a##b
#define SHOAL_DETAIL_CAT(a, b) SHOAL_DETAIL_CAT2(a, b)

/// Registers the listed functions as remote functions. Use at namespace scope, followed by ';'.
#define SHOAL_REMOTE(...)                                                           \
  [[maybe_unused]] static const bool SHOAL_DETAIL_CAT(shoal_remote_, __COUNTER__) = \
      ::shoal::detail::register_functions(#__VA_ARGS__, __VA_ARGS__)
