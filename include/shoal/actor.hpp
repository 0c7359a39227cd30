// File: shoal/actor.hpp
//
// Actors: a class instance living in a process of its own, whose methods are called remotely, as
// Ray Core's actors. Build expensive state once (a loaded model, a cache, a simulator) and call it
// many times:
//
//   class Counter {
//    public:
//     explicit Counter(int start);
//     int add(int x);
//     int value() const;
//   };
//   SHOAL_ACTOR(Counter, &Counter::add, &Counter::value);  // namespace scope, like SHOAL_REMOTE
//
//   shoal::ActorHandle<Counter> c = shoal::actor<Counter>().remote(5);  // constructor arguments
//   shoal::ObjectRef<int> r = c.task(&Counter::add).remote(1);          // checked at compile time
//   int total = shoal::get(r);                                          // 6
//
// Semantics (docs/architecture.md, "Actors"; docs/from-ray.md for the differences from Ray):
//  - Each actor is its own worker process, forked from the fork helper outside the task pool. It
//    holds ActorOptions::num_cpus for its whole life (0 is allowed), so available_resources()
//    stays exact; creation waits until that many CPUs are free. (Ray reserves 1 CPU to place an
//    actor and none while it runs, by default.)
//  - Calls run in the order they were submitted (from one caller, and across callers in the
//    order the driver received them), one at a time; with max_concurrency > 1, that many run at
//    once on threads of the actor's process, in no promised order.
//  - Arguments and results follow the task rules: values, ObjectRef dependencies (a call waits
//    for its ObjectRef arguments, and the calls behind it wait for it), views, refs inside values.
//  - A method that throws fails that call with TaskError; the actor lives on. A constructor that
//    throws makes every call fail with ActorDiedError carrying the constructor's error.
//  - When the actor's process dies (a crash, the OOM killer, shoal::kill()), its running and
//    queued calls fail with ActorDiedError naming the cause. With max_restarts, a fresh process
//    runs the constructor again with the original arguments; calls submitted after the death run
//    on the new instance, calls caught by it are retried on it up to max_task_retries times.
//  - Lifetime: when the last handle (in the program, in tasks, inside stored values) is gone and
//    no call is pending, the instance's destructor runs in its process and the process exits. A
//    named actor lives until kill() or shutdown(). shutdown() runs every actor's destructor,
//    bounded by kActorStopTimeoutMs, then kills what is left.
//  - Local mode (Config::local_mode): the instance lives in the program; the constructor runs
//    inside actor<C>().remote() and each call inside its remote(), on the calling thread (one at a
//    time unless max_concurrency > 1). There is no process: no crash, no restart, and kill() runs
//    the destructor.
//
// Thread safety: handles and callers are small values; use them from any thread, any task, any
// actor. Every function here may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include <msgpack.hpp>

#include <shoal/detail/call_site.hpp>
#include <shoal/detail/codec.hpp>
#include <shoal/detail/function_traits.hpp>
#include <shoal/detail/ref_codec.hpp>
#include <shoal/detail/runtime_api.hpp>
#include <shoal/detail/type_id.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/remote.hpp>
#include <shoal/task.hpp>

