// Objects on the program's threads: put(), get(), wait() and reference drops.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

#include <fmt/format.h>
#include <sched.h>

#include <shoal/errors.hpp>

#include "src/common/contained_refs.hpp"
#include "src/common/limits.hpp"
#include "src/core/driver_runtime.hpp"
#include "src/core/session_config.hpp"
#include "src/transport/value_writer.hpp"

namespace shoal::internal {

// A program thread blocked in get() or wait(): the ReferenceTable calls it as the objects it
// waits for finish. Lives on that thread's stack while registered.
class DriverRuntime::ThreadWaiter final : public ObjectWaiter {
 public:
  /// Wakes when `remaining` objects have finished, or, with `wake_on_failure` (get() of a list,
  /// Ray's rule: the error is raised without waiting for the rest), when one fails.
  ThreadWaiter(std::size_t remaining, bool wake_on_failure)
      : remaining_(remaining), wake_on_failure_(wake_on_failure) {}

  void on_finished(ObjectId, bool failed) override {
    if (remaining_ > 0) --remaining_;
    if (failed && wake_on_failure_) saw_failure_ = true;
    if ((remaining_ == 0 || saw_failure_) && !done_.load(std::memory_order_relaxed)) {
      done_.store(true, std::memory_order_release);
      cv_.notify_all();
    }
  }

  bool done() const noexcept { return done_.load(std::memory_order_acquire); }
  std::size_t remaining() const noexcept { return remaining_; }
  std::condition_variable_any& cv() noexcept { return cv_; }

 private:
  std::condition_variable_any cv_;  // waited on with the runtime's lock
  std::size_t remaining_;           // objects that must still finish before it wakes
  const bool wake_on_failure_;
  bool saw_failure_ = false;
  std::atomic<bool> done_{false};  // time to wake: readable without the lock, to spin on
};

namespace {

// put()'s first buffer: room for a small value.
constexpr std::size_t kSmallValueCapacity = 256;

// put()'s space: a value too large to keep inline becomes a store object straight away.
class PutSpace final : public SpaceProvider {
 public:
  PutSpace(CoreRuntime& runtime, const detail::CallSite& site) : runtime_(runtime), site_(site) {}
  char* reserve(detail::Format format, std::uint64_t type_hash, std::uint64_t size) override {
    space_ = runtime_.reserve_object(format, type_hash, size, ObjectOrigin::kPut, site_);
    return space_.dst;
  }
  void seal(detail::ByteBuffer&) override {}  // the handle is the result; no record is needed
  detail::HandlePtr take() { return std::move(space_.handle); }

