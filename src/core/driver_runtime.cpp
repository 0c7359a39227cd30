// The driver's life cycle (start, shutdown), the routing of what the I/O thread reads, the pool's
// events, and tasks. Objects (get, wait, put) are in driver_objects.cpp, store space in
// driver_space.cpp.
#include "src/core/driver_runtime.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include <fmt/format.h>
#include <malloc.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/function_registry.hpp"
#include "src/common/limits.hpp"
#include "src/common/mutex.hpp"
#include "src/common/system_info.hpp"
#include "src/common/task_backtrace.hpp"
#include "src/core/session_config.hpp"
#include "src/core/start_method.hpp"
#include "src/core/store_full_error.hpp"
#include "src/transport/task_calls.hpp"

namespace shoal::internal {
namespace {

constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kHelperExitGrace = std::chrono::milliseconds(2000);
// How long shutdown() reads workers' output after telling them to stop. Their pipes normally
// reach EOF within milliseconds (the helper SIGKILLs the workers' process groups); only a process
// a task started and that left its worker's group inherited the pipes and survives to keep them
// open, and shutdown() must not wait for it.
constexpr auto kOutputDrainLimit = std::chrono::milliseconds(1000);
constexpr double kShortTaskNs = 50'000;  // see kTaskExpectedShort

}  // namespace

// ---------------------------------------------------------------------------------------------
// Life cycle

std::shared_ptr<DriverRuntime> DriverRuntime::start(const Config& config) {
  const SessionConfig session = resolve_config(config);
  logging::init_driver(session.level);  // before choosing the start method, which may warn
  const StartMethod method =
      choose_start_method(config.start_method, other_threads(), forkserver_available());
  std::shared_ptr<DriverRuntime> rt(new DriverRuntime(config, session.cpus, session.store_bytes,
                                                      session.memory_bytes, session.level, method));
  rt->launch();
  return rt;
}

DriverRuntime::DriverRuntime(const Config& config, int num_workers, std::uint64_t store_bytes,
                             std::uint64_t memory_bytes, logging::Level level, StartMethod method)
    : config_(config),
      num_workers_(num_workers),
      store_bytes_(store_bytes),
      memory_bytes_(memory_bytes),
      log_level_(level),
      start_method_(method),
      store_(std::make_unique<NodeStore>(store_bytes)),
      refs_(store_.get()),
      scheduler_(num_workers, memory_bytes),
      origin_ns_(steady_now_ns()),
      recording_(config.timeline_max_tasks > 0),
      timeline_(static_cast<std::size_t>(config.timeline_max_tasks)),
      program_calls_(static_cast<std::size_t>(config.timeline_max_tasks)) {}

DriverRuntime::~DriverRuntime() { shutdown(); }

void DriverRuntime::launch() {
  // The fork helper is started before shoal creates any thread or Asio object, so a forked one
  // inherits neither (see fork_helper.hpp). One started afresh (forkserver) may know fewer
  // functions: it says so in HelperReady, before any worker is ready.
  known_functions_ = FunctionRegistry::instance().size();
  // Memory malloc holds free (say, the tables of an earlier session) would be shared copy-on-write
  // with a forked helper for the whole session, so the driver would pay a page copy and a TLB
  // shootdown for each page of it that it reuses; giving it back is cheap (bench/NOTES.md).
  malloc_trim(0);
  {
    MutexLock<Mutex> lock(mu_);  // nothing else runs yet; the store is guarded all the same
    helper_ = ForkHelper::start(start_method_, log_level_, *store_->arena());
    // Now, not before the helper's fork: pages written earlier would be shared copy-on-write.
    refs_.prime();
    tasks_.prime();
    scheduler_.prime();
  }
  io_ = std::make_unique<IoLoop>();
  try {
    MutexLock<Mutex> lock(mu_);
    Connection::Listener* const listener = this;  // private bases: converted here, not by make_*
    WorkerPool::Events& events = *this;
    pool_ = std::make_unique<WorkerPool>(io_->context(), *helper_, listener, events, num_workers_,
                                         config_.log_to_driver);
    helper_connection_ =
        std::make_shared<Connection>(io_->context(), helper_->take_control_fd(), listener, -1);
    helper_connection_->start();
    pool_->start();
  } catch (...) {
    shutdown();
    throw;
  }
  io_->start();

  UniqueLock<Mutex> lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
  while (ready_workers_ != num_workers_ && failure_.empty() &&
         started_cv_.wait_until(lock, deadline) == std::cv_status::no_timeout) {
  }
  const bool started = ready_workers_ == num_workers_;
  if (started && failure_.empty()) {
    state_ = State::kRunning;
    running_.store(true, std::memory_order_release);
    pool_->mark_running();
    SHOAL_LOG(kInfo, "started {} workers, object store of {} bytes", num_workers_, store_bytes_);
    return;
  }
  const std::string why =
      failure_.empty() ? "timed out waiting for the workers to start" : failure_;
  lock.unlock();
  shutdown();
  throw SystemError("shoal: init() failed: " + why);
}

void DriverRuntime::check_not_abandoned() const {
  if (abandoned_.load(std::memory_order_relaxed)) {
    throw Error(forked_session_refusal());
  }
}

void DriverRuntime::check_running() const {
  if (state_ == State::kRunning) return;
  if (state_ == State::kStarting) throw NotInitializedError("shoal: init() has not finished");
  if (state_ == State::kBroken) {
    throw Error("shoal: the session is broken (" + failure_ +
                "); call shutdown() and init() again");
  }
  throw InvalidObjectRefError(
      "shoal: this ObjectRef belongs to a shoal session that was shut down; refs do not carry "
      "over from one init() to the next");
}

void DriverRuntime::shutdown() {
  if (nodes_) nodes_->shutdown();  // the other machines' sessions end first (src/cluster/)
  write_timeline_from_env();       // the first call only: it finds the session running
  stop_all_actors();  // their destructors run first, while the session still answers them
  {
    MutexLock<Mutex> lock(mu_);
    if (state_ == State::kStopping || state_ == State::kStopped) return;
    state_ = State::kStopping;
    running_.store(false, std::memory_order_release);
    const auto error = session_error(ErrorInfo::Kind::kShutdown,
                                     "shoal was shut down before this object was ready");
    drop_all_calls();
    cancel_actor_restarts();  // their timers would keep the I/O thread up
    tasks_.fail_all(error);
    refs_.fail_all_pending(error);
    close_space_waiters();
  }
  // Close every socket on the I/O thread (Asio objects belong to it), then let it finish. It
  // finishes when the workers' output pipes reach EOF too (or the drain limit passes), so every
  // line a worker wrote has been printed when shutdown() returns.
  if (io_) {
    io_->post([this] {
      MutexLock<Mutex> lock(mu_);
      if (helper_connection_) helper_connection_->close_quietly();
      if (helper_) helper_->close_control();  // the helper sees EOF now and kills the workers
      if (pool_) pool_->close_all(kOutputDrainLimit);
    });
    io_->finish();
  }
  // The helper saw EOF on its control socket: it kills and reaps the workers, then exits.
  if (helper_) helper_->wait_exit(kHelperExitGrace);
  MutexLock<Mutex> lock(mu_);
  helper_connection_.reset();
  pool_.reset();  // before the io_context its sockets and timers belong to
  // io_ itself stays until the destructor: a program thread still spinning in wait_for() (without
  // the lock) holds an IoLoop::Spinning on it.
  logging::flush();
  state_ = State::kStopped;
  // A reader decoding from the arena keeps it mapped; the tables and the allocator go now.
  refs_.clear();
  store_.reset();
}

// ---------------------------------------------------------------------------------------------
// What the I/O thread reads

void DriverRuntime::on_frames(Connection& connection, FrameParser& parser) {
  MutexLock<Mutex> lock(mu_);
  if (state_ == State::kStopping || state_ == State::kStopped) return;
  Frame frame;
  while (parser.next(&frame)) {
    if (connection.tag() < 0) {
      pool_->on_helper_frame(frame);
    } else {
      handle_worker_frame(static_cast<WorkerId>(connection.tag()), frame);
    }
  }
  pump();
}

void DriverRuntime::on_closed(Connection& connection, const std::string& reason, bool peer_alive) {
  MutexLock<Mutex> lock(mu_);
  if (state_ == State::kStopping || state_ == State::kStopped) return;
  if (connection.tag() < 0) {  // without the helper no worker can be replaced
    pool_->helper_lost();
    break_session("the fork helper died: " + reason);
    return;
  }
  pool_->on_closed(connection, reason, peer_alive);
  pump();
}

void DriverRuntime::handle_worker_frame(WorkerId worker, const Frame& frame) {
  switch (frame.header.type) {
    case MessageType::kReady:
      pool_->on_ready(worker, decode_ready(frame));
      break;
    case MessageType::kAllocRequest:
      on_alloc_request(worker, frame);
      break;
    case MessageType::kTaskDone:
      on_task_done(worker, frame);
      break;
    case MessageType::kSubmit:
      on_submit(worker, frame);
      break;
    case MessageType::kPut:
      on_put(worker, frame);
      break;
    case MessageType::kCreateObject:
      on_create_object(worker, frame);
      break;
    case MessageType::kGet:
      on_get(worker, frame);
      break;
    case MessageType::kWait:
      on_wait(worker, frame);
      break;
    case MessageType::kRelease:
      on_release(worker, frame);
      break;
    case MessageType::kInfo:
      on_info(worker, frame);
      break;
    case MessageType::kCancel:
      on_cancel(worker, frame);
      break;
    case MessageType::kAddRef:
      for (ObjectId id : decode_id_list(frame)) refs_.add_ref(id, Holder::of_worker(worker));
      break;
    case MessageType::kContain: {
      const ObjectId container = frame.header.id;
      if (!made_by_worker(container, worker) || refs_.find(container) == nullptr) {
        throw DecodeError("contain names an object this worker did not make");
      }
      refs_.add_contained(container, decode_id_list(frame));
      break;
    }
    default:
      throw DecodeError(std::string("unexpected ") + message_type_name(frame.header.type) +
                        " message from a worker");
  }
}

// ---------------------------------------------------------------------------------------------
// The pool's events

void DriverRuntime::on_worker_ready(WorkerId worker) {
  // Before any task: what its tasks' own remote() calls may ask for.
  const TaskLimits limits = task_limits();
  send_to_worker(worker, [&](detail::ByteBuffer& out) { encode_session(out, limits); });
  add_timeline_row(worker);
  if (ActorRecord* a = actors_.of_worker(worker)) {
    actor_worker_ready(*a, worker);
    return;
  }
  scheduler_.worker_up(worker);
  if (state_ == State::kStarting && ++ready_workers_ == num_workers_) started_cv_.notify_all();
}

// Its queued tasks go back to the ready queue now, its store space is given back, and its running
// task is retried or kept to fail once the helper says how the worker ended.
void DriverRuntime::on_worker_lost(WorkerId worker, bool was_ready, const std::string& reason) {
  store_->drop_worker(worker);
  drop_calls(worker);
  // Tasks its tasks submitted live on only if someone else holds their results (Ray's rule); a
  // retried parent submits its children again. They are dropped once the worker's own stack is
  // back in the ready queue: a child nested on it is among them.
  const std::vector<ObjectId> orphans = refs_.release_all(worker);
  struct DropOrphans {
    TaskManager& tasks;
    const std::vector<ObjectId>& orphans;
    ~DropOrphans() { tasks.drop_unreferenced(orphans); }
  } drop_orphans{tasks_, orphans};
  if (ActorRecord* a = actors_.of_worker(worker)) {
    actor_lost(*a);
    return;
  }
  if (!was_ready) return;
  for (const SchedTask& running : scheduler_.worker_down(worker)) {
    record_lost_attempt(running, worker, reason);
    const TaskSpec* spec = tasks_.find(running.id);
    const std::string name = spec != nullptr ? spec->name : "a task";
    if (tasks_.worker_died(worker, running)) {
      SHOAL_LOG(kWarn, "worker {} (pid {}) died running {} (attempt {}; {}); retrying it", worker,
                pool_->pid(worker), name, running.attempts, reason);
    }
  }
}

// A task out of retries fails with how its worker ended.
void DriverRuntime::on_worker_exited(WorkerId worker, pid_t pid, const ExitStatus& how,
                                     const std::string& reason) {
  if (ActorRecord* a = actors_.of_worker(worker)) {
    actor_exited(*a, pid, how);
    return;
  }
  if (tasks_.dying(worker) == nullptr) return;
  tasks_.fail_dying(worker, [&](const TaskManager::Dying& dying) {
    auto error = std::make_shared<ErrorInfo>();
    error->kind = ErrorInfo::Kind::kWorkerCrashed;
    error->function = dying.spec.name;
    error->pid = pid;
    error->attempts = dying.attempts;
    error->signal = how.signal;
    error->exit_code = how.exit_code;
    error->what = fmt::format(
        "shoal: the worker (pid {}) running {} {} ({}); the task was started {} time(s) and its "
        "worker died each time. If the function crashes (a bad pointer, abort(), exit(), running "
        "out of memory), fix it; if something else kills workers, raise TaskOptions::max_retries",
        pid, dying.spec.name, how.text, reason, dying.attempts);
    return error;
  });
}

void DriverRuntime::on_pool_failed(const std::string& why) { break_session(why); }

void DriverRuntime::on_start_failed(const std::string& why) {
  if (state_ != State::kStarting) return;
  failure_ = why;
  started_cv_.notify_all();
}

// The helper's registry must be the start of ours: the same functions in the same order (the same
// binary's static initialisers), perhaps fewer (ours may have grown since: a library loaded at run
// time registering functions, which a fresh start does not load).
void DriverRuntime::on_helper_ready(const HelperReady& ready) {
  const FunctionRegistry& registry = FunctionRegistry::instance();
  const std::uint32_t known = known_functions_.load();
  if (ready.functions > known || registry.prefix_hash(ready.functions) != ready.hash) {
    const std::string why = fmt::format(
        "the fork helper knows other remote functions than this process ({} against {}): the "
        "program's file was probably replaced since it started; start it again, or use "
        "Config::start_method = \"fork\"",
        ready.functions, known);
    on_start_failed(why);
    break_session(why);
    return;
  }
  if (ready.functions < known) {
    SHOAL_LOG(kInfo,
              "the fork helper knows {} of this process's {} remote functions: the others were "
              "registered after the program started (a library loaded at run time)",
              ready.functions, known);
  }
  known_functions_ = ready.functions;
}

void DriverRuntime::on_eof_timeout(WorkerId worker) {
  MutexLock<Mutex> lock(mu_);
  if (state_ == State::kStopping || state_ == State::kStopped) return;
  pool_->eof_grace_over(worker);
  pump();
}

// Fails everything pending; later calls throw until shutdown(). Waiting threads wake up.
void DriverRuntime::break_session(const std::string& why) {
  if (state_ != State::kRunning && state_ != State::kStarting) return;
  SHOAL_LOG(kError, "{}; failing all tasks. Call shutdown() and init() again", why);
  failure_ = why;
  if (state_ == State::kRunning) state_ = State::kBroken;
  running_.store(false, std::memory_order_release);
  const std::shared_ptr<const ErrorInfo> error = broken_error();
  tasks_.fail_all(error);
  refs_.fail_all_pending(error);
  started_cv_.notify_all();
  wake_space_waiters();  // put()s waiting for store space see the state and throw
}

// ---------------------------------------------------------------------------------------------
// Tasks

// submit()'s checks and spec, without the lock: the call is valid, its arguments are this
// session's, and the session runs (else it throws why).
TaskSpec DriverRuntime::checked_spec(detail::AnyFn fn, const char* signature,
                                     const TaskOptions& options, detail::TaskArgs&& args,
                                     std::vector<detail::HandlePtr>& refs) {
  check_not_abandoned();
  TaskSpec spec = make_task_spec(fn, signature, options, task_limits());
  take_arguments(spec, args, *this, refs);
  if (recording_) spec.submitted_ns = steady_now_ns();
  if (!running_.load(std::memory_order_acquire)) {
    MutexLock<Mutex> lock(mu_);
    check_running();  // throws the reason: not started, broken or shut down
  }
  return spec;
}

detail::HandlePtr DriverRuntime::submit(detail::AnyFn fn, const char* signature,
                                        const TaskOptions& options, detail::TaskArgs&& args) {
  // Held until the task is registered: a large argument's object has no other holder yet.
  std::vector<detail::HandlePtr> refs;
  TaskSpec spec = checked_spec(fn, signature, options, std::move(args), refs);
  // Another machine takes plain tasks: no refs inside its values (actors' calls come elsewhere).
  if (spec.node > 0 && (!nodes_ || !spec.contained().empty())) {
    throw InvalidConfigError(
        nodes_
            ? fmt::format("shoal: TaskOptions::node_rank is {}, but {} has ObjectRefs inside its "
                          "arguments' values, and such tasks run on the driver's machine (0)",
                          spec.node, spec.name)
            : fmt::format("shoal: TaskOptions::node_rank is {}, but this session runs on one "
                          "machine (the program was not started by mpirun with more ranks); "
                          "use -1 or 0",
                          spec.node));
  }
  if (nodes_ && spec.contained().empty()) {
    const int node = nodes_->place(spec);
    if (node < 0) {
      throw InvalidConfigError(fmt::format(
          "shoal: TaskOptions::node_rank is {}, which is not a live node of this session (see "
          "cluster_resources()); use -1 to let shoal place {}",
          spec.node, spec.name));
    }
    if (node > 0) return submit_remote(node, std::move(spec), std::move(refs));
  }
  // The id comes first, so that the task can be registered later by whoever holds the lock. The
  // argument refs may be dropped (by the program) before that: their releases are queued behind
  // the registration, which takes the task's own references first.
  spec.id = new_object_id();
  detail::HandlePtr handle = handle_of(spec.id);
  mu_.run_or_defer(Deferred{0, std::move(spec)});
  return handle;
}

std::vector<detail::HandlePtr> DriverRuntime::submit_returns(detail::AnyFn fn,
                                                             const char* signature,
                                                             const TaskOptions& options,
                                                             detail::TaskArgs&& args,
                                                             std::size_t num_returns) {
  // Held until the task is registered: a large argument's object has no other holder yet.
  std::vector<detail::HandlePtr> refs;
  TaskSpec spec = checked_spec(fn, signature, options, std::move(args), refs);
  if (spec.node > 0) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::node_rank is {}, but {} returns several objects, and such tasks run "
        "on the driver's machine (0)",
        spec.node, spec.name));
  }
  spec.id = new_object_id();
  std::vector<detail::HandlePtr> handles;
  for (std::size_t k = 0; k < num_returns; ++k) {
    std::vector<ObjectId>& returns = spec.rare_parts().returns;
    returns.push_back(k == 0 ? spec.id : new_object_id());
    handles.push_back(handle_of(returns.back()));
  }
  mu_.run_or_defer(Deferred{0, std::move(spec)});
  return handles;
}

