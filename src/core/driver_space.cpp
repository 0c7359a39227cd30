// Space in the object store: writers that wait for it, and the error when they give up.
//
// shoal frees an object as soon as nothing refers to it (its last ObjectRef, View, pending task
// argument or decoding get() is gone), so a full store holds only objects someone still uses:
// there is nothing left to evict. A write that does not fit therefore waits, up to
// Config::object_store_full_timeout_ms, for the program to drop references, in the node store's
// queue, served in arrival order whenever a block is freed. Two kinds of writers wait:
//   - a program thread in put() (or remote() storing a large argument): it releases mu_ and
//     sleeps on space_cv_, so other threads can get(), drop refs and free space meanwhile;
//   - a worker's AllocRequest for a large result: the node store keeps the request with a timer
//     on the I/O thread, and the driver answers when space is granted or the timer fires; the
//     worker blocks on its socket meanwhile. A worker that dies withdraws its request.
// An object larger than the whole (empty) store never waits. Whoever gives up gets
// ObjectStoreFullError naming the biggest holders (store_full_error.hpp). shutdown() and a broken
// session wake every waiter.
//
// Rejected: waking every waiter to retry on each free (a deferred request has no thread to
// retry with, and a thundering herd would serve them in no particular order); spilling to disk
// (not needed on one machine yet: the program holds every byte it is waiting on).
#include <algorithm>
#include <chrono>
#include <utility>

#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/core/driver_runtime.hpp"
#include "src/core/store_full_error.hpp"

namespace shoal::internal {
namespace {

std::string origin_text(ObjectOrigin origin, std::uint64_t size) {
  return origin == ObjectOrigin::kArgument
             ? fmt::format("an argument of {} bytes passed to remote()", size)
             : fmt::format("a value of {} bytes given to put()", size);
}

}  // namespace

std::uint64_t DriverRuntime::wait_for_space(std::uint64_t size, ObjectOrigin origin) {
  const std::int64_t timeout_ms = config_.object_store_full_timeout_ms;
  if (timeout_ms > 0 && size <= store_->max_object_bytes()) {
    // Written by the grant, which runs with mu_ and space_mu_ held; read with either.
    std::optional<std::uint64_t> granted;
    const SpaceQueue::Ticket ticket =
        store_->wait_for_space(size, [this, &granted](std::uint64_t at) {
          const std::lock_guard<std::mutex> lock(space_mu_);
          granted = at;
          space_cv_.notify_all();
        });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    if (before_space_wait_) std::exchange(before_space_wait_, nullptr)();
    mu_.unlock();  // may run deferred operations, which may free space and grant this request
    {
      std::unique_lock<std::mutex> lock(space_mu_);
      space_cv_.wait_until(lock, deadline, [&] { return granted.has_value() || space_closed_; });
    }
    mu_.lock();                       // a grant made since the wait ended is seen here, and used
    if (state_ != State::kRunning) {  // shutdown() or a broken session woke us
      if (granted && store_) store_->free_block(*granted);
      if (!granted && store_) store_->cancel_wait(ticket);
      if (state_ == State::kBroken) check_running();
      throw Error(fmt::format("shoal: shutdown() ran while {} was waiting for object store space",
                              origin_text(origin, size)));
    }
    if (granted) return *granted;
    store_->cancel_wait(ticket);
  }
  const std::shared_ptr<ErrorInfo> e =
      store_full_error(*store_, refs_, tasks_, timeout_ms, size, origin_text(origin, size));
  throw ObjectStoreFullError(e->what, e->requested, e->capacity, e->holders);
}

void DriverRuntime::on_alloc_request(WorkerId worker, const Frame& frame) {
  const AllocRequest request = decode_alloc_request(frame);
  if (scheduler_.running(worker) != request.task || store_->has_deferred(worker)) {
    throw DecodeError("allocation request for a task that is not running");
  }
  answer_alloc(worker, request);  // now, or once space is freed
}

// A worker asks for space for the result of its running task: give it now, or keep the request
// until space is freed or the deadline passes. The worker waits for the answer meanwhile.
void DriverRuntime::answer_alloc(WorkerId worker, const AllocRequest& request) {
  if (const std::optional<std::uint64_t> offset = store_->allocate(request.size)) {
    store_->give_result_block(worker, {*offset, request.size, request.task});
    send_alloc_reply(worker, request, offset);
    return;
  }
  const std::int64_t timeout_ms = config_.object_store_full_timeout_ms;
  if (timeout_ms <= 0 || request.size > store_->max_object_bytes()) {
    send_alloc_reply(worker, request, std::nullopt);  // TaskDone with "store full" follows
    return;
  }
  // Granted by whichever thread frees the space (with mu_ held), or refused by the timer.
  const std::shared_ptr<NodeStore::DeferredAlloc> d = store_->defer_alloc(
      worker, request, io_->context(),
      [this, worker](std::uint64_t offset)
          SHOAL_NO_THREAD_SAFETY_ANALYSIS { grant_deferred_alloc(worker, offset); });
  d->timer.expires_after(std::chrono::milliseconds(timeout_ms));
  d->timer.async_wait([this, worker, weak = std::weak_ptr<NodeStore::DeferredAlloc>(d)](
                          const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: granted, withdrawn, or shutting down
    MutexLock<Mutex> lock(mu_);
    const std::shared_ptr<NodeStore::DeferredAlloc> expired = weak.lock();
    if (!expired || state_ == State::kStopping || state_ == State::kStopped) return;
    if (store_->deferred(worker) != expired) return;  // granted while this was queued
    store_->take_deferred(worker);
    store_->cancel_wait(expired->ticket);
    send_alloc_reply(worker, expired->request, std::nullopt);
  });
}

// Called by the node store's queue, on whichever thread freed the space, with mu_ held.
void DriverRuntime::grant_deferred_alloc(WorkerId worker, std::uint64_t offset) {
  const std::shared_ptr<NodeStore::DeferredAlloc> granted = store_->take_deferred(worker);
  if (!granted) {  // cannot happen while every withdrawal goes through the store
    store_->free_block(offset);
    return;
  }
  store_->give_result_block(worker, {offset, granted->request.size, granted->request.task});
  send_alloc_reply(worker, granted->request, offset);
  // `granted` goes here, and its timer with it: the pending wait is cancelled.
}

void DriverRuntime::send_alloc_reply(WorkerId worker, const AllocRequest& request,
                                     std::optional<std::uint64_t> offset) {
  Connection* connection = pool_->connection(worker);
  if (connection == nullptr) return;  // it died meanwhile; its space went back with it
  connection->send([&](detail::ByteBuffer& out) {
    encode_alloc_reply(out, AllocReply{request.task, request.request, offset.has_value(),
                                       offset ? *offset : store_bytes_});
  });
}

// shutdown(): deferred requests are dropped (their workers are about to be killed) and program
// threads are woken; they see the state and throw.
void DriverRuntime::close_space_waiters() {
  if (store_) store_->close_waiters();
  wake_space_waiters();
}

void DriverRuntime::wake_space_waiters() {
  const std::lock_guard<std::mutex> lock(space_mu_);
  space_closed_ = true;
  space_cv_.notify_all();
}

std::size_t DriverRuntime::TEST_space_waiters() {
  MutexLock<Mutex> lock(mu_);
  return store_ ? store_->waiters() : 0;
}

}  // namespace shoal::internal