namespace shoal {

/// Options of one actor: shoal::actor<C>().options({.name = "totals", .max_restarts = 2}).
/// Validated by remote(), which throws InvalidConfigError naming the field.
struct ActorOptions {
  /// A name to find the actor by (get_actor<C>(name)); empty: unnamed. A named actor lives until
  /// kill() or shutdown(), not only while handles exist, and its name is free again once it has
  /// died for good. Two live actors cannot share a name (InvalidConfigError).
  std::string name{};
  /// CPUs the actor holds for its whole life, from its creation to its death: >= 0 and <= the
  /// CPU total. Creation waits until they are available (tasks holding them finish first).
  double num_cpus = 1.0;
  /// How many times a fresh process replaces a dead one (running the constructor again with the
  /// original arguments): 0 never, -1 forever. A kill() is never restarted.
  int max_restarts = 0;
  /// How many times a call caught by its actor's death is run again on the restarted instance
  /// (-1 = forever). 0: it fails with ActorDiedError.
  int max_task_retries = 0;
  /// Calls that run at once, each on a thread of the actor's process (1 to 1024). Above 1 the
  /// class must be safe to call from several threads, and calls run in no promised order.
  int max_concurrency = 1;
};

/// How long shutdown() waits for the actors' destructors before it kills their processes.
inline constexpr int kActorStopTimeoutMs = 5000;

template <class C>
class ActorHandle;

namespace detail {

/// Tags the object that stands for an actor: its handle holds a reference to it.
template <class C>
struct ActorTag {};

/// The instance of this process's actor (a worker running one), for its methods' calls. Throws
/// Error if the process has none, or one of another class.
void* actor_instance(std::uint64_t class_hash);
/// The constructor's call hands its new instance over (replacing none: one actor per process).
void set_actor_instance(std::shared_ptr<void> instance, std::uint64_t class_hash);

/// The library's side of the calls below (src/api/actor_api.cpp).
HandlePtr create_actor(AnyFn constructor, const char* signature, std::uint64_t class_hash,
                       const ActorOptions& options, TaskArgs&& args);
HandlePtr submit_actor_task(const ObjectHandle* actor, AnyFn method, const char* signature,
                            TaskArgs&& args);
HandlePtr find_named_actor(const std::string& name, std::uint64_t class_hash);
void kill_actor(const ObjectHandle* actor, bool no_restart);
/// Registers class C's name and methods (SHOAL_ACTOR); `names` is the macro's method list.
bool register_actor_class(std::uint64_t class_hash, const char* class_name, const char* names,
                          const FunctionInfo* methods, std::size_t count);
/// Registers the constructor call for C(V...) under C's name.
bool register_actor_constructor(std::uint64_t class_hash, const char* mangled_class,
                                const FunctionInfo& info);
/// True if SHOAL_ACTOR registered the class.
bool actor_class_registered(std::uint64_t class_hash) noexcept;
[[noreturn]] void throw_method_not_registered(std::uint64_t class_hash);
[[noreturn]] void throw_actor_not_registered(const char* mangled_class);

/// What a member function pointer is: its class, result, parameters.
template <class M>
struct MethodTraits;
#define SHOAL_DETAIL_METHOD_TRAITS(QUALIFIERS)     \
  template <class C, class R, class... A>          \
  struct MethodTraits<R (C::*)(A...) QUALIFIERS> { \
    using Class = C;                               \
    using Result = R;                              \
    using Function = R (*)(A...);                  \
    using Params = std::tuple<A...>;               \
  };
SHOAL_DETAIL_METHOD_TRAITS()
SHOAL_DETAIL_METHOD_TRAITS(const)
SHOAL_DETAIL_METHOD_TRAITS(noexcept)
SHOAL_DETAIL_METHOD_TRAITS(const noexcept)
#undef SHOAL_DETAIL_METHOD_TRAITS

/// The plain function a method call runs in the actor's process: it calls method M on the
/// process's instance. Registered like a remote function, so a method call is a task whose
/// function is this (same arguments, results, errors).
template <auto M, class R, class... A>
struct MethodCall {
  using C = typename MethodTraits<decltype(M)>::Class;
  static R call(A... a) {
    C* self = static_cast<C*>(actor_instance(type_hash<C>()));
    return (self->*M)(std::forward<A>(a)...);
  }
};
template <auto M, class F>
struct MethodFunction;
template <auto M, class R, class... A>
struct MethodFunction<M, R (*)(A...)> {
  static constexpr R (*value)(A...) = &MethodCall<M, R, A...>::call;
};

/// The registered methods of class C whose member pointer type is MP: (pointer, call function).
/// A function-local static, so that SHOAL_ACTOR lines in other files may fill it before main().
template <class C, class MP>
std::vector<std::pair<MP, AnyFn>>& method_table() {
  static std::vector<std::pair<MP, AnyFn>> table;
  return table;
}

template <class C, auto M>
FunctionInfo register_method() {
  using MP = decltype(M);
  static_assert(std::is_member_function_pointer_v<MP>,
                "shoal: SHOAL_ACTOR(Class, &Class::method, ...) lists member functions");
  using Traits = MethodTraits<MP>;
  static_assert(std::is_base_of_v<typename Traits::Class, C>,
                "shoal: SHOAL_ACTOR(Class, ...) lists methods of that class (or its bases)");
  auto fn = MethodFunction<M, typename Traits::Function>::value;
  method_table<C, MP>().emplace_back(M, reinterpret_cast<AnyFn>(fn));
  return make_function_info(fn);
}

template <class C, auto... M>
bool register_actor(const char* class_name, const char* names) {
  static_assert(std::is_class_v<C>, "shoal: SHOAL_ACTOR's first argument is the class");
  static_assert(sizeof...(M) >= 1,
                "shoal: SHOAL_ACTOR(Class, &Class::method, ...) lists at "
                "least one method");
  const FunctionInfo infos[] = {register_method<C, M>()...};
  return register_actor_class(type_hash<C>(), class_name, names, infos, sizeof...(M));
}

/// The value type a constructor argument is sent as: the argument's decayed type, T for an
/// ObjectRef<T>, std::string for a string literal or const char*.
template <class A>
struct CtorValue {
  using D = std::decay_t<A>;
  using type = std::conditional_t<std::is_same_v<D, const char*> || std::is_same_v<D, char*>,
                                  std::string, D>;
};
template <class T>
struct CtorValue<ObjectRef<T>> {
  using type = T;
};
template <class T>
struct CtorValue<ObjectRef<T>&> {
  using type = T;
};
template <class T>
struct CtorValue<const ObjectRef<T>&> {
  using type = T;
};
template <class A>
using ctor_value_t = typename CtorValue<A>::type;

/// The call that builds C(V...) in the actor's process, registered (before main(), like
/// SHOAL_REMOTE) the first time a program's actor<C>().remote(...) names these argument types.
template <class C, class... V>
struct ActorConstructor {
  static void construct(V... v) {
    set_actor_instance(std::make_shared<C>(std::move(v)...), type_hash<C>());
  }
  static inline const bool registered =
      register_actor_constructor(type_hash<C>(), typeid(C).name(), make_function_info(&construct));
};

/// The method call function for member pointer `m` of an actor of class C, or a throw.
template <class C, class MP>
AnyFn method_function(MP m) {
  for (const auto& [pointer, fn] : method_table<C, MP>()) {
    if (pointer == m) return fn;
  }
  throw_method_not_registered(type_hash<C>());
}

}  // namespace detail

/// handle.task(&C::method): calls the method remotely. remote(args...) checks the arguments
/// against the method's parameters at compile time, as task(f).remote() does.
template <class C, class MP>
class ActorTaskCaller {
  using Traits = detail::MethodTraits<MP>;

