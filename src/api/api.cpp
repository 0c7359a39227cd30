// The public free functions: find the session's runtime, check the arguments a program can get
// wrong (empty refs, refs from another session), and call it.
#include <atomic>
#include <cstdlib>
#include <mutex>

#include <pthread.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "src/common/process_role.hpp"
#include "src/core/runtime.hpp"

namespace shoal {
namespace internal {
namespace {

std::mutex g_mu;                     // guards g_runtime; init()/shutdown() hold it throughout
std::shared_ptr<Runtime> g_runtime;  // the running session, or null
pid_t g_driver_pid = 0;              // the process that called init() (not a fork of it)
std::atomic<bool> g_session{false};  // g_runtime is set (readable in a fork handler, lock-free)

void check_driver_process() {
  switch (g_process_role.load()) {
    case ProcessRole::kDriver:
      return;
    case ProcessRole::kForkedDriver:
      throw Error(
          "shoal: this process is a fork() of a program running shoal; it shares that session's "
          "sockets and cannot use it. Use shoal from the parent, or fork before shoal::init()");
    default:
      throw Error(
          "shoal: the shoal API was called inside a remote function (in a worker); nested tasks "
          "are not supported: return a value and call remote() from the driver instead");
  }
}

// pthread_atfork child handler: a plain fork() of a driver with a running session may not use it.
// shoal's own forks (the fork helper, taken before the session exists, and the workers, forked by
// the helper) set their role themselves right after.
void on_fork_child() {
  if (g_session.load() && g_process_role.load() == ProcessRole::kDriver) {
    g_process_role.store(ProcessRole::kForkedDriver);
  }
}

void shutdown_at_exit() {
  // A fork of the driver (a worker that called exit(), or the program's own child) must not
  // touch the parent's session.
  if (g_process_role.load() == ProcessRole::kDriver && getpid() == g_driver_pid) shoal::shutdown();
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
Runtime& runtime_of(const std::vector<const detail::ObjectHandle*>& handles,
                    std::vector<std::uint64_t>* ids) {
  check_driver_process();
  Runtime* rt = nullptr;
  ids->reserve(handles.size());
  for (const detail::ObjectHandle* h : handles) {
    checked(h);
    if (rt != nullptr && &h->runtime() != rt) {
      throw InvalidObjectRefError("shoal: these ObjectRefs come from different shoal sessions");
    }
    rt = &h->runtime();
    ids->push_back(h->id());
  }
  if (rt == nullptr) return *current_runtime();
  return *rt;
}

}  // namespace

std::shared_ptr<Runtime> current_runtime() {
  check_driver_process();
  std::lock_guard<std::mutex> lock(g_mu);
  if (!g_runtime) throw NotInitializedError("shoal: call shoal::init() before using shoal");
  return g_runtime;
}

}  // namespace internal

void init(const Config& config) {
  internal::check_driver_process();
  std::lock_guard<std::mutex> lock(internal::g_mu);
  if (internal::g_runtime) {
    throw AlreadyInitializedError(
        "shoal: init() was called while shoal is running; call shoal::shutdown() first, or check "
        "shoal::is_initialized()");
  }
  internal::g_runtime = internal::Runtime::start(config);
  internal::g_driver_pid = getpid();
  internal::g_session.store(true);
  static std::once_flag hooks;
  std::call_once(hooks, [] {
    std::atexit(internal::shutdown_at_exit);
    pthread_atfork(nullptr, nullptr, internal::on_fork_child);
  });
}

void shutdown() {
  if (internal::g_process_role.load() != internal::ProcessRole::kDriver) return;
  std::shared_ptr<internal::Runtime> rt;
  {
    std::lock_guard<std::mutex> lock(internal::g_mu);
    rt = std::move(internal::g_runtime);
    internal::g_session.store(false);
  }
  if (rt) rt->shutdown();
}

bool is_initialized() noexcept {
  if (internal::g_process_role.load() != internal::ProcessRole::kDriver) return false;
  std::lock_guard<std::mutex> lock(internal::g_mu);
  return internal::g_runtime != nullptr;
}

std::map<std::string, double> cluster_resources() {
  return internal::current_runtime()->resources(false);
}
std::map<std::string, double> available_resources() {
  return internal::current_runtime()->resources(true);
}
ObjectStoreStats object_store_stats() { return internal::current_runtime()->stats(); }

namespace detail {

std::uint64_t object_id_of(const ObjectHandle& handle) noexcept { return handle.id(); }

HandlePtr submit_task(AnyFn fn, const char* signature, const TaskOptions& options,
                      TaskArgs&& args) {
  return internal::current_runtime()->submit(fn, signature, options, std::move(args));
}

HandlePtr put_value(void (*encode)(ValueSink&, const void*), const void* value) {
  return internal::current_runtime()->put(encode, value);
}

Fetched fetch(const ObjectHandle* handle, std::int64_t timeout_ns) {
  internal::check_driver_process();
  internal::checked(handle);
  return handle->runtime().fetch(handle->id(), timeout_ns);
}

std::vector<Fetched> fetch_all(const std::vector<const ObjectHandle*>& handles,
                               std::int64_t timeout_ns) {
  std::vector<std::uint64_t> ids;
  internal::Runtime& rt = internal::runtime_of(handles, &ids);
  return rt.fetch_all(ids, timeout_ns);
}

std::vector<bool> wait_ready(const std::vector<const ObjectHandle*>& handles,
                             std::size_t num_returns, std::int64_t timeout_ns) {
  std::vector<std::uint64_t> ids;
  internal::Runtime& rt = internal::runtime_of(handles, &ids);
  return rt.wait_ready(ids, num_returns, timeout_ns);
}

}  // namespace detail
}  // namespace shoal
