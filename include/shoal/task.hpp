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

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <shoal/config.hpp>
#include <shoal/detail/call_site.hpp>
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
template <class F, std::size_t N>
class SplitTaskCaller;

template <class R, class... Params>
class TaskCaller<R (*)(Params...)> {
 public:
  using Function = R (*)(Params...);

  /// `site`: where task(f) was called, for memory_summary() (<shoal/observe.hpp>).
  explicit TaskCaller(Function f, detail::CallSite site = {}) noexcept : f_(f), site_(site) {}

  /// Returns a copy of this caller with per-call options (see TaskOptions).
  // The check misses the move below (the assignment depends on the template's parameters).
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  TaskCaller options(TaskOptions options) const {
    TaskCaller copy(*this);
    copy.options_ = std::move(options);
    return copy;
  }

  /// For a function returning std::tuple<A, B, ...>: a caller whose remote() returns one ref per
  /// element, std::tuple<ObjectRef<A>, ObjectRef<B>, ...>, each object stored, read, viewed and
  /// freed on its own (Ray's num_returns). N must be the tuple's size; checked at compile time:
  ///   auto [lo, hi] = shoal::task(split).num_returns<2>().remote(v);
  template <std::size_t N>
  SplitTaskCaller<Function, N> num_returns() const {
    return SplitTaskCaller<Function, N>(f_, options_, site_);
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
      detail::TaskArgs args(site_);
      (detail::add_argument<Params>(args, std::forward<A>(a)), ...);
      return ObjectRef<R>(detail::submit_task(reinterpret_cast<detail::AnyFn>(f_),
                                              typeid(R(Params...)).name(), options_,
                                              std::move(args)));
    }
  }

 private:
  Function f_;
  TaskOptions options_;
  detail::CallSite site_;
};

/// TaskCaller::num_returns<N>(): remote() returns N refs, one per element of R's std::tuple.
template <class R, class... Params, std::size_t N>
class SplitTaskCaller<R (*)(Params...), N> {
  static_assert(detail::IsTuple<R>::value,
                "shoal: num_returns<N>() is for a function that returns std::tuple<...>");
  static_assert(N >= 2 && N <= 1024,
                "shoal: num_returns<N>() takes 2 to 1024 returns (one return needs no option)");

 public:
  using Function = R (*)(Params...);

  SplitTaskCaller(Function f, TaskOptions options, detail::CallSite site = {})
      : f_(f), options_(std::move(options)), site_(site) {}

  /// As TaskCaller::options().
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  SplitTaskCaller options(TaskOptions options) const {
    SplitTaskCaller copy(*this);
    copy.options_ = std::move(options);
    return copy;
  }

  /// As TaskCaller::remote(), but returns std::tuple<ObjectRef<E>...> for R = std::tuple<E...>.
  /// cancel() of any of the refs cancels the task; if the task fails, every ref's get() throws
  /// its error.
  template <class... A>
  auto remote(A&&... a) const {
    static_assert(std::tuple_size_v<R> == N,
                  "shoal: num_returns<N>(): N must be the number of elements of the std::tuple "
                  "the function returns");
    static_assert(sizeof...(A) == sizeof...(Params),
                  "shoal: remote() must be given exactly as many arguments as the function takes");
    static_assert((detail::check_argument<Params, A>() && ...));
    detail::TaskArgs args(site_);
    (detail::add_argument<Params>(args, std::forward<A>(a)), ...);
    std::vector<detail::HandlePtr> handles =
        detail::submit_task_returns(reinterpret_cast<detail::AnyFn>(f_),
                                    typeid(R(Params...)).name(), options_, std::move(args), N);
    return refs(std::move(handles), std::make_index_sequence<N>{});
  }

 private:
  template <std::size_t... I>
  static auto refs(std::vector<detail::HandlePtr> h, std::index_sequence<I...>) {
    return std::tuple<ObjectRef<std::tuple_element_t<I, R>>...>(
        ObjectRef<std::tuple_element_t<I, R>>(std::move(h[I]))...);
  }

  Function f_;
  TaskOptions options_;
  detail::CallSite site_;
};

/// Wraps a function registered with SHOAL_REMOTE for remote calls: task(f).remote(args...).
/// `site` is left to its default: the objects the calls make name this line in
/// memory_summary().
template <class R, class... Params>
TaskCaller<R (*)(Params...)> task(R (*f)(Params...),
                                  detail::CallSite site = detail::CallSite::current()) noexcept {
  static_assert(detail::check_signature<R, Params...>());
  return TaskCaller<R (*)(Params...)>(f, site);
}

}  // namespace shoal
