// Space in the object store: writers that wait for it, and the error when they give up.
//
// shoal frees an object as soon as nothing refers to it (its last ObjectRef, View, pending task
// argument or decoding get() is gone), so a full store holds only objects someone still uses:
// there is nothing left to evict. A write that does not fit therefore waits, up to
// Config::object_store_full_timeout_ms, for the program to drop references, in a SpaceQueue
// served in arrival order whenever a block is freed. Two kinds of writers wait:
//   - a program thread in put() (or remote() storing a large argument): it sleeps on space_cv_,
//     which releases mu_, so other threads can get(), drop refs and free space meanwhile;
//   - a worker's kAllocRequest for a large result: the driver keeps the request with a
//     steady_timer on the I/O thread and answers when space is granted or the timer fires; the
//     worker blocks on its socket meanwhile. A worker that dies withdraws its request.
// An object larger than the whole (empty) store never waits. Whoever gives up gets
// ObjectStoreFullError naming the biggest holders. shutdown() and a broken session wake every
// waiter.
//
// Rejected: waking every waiter to retry on each free (a deferred request has no thread to
// retry with, and a thundering herd would serve them in no particular order); spilling to disk
// (not needed on one machine yet: the program holds every byte it is waiting on).
#include <algorithm>
#include <chrono>

#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/core/runtime.hpp"
#include "src/common/function_registry.hpp"

