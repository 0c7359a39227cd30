// The current runtime of this process, and the runtime that refuses calls.
#include "src/common/core_runtime.hpp"

#include <atomic>
#include <mutex>

#include <pthread.h>

#include <shoal/errors.hpp>

namespace shoal::internal {
namespace {

std::mutex& slot_mutex() {
  static std::mutex mu;
  return mu;
}

// Never destroyed: the program's ObjectRefs may be destroyed during static destruction, after
// this translation unit's statics would be.
std::shared_ptr<CoreRuntime>& slot() {
  static auto* current = new std::shared_ptr<CoreRuntime>();
  return *current;
}

}  // namespace

ObjectId new_object_id() noexcept {
  static std::atomic<ObjectId> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

const char* forked_session_refusal() noexcept {
  return "shoal: this process is a fork() of a program running shoal and cannot use that "
         "program's session. Use shoal from the parent, or fork before shoal::init()";
}

std::shared_ptr<CoreRuntime> current_runtime_or_null() {
  std::lock_guard<std::mutex> lock(slot_mutex());
  return slot();
}

std::shared_ptr<CoreRuntime> current_runtime() {
  std::shared_ptr<CoreRuntime> rt = current_runtime_or_null();
  if (!rt) throw NotInitializedError("shoal: call shoal::init() before using shoal");
  rt->check_usable();
  return rt;
}

std::shared_ptr<CoreRuntime> exchange_current_runtime(std::shared_ptr<CoreRuntime> runtime) {
  std::lock_guard<std::mutex> lock(slot_mutex());
  return std::exchange(slot(), std::move(runtime));
}

namespace {

// fork() protocol (pthread_atfork): the slot's mutex is taken before the fork, so that the child
// gets it unlocked and the slot consistent, whatever other threads were doing.
void lock_slot_before_fork() { slot_mutex().lock(); }
void unlock_slot_in_parent() { slot_mutex().unlock(); }
void abandon_session_in_child() {
  slot_mutex().unlock();
  std::shared_ptr<CoreRuntime>& current = slot();
  if (!current || !current->is_session()) return;
  current->abandon_in_fork();
  // Never destroyed here: its destructor would shut a session down through the parent's locks.
  static auto* abandoned = new std::shared_ptr<CoreRuntime>();
  *abandoned = std::move(current);
  current = std::make_shared<UnusableRuntime>(forked_session_refusal());
}

}  // namespace

void protect_sessions_from_fork() {
  static std::once_flag once;
  std::call_once(once, [] {
    pthread_atfork(&lock_slot_before_fork, &unlock_slot_in_parent, &abandon_session_in_child);
  });
}

namespace {
[[noreturn]] void actors_not_here(const char* what) {
  throw Error(std::string("shoal: ") + what +
              " is not available here: create, find and kill actors in the program that called "
              "init() (with worker processes), and pass their handles to tasks and actors, whose "
              "calls through them work");
}
}  // namespace

detail::HandlePtr CoreRuntime::create_actor(detail::AnyFn, const char*, std::uint64_t,
                                            const ActorOptions&, detail::TaskArgs&&) {
  actors_not_here("creating an actor");
}
detail::HandlePtr CoreRuntime::submit_actor_task(ObjectId, detail::AnyFn, const char*,
                                                 detail::TaskArgs&&) {
  actors_not_here("calling an actor");
}
detail::HandlePtr CoreRuntime::find_named_actor(const std::string&, std::uint64_t) {
  actors_not_here("get_actor()");
}
void CoreRuntime::kill_actor(ObjectId, bool) { actors_not_here("kill()"); }

namespace {
[[noreturn]] void not_in_a_task(const char* what) {
  throw Error(std::string("shoal: ") + what +
              " is not available inside a task: call it in the program that called init() (or "
              "from outside, with the shoal command: shoal status PID)");
}
}  // namespace

std::string CoreRuntime::timeline_json() { not_in_a_task("shoal::timeline()"); }
Status CoreRuntime::status() { not_in_a_task("shoal::status()"); }
MemorySummary CoreRuntime::memory_summary() { not_in_a_task("shoal::memory_summary()"); }

void UnusableRuntime::refuse() const { throw Error(why_); }
void UnusableRuntime::check_usable() const { refuse(); }

detail::HandlePtr UnusableRuntime::submit(detail::AnyFn, const char*, const TaskOptions&,
                                          detail::TaskArgs&&) {
  refuse();
}
std::vector<detail::HandlePtr> UnusableRuntime::submit_returns(detail::AnyFn, const char*,
                                                               const TaskOptions&,
                                                               detail::TaskArgs&&, std::size_t) {
  refuse();
}
detail::HandlePtr UnusableRuntime::put(void (*)(detail::ValueSink&, const void*), const void*,
                                       const detail::CallSite&) {
  refuse();
}
StoreSpace UnusableRuntime::reserve_object(detail::Format, std::uint64_t, std::uint64_t,
                                           ObjectOrigin, const detail::CallSite&) {
  refuse();
}
detail::Fetched UnusableRuntime::fetch(ObjectId, std::int64_t) { refuse(); }
std::vector<detail::Fetched> UnusableRuntime::fetch_all(const std::vector<ObjectId>&,
                                                        std::int64_t) {
  refuse();
}
std::vector<bool> UnusableRuntime::wait(const std::vector<ObjectId>&, std::size_t, std::int64_t) {
  refuse();
}
void UnusableRuntime::cancel(ObjectId, bool, bool) { refuse(); }
detail::HandlePtr UnusableRuntime::adopt(ObjectId) { refuse(); }
std::map<std::string, double> UnusableRuntime::resources(bool) { refuse(); }
ObjectStoreStats UnusableRuntime::stats() { refuse(); }

}  // namespace shoal::internal
