// Tasks that start tasks, on the driver's side: the calls a worker's running task makes (remote(),
// put(), get(), wait(), dropping refs, resources; src/transport/task_calls.hpp), answered from the
// driver's tables, which stay the only owner of every object.
//
// A get() or wait() that cannot be answered at once becomes a BlockedCall: a waiter on the objects
// it needs. Its task gives back its CPUs (Scheduler::block), and the tasks queued behind it on
// that worker are revoked. While it waits, a child it waits for that has not started and whose
// arguments exist is sent to the same worker, which runs it inside the blocked call
// (Scheduler::assign_nested; docs/architecture.md says why, not a new worker). Calls are answered
// in stack order: a call is answered only while its task is the top of its worker's stack.
//
// A call with a timeout never runs children inside it (a child could outlast the timeout); a
// steady_timer on the I/O thread ends it.
#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/common/function_registry.hpp"
#include "src/common/system_info.hpp"
#include "src/core/driver_runtime.hpp"
#include "src/core/session_config.hpp"
#include "src/transport/task_calls.hpp"

namespace shoal::internal {

struct DriverRuntime::BlockedCall final : ObjectWaiter {
  WorkerId worker = 0;
  TaskId task = 0;  // the task that made the call (the top of its worker's stack then)
  MessageType kind = MessageType::kGet;
  std::uint64_t request = 0;
  std::vector<ObjectId> ids;
  std::uint32_t num_returns = 0;  // wait(): how many ready objects the reply may name
  std::size_t remaining = 0;      // objects that must still finish
  bool fail_fast = false;         // get() of a list: a failure ends it
  bool may_nest = false;          // no timeout: children may run inside it
  bool done = false;              // time to answer
  bool timed_out = false;
  std::optional<Refusal> refusal;  // set: the call ends with this error (its task was cancelled)
  std::size_t cursor = 0;  // ids before it need no nested run (finished, or started elsewhere)
  std::unique_ptr<boost::asio::steady_timer> timer;