namespace shoal::internal {

struct Runtime::DeferredAlloc {
  explicit DeferredAlloc(boost::asio::io_context& io) : timer(io) {}
  AllocRequest request;  // for the result of the task at the head of the worker's queue
  SpaceQueue::Ticket ticket = 0;
  // Fires the refusal at the deadline. Every call on it is made with mu_ held; destroying it
  // (granted, withdrawn) cancels the wait.
  boost::asio::steady_timer timer;
};

namespace {

constexpr std::size_t kHoldersNamed = 5;

std::string origin_text(ObjectOrigin origin, std::uint64_t size) {
  return origin == ObjectOrigin::kArgument
             ? fmt::format("an argument of {} bytes passed to remote()", size)
             : fmt::format("a value of {} bytes given to put()", size);
}

}  // namespace

std::uint64_t Runtime::wait_for_space(std::unique_lock<Mutex>& lock, std::uint64_t size,
                                      ObjectOrigin origin) {
  const std::int64_t timeout_ms = config_.object_store_full_timeout_ms;
  if (timeout_ms > 0 && size <= allocator_->max_object_bytes()) {
    std::optional<std::uint64_t> granted;
    const SpaceQueue::Ticket ticket = space_queue_->push(size, [this, &granted](std::uint64_t at) {
      granted = at;
      space_cv_.notify_all();
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    space_cv_.wait_until(lock, deadline,
                         [&] { return granted.has_value() || state_ != State::kRunning; });
    if (state_ != State::kRunning) {  // shutdown() or a broken session woke us
      if (granted && allocator_) allocator_->free(*granted);
      if (!granted) space_queue_->cancel(ticket);
      if (state_ == State::kBroken) check_running();
      throw Error(fmt::format("shoal: shutdown() ran while {} was waiting for object store space",
                              origin_text(origin, size)));
    }
    if (granted) return *granted;
    space_queue_->cancel(ticket);
  }
  const std::shared_ptr<ErrorInfo> e = store_full_error(size, origin_text(origin, size));
  throw ObjectStoreFullError(e->what, e->requested, e->capacity, e->holders);
}

// The message says which case it is: too large for the store at all, or a store that stayed
// full (and whether the free space is merely split into pieces too small), and who holds it.
std::shared_ptr<ErrorInfo> Runtime::store_full_error(std::uint64_t size,
                                                     const std::string& what_for) {
  auto e = std::make_shared<ErrorInfo>();
  e->kind = ErrorInfo::Kind::kStoreFull;
  e->requested = size;
  e->capacity = store_bytes_;
  const std::uint64_t largest = allocator_->max_object_bytes();
  if (size > largest) {
    e->what = fmt::format(
        "shoal: cannot store {}: it is larger than the whole object store ({} bytes, of which one "
        "object can use at most {}). Pass a larger Config::object_store_memory, or split the value",
        what_for, store_bytes_, largest);
    return e;
  }
  e->holders = biggest_holders();
  const std::uint64_t free = allocator_->free_bytes();
  const std::string fragmented =
      free >= size ? fmt::format(" ({} bytes are free, but not in one piece)", free) : "";
  const std::int64_t timeout_ms = config_.object_store_full_timeout_ms;
  const std::string waited =
      timeout_ms > 0
          ? fmt::format("stayed full for {} ms (Config::object_store_full_timeout_ms)", timeout_ms)
          : std::string("is full (Config::object_store_full_timeout_ms is 0: no waiting)");
  std::string holders;
  for (const ObjectStoreHolder& h : e->holders) {
    holders += fmt::format("{}object {} ({} bytes, {})", holders.empty() ? "" : ", ", h.object_id,
                           h.size_bytes, h.created_by);
  }
  e->what = fmt::format(
      "shoal: cannot store {}: the object store {}; {} of its {} bytes are held by referenced "
      "objects{}. The biggest holders: {}. Drop ObjectRefs and Views you no longer need (their "
      "space is reused at once), pass a larger Config::object_store_memory, or a longer "
      "Config::object_store_full_timeout_ms",
      what_for, waited, allocator_->used_bytes(), store_bytes_, fragmented,
      holders.empty() ? "none" : holders);
  return e;
}

// The largest sealed objects, plus results that workers are writing right now (their blocks
// hold space too), largest first.
std::vector<ObjectStoreHolder> Runtime::biggest_holders() {
  const FunctionRegistry& registry = FunctionRegistry::instance();
  const auto function_name = [&](std::uint32_t index) {
    const RegisteredFunction* f = registry.at(index);
    return f != nullptr ? f->name : std::string("a task");
  };
  std::vector<ObjectStoreHolder> out;
  for (const auto& [id, e] : objects_->largest_in_arena(kHoldersNamed)) {
    std::string by = e->origin == ObjectOrigin::kTaskResult ? function_name(e->function_index)
                     : e->origin == ObjectOrigin::kArgument ? "an argument of remote()"
                                                            : "put()";
    out.push_back(ObjectStoreHolder{id, e->size, std::move(by)});
  }
  for (std::size_t slot = 0; slot < slots_.size(); ++slot) {
    if (!slots_[slot].result_block) continue;
    const std::uint64_t task = scheduler_.running(static_cast<int>(slot));
    const TaskSpec* spec = scheduler_.find(task);
    out.push_back(ObjectStoreHolder{
        task, slots_[slot].result_block_size,
        (spec != nullptr ? function_name(spec->function_index) : "a task") + " (being written)"});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.size_bytes > b.size_bytes; });
  if (out.size() > kHoldersNamed) out.resize(kHoldersNamed);
  return out;
}

// A worker asks for `size` bytes for the result of `task`: give them now, or keep the request
// until space is freed or the deadline passes. The worker waits for the answer meanwhile.
void Runtime::answer_alloc(int slot, const AllocRequest& request) {
  WorkerSlot& s = slots_[static_cast<std::size_t>(slot)];
  const std::uint64_t size = request.size;
  if (const std::optional<std::uint64_t> offset = allocator_->allocate(size)) {
    s.result_block = *offset;
    s.result_block_size = size;
    send_alloc_reply(slot, request, offset);
    return;
  }
  const std::int64_t timeout_ms = config_.object_store_full_timeout_ms;
  if (timeout_ms <= 0 || size > allocator_->max_object_bytes()) {
    send_alloc_reply(slot, request, std::nullopt);  // kTaskDone with "store full" follows
    return;
  }
  auto d = std::make_shared<DeferredAlloc>(*io_);
  d->request = request;
  d->ticket = space_queue_->push(
      size, [this, slot](std::uint64_t offset) { grant_deferred_alloc(slot, offset); });
  d->timer.expires_after(std::chrono::milliseconds(timeout_ms));
  d->timer.async_wait(
      [this, slot, weak = std::weak_ptr<DeferredAlloc>(d)](const boost::system::error_code& ec) {
        if (ec) return;  // cancelled: granted, withdrawn, or shutting down
        std::lock_guard<Mutex> lock(mu_);
        const std::shared_ptr<DeferredAlloc> expired = weak.lock();
        if (!expired || state_ == State::kStopping || state_ == State::kStopped) return;
        WorkerSlot& worker = slots_[static_cast<std::size_t>(slot)];
        if (worker.deferred_alloc != expired) return;  // granted while this handler was queued
        space_queue_->cancel(expired->ticket);
        worker.deferred_alloc.reset();
        send_alloc_reply(slot, expired->request, std::nullopt);
      });
  s.deferred_alloc = std::move(d);
}

void Runtime::send_alloc_reply(int slot, const AllocRequest& request,
                               std::optional<std::uint64_t> offset) {
  slots_[static_cast<std::size_t>(slot)].connection->send([&](detail::ByteBuffer& out) {
    encode_alloc_reply(out, AllocReply{request.task, request.request, offset.has_value(),
                                       offset ? *offset : store_bytes_});
  });
}

// Called by SpaceQueue::serve() (on whichever thread freed the space) with the block.
void Runtime::grant_deferred_alloc(int slot, std::uint64_t offset) {
  WorkerSlot& s = slots_[static_cast<std::size_t>(slot)];
  const std::shared_ptr<DeferredAlloc> d = std::move(s.deferred_alloc);
  if (!d) {  // cannot happen while every withdrawal goes through cancel_deferred_alloc()
    allocator_->free(offset);
    return;
  }
  s.result_block = offset;
  s.result_block_size = d->request.size;
  send_alloc_reply(slot, d->request, offset);
  // `d` goes here, and its timer with it: the pending wait is cancelled.
}

// The worker died or is being cut off: its request goes, and so does its timer.
void Runtime::cancel_deferred_alloc(int slot) {
  WorkerSlot& s = slots_[static_cast<std::size_t>(slot)];
  if (!s.deferred_alloc) return;
  space_queue_->cancel(s.deferred_alloc->ticket);
  s.deferred_alloc.reset();
}

void Runtime::serve_space_waiters() {
  if (space_queue_ && !space_queue_->empty()) space_queue_->serve();
}

// shutdown(): deferred requests are dropped (their workers are about to be killed) and program
// threads are woken; they see the state and throw.
void Runtime::close_space_waiters() {
  for (std::size_t slot = 0; slot < slots_.size(); ++slot) {
    cancel_deferred_alloc(static_cast<int>(slot));
  }
  if (space_queue_) space_queue_->clear();
  space_cv_.notify_all();
}

std::size_t Runtime::TEST_space_waiters() {
  std::lock_guard<Mutex> lock(mu_);
  return space_queue_ ? space_queue_->size() : 0;
}

}  // namespace shoal::internal
