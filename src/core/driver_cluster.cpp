// The driver's side of other machines (docs/cluster.md): tasks placed on another node, whose
// results are objects of this table completed from outside, and the calls a node's agent makes to
// run the tasks the driver placed on it. The cluster layer (src/cluster/) calls these; no MPI here.
#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/common/function_registry.hpp"
#include "src/common/system_info.hpp"
#include "src/core/driver_runtime.hpp"

namespace shoal::internal {

namespace {

// Calls `done` when its last object finishes, then deletes itself. The table calls it with the
// runtime's lock held, once per object it was added to.
class CountdownWaiter final : public ObjectWaiter {
 public:
  CountdownWaiter(std::size_t objects, std::function<void()> done)
      : remaining_(objects), done_(std::move(done)) {}
  void on_finished(ObjectId /*id*/, bool /*failed*/) override {
    if (--remaining_ != 0) return;
    std::function<void()> done = std::move(done_);
    delete this;
    done();
  }

 private:
  std::size_t remaining_;
  std::function<void()> done_;
};

}  // namespace

void DriverRuntime::attach_nodes(std::shared_ptr<RemoteNodes> nodes) {
  MutexLock<Mutex> lock(mu_);
  nodes_ = std::move(nodes);
  refs_.set_copies_freed(&DriverRuntime::copies_freed, this);
}

void DriverRuntime::copies_freed(void* runtime, ObjectId id) noexcept {
  auto* self = static_cast<DriverRuntime*>(runtime);
  if (self->nodes_) self->nodes_->copies_freed(id);
}

detail::HandlePtr DriverRuntime::submit_remote(int node, TaskSpec&& spec,
                                               std::vector<detail::HandlePtr>&& refs) {
  spec.id = new_object_id();
  {
    MutexLock<Mutex> lock(mu_);
    check_running();
    // Its own producer: status() counts it as a task, and it finishes when its result arrives.
    ObjectEntry& e = refs_.add_pending(spec.id, spec.id);
    e.origin = ObjectOrigin::kTaskResult;
    e.function_index = spec.function_index;
    e.call_site = call_sites_.intern(spec.call_site);
  }
  detail::HandlePtr handle = handle_of(spec.id);
  nodes_->dispatch(node, std::move(spec), std::move(refs));
  return handle;
}

void DriverRuntime::when_finished(std::vector<ObjectId> ids, std::function<void()> done) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  {
    MutexLock<Mutex> lock(mu_);
    std::vector<ObjectEntry*> pending;
    for (ObjectId id : ids) {
      ObjectEntry* e = refs_.find(id);
      if (e != nullptr && e->state == ObjectState::kPending) pending.push_back(e);
    }
    if (!pending.empty()) {
      auto* waiter = new CountdownWaiter(pending.size(), std::move(done));
      for (ObjectEntry* e : pending) refs_.add_waiter(*e, waiter);
      return;
    }
  }
  done();
}

DriverRuntime::Finished DriverRuntime::read_finished(ObjectId id) {
  MutexLock<Mutex> lock(mu_);
  check_running();
  const ObjectEntry* e = refs_.find(id);
  if (e == nullptr || e->state == ObjectState::kPending) {
    throw Error(fmt::format("shoal: object {:#x} is {}", id, e == nullptr ? "gone" : "pending"));
  }
  Finished f;
  if (e->state == ObjectState::kFailed) {
    f.error = e->error;
  } else {
    f.value = fetched_of(*e);
  }
  return f;
}

bool DriverRuntime::complete_remote(ObjectId id, detail::Format format, std::uint64_t type_hash,
                                    detail::ByteBuffer bytes, bool copy_elsewhere) {
  MutexLock<Mutex> lock(mu_);
  if (state_ == State::kStopped) return false;
  ObjectEntry* e = refs_.find(id);
  if (e == nullptr || e->state != ObjectState::kPending) return false;
  e->on_other_nodes = copy_elsewhere;  // before it completes: an unheld object is freed then
  tasks_.dependencies_done(refs_.complete_inline(id, format, type_hash, std::move(bytes)));
  pump();
  return true;
}

bool DriverRuntime::fail_remote(ObjectId id, std::shared_ptr<const ErrorInfo> error) {
  MutexLock<Mutex> lock(mu_);
  if (state_ == State::kStopped) return false;
  ObjectEntry* e = refs_.find(id);
  if (e == nullptr || e->state != ObjectState::kPending) return false;
  tasks_.fail_object(id, std::move(error));
  pump();
  return true;
}

DriverRuntime::RemoteSpace DriverRuntime::reserve_remote(std::uint64_t size) {
  UniqueLock<Mutex> lock(mu_);
  check_running();
  std::optional<std::uint64_t> offset = store_->allocate(size);
  if (!offset) offset = wait_for_space(size, ObjectOrigin::kTaskResult);  // or throws
  return RemoteSpace{*offset, store_->base() + *offset, store_->arena()};
}

bool DriverRuntime::complete_remote_store(ObjectId id, detail::Format format,
                                          std::uint64_t type_hash, const RemoteSpace& space,
                                          std::uint64_t size, bool copy_elsewhere) {
  MutexLock<Mutex> lock(mu_);
  if (state_ == State::kStopped || !store_) return false;  // the arena went with the session
  ObjectEntry* e = refs_.find(id);
  const bool pending = e != nullptr && e->state == ObjectState::kPending;
  if (pending) e->on_other_nodes = copy_elsewhere;
  // An object no longer pending is left alone and the block freed (complete_store()'s rule).
  tasks_.dependencies_done(refs_.complete_store(id, format, type_hash, space.offset, size));
  pump();
  return pending;
}

void DriverRuntime::free_remote_space(const RemoteSpace& space) noexcept {
  MutexLock<Mutex> lock(mu_);
  if (state_ != State::kStopped && store_) {
    store_->free_block(space.offset);
    store_->serve_waiters();
  }
}

bool DriverRuntime::mark_copied(ObjectId id) {
  MutexLock<Mutex> lock(mu_);
  ObjectEntry* e = state_ == State::kStopped ? nullptr : refs_.find(id);
  if (e == nullptr) return false;
  e->on_other_nodes = true;
  return true;
}

detail::HandlePtr DriverRuntime::submit_spec(TaskSpec&& spec) {
  check_not_abandoned();
  const RegisteredFunction* fn = FunctionRegistry::instance().at(spec.function_index);
  if (fn == nullptr || fn->check != spec.function_check ||
      spec.function_index >= known_functions_.load()) {
    throw Error(
        "shoal: a task placed on this node names a function this program does not have: every "
        "rank must run the same executable");
  }
  if (spec.name.empty()) spec.name = fn->name;
  if (recording_) spec.submitted_ns = steady_now_ns();
  spec.id = new_object_id();
  {
    MutexLock<Mutex> lock(mu_);
    check_running();
  }
  detail::HandlePtr handle = handle_of(spec.id);
  mu_.run_or_defer(Deferred{0, std::move(spec)});
  return handle;
}

detail::HandlePtr DriverRuntime::put_bytes(detail::Format format, std::uint64_t type_hash,
                                           detail::ByteBuffer bytes) {
  check_not_abandoned();
  return store_inline(format, type_hash, std::move(bytes), detail::CallSite{});
}

}  // namespace shoal::internal
