// File: shoal/actor_pool.hpp
//
// shoal::ActorPool<C> spreads a list of values over a fixed set of actors of class C, one call per
// actor at a time, as Ray's ray.util.ActorPool:
//
//   std::vector<shoal::ActorHandle<Model>> actors;
//   for (int i = 0; i < 4; ++i) actors.push_back(shoal::actor<Model>().remote(weights));
//   shoal::ActorPool<Model> pool(actors);
//   std::vector<Score> scores = pool.map(&Model::score, images);  // in the order of images
//
// How the work is spread: each actor runs one value at a time. The moment an actor's call
// finishes (the pool waits on the calls in flight with shoal::wait), that actor gets the next
// value, so a slow actor holds back only the value it is running, not the others. Values go out
// in input order; which actor runs which value depends on timing.
//
// Actors that die: a call that fails with ActorDiedError (the actor was killed, crashed with no
// restarts left, its constructor threw, the session is shutting down) retires its actor from the
// pool, for this map and every later one, and its value is given to another actor. Only when no
// actor is left does map() throw ActorDiedError. A call caught by the death of an actor that is
// restarting (ActorDiedError::Cause::kRestarting: it has restarts left, the call had no retries)
// keeps the actor: the value is given out again, to whichever actor is free first. A value that is
// an ObjectRef whose own producer failed with ActorDiedError is not the actor's death: map() throws
// that error (as for TaskError below) and keeps the actor.
//
// Other failures: a call that fails with anything else (TaskError when the method throws,
// ObjectStoreFullError, ...), or a remote() that throws while submitting, makes map() stop giving
// out values, wait for the calls already in flight (at most one per actor; their results are
// dropped), and then rethrow the first failure it saw. So when map() returns or throws, none of
// its calls is still running, and the pool can be used again at once. An Error from shoal::wait()
// itself (shutdown() from another thread, a broken session) is thrown at once, without waiting.
//
// Thread safety: an ActorPool is not thread safe: use one pool from one thread at a time. Several
// pools (or other callers) may share actors; their calls run on each actor in the order they were
// submitted, as any actor calls do.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <shoal/actor.hpp>
#include <shoal/detail/function_traits.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/shoal.hpp>  // get(), wait(); it includes this file at its end

namespace shoal {

/// A fixed set of actors of class C that map() spreads values over, as Ray's ActorPool. See the
/// top of this file for how values are given out and what happens when an actor dies.
template <class C>
class ActorPool {
 public:
  /// A pool of these actors, used in this order for the first values. Throws InvalidConfigError
  /// if `actors` is empty, InvalidObjectRefError if one of them is an empty handle. Listing an
  /// actor twice gives it two calls at a time. Does not block.
  explicit ActorPool(std::vector<ActorHandle<C>> actors) : actors_(std::move(actors)) {
    if (actors_.empty()) {
      throw InvalidConfigError("shoal: an ActorPool needs at least one actor");
    }
    for (const ActorHandle<C>& a : actors_) {
      if (!a.valid()) throw InvalidObjectRefError("shoal: an ActorPool was given an empty handle");
    }
  }

  /// The actors the pool still uses: those it was built with, minus those it retired because a
  /// call to them failed with ActorDiedError.
  std::size_t size() const noexcept { return actors_.size(); }

  /// Calls `method` (one of C's methods listed in SHOAL_ACTOR, taking one argument) once per
  /// value, spread over the pool's actors, and returns the results in the order of `values`.
  /// Each value is passed as to handle.task(method).remote(value): a value of the parameter's
  /// type (or convertible to it), or an ObjectRef of it. Blocks until every value is computed
  /// (no time limit: a method that never returns blocks map() too). Throws ActorDiedError if every
  /// actor of the pool is dead (at once if the pool already knew it, else once the values left
  /// could not be given to anyone); it carries the last death's cause, pid and signal. Throws the
  /// first other failure of a call (TaskError if the method threw, ...) or of remote()
  /// (FunctionNotRegisteredError if the method is not in SHOAL_ACTOR, ...), once the calls in
  /// flight have finished. Throws what shoal::wait() throws (NotInitializedError, Error for a
  /// shutdown() while it waits) at once. An empty `values` returns an empty vector without a call.
  /// As Ray's ActorPool.map(lambda a, v: a.method.remote(v), values).
  template <class MP, class V>
  auto map(MP method, const std::vector<V>& values) {
    using R = typename ActorTaskCaller<C, MP>::Result;
    static_assert(!std::is_void_v<R>,
                  "shoal: ActorPool::map() needs a method that returns a value");
    if constexpr (!std::is_void_v<R>) {  // else only the assertion above is reported
      std::vector<std::optional<R>> slots(values.size());
      run(method, values, [&](std::size_t index, R&& r) { slots[index].emplace(std::move(r)); });
      std::vector<R> out;
      out.reserve(values.size());
      for (std::optional<R>& r : slots) out.push_back(std::move(*r));
      return out;
    }
  }