// The DeferringMutex calls this through a function pointer, always with mu_ held, which the
// analysis cannot see through (deferring_mutex.hpp).
void DriverRuntime::run_deferred(void* runtime,
                                 Deferred& op) noexcept SHOAL_NO_THREAD_SAFETY_ANALYSIS {
  auto* self = static_cast<DriverRuntime*>(runtime);
  if (op.release != 0) {
    self->release_program_ref(op.release);
  } else {
    self->register_task(std::move(op.task));
  }
}

void DriverRuntime::release_program_ref(ObjectId id) noexcept {
  if (state_ == State::kStopped) return;  // the table is gone with the session
  refs_.release(id, Holder::program());
  store_->serve_waiters();                              // a writer waiting for space may fit now
  if (refs_.has_freed_actors()) actors_out_of_scope();  // that was an actor's last handle
}

// A task submitted while the session was running whose registration comes after shutdown() or a
// broken session began fails like the tasks that were pending then.
std::shared_ptr<const ErrorInfo> DriverRuntime::refusal() const {
  if (state_ == State::kRunning) return nullptr;
  if (state_ == State::kBroken) return broken_error();
  return session_error(ErrorInfo::Kind::kShutdown,
                       "shoal was shut down before this object was ready");
}

// What fails the objects of a broken session (failure_ says why it broke).
std::shared_ptr<const ErrorInfo> DriverRuntime::broken_error() const {
  return session_error(ErrorInfo::Kind::kWorkerCrashed,
                       "shoal: " + failure_ + "; call shutdown() and init() again");
}