 public:
  using Result = typename Traits::Result;

  ActorTaskCaller(detail::HandlePtr actor, detail::AnyFn fn, detail::CallSite site = {}) noexcept
      : actor_(std::move(actor)), fn_(fn), site_(site) {}

  /// Submits the call and returns a reference to its result at once (it runs after the calls
  /// submitted before it). Throws NotInitializedError before init(), InvalidObjectRefError for an
  /// empty handle or one of an earlier session, InvalidObjectRefError for an empty or stale
  /// ObjectRef argument, ObjectStoreFullError as task(f).remote() does. Never throws because the
  /// actor died: get() of the result throws ActorDiedError then. As Ray's
  /// actor.method.remote(args).
  template <class... A>
  ObjectRef<Result> remote(A&&... a) const {
    return call(std::make_index_sequence<sizeof...(A)>{}, std::forward<A>(a)...);
  }

 private:
  template <std::size_t... I, class... A>
  ObjectRef<Result> call(std::index_sequence<I...>, A&&... a) const {
    using Params = typename Traits::Params;
    static_assert(sizeof...(A) == std::tuple_size_v<Params>,
                  "shoal: remote() must be given exactly as many arguments as the method takes");
    if constexpr (sizeof...(A) == std::tuple_size_v<Params>) {
      static_assert((detail::check_argument<std::tuple_element_t<I, Params>, A>() && ...));
      detail::TaskArgs args(site_);
      (detail::add_argument<std::tuple_element_t<I, Params>>(args, std::forward<A>(a)), ...);
      using F = typename Traits::Function;
      return ObjectRef<Result>(detail::submit_actor_task(
          actor_.get(), fn_, typeid(std::remove_pointer_t<F>).name(), std::move(args)));
    }
  }

