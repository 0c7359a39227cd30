// File: shoal/config.hpp
//
// Plain option structs: Config for shoal::init(), TaskOptions for task(f).options(...).
// Zero or empty fields mean "choose for me"; the choices are documented on each field.
// Every member has an initializer, so designated initializers such as {.num_cpus = 2} compile
// without -Wmissing-field-initializers warnings on GCC 12.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace shoal {

/// TaskOptions::retry_exceptions: which exceptions thrown by a task make it run again (up to its
/// max_retries), as Ray's retry_exceptions option. Converts from a bool: false (the default)
/// retries none, true retries any exception. shoal::retry_on<E...>() retries only exceptions of
/// those types or of types derived from them: the worker matches the thrown exception with
/// `catch (const E&)`.
///   shoal::task(f).options({.max_retries = 5, .retry_exceptions = true}).remote(x);
///   shoal::task(f).options({.retry_exceptions = shoal::retry_on<std::system_error>()}).remote(x);
class RetryExceptions {
 public:
  RetryExceptions() = default;
  // NOLINTNEXTLINE(google-explicit-constructor): {.retry_exceptions = true} is the point
  RetryExceptions(bool enabled) : enabled_(enabled) {}
  /// Retries only exceptions matching one of the types whose detail::type_hash is listed (use
  /// shoal::retry_on<E...>(), which also registers how to match them).
  static RetryExceptions of_types(std::initializer_list<std::uint64_t> type_hashes) {
    RetryExceptions r(true);
    r.types_.assign(type_hashes.begin(), type_hashes.end());
    return r;
  }
  /// True if some exception makes the task run again.
  bool enabled() const noexcept { return enabled_; }
  /// The types that do (their hashes); empty: every exception, if enabled().
  const std::vector<std::uint64_t>& types() const noexcept { return types_; }

 private:
  bool enabled_ = false;
  std::vector<std::uint64_t> types_;
};

/// Options for shoal::init(). Validated by init(), which throws InvalidConfigError naming the
/// field and the accepted range.
struct Config {
  /// Number of CPUs, and so of worker processes (one per CPU). 0 = the CPUs this process may run
  /// on: its affinity mask, reduced by a cgroup CPU quota if one is set. Accepted: 0 to 4096.
  int num_cpus = 0;

  /// Capacity of the shared-memory object store in bytes. 0 = 30% of the memory available now
  /// (MemAvailable, or the cgroup memory limit's headroom if lower). init() refuses more than
  /// that available memory. The store is an anonymous memfd: it does not use /dev/shm, so a small
  /// /dev/shm (Docker's 64 MB) does not limit it, and nothing is left behind by a crash.
  std::uint64_t object_store_memory = 0;

  /// How long a write waits for object store space when the store is full of objects that are
  /// still referenced, before it fails with ObjectStoreFullError (which names the biggest holders).
  /// Writers are put(), remote() with a large argument passed by value, and a task whose large
  /// result does not fit (its worker waits; get() of the result throws). Space is freed as soon as
  /// the last ObjectRef (and View) of an object is dropped, and a waiting write resumes at once.
  /// An object larger than the whole store fails at once. 0 = fail at once; accepted: 0 to
  /// 86,400,000 (one day). Default: 10 s, enough for a pipeline's consumers to catch up, short
  /// enough that a program that keeps every ref gets an error rather than a seeming hang.
  std::int64_t object_store_full_timeout_ms = 10'000;

  /// Log level of the driver and the workers: "trace", "debug", "info", "warn", "error",
  /// "critical" or "off". Empty = the SHOAL_LOG_LEVEL environment variable, else "warn".
  std::string log_level{};

  /// Forward what workers write to their stdout and stderr (printf, std::cout, std::cerr, a
  /// program a task runs) to the driver's log, line by line, as
  /// "[time] [shoal] [stdout] (worker 1 pid 4242) text" ("[stderr]" for stderr). These lines are
  /// printed whatever log_level says, "off" included: they are the program's own output. A line
  /// written just before a worker crashes still arrives, and when shutdown() returns every line
  /// has been printed. false = workers write straight to the driver's stdout and stderr, as is.
  /// Like Ray's log_to_driver.
  bool log_to_driver = true;

  /// How many times a task is re-run when its worker dies (and, with
  /// TaskOptions::retry_exceptions, when it throws). -1 = forever. Each task can override it in
  /// TaskOptions. Ray's default is 3.
  int max_retries = 3;