void DriverRuntime::register_task(TaskSpec&& spec) noexcept {
  if (state_ == State::kStopped) return;  // its ref's get() says so
  if (spec.call_site_index == CallSites::kUnknown) {
    spec.call_site_index = call_sites_.intern(spec.call_site);
  }
  std::shared_ptr<const ErrorInfo> refused = refusal();
  if (spec.actor != 0 && !refused) refused = prepare_actor_call(spec);
  tasks_.add(std::move(spec), refused);
  pump();
}

// Hands out what the scheduler assigns, then lets the I/O thread poll only while a worker idles.
void DriverRuntime::pump() {
  store_->serve_waiters();  // space freed by the caller's updates goes to waiting writers first
  if (!calls_.empty()) {
    answer_calls();
    run_nested_tasks();  // before next(): a blocked worker runs its own children first
  }
  if (actors_.any_waiting()) start_waiting_actors();
  if (refs_.has_freed_actors()) actors_out_of_scope();
  while (std::optional<Scheduler::Assignment> a = scheduler_.next()) send_task(*a);
  if (!calls_.empty() || pool_->has_lent()) balance_workers();
  local_tasks_.store(tasks_.size(), std::memory_order_relaxed);
  io_->set_may_poll(scheduler_.busy_workers() < scheduler_.workers_up());  // a worker idles
}

