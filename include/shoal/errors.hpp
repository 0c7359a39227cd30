// File: shoal/errors.hpp
//
// Every error shoal reports is an exception derived from shoal::Error (itself a
// std::runtime_error), so `catch (const shoal::Error&)` catches them all. Each message says what
// went wrong and what to do about it. The classes follow Ray's exception names.
//
// Thread safety: the classes are immutable values; copying and reading them is safe anywhere.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace shoal {

/// The base of every exception shoal throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The API was used before shoal::init() (or after shoal::shutdown()). Call shoal::init() first.
class NotInitializedError : public Error {
 public:
  using Error::Error;
};

/// shoal::init() was called while shoal is already running. Call shoal::shutdown() first, or
/// check shoal::is_initialized().
class AlreadyInitializedError : public Error {
 public:
  using Error::Error;
};

/// A Config or TaskOptions field is out of range (zero CPUs, a store larger than the machine can
/// give, a task asking for more CPUs than exist, ...). The message names the field and the range.
class InvalidConfigError : public Error {
 public:
  using Error::Error;
};

/// The operating system refused something shoal needs (fork, memfd, socketpair, mmap). The
/// message carries the call and errno text.
class SystemError : public Error {
 public:
  using Error::Error;
};

/// task(f).remote(...) was called on a function that was not registered with SHOAL_REMOTE(f) at
/// namespace scope before shoal::init().
class FunctionNotRegisteredError : public Error {
 public:
  FunctionNotRegisteredError(const std::string& message, std::string function_name)
      : Error(message), function_name_(std::move(function_name)) {}
  /// The function's name as far as it could be found (symbol name, or its address).
  const std::string& function_name() const noexcept { return function_name_; }

 private:
  std::string function_name_;
};

/// get() with a timeout gave up before the object was ready. The object is still being computed;
/// a later get() may succeed.
class GetTimeoutError : public Error {
 public:
  using Error::Error;
};

/// An ObjectRef that refers to nothing: default-constructed, moved-from, or from an earlier
/// init()/shutdown() session.
class InvalidObjectRefError : public Error {
 public:
  using Error::Error;
};

/// A stored value could not be decoded as the type that was asked for. Names both types.
class TypeMismatchError : public Error {
 public:
  using Error::Error;
};

/// get() of a task that was cancelled with shoal::cancel() (before it ran, while it ran, or by
/// killing its worker with CancelOptions::force). A cancelled task is never retried. As Ray's
/// TaskCancelledError.
class TaskCancelledError : public Error {
 public:
  using Error::Error;
};

/// One object holding object store space, as ObjectStoreFullError lists it.
struct ObjectStoreHolder {
  std::uint64_t object_id = 0;   // ObjectRef::id() of the object
  std::uint64_t size_bytes = 0;  // its bytes in the store
  /// Who made it: "put()", "an argument of remote()" (a large value passed by value), or the
  /// registered name of the remote function whose result it is.
  std::string created_by;
};

/// The object store cannot hold an object, thrown by put() (and remote(), for a large argument
/// passed by value) or, for a task's result, by get() of that result. Either the object is larger
/// than the whole store (thrown at once), or the store stayed full of referenced objects for
/// Config::object_store_full_timeout_ms. Pass a larger Config::object_store_memory, or drop
/// ObjectRefs and Views you no longer need: an object's space is reused as soon as nothing
/// refers to it.
class ObjectStoreFullError : public Error {
 public:
  ObjectStoreFullError(const std::string& message, std::uint64_t requested_bytes,
                       std::uint64_t capacity_bytes, std::vector<ObjectStoreHolder> holders = {})
      : Error(message),
        requested_bytes_(requested_bytes),
        capacity_bytes_(capacity_bytes),
        holders_(std::move(holders)) {}
  /// The size of the object that did not fit.
  std::uint64_t requested_bytes() const noexcept { return requested_bytes_; }
  /// The store's capacity (Config::object_store_memory, rounded up to whole pages).
  std::uint64_t capacity_bytes() const noexcept { return capacity_bytes_; }
  /// The biggest objects in the store when it gave up (at most 5, largest first); empty when the
  /// object was larger than the whole store. The message names them too.
  const std::vector<ObjectStoreHolder>& holders() const noexcept { return holders_; }

