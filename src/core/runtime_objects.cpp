// Objects: put(), get(), wait() and reference drops, on the program's threads.
#include <algorithm>
#include <chrono>
#include <cstring>

#include <fmt/format.h>
#include <sched.h>

#include <shoal/errors.hpp>

#include "src/common/limits.hpp"
#include "src/core/runtime.hpp"
#include "src/transport/value_writer.hpp"

namespace shoal::internal {
namespace {

// put()'s space: a value too large to keep inline becomes an arena object straight away.
class PutSpace final : public SpaceProvider {
 public:
  explicit PutSpace(Runtime& runtime) : runtime_(runtime) {}
  char* reserve(detail::Format format, std::uint64_t type_hash, std::uint64_t size) override {
    space_ = runtime_.reserve_object(format, type_hash, size, ObjectOrigin::kPut);
    return space_.dst;
  }
  void seal(detail::ByteBuffer&) override {}  // the handle is the result; no record is needed
  detail::HandlePtr take() { return std::move(space_.handle); }

 private:
  Runtime& runtime_;
  StoreSpace space_;
};

[[noreturn]] void throw_error(const ErrorInfo& e) {
  switch (e.kind) {
    case ErrorInfo::Kind::kTaskError:
      throw TaskError(fmt::format("shoal: task {} (worker pid {}) threw {}: {}", e.function, e.pid,
                                  e.type_name, e.what),
                      e.type_name, e.what, e.function, e.pid, e.backtrace);
    case ErrorInfo::Kind::kWorkerCrashed:
      throw WorkerCrashedError(e.what, e.function, e.attempts, e.pid, e.signal, e.exit_code);
    case ErrorInfo::Kind::kStoreFull:
      throw ObjectStoreFullError(e.what, e.requested, e.capacity, e.holders);
    case ErrorInfo::Kind::kShutdown:
      break;
  }
  throw Error(e.what);
}

}  // namespace

detail::HandlePtr Runtime::handle_of(std::uint64_t id) {
  return std::make_shared<detail::ObjectHandle>(shared_from_this(), id);
}

detail::HandlePtr Runtime::put(void (*encode)(detail::ValueSink&, const void*), const void* value) {
  check_not_abandoned();
  detail::ByteBuffer record;
  detail::OpenValue open;
  PutSpace space(*this);
  ValueWriter writer(record, space, open);
  encode(writer, value);  // encodes without holding the lock
  if (detail::HandlePtr stored = space.take()) return stored;
  // A small value: its inline record's payload becomes the object's bytes.
  ByteReader in(record.data(), record.size());
  const ValueRecord r = read_record(in);
  const auto size = static_cast<std::size_t>(r.size);
  std::memmove(record.data(), r.data, size);
  record.truncate(size);
  return store_inline(r.format, r.type_hash, std::move(record));
}

StoreSpace Runtime::reserve_object(detail::Format format, std::uint64_t type_hash,
                                   std::uint64_t size, ObjectOrigin origin) {
  check_not_abandoned();
  std::unique_lock<Mutex> lock(mu_);
  check_running();
  std::optional<std::uint64_t> offset = allocator_->allocate(size);
  if (!offset) offset = wait_for_space(lock, size, origin);  // or throws ObjectStoreFullError
  // The object is ready before its bytes are written: nobody else holds its handle until the
  // caller is done, and if the caller throws, dropping the handle frees the block.
  const std::uint64_t id = new_object(0);
  objects_->find(id)->origin = origin;
  objects_->complete_arena(id, format, type_hash, *offset, size);
  return StoreSpace{handle_of(id), arena_->base() + *offset, arena_};
}

detail::HandlePtr Runtime::store_inline(detail::Format format, std::uint64_t type_hash,
                                        detail::ByteBuffer bytes) {
  std::lock_guard<Mutex> lock(mu_);
  check_running();
  const std::uint64_t id = new_object(0);
  objects_->complete_inline(id, format, type_hash, std::move(bytes));
  return handle_of(id);
}

void Runtime::release(ObjectId id) noexcept {
  if (abandoned_.load(std::memory_order_relaxed)) return;  // a fork's copy: leave it alone
  mu_.run_or_defer(Deferred{id, {}});
}

detail::Fetched Runtime::fetched_of(const ObjectEntry& e) {
  detail::Fetched f;
  f.view.format = e.format;
  f.view.type_hash = e.type_hash;
  f.view.size = e.size;
  if (e.in_arena) {
    f.view.data = arena_->base() + e.offset;
    f.keep = arena_;  // the caller's ObjectRef keeps the object; this keeps the mapping
  } else {
    f.view.data = e.inline_bytes->data();
    f.keep = e.inline_bytes;
  }
  return f;
}

std::string Runtime::producer_name(const ObjectEntry& e) {
  if (e.producer == 0) return "put()";
  const TaskSpec* t = scheduler_.find(e.producer);
  return t != nullptr ? "the task " + t->name : "a task";
}

// Waits with the lock held on entry and on return. It first spins for up to kPollBeforeBlocking
// with the lock released, watching waiter.done: a short task's result usually arrives within that
// time, and a blocking wake-up costs tens of microseconds on our VMs (see adaptive_mutex.hpp).
void Runtime::wait_for(std::unique_lock<Mutex>& lock, Waiter& waiter, std::int64_t timeout_ns) {
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
  if (!waiter.done.load(std::memory_order_relaxed)) {
    lock.unlock();
    spinning_waiters_.fetch_add(1, std::memory_order_relaxed);  // the I/O thread stops polling
    while (!waiter.done.load(std::memory_order_acquire) &&
           std::chrono::steady_clock::now() < spin_until) {
      sched_yield();
    }
    spinning_waiters_.fetch_sub(1, std::memory_order_relaxed);
    last_waiter_spin_.store(std::chrono::steady_clock::now().time_since_epoch().count(),
                            std::memory_order_relaxed);
    lock.lock();
  }
  const auto finished = [&] { return waiter.done.load(std::memory_order_relaxed); };
  if (forever) {
    waiter.cv.wait(lock, finished);
  } else {
    waiter.cv.wait_until(lock, deadline, finished);
  }
  // shutdown() fails every pending object (waking us) and then drops the table.
  if (!objects_) throw Error("shoal: shutdown() ran while this call was waiting");
}

void Runtime::unregister(Waiter& waiter, const std::vector<std::uint64_t>& ids) {
  for (std::uint64_t id : ids) {
    if (ObjectEntry* e = objects_->find(id)) {
      e->waiters.erase(std::remove(e->waiters.begin(), e->waiters.end(), &waiter),
                       e->waiters.end());
    }
  }
}

detail::Fetched Runtime::fetch(ObjectId id, std::int64_t timeout_ns) {
  check_not_abandoned();
  std::unique_lock<Mutex> lock(mu_);
  check_running();
  ObjectEntry* e = objects_->find(id);
  if (e->state == ObjectState::kPending) {
    Waiter waiter;
    waiter.remaining = 1;
    e->waiters.push_back(&waiter);
    wait_for(lock, waiter, timeout_ns);
    if (waiter.remaining != 0) {
      unregister(waiter, {id});
      throw GetTimeoutError(fmt::format(
          "shoal: get() timed out after {} ms: object {} (the result of {}) is not ready yet. Wait "
          "longer, or use shoal::wait() to poll",
          timeout_ns / 1'000'000, id, producer_name(*objects_->find(id))));
    }
    e = objects_->find(id);
  }
  if (e->state == ObjectState::kFailed) {
    const std::shared_ptr<const ErrorInfo> error = e->error;
    lock.unlock();
    throw_error(*error);
  }
  return fetched_of(*e);
}

std::vector<detail::Fetched> Runtime::fetch_all(const std::vector<ObjectId>& ids,
                                                std::int64_t timeout_ns) {
  check_not_abandoned();
  std::unique_lock<Mutex> lock(mu_);
  check_running();
  Waiter waiter;
  waiter.wake_on_failure = true;  // a failure is raised at once, as Ray does
  bool failed = false;
  for (std::uint64_t id : ids) {
    ObjectEntry* e = objects_->find(id);
    if (e->state == ObjectState::kPending) {
      e->waiters.push_back(&waiter);
      ++waiter.remaining;
    }
    failed = failed || e->state == ObjectState::kFailed;
  }
  if (waiter.remaining > 0 && !failed) {
    wait_for(lock, waiter, timeout_ns);
    if (!waiter.done.load(std::memory_order_relaxed)) {
      const std::size_t pending = waiter.remaining;
      unregister(waiter, ids);
      throw GetTimeoutError(fmt::format(
          "shoal: get() timed out after {} ms with {} of {} objects not ready yet. Wait longer, or "
          "use shoal::wait() to take results as they come",
          timeout_ns / 1'000'000, pending, ids.size()));
    }
  }
  if (waiter.remaining > 0) unregister(waiter, ids);  // left early: one of them failed
  // The first failure in input order, among those failed now; others may still be pending.
  for (std::uint64_t id : ids) {
    const ObjectEntry* e = objects_->find(id);
    if (e->state == ObjectState::kFailed) {
      const std::shared_ptr<const ErrorInfo> error = e->error;
      lock.unlock();
      throw_error(*error);
    }
  }
  std::vector<detail::Fetched> out;
  out.reserve(ids.size());
  for (std::uint64_t id : ids) out.push_back(fetched_of(*objects_->find(id)));
  return out;
}

std::size_t Runtime::TEST_waiting_threads() const {
  return static_cast<std::size_t>(waiting_threads_.load());
}

std::vector<bool> Runtime::wait(const std::vector<ObjectId>& ids, std::size_t num_returns,
                                std::int64_t timeout_ns) {
  check_not_abandoned();
  if (num_returns > ids.size()) {
    throw InvalidConfigError(fmt::format(
        "shoal: wait() was asked for {} ready objects out of {}; num_returns must be at most the "
        "number of refs",
        num_returns, ids.size()));
  }
  std::unique_lock<Mutex> lock(mu_);
  check_running();
  const auto is_done = [&](std::uint64_t id) {
    return objects_->find(id)->state != ObjectState::kPending;
  };
  const auto ready = static_cast<std::size_t>(std::count_if(ids.begin(), ids.end(), is_done));
  if (ready < num_returns) {
    Waiter waiter;
    waiter.remaining = num_returns - ready;
    for (std::uint64_t id : ids) {
      if (!is_done(id)) objects_->find(id)->waiters.push_back(&waiter);
    }
    wait_for(lock, waiter, timeout_ns);
    unregister(waiter, ids);  // still registered with the objects that did not finish
  }
  std::vector<bool> out(ids.size(), false);
  std::size_t taken = 0;
  for (std::size_t i = 0; i < ids.size() && taken < num_returns; ++i) {
    if (is_done(ids[i])) {
      out[i] = true;
      ++taken;
    }
  }
  return out;
}

}  // namespace shoal::internal
