#include "src/common/error_info.hpp"

#include <fmt/format.h>

namespace shoal::internal {

std::shared_ptr<const ErrorInfo> session_error(ErrorInfo::Kind kind, std::string what) {
  auto e = std::make_shared<ErrorInfo>();
  e->kind = kind;
  e->what = std::move(what);
  return e;
}

void throw_error(const ErrorInfo& e) {
  switch (e.kind) {
    case ErrorInfo::Kind::kTaskError:
      throw TaskError(fmt::format("shoal: task {} ({} pid {}) threw {}: {}", e.function,
                                  e.in_process ? "local mode, this process," : "worker", e.pid,
                                  e.type_name, e.what),
                      e.type_name, e.what, e.function, e.pid, e.backtrace);
    case ErrorInfo::Kind::kWorkerCrashed:
      throw WorkerCrashedError(e.what, e.function, e.attempts, e.pid, e.signal, e.exit_code);
    case ErrorInfo::Kind::kStoreFull:
      throw ObjectStoreFullError(e.what, e.requested, e.capacity, e.holders);
    case ErrorInfo::Kind::kCancelled:
      throw TaskCancelledError(e.what);
    case ErrorInfo::Kind::kActorDied:
      throw ActorDiedError(e.what, e.function, static_cast<ActorDiedError::Cause>(e.cause), e.pid,
                           e.signal, e.exit_code, e.constructor_error);
    case ErrorInfo::Kind::kNodeDied:
      throw NodeDiedError(e.what, e.function, e.node, e.attempts);
    case ErrorInfo::Kind::kShutdown:
      break;
  }
  throw Error(e.what);
}

}  // namespace shoal::internal
