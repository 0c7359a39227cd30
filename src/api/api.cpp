// The public free functions: find the runtime (the process's current one, or the one that made
// the refs), check what the program can get wrong (empty refs, refs from another session), and
// call it.
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <utility>

#include <unistd.h>

#include <shoal/shoal.hpp>

#include "src/cluster/mpi_link.hpp"
#include "src/cluster/mpi_session.hpp"
#include "src/common/core_runtime.hpp"
#include "src/common/logging.hpp"
#include "src/control/control_server.hpp"
#include "src/core/driver_runtime.hpp"
#include "src/core/local_runtime.hpp"
#include "src/core/observe_json.hpp"
#include "src/core/session_config.hpp"
#include "src/fork_helper/fork_helper.hpp"

namespace shoal {
namespace internal {
namespace {

std::mutex g_mu;         // init() and shutdown() hold it throughout
pid_t g_driver_pid = 0;  // the process that called init() (not a fork of it)
// The session's control socket (the shoal command), guarded by g_mu. A raw pointer on purpose: a
// fork() of the program has a copy of it, which must never be destroyed there (its thread does
// not exist in the child); only the process that made it deletes it, in shutdown().
ControlServer* g_control = nullptr;

// Serves the shoal command for `runtime`'s session (docs/observability.md). A session works without
// it: if the socket cannot be made (a sandbox without Unix sockets), init() warns and goes on.
void start_control_server(const std::shared_ptr<CoreRuntime>& runtime,
                          const Config& config) noexcept try {
  const std::weak_ptr<CoreRuntime> weak = runtime;
  // Each handler runs on the server's thread; the runtime may be shutting down meanwhile.
  const auto with = [weak](const auto& answer) {
    return [weak, answer]() -> std::string {
      const std::shared_ptr<CoreRuntime> rt = weak.lock();
      if (!rt) throw Error("the shoal session has ended");
      return answer(*rt);
    };
  };
  SessionIdentity who;
  who.pid = static_cast<int>(getpid());
  std::error_code ec;
  who.program = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  who.started_unix_s = static_cast<std::int64_t>(std::time(nullptr));
  who.local_mode = config.local_mode;
  who.workers = config.local_mode ? 0 : resolve_config(config).cpus;  // no getifaddrs() here
  ControlServer::Handlers handlers;
  handlers.hello = [who] { return hello_json(who); };
  handlers.status = with([](CoreRuntime& rt) { return status_json(rt.status()); });
  handlers.memory = with([](CoreRuntime& rt) { return memory_json(rt.memory_summary()); });
  handlers.timeline = with([](CoreRuntime& rt) { return rt.timeline_json(); });
  g_control = new ControlServer(std::move(handlers));
} catch (const std::exception& e) {
  SHOAL_LOG(kWarn, "the shoal command cannot attach to this session: {}", e.what());
} catch (...) {
  SHOAL_LOG(kWarn, "the shoal command cannot attach to this session");
}

void shutdown_at_exit() {
  // A fork of the driver (a worker that called exit(), or the program's own child) must not
  // touch the parent's session.
  if (getpid() == g_driver_pid) shoal::shutdown();
}

const detail::ObjectHandle* checked(const detail::ObjectHandle* h) {
  if (h == nullptr) {
    throw InvalidObjectRefError(
        "shoal: this ObjectRef is empty (default-constructed or moved-from); use a ref returned by "
        "remote() or put()");
  }
  return h;
}

// The runtime of the session that made these refs; all must come from the same one.
CoreRuntime& runtime_of(const std::vector<const detail::ObjectHandle*>& handles,
                        std::vector<ObjectId>* ids, std::shared_ptr<CoreRuntime>* current) {
  CoreRuntime* rt = nullptr;
  ids->reserve(handles.size());
  for (const detail::ObjectHandle* h : handles) {
    checked(h);
    if (rt != nullptr && &h->runtime() != rt) {
      throw InvalidObjectRefError(
          "shoal: these ObjectRefs come from different shoal sessions; refs do not carry over from "
          "one init() to the next: drop the ones from before the last init()");
    }
    rt = &h->runtime();
    ids->push_back(h->id());
  }
  if (rt != nullptr) return *rt;
  *current = current_runtime();  // no refs: the call only needs a session to exist
  return **current;
}

}  // namespace
}  // namespace internal

void init(const Config& config) {
  // Before g_mu: a worker (forked from a thread inside init(), which held g_mu) and a fork of a
  // driver may find g_mu locked for ever. Their runtime refuses, with the reason, instead.
  if (std::shared_ptr<internal::CoreRuntime> rt = internal::current_runtime_or_null()) {
    rt->check_usable();
    if (rt->in_worker()) {
      throw Error(
          "shoal: init() was called inside a task; a task uses the session of the program that "
          "started it: call remote(), get() and the rest directly");
    }
  }
  // The order in which the program's and shoal's globals are constructed is unspecified: before
  // main() shoal's may not exist yet (a global's constructor calling init() crashed in logging).
  if (internal::before_main()) {
    throw Error(
        "shoal: init() was called before main() started (from the constructor of a global or "
        "static object), when shoal's own globals may not be constructed yet. Call init() from "
        "main(), or from code that main() runs");
  }
  std::lock_guard<std::mutex> lock(internal::g_mu);
  if (std::shared_ptr<internal::CoreRuntime> rt = internal::current_runtime_or_null()) {
    if (rt->is_session()) {
      throw AlreadyInitializedError(
          "shoal: init() was called while shoal is running; call shoal::shutdown() first, or "
          "check shoal::is_initialized()");
    }
  }
  internal::protect_sessions_from_fork();
  std::shared_ptr<internal::CoreRuntime> runtime;
  if (config.local_mode) {
    runtime = internal::LocalRuntime::start(config);
  } else if (const internal::MpiPlace place = internal::mpi_place_from_environment();
             place.under_mpirun()) {
    // Started by mpirun: rank 0 is the driver; on every other rank this call never returns.
    runtime = internal::start_mpi_session(config, place);
  } else {
    runtime = internal::DriverRuntime::start(config);
  }
  internal::exchange_current_runtime(runtime);
  internal::g_driver_pid = getpid();
  internal::start_control_server(runtime, config);
  static std::once_flag hooks;
  std::call_once(hooks, [] { std::atexit(internal::shutdown_at_exit); });
}

void shutdown() {
  std::shared_ptr<internal::CoreRuntime> rt = internal::current_runtime_or_null();
  // None, or a worker's or a fork's: nothing to stop (and g_mu, see init(), may be held for ever).
  if (!rt || !rt->is_session()) return;
  {
    std::lock_guard<std::mutex> lock(internal::g_mu);
    rt = internal::current_runtime_or_null();
    if (!rt || !rt->is_session()) return;  // another thread shut it down meanwhile
    internal::exchange_current_runtime(nullptr);
    // First: its handlers call the runtime. Joins its thread (bounded by the handler running).
    delete std::exchange(internal::g_control, nullptr);
  }
  rt->shutdown();
}

bool is_initialized() noexcept {
  const std::shared_ptr<internal::CoreRuntime> rt = internal::current_runtime_or_null();
  return rt && (rt->is_session() || rt->in_worker());  // inside a task too, as Ray's
}

std::map<std::string, double> cluster_resources() {
  return internal::current_runtime()->resources(false);
}
std::map<std::string, double> available_resources() {
  return internal::current_runtime()->resources(true);
}
ObjectStoreStats object_store_stats() { return internal::current_runtime()->stats(); }
bool is_cancelled() { return detail::current_task_cancelled(); }

namespace detail {

std::uint64_t object_id_of(const ObjectHandle& handle) noexcept { return handle.id(); }

HandlePtr submit_task(AnyFn fn, const char* signature, const TaskOptions& options,
                      TaskArgs&& args) {
  return args.runtime().submit(fn, signature, options, std::move(args));
}

std::vector<HandlePtr> submit_task_returns(AnyFn fn, const char* signature,
                                           const TaskOptions& options, TaskArgs&& args,
                                           std::size_t num_returns) {
  return args.runtime().submit_returns(fn, signature, options, std::move(args), num_returns);
}

HandlePtr put_value(void (*encode)(ValueSink&, const void*), const void* value,
                    const detail::CallSite& site) {
  return internal::current_runtime()->put(encode, value, site);
}

Fetched fetch(const ObjectHandle* handle, std::int64_t timeout_ns) {
  internal::checked(handle);
  return handle->runtime().fetch(handle->id(), timeout_ns);
}

std::vector<Fetched> fetch_all(const std::vector<const ObjectHandle*>& handles,
                               std::int64_t timeout_ns) {
  std::vector<internal::ObjectId> ids;
  std::shared_ptr<internal::CoreRuntime> keep;
  return internal::runtime_of(handles, &ids, &keep).fetch_all(ids, timeout_ns);
}

void cancel_task(const ObjectHandle* handle, bool force, bool recursive) {
  internal::checked(handle);
  handle->runtime().cancel(handle->id(), force, recursive);
}

bool current_task_cancelled() {
  const std::shared_ptr<internal::CoreRuntime> rt = internal::current_runtime_or_null();
  return rt && rt->in_worker() && rt->is_cancelled();
}

std::vector<bool> wait_ready(const std::vector<const ObjectHandle*>& handles,
                             std::size_t num_returns, std::int64_t timeout_ns) {
  std::vector<internal::ObjectId> ids;
  std::shared_ptr<internal::CoreRuntime> keep;
  return internal::runtime_of(handles, &ids, &keep).wait(ids, num_returns, timeout_ns);
}

}  // namespace detail
}  // namespace shoal