  detail::HandlePtr actor_;
  detail::AnyFn fn_;
  detail::CallSite site_;
};

/// A reference to an actor: a small copyable value. Copies share one reference; the actor (if
/// unnamed) ends when the last one, anywhere, is gone. Pass it to tasks and to other actors (by
/// value or inside values): their calls through it work. Thread safe like ObjectRef.
template <class C>
class ActorHandle {
 public:
  /// An empty handle: valid() is false; task(...).remote() throws InvalidObjectRefError.
  ActorHandle() = default;

  /// A caller for one of C's methods listed in SHOAL_ACTOR(C, ...). Throws
  /// FunctionNotRegisteredError if the method is not listed there. `site` is left to its
  /// default: memory_summary() names this line as the maker of the calls' results.
  template <class MP>
  ActorTaskCaller<C, MP> task(MP method,
                              detail::CallSite site = detail::CallSite::current()) const {
    static_assert(
        std::is_member_function_pointer_v<MP>,
        "shoal: handle.task(&Class::method) takes a member function of the actor's class");
    static_assert(std::is_base_of_v<typename detail::MethodTraits<MP>::Class, C>,
                  "shoal: this method is not a member of the actor's class");
    static_assert(detail::check_signature<typename detail::MethodTraits<MP>::Result>());
    return ActorTaskCaller<C, MP>(ref_.handle(), detail::method_function<C, MP>(method), site);
  }

  bool valid() const noexcept { return ref_.valid(); }
  explicit operator bool() const noexcept { return valid(); }
  /// The actor's id (unique for the life of the process); 0 for an empty handle.
  std::uint64_t id() const noexcept { return ref_.id(); }
  friend bool operator==(const ActorHandle& a, const ActorHandle& b) noexcept {
    return a.id() == b.id();
  }

  // Library side: wraps the reference that keeps the actor alive.
  explicit ActorHandle(ObjectRef<detail::ActorTag<C>> ref) noexcept : ref_(std::move(ref)) {}
  const ObjectRef<detail::ActorTag<C>>& ref() const noexcept { return ref_; }

 private:
  ObjectRef<detail::ActorTag<C>> ref_;
};

/// shoal::actor<C>(): creates actors of class C (registered with SHOAL_ACTOR).
template <class C>
class ActorCreator {
 public:
  /// `site`: where actor<C>() was called, for memory_summary().
  explicit ActorCreator(detail::CallSite site = {}) noexcept : site_(site) {}

  /// Returns a copy with these options (see ActorOptions).
  // NOLINTNEXTLINE(performance-unnecessary-value-param)
  ActorCreator options(ActorOptions options) const {
    ActorCreator copy(*this);
    copy.options_ = std::move(options);
    return copy;
  }

  /// Creates the actor: C(args...) runs in a new process once its CPUs are free and its
  /// ObjectRef arguments exist. Returns its handle at once (calls made meanwhile wait for the
  /// constructor). Each argument is a value (sent as its decayed type; a string literal as
  /// std::string) or an ObjectRef<T> (the constructor receives the T). Throws NotInitializedError
  /// before init(), FunctionNotRegisteredError if C has no SHOAL_ACTOR line, InvalidConfigError
  /// for options out of range or a name a live actor has, InvalidObjectRefError for an empty or
  /// stale ObjectRef argument, Error inside a task (create actors in the program and pass their
  /// handles). A constructor that throws shows as ActorDiedError on the actor's calls. As Ray's
  /// ActorClass.remote(args).
  template <class... A>
  ActorHandle<C> remote(A&&... a) const {
    static_assert(std::is_constructible_v<C, detail::ctor_value_t<A>...>,
                  "shoal: actor<C>().remote(args...): C has no constructor taking these arguments");
    using Ctor = detail::ActorConstructor<C, detail::ctor_value_t<A>...>;
    (void)Ctor::registered;  // instantiates the registration, which runs before main()
    if (!detail::actor_class_registered(detail::type_hash<C>())) {
      detail::throw_actor_not_registered(typeid(C).name());
    }
    detail::TaskArgs args(site_);
    (detail::add_argument<detail::ctor_value_t<A>>(args, std::forward<A>(a)), ...);
    return ActorHandle<C>(ObjectRef<detail::ActorTag<C>>(
        detail::create_actor(reinterpret_cast<detail::AnyFn>(&Ctor::construct),
                             typeid(void(detail::ctor_value_t<A>...)).name(),
                             detail::type_hash<C>(), options_, std::move(args))));
  }