 private:
  std::uint64_t requested_bytes_;
  std::uint64_t capacity_bytes_;
  std::vector<ObjectStoreHolder> holders_;
};

namespace detail {
/// A failed task's stack, named on first use (defined in the library).
class TaskBacktrace;
const std::string& backtrace_text(const TaskBacktrace* backtrace) noexcept;
std::shared_ptr<const TaskBacktrace> backtrace_from_text(std::string text);
}  // namespace detail

/// A task ran on another machine's node (under mpirun, docs/cluster.md) that stopped answering
/// (its process died, its machine or network went away) and the task had no retries left
/// (TaskOptions::max_retries; a retry runs on another node), or no other node could take it. As
/// Ray's NodeDiedError. The message names the node, its rank and how long it was silent.
class NodeDiedError : public Error {
 public:
  NodeDiedError(const std::string& message, std::string function_name, int node_rank, int attempts)
      : Error(message),
        function_name_(std::move(function_name)),
        node_rank_(node_rank),
        attempts_(attempts) {}
  /// The task's name (TaskOptions::name, else its function's registered name).
  const std::string& function_name() const noexcept { return function_name_; }
  /// The MPI rank of the node that died under its last attempt.
  int node_rank() const noexcept { return node_rank_; }
  /// How many times it was started.
  int attempts() const noexcept { return attempts_; }

 private:
  std::string function_name_;
  int node_rank_;
  int attempts_;
};

/// A remote function threw. get() rethrows it as a TaskError that keeps what the worker knew: the
/// exception's type name and what(), the function's name and the worker's pid. A task that
/// depends on a failed task fails with the same TaskError.
class TaskError : public Error {
 public:
  TaskError(const std::string& message, std::string type_name, std::string what_message,
            std::string function_name, std::int64_t pid, std::string backtrace)
      : TaskError(message, std::move(type_name), std::move(what_message), std::move(function_name),
                  pid, detail::backtrace_from_text(std::move(backtrace))) {}
  /// Library side: the stack is named when backtrace() is first called.
  TaskError(const std::string& message, std::string type_name, std::string what_message,
            std::string function_name, std::int64_t pid,
            std::shared_ptr<const detail::TaskBacktrace> backtrace)
      : Error(message),
        type_name_(std::move(type_name)),
        what_(std::move(what_message)),
        function_name_(std::move(function_name)),
        pid_(pid),
        backtrace_(std::move(backtrace)) {}
  /// The demangled type of the original exception, whatever was thrown: "std::invalid_argument",
  /// "int", "std::string", "app::Oddity".
  const std::string& type_name() const noexcept { return type_name_; }
  /// The original exception's what(). For a thrown value that is not a std::exception: the value
  /// itself if it is a string (std::string, const char*) or a number ("42"), else empty. At most
  /// 64 KiB: a longer message is cut there.
  const std::string& original_what() const noexcept { return what_; }
  /// The task's name: TaskOptions::name if the call gave one, else the registered name of the
  /// remote function that threw.
  const std::string& function_name() const noexcept { return function_name_; }
  /// The pid of the worker process that ran the task (in local mode, the program's own).
  std::int64_t pid() const noexcept { return pid_; }
  /// The worker's stack where the exception was thrown (not where it was caught), innermost
  /// first, one frame a line: "#0 0x55d0c1a2b3c4 in parse(std::string const&) at parse.cpp:12".
  /// Names come from the program's symbol table, so they appear without debug information; file
  /// and line only with it (-g or -g1). At most 64 frames and 16 KiB. Functions the compiler
  /// inlined have no frame of their own, and a stripped program shows addresses only ("??").
  /// Empty when the exception was not thrown by a `throw` on the task's thread (thrown on another
  /// thread, or made by std::make_exception_ptr and rethrown).
  /// The worker records the frames as addresses and this process (the driver, a fork of the same
  /// program) names them on the first call, which is slow the first time in a process (it
  /// reads symbol and line tables); later calls return the same text at once. A frame in a
  /// library that only the worker had loaded shows as "?? (libfoo.so+0x1a2b)". Thread safe.
  const std::string& backtrace() const noexcept { return detail::backtrace_text(backtrace_.get()); }

 private:
  std::string type_name_;
  std::string what_;
  std::string function_name_;
  std::int64_t pid_;
  std::shared_ptr<const detail::TaskBacktrace> backtrace_;  // null: none recorded
};

