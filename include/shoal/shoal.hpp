// File: shoal/shoal.hpp -- the only include a program needs.
//
// shoal gives C++ programs Ray Core's model on one machine: register a plain function with
// SHOAL_REMOTE, call shoal::init() to fork one worker process per CPU, call
// shoal::task(f).remote(args...) to run it in parallel, and shoal::get() the results.
//
//   double work(const std::string& name) { ... }
//   SHOAL_REMOTE(work);
//
//   int main() {
//     shoal::init();
//     std::vector<shoal::ObjectRef<double>> refs;
//     for (const auto& n : names) refs.push_back(shoal::task(work).remote(n));
//     std::vector<double> values = shoal::get(refs);
//   }  // shoal shuts down at exit
//
// Processes: init() forks a single-threaded fork helper, which forks the workers (and replaces
// any that die). Tasks travel to workers over Unix domain sockets; results live in a
// shared-memory object store owned by this (the driver) process. Workers die with the driver.
//
// Thread safety: every function here may be called from any driver thread at any time, except
// that init() and shutdown() must not race each other.
//
// Tasks that start tasks: inside a task (in a worker) the same calls work as in the program and
// talk to the program's session, which owns every object (init() there throws Error; shutdown()
// does nothing; is_initialized() is true). A task blocked in get() or wait() gives back its CPUs
// while it waits, as in Ray, and its worker runs the children it waits for inside the call; calls
// from several threads of one task are served one at a time. docs/architecture.md, "Tasks that
// start tasks", has the details. In a process the program (or a task) fork()ed from a running
// session, every call throws Error: use shoal from the parent.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <shoal/actor.hpp>
#include <shoal/config.hpp>
#include <shoal/detail/call_site.hpp>
#include <shoal/detail/exception_match.hpp>
#include <shoal/detail/timeout.hpp>
#include <shoal/errors.hpp>
#include <shoal/object_ref.hpp>
#include <shoal/remote.hpp>
#include <shoal/runtime_context.hpp>
#include <shoal/task.hpp>
#include <shoal/version.hpp>
#include <shoal/view.hpp>