// The task message: its header, then the argument records, with each ref record replaced by the
// argument object's bytes (small objects) or its place in the store (large ones). A lone task (a
// synchronous caller: nothing else in flight) is written from this thread at once; while tasks
// stream in, they collect and leave together with the I/O thread's next write, which costs one
// system call and one wake-up per batch instead of per task.
void DriverRuntime::send_task(const Scheduler::Assignment& a, bool nested) {
  const TaskSpec& task = *tasks_.find(a.task);
  Connection* connection = pool_->connection(a.worker);
  if (connection == nullptr) return;  // cannot happen: a worker is up only while it is ready
  const bool expected_short = a.expected_ns > 0 && a.expected_ns < kShortTaskNs;
  const std::uint32_t flags =
      (expected_short && !nested ? kTaskExpectedShort : 0u) | (nested ? kTaskNested : 0u);
  const bool direct = nested || scheduler_.size() == 1;  // a worker waits for it, idle
  // send() runs the encoder at once, on this thread, with mu_ still held.
  connection->send([&](detail::ByteBuffer& out)
                       SHOAL_NO_THREAD_SAFETY_ANALYSIS { encode_task(out, task, flags); },
                   direct);
}

void DriverRuntime::encode_task(detail::ByteBuffer& out, const TaskSpec& task,
                                std::uint32_t flags) {
  if (task.retry_exceptions) flags |= kTaskRetryExceptions;
  if (!task.returns().empty()) flags |= kTaskReturns;
  const std::size_t frame = begin_task(
      out, task.id, TaskHeader{task.function_index, task.function_check, task.arg_count, flags},
      task.retry_types(), static_cast<std::uint32_t>(task.returns().size()));
  if (task.deps.empty()) {
    out.write(task.args.data(), task.args.size());
  } else {
    ByteReader in(task.args.data(), task.args.size());
    for (std::uint32_t i = 0; i < task.arg_count; ++i) {
      const char* start = in.position();
      const ValueRecord r = read_record(in);
      if (r.kind != RecordKind::kRef) {
        out.write(start, static_cast<std::size_t>(in.position() - start));
        continue;
      }
      const ObjectEntry& e = *refs_.find(task.deps.at(r.ref_index));
      if (e.in_store) {
        put_store_record(out, e.format, e.type_hash, e.offset, e.size);
      } else {
        put_inline_record(out, e.format, e.type_hash, e.inline_bytes->data(),
                          e.inline_bytes->size());
      }
    }
  }
  end_frame(out, frame);
}