  void on_finished(ObjectId, bool failed) override {
    if (remaining > 0) --remaining;
    if (remaining == 0 || (failed && fail_fast)) done = true;
  }
};

namespace {

// The bound on worker processes, lent ones included (the issue's: 4 x num_cpus).
constexpr int kMaxWorkersPerCpu = 4;

std::string unknown_object(ObjectId id) {
  return fmt::format(
      "shoal: object {} is not known to the driver: its last reference was dropped, or the ref "
      "comes from an earlier session",
      id);
}

}  // namespace

TaskLimits DriverRuntime::task_limits() const {
  return TaskLimits{static_cast<double>(num_workers_), memory_bytes_, config_.max_retries,
                    known_functions_.load(std::memory_order_relaxed),
                    start_method_ == StartMethod::kForkserver};
}

void DriverRuntime::send_to_worker(WorkerId worker,
                                   const std::function<void(detail::ByteBuffer&)>& encode) {
  Connection* connection = pool_->connection(worker);
  if (connection == nullptr) return;  // it died meanwhile
  connection->send([&](detail::ByteBuffer& out) { encode(out); });
}

// ---- calls that need no answer

void DriverRuntime::on_submit(WorkerId worker, const Frame& frame) {
  std::string_view site;
  TaskSpec spec = decode_submit(frame, &site);
  spec.parent = scheduler_.running(worker);  // for shoal::cancel()'s recursion
  spec.call_site_index = call_sites_.intern(site);
  if (recording_) spec.submitted_ns = steady_now_ns();
  if (!made_by_worker(spec.id, worker) || refs_.find(spec.id) != nullptr) {
    throw DecodeError("submitted task has an id this worker may not use");
  }
  for (ObjectId r : spec.returns()) {
    if (!made_by_worker(r, worker) || (r != spec.id && refs_.find(r) != nullptr)) {
      throw DecodeError("submitted task returns an id this worker may not use");
    }
  }
  const RegisteredFunction* fn = FunctionRegistry::instance().at(spec.function_index);
  if (fn == nullptr || fn->check != spec.function_check) {
    throw DecodeError("submitted task names a function the driver does not have");
  }
  // A dependency the driver no longer knows fails the task, as a stale ref would in the driver.
  for (ObjectId dep : spec.deps) {
    if (refs_.find(dep) == nullptr) {
      const TaskId id = spec.id;
      const std::vector<ObjectId> outs =
          spec.returns().empty() ? std::vector<ObjectId>{id} : spec.returns();
      const auto error = session_error(ErrorInfo::Kind::kShutdown, unknown_object(dep));
      for (ObjectId r : outs) {
        refs_.add_pending(r, id, Holder::of_worker(worker));
        refs_.fail(r, error);
      }
      return;
    }
  }
  std::shared_ptr<const ErrorInfo> refused = refusal();
  if (spec.actor != 0 && !refused) refused = prepare_actor_call(spec);
  tasks_.add(std::move(spec), refused, Holder::of_worker(worker));
}

void DriverRuntime::on_put(WorkerId worker, const Frame& frame) {
  const PutValue put = decode_put(frame);
  if (!made_by_worker(put.object, worker) || refs_.find(put.object) != nullptr) {
    throw DecodeError("put names an id this worker may not use");
  }
  detail::ByteBuffer bytes(put.value.size);
  bytes.write(put.value.data, put.value.size);
  refs_
      .add_ready_inline(put.object, put.value.format, put.value.type_hash, std::move(bytes),
                        Holder::of_worker(worker))
      .call_site = call_sites_.intern(put.call_site);
}

void DriverRuntime::on_release(WorkerId worker, const Frame& frame) {
  for (ObjectId id : decode_id_list(frame)) refs_.release(id, Holder::of_worker(worker));
}

// ---- calls answered at once

// Space for a large value a task put() or passed by value to remote(). Answered at once: a task
// that finds the store full gets ObjectStoreFullError without waiting (a known limit).
void DriverRuntime::on_create_object(WorkerId worker, const Frame& frame) {
  const CreateObject m = decode_create_object(frame);
  if (!made_by_worker(m.object, worker) || refs_.find(m.object) != nullptr) {
    throw DecodeError("create object names an id this worker may not use");
  }
  CreateReply reply{m.request, false, store_bytes_};
  if (std::optional<std::uint64_t> offset = store_->allocate(m.size)) {
    ObjectEntry& e = refs_.add_pending(m.object, 0, Holder::of_worker(worker));
    e.origin = ObjectOrigin::kPut;
    e.call_site = call_sites_.intern(m.call_site);
    refs_.complete_store(m.object, m.format, m.type_hash, *offset, m.size);
    reply = CreateReply{m.request, true, *offset};
  }
  send_to_worker(worker, [&](detail::ByteBuffer& out) { encode_create_reply(out, reply); });
}

void DriverRuntime::on_info(WorkerId worker, const Frame& frame) {
  InfoReply reply;
  reply.request = frame.header.id;
  const InfoKind kind = decode_info(frame);
  if (kind == InfoKind::kStats) {
    reply.values = {{"capacity_bytes", static_cast<double>(store_bytes_)},
                    {"used_bytes", static_cast<double>(store_->used_bytes())},
                    {"inline_bytes", static_cast<double>(refs_.inline_bytes())},
                    {"num_objects", static_cast<double>(refs_.size())}};
  } else {
    const bool available = kind == InfoKind::kAvailableResources;
    const double cpus = available ? scheduler_.cpus_available() : num_workers_;
    const double memory =
        static_cast<double>(available ? scheduler_.memory_available() : memory_bytes_);
    if (node_address_.empty()) node_address_ = node_address();
    reply.values = resource_map(available, cpus, memory, store_bytes_, node_address_);
  }
  send_to_worker(worker, [&](detail::ByteBuffer& out) { encode_info_reply(out, reply); });
}

// ---- get() and wait()

void DriverRuntime::on_get(WorkerId worker, const Frame& frame) {
  Get m = decode_get(frame);
  auto call = std::make_shared<BlockedCall>();
  call->kind = MessageType::kGet;
  call->fail_fast = (m.flags & kGetFailFast) != 0;
  call->may_nest = m.timeout_ns < 0;
  call->request = m.request;
  call->ids = std::move(m.ids);
  // The first failure ends a get() of one object too.
  if (call->ids.size() == 1) call->fail_fast = true;
  std::size_t pending = 0;
  bool failed = false;
  for (ObjectId id : call->ids) {
    const ObjectEntry* e = refs_.find(id);
    if (e == nullptr) break;  // answered below, with the refusal
    pending += e->state == ObjectState::kPending ? 1 : 0;
    failed = failed || e->state == ObjectState::kFailed;
  }
  call->remaining = call->fail_fast && failed ? 0 : pending;
  call->done = call->remaining == 0 || m.timeout_ns == 0;
  call->timed_out = !call->done ? false : call->remaining > 0;
  block_call(worker, std::move(call), m.timeout_ns);
}

void DriverRuntime::on_wait(WorkerId worker, const Frame& frame) {
  Wait m = decode_wait(frame);
  auto call = std::make_shared<BlockedCall>();
  call->kind = MessageType::kWait;
  call->may_nest = m.timeout_ns < 0;
  call->request = m.request;
  call->num_returns = m.num_returns;
  call->ids = std::move(m.ids);
  std::size_t finished = 0;
  for (ObjectId id : call->ids) {
    const ObjectEntry* e = refs_.find(id);
    finished += e == nullptr || e->state != ObjectState::kPending ? 1 : 0;
  }
  call->remaining = finished >= m.num_returns ? 0 : m.num_returns - finished;
  call->done = call->remaining == 0 || m.timeout_ns == 0;
  block_call(worker, std::move(call), m.timeout_ns);
}

// Answers the call now if it is done; otherwise registers it as a waiter, blocks its task (its CPUs
// go back; tasks queued behind it are revoked) and arms its timer.
void DriverRuntime::block_call(WorkerId worker, std::shared_ptr<BlockedCall> call,
                               std::int64_t timeout_ns) {
  call->worker = worker;
  call->task = scheduler_.running(worker);
  if (call->done) {
    answer(*call);
    return;
  }
  if (call->task == 0) {  // a thread a task started, still calling after the task returned
    call->refusal = Refusal{RefusalKind::kError,
                            "shoal: get() or wait() was called in a worker outside any task (from "
                            "a thread that a task started and that outlived it); wait for such "
                            "threads before the task returns"};
    answer(*call);
    return;
  }
  if (actors_.size() != 0 && actor_call_deadlocks(worker, call->ids)) {
    call->refusal = Refusal{
        RefusalKind::kDeadlock,
        "shoal: this actor call waits for a call that cannot start before it ends (a call queued "
        "on the same actor, or on an actor whose every call waits for this one): it would never "
        "return. Raise ActorOptions::max_concurrency, or do not wait for such calls"};
    answer(*call);
    return;
  }
  for (ObjectId id : call->ids) {
    ObjectEntry* e = refs_.find(id);
    if (e != nullptr && e->state == ObjectState::kPending) refs_.add_waiter(*e, call.get());
  }
  const std::vector<TaskId> revoked = scheduler_.block(worker);
  if (!revoked.empty()) {
    send_to_worker(worker, [&](detail::ByteBuffer& out) {
      encode_id_list(out, MessageType::kRevoke, revoked);
    });
  }
  if (timeout_ns > 0) {
    call->timer = std::make_unique<boost::asio::steady_timer>(io_->context());
    call->timer->expires_after(std::chrono::nanoseconds(timeout_ns));
    call->timer->async_wait(
        [this, weak = std::weak_ptr<BlockedCall>(call)](const boost::system::error_code& ec) {
          if (ec) return;  // cancelled: answered, or its worker died
          MutexLock<Mutex> lock(mu_);
          const std::shared_ptr<BlockedCall> c = weak.lock();
          if (!c || c->done || state_ != State::kRunning) return;
          c->done = true;
          c->timed_out = true;
          pump();
        });
  }
  calls_[worker].push_back(std::move(call));
}

// The reply to a call that is done (or timed out), from the objects' state now.
void DriverRuntime::answer(BlockedCall& call) {
  const WorkerId worker = call.worker;
  if (call.refusal) {  // the same refused reply for get() and wait()
    send_to_worker(worker, [&](detail::ByteBuffer& out) {
      if (call.kind == MessageType::kGet) {
        GetReply r;
        r.request = call.request;
        r.status = ReplyStatus::kRefused;
        r.refusal = *call.refusal;
        encode_get_reply(out, r);
      } else {
        WaitReply r;
        r.request = call.request;
        r.status = ReplyStatus::kRefused;
        r.refusal = *call.refusal;
        encode_wait_reply(out, r);
      }
    });
    return;
  }
  if (call.kind == MessageType::kWait) {
    WaitReply reply;
    reply.request = call.request;
    reply.ready.assign(call.ids.size(), false);
    // At most num_returns: the first finished ones in input order (as the driver's wait()).
    std::size_t taken = 0;
    for (std::size_t i = 0; i < call.ids.size() && taken < call.num_returns; ++i) {
      const ObjectEntry* e = refs_.find(call.ids[i]);
      if (e == nullptr || e->state != ObjectState::kPending) {
        reply.ready[i] = true;
        ++taken;
      }
    }
    send_to_worker(worker, [&](detail::ByteBuffer& out) { encode_wait_reply(out, reply); });
    return;
  }
  GetReply reply;
  reply.request = call.request;
  std::size_t not_ready = 0;
  const ObjectEntry* first_failed = nullptr;
  for (ObjectId id : call.ids) {
    const ObjectEntry* e = refs_.find(id);
    if (e == nullptr) {
      reply.status = ReplyStatus::kRefused;
      reply.refusal = {RefusalKind::kInvalidObjectRef, unknown_object(id)};
      send_to_worker(worker, [&](detail::ByteBuffer& out) { encode_get_reply(out, reply); });
      return;
    }
    if (e->state == ObjectState::kPending) ++not_ready;
    if (e->state == ObjectState::kFailed && first_failed == nullptr) first_failed = e;
  }
  if (first_failed != nullptr) {
    reply.status = ReplyStatus::kFailed;
    reply.error = *first_failed->error;
  } else if (not_ready > 0) {
    reply.status = ReplyStatus::kTimeout;
    reply.not_ready = static_cast<std::uint32_t>(not_ready);
  } else {
    reply.values.reserve(call.ids.size());
    for (ObjectId id : call.ids) {
      const ObjectEntry& e = *refs_.find(id);
      ValueRecord r;
      r.format = e.format;
      r.type_hash = e.type_hash;
      r.size = e.size;
      if (e.in_store) {
        r.kind = RecordKind::kStore;
        r.offset = e.offset;
      } else {
        r.kind = RecordKind::kInline;
        r.data = e.inline_bytes->data();
      }
      reply.values.push_back(r);
    }
  }
  send_to_worker(worker, [&](detail::ByteBuffer& out) { encode_get_reply(out, reply); });
}

// Answers the calls that are done, top of each worker's stack first: a call whose task has nested
// tasks running above it waits for them (the worker cannot return to it before).
void DriverRuntime::answer_calls() {
  for (auto it = calls_.begin(); it != calls_.end();) {
    std::vector<std::shared_ptr<BlockedCall>>& stack = it->second;
    if (scheduler_.actor_of(it->first) != 0) {  // an actor's calls wait on threads of their own
      answer_actor_calls(stack);
      it = stack.empty() ? calls_.erase(it) : std::next(it);
      continue;
    }
    while (!stack.empty() && stack.back()->done &&
           scheduler_.running(it->first) == stack.back()->task) {
      const std::shared_ptr<BlockedCall> call = std::move(stack.back());
      stack.pop_back();
      refs_.remove_waiter(call->ids, call.get());
      if (call->timer) call->timer->cancel();
      scheduler_.unblock(call->worker, call->task);
      answer(*call);
    }
    it = stack.empty() ? calls_.erase(it) : std::next(it);
  }
}

// An actor's worker with max_concurrency > 1 runs its calls on threads: each blocked call is
// answered as soon as it is done, in any order.
void DriverRuntime::answer_actor_calls(std::vector<std::shared_ptr<BlockedCall>>& calls) {
  for (auto c = calls.begin(); c != calls.end();) {
    if (!(*c)->done) {
      ++c;
      continue;
    }
    const std::shared_ptr<BlockedCall> call = std::move(*c);
    c = calls.erase(c);
    refs_.remove_waiter(call->ids, call.get());
    if (call->timer) call->timer->cancel();
    answer(*call);
  }
}

// Sends each blocked worker, idle on top of its stack, a child its call waits for, if one has not
// started and its arguments exist.
void DriverRuntime::run_nested_tasks() {
  for (auto& [worker, stack] : calls_) {
    if (scheduler_.actor_of(worker) != 0) continue;  // an actor runs only its own calls
    BlockedCall& call = *stack.back();
    if (call.done || !call.may_nest || scheduler_.running(worker) != call.task) continue;
    bool advancing = true;
    for (std::size_t i = call.cursor; i < call.ids.size(); ++i) {
      const ObjectEntry* e = refs_.find(call.ids[i]);
      const SchedTask* t = e != nullptr && e->state == ObjectState::kPending && e->producer != 0
                               ? scheduler_.find(e->producer)
                               : nullptr;
      if (t == nullptr || t->assigned) {  // finished, or a worker has it: never a candidate again
        if (advancing) call.cursor = i + 1;
        continue;
      }
      advancing = false;  // waits for its arguments, or is ready: look again next time
      if (t->deps_pending != 0) continue;
      if (std::optional<Scheduler::Assignment> a = scheduler_.assign_nested(worker, t->id)) {
        send_task(*a, /*nested=*/true);
        break;
      }
    }
  }
}

// A task blocked with a timeout, or on children that run elsewhere, leaves its CPUs to others; if
// every worker is busy or blocked, a ready task that fits would wait anyway: the pool lends one
// more worker (as Ray starts one), one per blocked worker at most and never more than
// kMaxWorkersPerCpu x the CPUs in all (processes not yet reaped included). A lent worker that is
// idle once fewer workers are blocked than are lent is retired.
void DriverRuntime::balance_workers() {
  if (state_ != State::kRunning) return;
  const int blocked = static_cast<int>(calls_.size());
  int lent = pool_->lent_count();
  if (lent < blocked && scheduler_.ready_task_fits() &&
      scheduler_.busy_workers() == scheduler_.workers_up() &&
      pool_->process_count() < kMaxWorkersPerCpu * num_workers_) {
    try {
      pool_->lend();
    } catch (const Error& e) {
      SHOAL_LOG(kWarn, "could not start a worker for blocked tasks' children: {}", e.what());
    }
    return;
  }
  if (lent <= blocked) return;
  for (WorkerId w : pool_->lent_ready()) {
    if (lent <= blocked) break;
    if (scheduler_.running(w) != 0) continue;
    scheduler_.worker_down(w);  // idle: nothing to move, and nothing is assigned to it now
    pool_->begin_retire(w);
    // Its connection is closed on the I/O thread, which owns the sockets.
    io_->post([this, w] {
      MutexLock<Mutex> lock(mu_);
      if (state_ == State::kRunning || state_ == State::kBroken) pool_->retire(w);
    });
    --lent;
  }
}

void DriverRuntime::end_calls_of(WorkerId worker, TaskId task) {
  auto it = calls_.find(worker);
  if (it == calls_.end()) return;
  for (const std::shared_ptr<BlockedCall>& call : it->second) {
    if (call->task == task && !call->done) {
      call->done = true;
      call->refusal = Refusal{RefusalKind::kCancelled,
                              "shoal: this task was cancelled (shoal::cancel()) while it waited"};
    }
  }
}

// The worker died: its calls end with it (their waiters are withdrawn, their timers cancelled).
void DriverRuntime::drop_calls(WorkerId worker) {
  auto it = calls_.find(worker);
  if (it == calls_.end()) return;
  for (const std::shared_ptr<BlockedCall>& call : it->second) {
    refs_.remove_waiter(call->ids, call.get());
    if (call->timer) call->timer->cancel();
  }
  calls_.erase(it);
}

void DriverRuntime::drop_all_calls() {
  for (auto& [worker, stack] : calls_) {
    for (const std::shared_ptr<BlockedCall>& call : stack) {
      refs_.remove_waiter(call->ids, call.get());
      if (call->timer) call->timer->cancel();
    }
  }
  calls_.clear();
}

// ---------------------------------------------------------------------------------------------
// The direct deadlock check

// A get() or wait() by one of `worker`'s calls that could never end: every call slot of its actor
// is taken by calls that wait, and it waits for a call of the same actor, or for a call of an
// actor whose every slot waits for a call of this one. Only direct cycles are seen.
bool DriverRuntime::actor_call_deadlocks(WorkerId worker, const std::vector<ObjectId>& ids) {
  const ActorRecord* a = actors_.of_worker(worker);
  if (a == nullptr) return false;
  // The lambdas run here, with mu_ held (the analysis does not follow them).
  const auto waiting_calls = [&](const ActorRecord& x)
                                 SHOAL_NO_THREAD_SAFETY_ANALYSIS -> std::size_t {
    auto it = x.has_worker ? calls_.find(x.worker) : calls_.end();
    return it == calls_.end() ? 0 : it->second.size();
  };
  if (waiting_calls(*a) + 1 < static_cast<std::size_t>(a->options.max_concurrency)) return false;
  const auto actor_of_object = [&](ObjectId id) SHOAL_NO_THREAD_SAFETY_ANALYSIS -> ObjectId {
    const ObjectEntry* e = refs_.find(id);
    if (e == nullptr || e->state != ObjectState::kPending || e->producer == 0) return 0;
    const SchedTask* t = scheduler_.find(e->producer);
    return t != nullptr ? t->actor : 0;
  };
  for (ObjectId id : ids) {
    const ObjectId other = actor_of_object(id);
    if (other == 0) continue;
    if (other == a->id) return true;  // its own call, which no slot can run
    const ActorRecord* b = actors_.find(other);
    if (b == nullptr || !b->has_worker) continue;
    if (waiting_calls(*b) < static_cast<std::size_t>(b->options.max_concurrency)) continue;
    for (const std::shared_ptr<BlockedCall>& call : calls_.at(b->worker)) {
      for (ObjectId waited : call->ids) {
        if (actor_of_object(waited) == a->id) return true;
      }
    }
  }
  return false;
}

std::size_t DriverRuntime::TEST_blocked_calls() {
  MutexLock<Mutex> lock(mu_);
  std::size_t n = 0;
  for (const auto& [worker, stack] : calls_) n += stack.size();
  return n;
}

}  // namespace shoal::internal