namespace shoal {

// ------------------------------------------------------------------------------------------------
// Life cycle

/// Starts shoal: creates the object store, forks the fork helper and one worker per CPU, and
/// returns once every worker is ready (blocks a few milliseconds; init() per start method is in
/// docs/benchmarks.md). Call it from the main thread, early, before starting threads of your own:
/// workers are copies of the program as it is at this moment, so what init() sees (globals,
/// loaded data) the workers see too (Config::start_method says what happens otherwise). With
/// Config::local_mode it starts no process: tasks run inside remote(). Throws
/// AlreadyInitializedError if shoal is running, InvalidConfigError for a bad Config, SystemError
/// if the OS refuses a resource, Error inside a task (use the program's session: call remote() and
/// the rest directly), in a fork() of a running program, or before
/// main() starts (from a global's constructor: call it from main()). After a
/// failure nothing is left running. As Ray's ray.init().
///
/// Under mpirun with 2 or more ranks (docs/cluster.md; needs a shoal built with MPI), every rank
/// calls init(). Each starts its own fork helper, workers and store, then initialises MPI (a
/// program that uses MPI itself calls init() first: MPI_Init after it; init() throws Error if MPI
/// is already initialised). On rank 0 init() returns once every other rank has joined: the program
/// is the driver, and cluster_resources() sums every rank's CPUs, memory and store. On every other
/// rank the process becomes a node that runs the driver's tasks, and init() never returns: it exits
/// the process with status 0 when the driver shuts down (1 if the driver went silent for
/// Config::node_timeout_ms). Config applies per rank (num_cpus is per node). A rank bound to fewer
/// CPUs than its machine has gets a warning that names mpirun's --bind-to none. Additionally
/// throws Error on rank 0 if a rank cannot start its session (its reason), runs another program
/// (its remote functions differ), does not join within 120 s, or if shoal was built without MPI;
/// and for a second init() in the process (MPI starts once per process: keep one session).
/// As running the same script with dask-mpi or mpi4py.futures.
void init(const Config& config = {});

/// Stops shoal: fails tasks still pending, kills and reaps every worker and the fork helper, and
/// frees the store. Blocks until all of that is done (milliseconds: BM_InitShutdown in
/// docs/benchmarks.md). Does nothing when shoal is not running, inside a task, or in a fork() of
/// a running program. Also runs automatically at normal process exit. Threads blocked
/// in get() or wait() are woken with an Error. ObjectRefs that survive become stale. With
/// Config::log_to_driver, every line the workers wrote has been printed when it returns (it stops
/// waiting after 1 s for output pipes still held by a process that a task started and that left
/// its worker's process group).
void shutdown();

/// True between a successful init() and shutdown().
bool is_initialized() noexcept;

// ------------------------------------------------------------------------------------------------
// Objects

/// Stores a copy of value in the object store and returns a reference to it, to pass to tasks
/// (they read it without it being sent again) or to get() back. Blocks for the copy and, if the
/// store is full of referenced objects, until another thread or task frees enough space (up to
/// Config::object_store_full_timeout_ms; the lock is not held meanwhile). String literals are
/// stored as std::string. Throws NotInitializedError; ObjectStoreFullError if the value is larger
/// than the whole store (at once) or the store stayed full (it names the biggest holders); Error
/// if shutdown() runs while it waits. `site` is left to its default: memory_summary() names this
/// line as the object's maker.
template <class V>
auto put(const V& value, detail::CallSite site = detail::CallSite::current());

/// Blocks until the object is ready, then returns a copy of its value. If the task that makes it
/// threw, rethrows that as TaskError (WorkerCrashedError if its worker kept dying;
/// ObjectStoreFullError if its result did not fit in the store, see put()). Throws
/// InvalidObjectRefError for an empty ref or one from a session that was shut down,
/// TypeMismatchError if the object holds another type, Error if the session broke (it says why: the
/// fork helper died, no worker could start) or if shutdown() runs while it waits. As Ray's
/// ray.get().
template <class T>
T get(const ObjectRef<T>& ref);

/// (Also: get_view(ref), in <shoal/view.hpp>, reads a stored buffer without copying it.)

/// As get(ref), but throws GetTimeoutError if the object is not ready within timeout.
///
/// Timeouts, for every timed call (get, get_view, wait): any std::chrono::duration works
/// (std::chrono::milliseconds(250), 1.5s, std::chrono::duration<double>(x), ...). Zero or a
/// negative timeout does not wait: the call looks once and returns or throws at once. A timeout
/// of about 146 years or more (seconds::max(), hours::max(), an infinite double, ...) means no
/// limit, like the overload without one. Others are rounded up to whole nanoseconds. A NaN
/// timeout throws InvalidConfigError.
template <class T, class Rep, class Period>
T get(const ObjectRef<T>& ref, std::chrono::duration<Rep, Period> timeout);

/// Blocks until every object is ready and returns their values in the same order. As Ray's
/// ray.get() of a list, it does not wait for the rest once one of the objects has failed: it
/// rethrows that failure at once (with several failed at that moment, the first in input order).
template <class T>
std::vector<T> get(const std::vector<ObjectRef<T>>& refs);

/// (Also: get(refs, Progress{"name"}), in <shoal/progress.hpp>, shows a tqdm-like progress bar on
/// stderr while it waits, when stderr is a terminal.)

/// As get(refs), with one timeout for the whole list (GetTimeoutError, naming how many objects
/// were not ready). A failure that comes before the timeout is rethrown at once, as above.
template <class T, class Rep, class Period>
std::vector<T> get(const std::vector<ObjectRef<T>>& refs,
                   std::chrono::duration<Rep, Period> timeout);

/// get() for a list of void tasks: waits for all of them, or rethrows the first failure at once.
void get(const std::vector<ObjectRef<void>>& refs);
template <class Rep, class Period>
void get(const std::vector<ObjectRef<void>>& refs, std::chrono::duration<Rep, Period> timeout);

/// The result of wait(): two lists, each in the order of the input.
template <class T>
struct WaitResult {
  std::vector<ObjectRef<T>> ready;
  std::vector<ObjectRef<T>> not_ready;
};

/// Blocks until num_returns of refs are ready (finished with a value or an error) or until
/// timeout (see get() for what every timeout means), then splits refs: `ready` holds at most
/// num_returns refs, the first ready ones in input order; `not_ready` holds all others, in input
/// order. A timeout is not an error: fewer refs are ready. Throws InvalidConfigError if num_returns
/// > refs.size(), InvalidObjectRefError for an empty or stale ref, Error as get() does for a
/// broken session or a shutdown() while it waits. As Ray's ray.wait().
///   auto [ready, not_ready] = shoal::wait(refs, 1);
template <class T>
WaitResult<T> wait(const std::vector<ObjectRef<T>>& refs, std::size_t num_returns = 1);

template <class T, class Rep, class Period>
WaitResult<T> wait(const std::vector<ObjectRef<T>>& refs, std::size_t num_returns,
                   std::chrono::duration<Rep, Period> timeout);

// ------------------------------------------------------------------------------------------------
// Cancelling tasks

/// How shoal::cancel() stops a task.
struct CancelOptions {
  /// Kill the worker process running the task (and its process group); the pool replaces it.
  /// Other tasks on that worker's stack (a parent blocked in get() under the cancelled task, run
  /// there as a nested task) are retried as after any worker death. Without force, a running
  /// task is only asked to stop: it sees shoal::is_cancelled(), and a get() or wait() it is
  /// blocked in throws TaskCancelledError.
  bool force = false;
  /// Also cancel the tasks the cancelled task submitted, and theirs (Ray's default).
  bool recursive = true;
};

/// Cancels the task whose result `ref` names, as Ray's ray.cancel(): a task that has not started
/// never runs; a running one is asked to stop (or killed, with force); either way get() of `ref`
/// (and of tasks that take it as an argument) throws TaskCancelledError from now on, and the task
/// is never retried. A task already sent to a worker, queued behind another, is skipped if the
/// cancel reaches the worker before it starts it (it may run otherwise; its result is dropped).
/// Cancelling a finished task, or a cancelled one, does nothing. Does not block on the task.
/// Thread safe; works inside a task too. Throws InvalidObjectRefError for an empty or stale ref,
/// or one that put() made (only tasks can be cancelled). In local mode every task has finished
/// when remote() returns, so cancel() does nothing. Under mpirun a task on another machine is
/// cancelled there the same way (always recursively: what it submitted runs on its node); get()
/// throws at once, without waiting for that machine's answer.
template <class T>
void cancel(const ObjectRef<T>& ref, const CancelOptions& options = {}) {
  detail::cancel_task(ref.handle().get(), options.force, options.recursive);
}

/// Inside a task: true once shoal::cancel() has asked the task to stop; a long task should check
/// it now and then and return (or throw) early. Checking costs a clock read, and, at most once
/// per millisecond, a look at the worker's socket. False outside a task and in local mode. Thread
/// safe: it answers for the task running on the calling thread.
bool is_cancelled();

// ------------------------------------------------------------------------------------------------
// Resources and the store

/// Ray's resource map for the whole machine: "CPU" (the worker count), "memory" (bytes for tasks),
/// "object_store_memory" (bytes), "node:<address>" (1). Does not block on tasks. Throws
/// NotInitializedError before init(), Error in a fork. Works inside a task. As Ray's
/// ray.cluster_resources().
std::map<std::string, double> cluster_resources();

/// cluster_resources() minus what running tasks hold (their TaskOptions::num_cpus and memory),
/// exact at the moment of the call. As in Ray, a resource at zero is left out. Throws as
/// cluster_resources(). As Ray's ray.available_resources().
std::map<std::string, double> available_resources();

/// What the object store holds right now. Objects under a small threshold live in the driver's
/// memory ("inline") and the rest in the shared-memory arena.
struct ObjectStoreStats {
  std::uint64_t capacity_bytes = 0;  // the arena's size (Config::object_store_memory)
  std::uint64_t used_bytes = 0;      // arena bytes held by objects
  std::uint64_t inline_bytes = 0;    // bytes of small objects held in the driver
  std::uint64_t num_objects = 0;     // objects alive (ready or still being computed)
};
/// Throws NotInitializedError before init(), Error in a fork. Works inside a task. (Plasma reports
/// the same figures; Ray has no public call for them.)
ObjectStoreStats object_store_stats();

// ---------------------------------- inline implementation --------------------------------------

namespace detail {

template <class V>
using stored_t = std::conditional_t<std::is_convertible_v<const V&, const char*> &&
                                        !std::is_same_v<std::decay_t<V>, std::nullptr_t>,
                                    std::string, std::decay_t<V>>;

template <class T>
void encode_erased(ValueSink& sink, const void* value) {
  encode_value<T>(sink, *static_cast<const T*>(value));
}

template <class T>
T decode_fetched(const Fetched& f) {
  if constexpr (std::is_void_v<T>) {
    (void)f;
  } else {
    return decode_value<T>(f.view);
  }
}

template <class T>
std::vector<const ObjectHandle*> handles_of(const std::vector<ObjectRef<T>>& refs) {
  std::vector<const ObjectHandle*> out;
  out.reserve(refs.size());
  for (const auto& r : refs) out.push_back(r.handle().get());
  return out;
}

template <class T>
std::vector<T> decode_all(const std::vector<Fetched>& fetched) {
  std::vector<T> out;
  out.reserve(fetched.size());
  for (const Fetched& f : fetched) out.push_back(decode_value<T>(f.view));
  return out;
}

template <class T>
auto get_all(const std::vector<ObjectRef<T>>& refs, std::int64_t timeout_ns) {
  std::vector<Fetched> fetched = fetch_all(handles_of(refs), timeout_ns);
  if constexpr (std::is_void_v<T>) {
    return;
  } else {
    return decode_all<T>(fetched);
  }
}

template <class T>
WaitResult<T> split_ready(const std::vector<ObjectRef<T>>& refs, std::size_t num_returns,
                          std::int64_t timeout_ns) {
  const std::vector<bool> ready = wait_ready(handles_of(refs), num_returns, timeout_ns);
  WaitResult<T> out;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    (ready[i] ? out.ready : out.not_ready).push_back(refs[i]);
  }
  return out;
}

}  // namespace detail