void DriverRuntime::on_task_done(WorkerId worker, const Frame& frame) {
  TaskDone done = decode_task_done(frame);
  // The store blocks the worker was given for this result: each store record must name one; the
  // ones it does not use (the task failed after asking) are freed.
  std::vector<NodeStore::Block> blocks = store_->take_result_blocks(worker);
  NodeStore& store = *store_;  // the lambda runs here, with mu_ held
  const auto free_blocks = [&](const std::vector<bool>* used) {
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (used == nullptr || !(*used)[i]) store.free_block(blocks[i].offset);
    }
  };
  const bool ok = done.status == TaskStatus::kOk || done.status == TaskStatus::kOkMany;
  // The values, without copying the usual single one into a vector (every task passes here).
  const ValueRecord* values = done.status == TaskStatus::kOk ? &done.value : done.values.data();
  const std::size_t num_values = done.status == TaskStatus::kOk ? 1 : done.values.size();
  std::vector<bool> used(blocks.size(), false);
  if (ok) {
    for (std::size_t n = 0; n < num_values; ++n) {
      const ValueRecord& v = values[n];
      if (v.kind != RecordKind::kStore) continue;
      std::size_t i = 0;
      while (i < blocks.size() &&
             (used[i] || blocks[i].offset != v.offset || blocks[i].size != v.size)) {
        ++i;
      }
      if (i == blocks.size()) {
        free_blocks(&used);
        throw DecodeError("task result names store space it was not given");
      }
      used[i] = true;
    }
  }
  if (actors_.size() != 0) {
    const ActorRecord* actor = actors_.of_worker(worker);
    if (actor != nullptr && actor->state == ActorRecord::State::kDead) {
      free_blocks(nullptr);  // killed: its calls failed already, what it sends is dropped
      return;
    }
  }
  const std::optional<SchedTask> ran = scheduler_.complete(worker, done.task, done.exec_ns);
  if (!ran) {
    free_blocks(nullptr);
    throw DecodeError("result for a task that is not running on this worker");
  }
  if (done.status != TaskStatus::kCancelled) {  // a cancelled one never started
    std::uint64_t result_bytes = 0;
    if (ok) {
      for (std::size_t n = 0; n < num_values; ++n) result_bytes += values[n].size;
    }
    record_attempt(*ran, worker, done, result_bytes);
  }
  // An actor's constructor makes it alive (or dead); an actor without handles stops once idle.
  struct ActorCallDone {
    DriverRuntime& rt;
    const SchedTask& ran;
    ~ActorCallDone() SHOAL_NO_THREAD_SAFETY_ANALYSIS {
      if (ran.actor != 0) rt.actor_call_done(ran);
    }
  } actor_call_done_{*this, *ran};
  // The worker wrote the task's output before its result: its last partial line is the task's.
  if (scheduler_.running(worker) == 0) pool_->output().end_of_task(worker);
  if (!ok) free_blocks(nullptr);
  if (done.status == TaskStatus::kCancelled) {  // skipped: its result failed at cancel()
    tasks_.finish(done.task);
    return;
  }
  if (done.status == TaskStatus::kRetryableError && retry_after_throw(*ran, done)) return;
  // The objects it returns: its own id, or (num_returns<N>()) a copy of its list, which finish()
  // erases with the spec.
  std::vector<ObjectId> several;
  if (ran->several_returns) {
    if (const TaskSpec* spec = tasks_.find(done.task)) several = spec->returns();
  }
  const ObjectId* returns = several.empty() ? &done.task : several.data();
  const std::size_t num_returns = several.empty() ? 1 : several.size();
  if (ok && num_values != num_returns) {
    free_blocks(&used);
    throw DecodeError(
        fmt::format("task result has {} values, but the task returns {}", num_values, num_returns));
  }
  // Refs inside the values: each return holds them, from before the task's arguments (which may
  // be what held them so far) are released.
  if (ok && !done.contained.empty()) {
    for (std::size_t k = 0; k < num_returns; ++k) refs_.add_contained(returns[k], done.contained);
  }
  std::string name;  // for a failure's message only
  if (!tasks_.finish(done.task, ok ? nullptr : &name)) name = "a task";

  if (ok) {
    for (std::size_t k = 0; k < num_returns; ++k) {
      const ValueRecord& v = values[k];
      if (v.kind == RecordKind::kStore) {
        if (ObjectEntry* e = refs_.find(returns[k])) {  // for ObjectStoreFullError's holders
          e->origin = ObjectOrigin::kTaskResult;
          e->function_index = ran->function_index;
        }
        // The object owns the block now (or frees it, if it is no longer pending).
        tasks_.dependencies_done(
            refs_.complete_store(returns[k], v.format, v.type_hash, v.offset, v.size));
      } else {
        detail::ByteBuffer bytes(v.size);
        bytes.write(v.data, v.size);
        tasks_.dependencies_done(
            refs_.complete_inline(returns[k], v.format, v.type_hash, std::move(bytes)));
      }
    }
    return;
  }
  auto error = std::make_shared<ErrorInfo>();
  error->function = name;
  error->pid = pool_->pid(worker);
  if (done.status == TaskStatus::kError || done.status == TaskStatus::kRetryableError) {
    error->kind = ErrorInfo::Kind::kTaskError;
    error->type_name = std::string(done.type_name);
    error->what = std::string(done.what);
    if (!done.frames.empty()) {
      error->backtrace = std::make_shared<const detail::TaskBacktrace>(std::move(done.frames));
    }
  } else {
    std::shared_ptr<ErrorInfo> full = store_full_error(
        *store_, refs_, tasks_, config_.object_store_full_timeout_ms, done.requested,
        fmt::format("the result of {} ({} bytes)", name, done.requested));
    full->function = name;
    full->pid = pool_->pid(worker);
    error = std::move(full);
  }
  const std::shared_ptr<const ErrorInfo> shared = std::move(error);
  for (std::size_t k = 0; k < num_returns; ++k) tasks_.fail_object(returns[k], shared);
}