 private:
  CoreRuntime& runtime_;
  const detail::CallSite& site_;
  StoreSpace space_;
};

}  // namespace

detail::HandlePtr DriverRuntime::handle_of(ObjectId id) {
  return std::make_shared<detail::ObjectHandle>(shared_from_this(), id);
}

ObjectId DriverRuntime::new_object(TaskId producer) {
  const ObjectId id = new_object_id();
  refs_.add_pending(id, producer);
  return id;
}

detail::HandlePtr DriverRuntime::put(void (*encode)(detail::ValueSink&, const void*),
                                     const void* value, const detail::CallSite& site) {
  check_not_abandoned();
  const TimedCall timed(program_calls_, DriverCall::Kind::kPut, 1);
  // One allocation for the usual small value, instead of one per doubling.
  detail::ByteBuffer bytes(kSmallValueCapacity);
  detail::OpenValue open;
  PutSpace space(*this, site);
  ValueWriter writer(bytes, space, open, std::numeric_limits<std::size_t>::max(),
                     InlineForm::kBare);
  RefCollector contained(this);
  encode(writer, value);  // encodes without holding the lock
  detail::HandlePtr handle = space.take();
  // A small value: its bytes become the object's; the writer's OpenValue says what they are.
  if (!handle) handle = store_inline(open.format, open.type_hash, std::move(bytes), site);
  if (!contained.ids().empty()) {  // refs inside the value: it holds them (the program does too)
    MutexLock<Mutex> lock(mu_);
    check_running();
    refs_.add_contained(handle->id(), ids_of(contained.handles()));
  }
  return handle;
}

detail::HandlePtr DriverRuntime::adopt(ObjectId id) {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_running();
  if (refs_.find(id) == nullptr) {
    throw InvalidObjectRefError(gone_ref_message(id));
  }
  refs_.add_ref(id, Holder::program());
  return handle_of(id);
}

StoreSpace DriverRuntime::reserve_object(detail::Format format, std::uint64_t type_hash,
                                         std::uint64_t size, ObjectOrigin origin,
                                         const detail::CallSite& site) {
  check_not_abandoned();
  UniqueLock<Mutex> lock(mu_);
  check_running();
  std::optional<std::uint64_t> offset = store_->allocate(size);
  if (!offset) offset = wait_for_space(size, origin);  // or throws ObjectStoreFullError
  // The object is ready before its bytes are written: nobody else holds its handle until the
  // caller is done, and if the caller throws, dropping the handle frees the block.
  const ObjectId id = new_object(0);
  ObjectEntry* entry = refs_.find(id);
  entry->origin = origin;
  entry->call_site = call_sites_.intern(site);
  refs_.complete_store(id, format, type_hash, *offset, size);
  return StoreSpace{handle_of(id), store_->base() + *offset, store_->arena()};
}

detail::HandlePtr DriverRuntime::store_inline(detail::Format format, std::uint64_t type_hash,
                                              detail::ByteBuffer bytes,
                                              const detail::CallSite& site) {
  MutexLock<Mutex> lock(mu_);
  check_running();
  const ObjectId id = new_object_id();
  refs_.add_ready_inline(id, format, type_hash, std::move(bytes)).call_site =
      call_sites_.intern(site);
  return handle_of(id);
}

void DriverRuntime::release(ObjectId id) noexcept {
  if (abandoned_.load(std::memory_order_relaxed)) return;  // a fork's copy: leave it alone
  mu_.run_or_defer(Deferred{id, {}});
}

detail::Fetched DriverRuntime::fetched_of(const ObjectEntry& e) {
  detail::Fetched f;
  f.view.format = e.format;
  f.view.type_hash = e.type_hash;
  f.view.size = e.size;
  if (e.in_store) {
    f.view.data = store_->base() + e.offset;
    f.keep = store_->arena();  // the caller's ObjectRef keeps the object; this keeps the mapping
  } else {
    f.view.data = e.inline_bytes->data();
    f.keep = e.inline_bytes;
  }
  return f;
}

bool DriverRuntime::finished(ObjectId id) { return refs_.find(id)->state != ObjectState::kPending; }

std::string DriverRuntime::producer_name(const ObjectEntry& e) {
  if (e.producer == 0) return "put()";
  const TaskSpec* t = tasks_.find(e.producer);
  return t != nullptr ? "the task " + t->name : "a task";
}

// Waits with the lock held on entry and on return. It first spins for up to kPollBeforeBlocking
// with the lock released, watching the waiter: a short task's result usually arrives within that
// time, and a blocking wake-up costs tens of microseconds on our VMs (docs/architecture.md).
void DriverRuntime::wait_for(ThreadWaiter& waiter, std::int64_t timeout_ns) {
  waiting_threads_.fetch_add(1, std::memory_order_relaxed);
  struct Done {
    std::atomic<int>& count;
    ~Done() { count.fetch_sub(1, std::memory_order_relaxed); }
  } done{waiting_threads_};
  const auto start = std::chrono::steady_clock::now();
  const bool forever = timeout_ns < 0;
  const auto deadline = start + std::chrono::nanoseconds(forever ? 0 : timeout_ns);
  const auto spin_until =
      forever ? start + kPollBeforeBlocking : std::min(start + kPollBeforeBlocking, deadline);
  if (!waiter.done()) {
    mu_.unlock();
    {
      const IoLoop::Spinning spinning(*io_);  // the I/O thread stops polling meanwhile
      while (!waiter.done() && std::chrono::steady_clock::now() < spin_until) sched_yield();
    }
    mu_.lock();
  }
  if (forever) {
    while (!waiter.done()) waiter.cv().wait(mu_);
  } else {
    while (!waiter.done() && waiter.cv().wait_until(mu_, deadline) == std::cv_status::no_timeout) {
    }
  }
  // shutdown() fails every pending object (waking us) and then drops the table.
  if (state_ == State::kStopped) throw Error("shoal: shutdown() ran while this call was waiting");
}

detail::Fetched DriverRuntime::fetch(ObjectId id, std::int64_t timeout_ns) {
  check_not_abandoned();
  const TimedCall timed(program_calls_, DriverCall::Kind::kGet, 1);  // ends after the unlock
  UniqueLock<Mutex> lock(mu_);
  check_running();
  ObjectEntry* e = refs_.find(id);
  if (e->state == ObjectState::kPending) {
    ThreadWaiter waiter(1, false);
    refs_.add_waiter(id, &waiter);
    wait_for(waiter, timeout_ns);
    if (!waiter.done()) {
      refs_.remove_waiter({id}, &waiter);
      throw GetTimeoutError(fmt::format(
          "shoal: get() timed out after {} ms: object {} (the result of {}) is not ready yet. Wait "
          "longer, or use shoal::wait() to poll",
          timeout_ns / 1'000'000, id, producer_name(*refs_.find(id))));
    }
    e = refs_.find(id);
  }
  if (e->state == ObjectState::kFailed) {
    const std::shared_ptr<const ErrorInfo> error = e->error;
    lock.unlock();
    throw_error(*error);
  }
  return fetched_of(*e);
}

std::vector<detail::Fetched> DriverRuntime::fetch_all(const std::vector<ObjectId>& ids,
                                                      std::int64_t timeout_ns) {
  check_not_abandoned();
  const TimedCall timed(program_calls_, DriverCall::Kind::kGet, ids.size());
  UniqueLock<Mutex> lock(mu_);
  check_running();
  // Looked up once: an entry stays where it is while the program's refs hold it (the table only
  // erases unreferenced objects), whatever is inserted meanwhile.
  std::vector<ObjectEntry*> entries;
  entries.reserve(ids.size());
  std::size_t pending = 0;
  bool failed = false;
  for (ObjectId id : ids) {
    ObjectEntry* e = refs_.find(id);
    entries.push_back(e);
    pending += e->state == ObjectState::kPending ? 1 : 0;
    failed = failed || e->state == ObjectState::kFailed;
  }
  if (pending > 0 && !failed) {
    ThreadWaiter waiter(pending, /*wake_on_failure=*/true);  // a failure is raised at once
    for (ObjectEntry* e : entries) {
      if (e->state == ObjectState::kPending) refs_.add_waiter(*e, &waiter);
    }
    wait_for(waiter, timeout_ns);
    if (waiter.remaining() > 0) refs_.remove_waiter(ids, &waiter);  // timed out, or one failed
    if (!waiter.done()) {
      throw GetTimeoutError(fmt::format(
          "shoal: get() timed out after {} ms with {} of {} objects not ready yet. Wait longer, or "
          "use shoal::wait() to take results as they come",
          timeout_ns / 1'000'000, waiter.remaining(), ids.size()));
    }
  }
  // The first failure in input order, among those failed now; others may still be pending.
  for (const ObjectEntry* e : entries) {
    if (e->state == ObjectState::kFailed) {
      const std::shared_ptr<const ErrorInfo> error = e->error;
      lock.unlock();
      throw_error(*error);
    }
  }
  std::vector<detail::Fetched> out;
  out.reserve(ids.size());
  for (const ObjectEntry* e : entries) out.push_back(fetched_of(*e));
  return out;
}

std::vector<bool> DriverRuntime::wait(const std::vector<ObjectId>& ids, std::size_t num_returns,
                                      std::int64_t timeout_ns) {
  check_not_abandoned();
  check_num_returns(num_returns, ids.size());
  const TimedCall timed(program_calls_, DriverCall::Kind::kWait, ids.size());
  UniqueLock<Mutex> lock(mu_);
  check_running();
  // Enough finished already: the answer is among the objects looked at so far.
  std::size_t ready = 0;
  for (auto it = ids.begin(); it != ids.end() && ready < num_returns; ++it) {
    ready += finished(*it) ? 1 : 0;
  }
  if (ready < num_returns) {  // every object was looked at
    ThreadWaiter waiter(num_returns - ready, false);
    for (ObjectId id : ids) {
      ObjectEntry& e = *refs_.find(id);
      if (e.state == ObjectState::kPending) refs_.add_waiter(e, &waiter);
    }
    wait_for(waiter, timeout_ns);
    refs_.remove_waiter(ids, &waiter);  // still registered with the objects that did not finish
    // shutdown() or a broken session failed the objects to wake us: that is no answer to give.
    if (state_ == State::kBroken) check_running();
    if (state_ != State::kRunning) {
      throw Error("shoal: shutdown() ran while wait() was waiting; the session is over");
    }
  }
  std::vector<bool> out(ids.size(), false);
  std::size_t taken = 0;
  for (std::size_t i = 0; i < ids.size() && taken < num_returns; ++i) {
    if (finished(ids[i])) {
      out[i] = true;
      ++taken;
    }
  }
  return out;
}

}  // namespace shoal::internal