  /// As map(), but returns the results in the order the calls finished (result k is the k-th
  /// call to finish, whichever value it was for). Same blocking and errors as map(). As Ray's
  /// ActorPool.map_unordered.
  template <class MP, class V>
  auto map_unordered(MP method, const std::vector<V>& values) {
    using R = typename ActorTaskCaller<C, MP>::Result;
    static_assert(!std::is_void_v<R>,
                  "shoal: ActorPool::map_unordered() needs a method that returns a value");
    if constexpr (!std::is_void_v<R>) {  // else only the assertion above is reported
      std::vector<R> out;
      out.reserve(values.size());
      run(method, values, [&](std::size_t, R&& r) { out.push_back(std::move(r)); });
      return out;
    }
  }

 private:
  // One call in flight: which actor runs which value.
  template <class R>
  struct Call {
    ActorHandle<C> actor;
    std::size_t value;
    ObjectRef<R> ref;
  };

  // True if `value` is an ObjectRef whose object failed with ActorDiedError: a call taking it
  // fails with that error whatever state its own actor is in.
  template <class V>
  static bool argument_died(const V& value) {
    if constexpr (detail::IsObjectRef<V>::value) {
      try {
        (void)shoal::get(value, std::chrono::seconds(0));
      } catch (const ActorDiedError&) {
        return true;
      } catch (...) {
      }
    } else {
      (void)value;
    }
    return false;
  }

  void retire(const ActorHandle<C>& dead, const ActorDiedError& why) {
    last_death_.emplace(why);
    std::vector<ActorHandle<C>> kept;
    for (ActorHandle<C>& a : actors_) {
      if (!(a == dead)) kept.push_back(std::move(a));
    }
    actors_ = std::move(kept);
  }

  [[noreturn]] void throw_all_dead(std::size_t left) const {
    const ActorDiedError& last = *last_death_;  // set: the pool starts with an actor
    throw ActorDiedError("shoal: ActorPool: every actor of the pool is dead; " +
                             std::to_string(left) + " value(s) were not computed. The last " +
                             "death: " + last.what(),
                         last.actor_name(), last.cause(), last.pid(), last.signal(),
                         last.exit_code(), last.constructor_error());
  }

  // Gives out values[i] to idle actors, one call each, and hands each result to
  // deliver(i, result) as it comes (see map() for the rules).
  template <class MP, class V, class Deliver>
  void run(MP method, const std::vector<V>& values, Deliver&& deliver) {
    using R = typename ActorTaskCaller<C, MP>::Result;
    static_assert(!std::is_void_v<R>,
                  "shoal: ActorPool::map() needs a method that returns a value");
    if (values.empty()) return;
    if (actors_.empty()) throw_all_dead(values.size());
    std::deque<std::size_t> todo;  // values not computed and not in flight, next first
    for (std::size_t i = 0; i < values.size(); ++i) todo.push_back(i);
    std::deque<ActorHandle<C>> idle(actors_.begin(), actors_.end());
    std::vector<Call<R>> running;
    std::exception_ptr failure;  // the first failure: stop giving out values, drain, rethrow
    while (true) {
      while (!failure && !todo.empty() && !idle.empty()) {
        try {
          ObjectRef<R> ref = idle.front().task(method).remote(values[todo.front()]);
          running.push_back(Call<R>{idle.front(), todo.front(), std::move(ref)});
          idle.pop_front();
          todo.pop_front();
        } catch (...) {
          failure = std::current_exception();
        }
      }
      if (running.empty()) break;
      std::vector<ObjectRef<R>> refs;
      refs.reserve(running.size());
      for (const Call<R>& c : running) refs.push_back(c.ref);
      const WaitResult<R> done = shoal::wait(refs, 1);
      for (const ObjectRef<R>& ready : done.ready) {
        std::size_t k = 0;
        while (running[k].ref.id() != ready.id()) ++k;
        Call<R> call = std::move(running[k]);
        running.erase(running.begin() + static_cast<std::ptrdiff_t>(k));
        try {
          R r = shoal::get(call.ref);  // ready: does not block
          if (!failure) deliver(call.value, std::move(r));
          idle.push_back(std::move(call.actor));
        } catch (const ActorDiedError& e) {
          if (argument_died(values[call.value])) {
            if (!failure) failure = std::current_exception();
            idle.push_back(std::move(call.actor));
          } else if (e.cause() == ActorDiedError::Cause::kRestarting) {
            todo.push_front(call.value);  // it runs again; the actor lives on, restarted
            idle.push_back(std::move(call.actor));
          } else {
            retire(call.actor, e);
            todo.push_front(call.value);  // another actor runs it next
          }
        } catch (...) {
          if (!failure) failure = std::current_exception();
          idle.push_back(std::move(call.actor));
        }
      }
    }
    if (failure) std::rethrow_exception(failure);
    if (!todo.empty()) throw_all_dead(todo.size());
  }

  std::vector<ActorHandle<C>> actors_;        // the live ones, in the order given
  std::optional<ActorDiedError> last_death_;  // why the last retired actor was retired
};

}  // namespace shoal