/// The worker running a task died (a signal, exit(), a crash in the function, the OOM killer) on
/// every attempt allowed by max_retries. The message says how the last attempt's worker ended and
/// what to do. The pool replaces dead workers, so other tasks keep running.
class WorkerCrashedError : public Error {
 public:
  WorkerCrashedError(const std::string& message, std::string function_name, int attempts,
                     std::int64_t pid = 0, int signal = 0, int exit_code = -1)
      : Error(message),
        function_name_(std::move(function_name)),
        attempts_(attempts),
        pid_(pid),
        signal_(signal),
        exit_code_(exit_code) {}
  const std::string& function_name() const noexcept { return function_name_; }
  /// How many times the task was started.
  int attempts() const noexcept { return attempts_; }
  /// The pid of the worker that ran the last attempt (0 if the session broke down instead).
  std::int64_t pid() const noexcept { return pid_; }
  /// The signal that killed that worker (SIGKILL, SIGSEGV, SIGABRT, ...), or 0 if it exited.
  int signal() const noexcept { return signal_; }
  /// That worker's exit code if it called exit() or returned, else -1.
  int exit_code() const noexcept { return exit_code_; }

 private:
  std::string function_name_;
  int attempts_;
  std::int64_t pid_;
  int signal_;
  int exit_code_;
};

/// An actor could not run a call: get() of the call throws this. cause() says why: its
/// constructor threw (constructor_error() has the TaskError's text), its process died (a crash, a
/// signal, exit(), the OOM killer: signal() and exit_code() say how) and it had no restarts left,
/// the program killed it (shoal::kill()), or the session shut down; calls submitted after such a
/// death fail the same way. kRestarting is the one cause after which the actor lives on: its
/// process died under this call, a fresh one is starting (max_restarts), but the call had no
/// retries left (max_task_retries); later calls run on the new instance. As Ray's ActorDiedError
/// (and, for kRestarting, Ray's ActorUnavailableError).
class ActorDiedError : public Error {
 public:
  enum class Cause : std::uint8_t {
    kConstructorFailed = 0,  // its constructor threw (a crash in it is kProcessDied)
    kProcessDied = 1,        // its process died, with no restarts left
    kKilled = 2,             // shoal::kill()
    kShutdown = 3,           // shoal::shutdown(), or its last handle went and it was stopped
    kRestarting = 4,         // its process died under this call; the actor is restarting
  };
  ActorDiedError(const std::string& message, std::string actor_name, Cause cause,
                 std::int64_t pid = 0, int signal = 0, int exit_code = -1,
                 std::string constructor_error = {})
      : Error(message),
        actor_name_(std::move(actor_name)),
        cause_(cause),
        pid_(pid),
        signal_(signal),
        exit_code_(exit_code),
        constructor_error_(std::move(constructor_error)) {}
  /// The actor's class, and its name if it has one: "Counter 'totals'".
  const std::string& actor_name() const noexcept { return actor_name_; }
  Cause cause() const noexcept { return cause_; }
  /// The pid of the actor's last process (0 if it never started).
  std::int64_t pid() const noexcept { return pid_; }
  /// kProcessDied, kRestarting: the signal that killed its process, or 0 if it exited.
  int signal() const noexcept { return signal_; }
  /// kProcessDied, kRestarting: its process's exit code if it exited, else -1.
  int exit_code() const noexcept { return exit_code_; }
  /// kConstructorFailed: what the constructor threw, as TaskError's message says it.
  const std::string& constructor_error() const noexcept { return constructor_error_; }

 private:
  std::string actor_name_;
  Cause cause_;
  std::int64_t pid_;
  int signal_;
  int exit_code_;
  std::string constructor_error_;
};

/// A get() or wait() inside an actor's method that could never return: it waits for a call
/// queued behind the very call that waits (on the same actor), or for an actor whose calls all
/// wait for this one (two actors waiting on each other; longer cycles are not detected). Thrown
/// in the method that closed the cycle, instead of a silent hang; unless the method catches it,
/// the caller of that method sees a TaskError whose type_name() is "shoal::DeadlockError". In
/// local mode, thrown by remote() of a call back into an actor whose call is running on this
/// thread. Raise max_concurrency, or do not wait for your own calls.
class DeadlockError : public Error {
 public:
  using Error::Error;
};

}  // namespace shoal