template <class V>
auto put(const V& value, detail::CallSite site) {
  using S = detail::stored_t<V>;
  if constexpr (std::is_same_v<S, std::decay_t<V>>) {
    return ObjectRef<S>(detail::put_value(&detail::encode_erased<S>, &value, site));
  } else {
    const S converted(value);
    return ObjectRef<S>(detail::put_value(&detail::encode_erased<S>, &converted, site));
  }
}

template <class T>
T get(const ObjectRef<T>& ref) {
  return detail::decode_fetched<T>(detail::fetch(ref.handle().get(), detail::kNoTimeout));
}

template <class T, class Rep, class Period>
T get(const ObjectRef<T>& ref, std::chrono::duration<Rep, Period> timeout) {
  return detail::decode_fetched<T>(
      detail::fetch(ref.handle().get(), detail::to_timeout_ns(timeout)));
}

template <class T>
std::vector<T> get(const std::vector<ObjectRef<T>>& refs) {
  return detail::get_all(refs, detail::kNoTimeout);
}

template <class T, class Rep, class Period>
std::vector<T> get(const std::vector<ObjectRef<T>>& refs,
                   std::chrono::duration<Rep, Period> timeout) {
  return detail::get_all(refs, detail::to_timeout_ns(timeout));
}

inline void get(const std::vector<ObjectRef<void>>& refs) {
  detail::get_all(refs, detail::kNoTimeout);
}

template <class Rep, class Period>
void get(const std::vector<ObjectRef<void>>& refs, std::chrono::duration<Rep, Period> timeout) {
  detail::get_all(refs, detail::to_timeout_ns(timeout));
}

template <class T>
WaitResult<T> wait(const std::vector<ObjectRef<T>>& refs, std::size_t num_returns) {
  return detail::split_ready(refs, num_returns, detail::kNoTimeout);
}

template <class T, class Rep, class Period>
WaitResult<T> wait(const std::vector<ObjectRef<T>>& refs, std::size_t num_returns,
                   std::chrono::duration<Rep, Period> timeout) {
  return detail::split_ready(refs, num_returns, detail::to_timeout_ns(timeout));
}

}  // namespace shoal

// ActorPool uses get() and wait() above, and the get() overloads with a progress bar share its
// helpers, so they come last (each includes this file too, for a program that includes it alone).
#include <shoal/actor_pool.hpp>
#include <shoal/progress.hpp>
// The calls that show what a session does (timeline(), status(), memory_summary()).
#include <shoal/observe.hpp>