 private:
  ActorOptions options_;
  detail::CallSite site_;
};

/// Starts describing a new actor of class C: shoal::actor<C>().options({...}).remote(args...).
/// `site` is left to its default: memory_summary() names this line as the actor's maker.
template <class C>
ActorCreator<C> actor(detail::CallSite site = detail::CallSite::current()) {
  return ActorCreator<C>(site);
}

/// The live actor named `name`, or nullopt if there is none (never named, or dead for good).
/// Throws TypeMismatchError if the actor named so is of another class than C, NotInitializedError
/// before init(), Error inside a task. Does not block. As Ray's ray.get_actor(name).
template <class C>
std::optional<ActorHandle<C>> get_actor(const std::string& name) {
  detail::HandlePtr h = detail::find_named_actor(name, detail::type_hash<C>());
  if (!h) return std::nullopt;
  return ActorHandle<C>(ObjectRef<detail::ActorTag<C>>(std::move(h)));
}

/// Kills the actor's process at once (SIGKILL: its destructor does not run). Its running and
/// queued calls, and every later call, fail with ActorDiedError saying it was killed by the
/// program; a name it had is free again. With no_restart = false, an actor with restarts left is
/// restarted instead, as after a crash. Killing a dead actor does nothing. Throws
/// InvalidObjectRefError for an empty handle or one of an earlier session, Error inside a task.
/// Does not block. As Ray's ray.kill(actor, no_restart).
template <class C>
void kill(const ActorHandle<C>& actor, bool no_restart = true) {
  detail::kill_actor(actor.ref().handle().get(), no_restart);
}

/// Inside an actor's method or constructor: true if this instance replaces one that died
/// (ActorOptions::max_restarts). False anywhere else. Thread safe. As Ray's
/// get_runtime_context().was_current_actor_reconstructed.
bool was_restarted() noexcept;

}  // namespace shoal

/// Registers class `Class` as an actor class with the methods listed, which remote callers may
/// call (handle.task(&Class::method)). Use once per class at namespace scope, followed by ';',
/// like SHOAL_REMOTE. Overloaded methods need a cast to one signature.
#define SHOAL_ACTOR(Class, ...)                                                    \
  [[maybe_unused]] static const bool SHOAL_DETAIL_CAT(shoal_actor_, __COUNTER__) = \
      ::shoal::detail::register_actor<Class, __VA_ARGS__>(#Class, #__VA_ARGS__)

// An ActorHandle inside a value (a task's argument, a vector of handles, a stored object) travels
// as the reference that keeps its actor alive, as an ObjectRef does.
namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {
  template <class C>
  struct pack<shoal::ActorHandle<C>> {
    template <class Stream>
    packer<Stream>& operator()(packer<Stream>& o, const shoal::ActorHandle<C>& h) const {
      return o << h.ref();
    }
  };
  template <class C>
  struct convert<shoal::ActorHandle<C>> {
    const msgpack::object& operator()(const msgpack::object& o, shoal::ActorHandle<C>& h) const {
      shoal::ObjectRef<shoal::detail::ActorTag<C>> ref;
      o.convert(ref);
      h = shoal::ActorHandle<C>(std::move(ref));
      return o;
    }
  };
  }  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS)
}  // namespace msgpack