// TaskOptions::retry_exceptions: a task whose exception matched runs again, at the back of the
// queue, while it has attempts left (as a task whose worker died). Returns false when it has none.
bool DriverRuntime::retry_after_throw(const SchedTask& ran, const TaskDone& done) {
  const TaskSpec* spec = tasks_.find(ran.id);
  if (spec == nullptr || spec->cancelled ||
      (spec->max_retries >= 0 && ran.attempts > spec->max_retries)) {
    return false;
  }
  SHOAL_LOG(kInfo, "{} threw {} (attempt {}): {}; retrying it (retry_exceptions)", spec->name,
            done.type_name, ran.attempts, done.what);
  scheduler_.retry(ran);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Resources and tests

std::map<std::string, double> DriverRuntime::resources(bool available) {
  check_not_abandoned();
  UniqueLock<Mutex> lock(mu_);
  check_running();
  const double cpus = available ? scheduler_.cpus_available() : num_workers_;
  const double memory =
      static_cast<double>(available ? scheduler_.memory_available() : memory_bytes_);
  if (node_address_.empty()) node_address_ = node_address();  // getifaddrs(): not on init's path
  std::map<std::string, double> out =
      resource_map(available, cpus, memory, store_bytes_, node_address_);
  if (nodes_) {
    lock.unlock();  // the other nodes' part has its own lock (lock order: mu_ first)
    nodes_->add_resources(out, available);
  }
  return out;
}

ObjectStoreStats DriverRuntime::stats() {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_running();
  ObjectStoreStats s;
  s.capacity_bytes = store_bytes_;
  s.used_bytes = store_->used_bytes();
  s.inline_bytes = refs_.inline_bytes();
  s.num_objects = refs_.size();
  return s;
}

pid_t DriverRuntime::TEST_fork_helper_pid() const { return helper_ ? helper_->pid() : 0; }

std::vector<pid_t> DriverRuntime::TEST_worker_pids() {
  MutexLock<Mutex> lock(mu_);
  return pool_ ? pool_->ready_pids() : std::vector<pid_t>{};
}

std::size_t DriverRuntime::TEST_waiting_threads() const {
  return static_cast<std::size_t>(waiting_threads_.load());
}

}  // namespace shoal::internal
