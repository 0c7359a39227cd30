// Why an object will never have a value: a task's exception, its worker's death, a full store,
// or the end of the session. get() turns it into the matching exception (throw_error()).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <shoal/errors.hpp>

namespace shoal::internal {

struct ErrorInfo {
  enum class Kind : std::uint8_t {
    kTaskError,
    kWorkerCrashed,
    kStoreFull,
    kShutdown,
    kCancelled,
    kActorDied,  // `function` names the actor, `cause` is an ActorDiedError::Cause
    kNodeDied,   // `node`: the rank of the node that died under the task (src/cluster/)
  };
  Kind kind = Kind::kTaskError;
  std::string type_name;  // kTaskError: the exception's type
  std::string what;       // kTaskError: its what(); other kinds: the whole message
  std::string function;   // the function (or task name) that failed
  std::shared_ptr<const detail::TaskBacktrace> backtrace;  // kTaskError: where it was thrown
  std::int64_t pid = 0;
  bool in_process = false;  // the task ran in the program itself (local mode), not in a worker
  int attempts = 0;
  int signal = 0, exit_code = -1;  // kWorkerCrashed: how the last worker ended
  std::uint64_t requested = 0, capacity = 0;
  std::vector<ObjectStoreHolder> holders;  // kStoreFull: the biggest objects at the time
  std::uint8_t cause = 0;                  // kActorDied: ActorDiedError::Cause
  std::string constructor_error;           // kActorDied, constructor failed: its TaskError text
  std::int32_t node = 0;                   // kNodeDied: the node's MPI rank
};

/// An error of kind kShutdown or kWorkerCrashed carrying only a message.
std::shared_ptr<const ErrorInfo> session_error(ErrorInfo::Kind kind, std::string what);

/// Throws the public exception for `e` (TaskError, WorkerCrashedError, ObjectStoreFullError,
/// TaskCancelledError, or Error).
[[noreturn]] void throw_error(const ErrorInfo& e);

}  // namespace shoal::internal