  /// How workers are started, named as Python's multiprocessing names its start methods:
  ///  - "fork": init() forks the fork helper from this process as it is at that moment, and the
  ///    workers are forked from the helper. Workers see everything the program set up before
  ///    init(): globals, loaded data, opened files. Fastest. Safe only while this process has no
  ///    other thread: fork() copies the calling thread alone, so a library whose threads do not
  ///    survive fork (GCC's OpenMP runtime, some BLAS and TBB pools) can hang every task.
  ///  - "forkserver": init() starts the helper by executing this program's file afresh
  ///    (/proc/self/exe, the same binary); the helper stops before main() runs, after every
  ///    static initialiser (so it knows every SHOAL_REMOTE function), and forks the workers.
  ///    Safe whatever threads this process has. Workers see globals as a fresh start of the
  ///    program leaves them, not as this process changed them since; pass such data as task
  ///    arguments or put() it. The program's static initialisers run again in the helper, so
  ///    one with side effects (printing, writing a file) does them once more. init() takes
  ///    longer by the program's own start-up: a few milliseconds, more for a program that loads
  ///    large libraries (docs/benchmarks.md has both). Needs the program linked with
  ///    -Wl,--wrap=main, which the CMake target shoal::shoal adds.
  ///  - "" (the default): the SHOAL_START_METHOD environment variable if it is set, else "fork"
  ///    if this process has no other thread at init(), else "forkserver", with a warning that
  ///    names the threads (as Python 3.12 warns).
  /// "fork" asked for while other threads exist is taken, with the same warning. Anything else:
  /// InvalidConfigError. "forkserver" in a program not linked as above: InvalidConfigError
  /// saying how to link it.
  std::string start_method{};

  /// Local mode, as Ray's local_mode: every task runs at remote(), on the calling thread, in this
  /// process: no worker process, no socket, no shared-memory store. The API, ObjectRef semantics,
  /// errors (TaskError with the type, what(), function and backtrace) and resource maps are those
  /// of a session with workers; num_cpus and object_store_memory are checked and reported
  /// (available_resources(), object_store_stats()) the same way, but not enforced: nothing waits
  /// for CPUs (tasks that several threads submit at once run at once, whatever their num_cpus),
  /// and values are not counted against object_store_memory (no ObjectStoreFullError). As with
  /// workers, a task may call the API itself (nested tasks run at once, on the same thread). For
  /// stepping through tasks in a debugger, sanitizers, valgrind and tests. Nothing runs in
  /// parallel, get() never waits, a task that crashes takes the program with it, and every value
  /// lives on the heap (ObjectStoreStats::inline_bytes). start_method is not used, but is still
  /// checked: a value other than those above is an InvalidConfigError.
  bool local_mode = false;

  /// How many task attempts the timeline keeps (shoal::timeline(), <shoal/observe.hpp>), and as
  /// many of the program's get()/put()/wait() calls: past that the oldest are dropped, and the
  /// trace says how many. Each costs about 100 bytes of the driver's memory (10 MB at the
  /// default). 0 turns recording off (timeline() then writes an empty trace that says so).
  /// Accepted: 0 to 100,000,000. Ray keeps 100,000 task events per job by default, as here.
  std::int64_t timeline_max_tasks = 100'000;

  /// Under mpirun (docs/cluster.md): how long the driver waits without a word from a node (nodes
  /// send a heartbeat every 200 ms) before it declares the node dead: its tasks are retried on
  /// other nodes where max_retries allows, else fail with NodeDiedError, and no task is placed
  /// there again. A node that hears nothing from the driver as long ends its session and exits.
  /// Keep it above object_store_full_timeout_ms: a node waiting for store space for an argument
  /// sends no heartbeat meanwhile. Accepted: 1,000 to 3,600,000 milliseconds. The default, 30 s,
  /// is of the order of Ray's health checks (a node is dead after 5 missed checks 3 s apart).
  std::int64_t node_timeout_ms = 30'000;
};

/// Per-call options: shoal::task(f).options({.num_cpus = 2}).remote(x).
struct TaskOptions {
  /// CPUs the task holds while it runs. A task only starts when that many are available, so a
  /// value of 2 on a 2-CPU machine runs the task alone. Must be >= 0 and <= the CPU total.
  double num_cpus = 1.0;

  /// Bytes of memory the task holds while it runs (the "memory" resource), for admission only:
  /// shoal does not enforce it. Must be <= the memory total.
  std::uint64_t memory = 0;

  /// Overrides Config::max_retries for this task.
  std::optional<int> max_retries{};

  /// Which exceptions the task's function throws make it run again, on any worker, up to
  /// max_retries times (see RetryExceptions; by default none, as in Ray). Once retries run out,
  /// get() throws the last attempt's TaskError. A cancelled task is never retried.
  RetryExceptions retry_exceptions{};

  /// A name for logs and errors; defaults to the registered function name.
  std::string name{};

  /// Under mpirun (docs/cluster.md): runs the task on the node of this MPI rank (0: the driver's
  /// machine), as Ray's NodeAffinitySchedulingStrategy(soft=False); -1 lets shoal place it. Such a
  /// task is never moved: if its node dies it fails with NodeDiedError. remote() throws
  /// InvalidConfigError for a rank that is not a live node of the session (on one machine, any
  /// rank but -1 and 0), and for a task with ObjectRefs inside its argument values or with
  /// several returns (those run on the driver's machine). Inside a task it must be -1: a task's
  /// tasks run on its node.
  int node_rank = -1;
};

}  // namespace shoal
