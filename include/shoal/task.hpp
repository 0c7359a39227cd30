// File: shoal/task.hpp
//
// shoal::task(f) wraps a registered function so that .remote(args...) runs it on a worker:
//
//   shoal::ObjectRef<double> r = shoal::task(rotate_image90).remote(fname);
//   auto r2 = shoal::task(f).options({.num_cpus = 2, .max_retries = 0}).remote(x);
//
// remote() checks the arguments against f's signature at compile time. Each argument is either a
// value convertible to the parameter's type (encoded now, so later changes to your variable do
// not affect the task) or an ObjectRef<T> for a parameter of type T (a dependency: the task runs
// once the object exists). remote() does not block on the task; it returns at once, except that a
// large argument passed by value goes to the object store like put(), and waits as put() does
// when the store is full. In local mode (Config::local_mode) the task runs inside remote(), which
// returns when it has finished (its exception, if any, comes from get() all the same).
//
// Thread safety: a TaskCaller is a small value; calling remote() on it from several threads at
// once is safe.
#pragma once

#include <type_traits>
#include <utility>

#include <shoal/config.hpp>
#include <shoal/detail/codec.hpp>
#include <shoal/detail/function_traits.hpp>
#include <shoal/detail/runtime_api.hpp>
#include <shoal/object_ref.hpp>

namespace shoal {

namespace detail {

template <class P, class A>
constexpr bool check_argument() {
  using V = param_value_t<P>;
  using D = std::decay_t<A>;
  if constexpr (IsObjectRef<D>::value) {
    static_assert(std::is_same_v<typename D::value_type, V>,
                  "shoal: this ObjectRef<U> argument is passed where the function takes another "
                  "type; pass an ObjectRef<T> whose T is exactly the parameter's (decayed) type");
  } else {
    static_assert(std::is_constructible_v<V, A>,
                  "shoal: an argument of remote() cannot be converted to the function's "
                  "parameter type");
  }
  return true;
}

template <class P, class A>
void add_argument(TaskArgs& args, A&& a) {
  using V = param_value_t<P>;
  using D = std::decay_t<A>;
  if constexpr (IsObjectRef<D>::value) {
    args.add_ref(a.handle());
  } else if constexpr (std::is_same_v<D, V>) {
    encode_value<V>(args, a);
  } else {
    const V converted(std::forward<A>(a));
    encode_value<V>(args, converted);
  }
}

}  // namespace detail

template <class F>
class TaskCaller;

template <class R, class... Params>
class TaskCaller<R (*)(Params...)> {
 public:
  using Function = R (*)(Params...);

  explicit TaskCaller(Function f) noexcept : f_(f) {}

  /// Returns a copy of this caller with per-call options (see TaskOptions).
  // The check misses the move below (the assignment depends on the template's parameters).
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  TaskCaller options(TaskOptions options) const {
    TaskCaller copy(*this);
    copy.options_ = std::move(options);
    return copy;
  }

  /// Submits the call and returns a reference to its future result at once. Throws
  /// NotInitializedError before init(), FunctionNotRegisteredError if f was not registered with
  /// SHOAL_REMOTE, InvalidConfigError for out-of-range options, InvalidObjectRefError for an
  /// empty or stale ObjectRef argument, ObjectStoreFullError if a large argument passed by value
  /// does not fit in the store (see put(); inside a task it does not wait for space), Error in a
  /// fork of a running program. Works inside a task: the child belongs to the program's session,
  /// and get() of it from the task runs it on the task's own worker if no other worker has it
  /// yet. As Ray's f.remote().
  template <class... A>
  ObjectRef<R> remote(A&&... a) const {
    static_assert(sizeof...(A) == sizeof...(Params),
                  "shoal: remote() must be given exactly as many arguments as the function takes");
    if constexpr (sizeof...(A) == sizeof...(Params)) {
      static_assert((detail::check_argument<Params, A>() && ...));
      detail::TaskArgs args;
      (detail::add_argument<Params>(args, std::forward<A>(a)), ...);
      return ObjectRef<R>(detail::submit_task(reinterpret_cast<detail::AnyFn>(f_),
                                              typeid(R(Params...)).name(), options_,
                                              std::move(args)));
    }
  }

 private:
  Function f_;
  TaskOptions options_;
};

/// Wraps a function registered with SHOAL_REMOTE for remote calls: task(f).remote(args...).
template <class R, class... Params>
TaskCaller<R (*)(Params...)> task(R (*f)(Params...)) noexcept {
  static_assert(detail::check_signature<R, Params...>());
  return TaskCaller<R (*)(Params...)>(f);
}

}  // namespace shoal
