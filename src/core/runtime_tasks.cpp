// Tasks: submission, dependencies, dispatch to workers, results and failures.
#include <cstring>

#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/common/function_registry.hpp"
#include "src/common/limits.hpp"
#include "src/common/symbolize.hpp"
#include "src/common/task_backtrace.hpp"
#include "src/core/runtime.hpp"

namespace shoal::internal {
namespace {

std::string describe_function(detail::AnyFn fn, const char* signature) {
  std::string name = function_name_at(reinterpret_cast<const void*>(fn));
  if (name.empty()) name = fmt::format("the function at {}", reinterpret_cast<const void*>(fn));
  return fmt::format("{} (type {})", name, detail::demangle(signature));
}

}  // namespace

detail::HandlePtr Runtime::submit(detail::AnyFn fn, const char* signature,
                                  const TaskOptions& options, detail::TaskArgs&& args) {
  check_not_abandoned();
  const FunctionRegistry& registry = FunctionRegistry::instance();
  const std::optional<std::uint32_t> index = registry.index_of(fn);
  if (!index) {
    const std::string what = describe_function(fn, signature);
    throw FunctionNotRegisteredError(
        fmt::format(
            "shoal: {} is not a remote function; add SHOAL_REMOTE(name) for it at namespace "
            "scope in a file linked into the program",
            what),
        what);
  }
  const RegisteredFunction* function = registry.at(*index);
  if (*index >= registry_size_.load(std::memory_order_relaxed)) {
    throw FunctionNotRegisteredError(
        fmt::format(
            "shoal: {} was registered after {}, so the workers do not have it; make sure its "
            "SHOAL_REMOTE runs before init(), at namespace scope in the program itself (with "
            "Config::start_method \"forkserver\", workers know only what the program's static "
            "initialisers register, not a library it loads at run time)",
            function->name,
            start_method_ == StartMethod::kForkserver ? "the program started" : "init()"),
        function->name);
  }
  if (!(options.num_cpus >= 0) || options.num_cpus > num_workers_) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::num_cpus is {} for {}; use 0 to {} (the CPUs shoal was started with)",
        options.num_cpus, function->name, num_workers_));
  }
  if (options.memory > memory_bytes_) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::memory is {} bytes for {}, more than the {} bytes shoal has for tasks",
        options.memory, function->name, memory_bytes_));
  }
  if (options.max_retries && *options.max_retries < -1) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::max_retries is {}; use 0 or more, or -1 to retry without limit",
        *options.max_retries));
  }

  TaskSpec spec;
  spec.function_index = *index;
  spec.function_check = function->check;
  spec.name = options.name.empty() ? function->name : options.name;
  spec.num_cpus = options.num_cpus;
  spec.memory = options.memory;
  spec.max_retries = options.max_retries.value_or(config_.max_retries);
  spec.arg_count = args.count();
  std::vector<detail::HandlePtr> refs = args.take_refs();
  spec.args = args.take_records();
  spec.deps.reserve(refs.size());
  for (const detail::HandlePtr& ref : refs) {
    if (&ref->runtime() != this) {
      throw InvalidObjectRefError(
          "shoal: an argument is an ObjectRef from an earlier shoal session; refs do not carry "
          "over "
          "from one init() to the next");
    }
    spec.deps.push_back(ref->id());
  }
  if (!running_.load(std::memory_order_acquire)) {
    std::lock_guard<Mutex> lock(mu_);
    check_running();  // throws the reason: not started, broken or shut down
  }
  // The id comes first, so that the task can be registered later by whoever holds the lock. The
  // argument refs may be dropped (below, or by the program) before that: their releases are
  // queued behind the registration, which takes the task's own references first.
  spec.id = next_id_.fetch_add(1, std::memory_order_relaxed);
  auto handle = handle_of(spec.id);
  mu_.run_or_defer(Deferred{0, std::move(spec)});
  return handle;
}

void Runtime::run_deferred(void* runtime, Deferred& op) noexcept {
  auto* self = static_cast<Runtime*>(runtime);
  if (op.release != 0) {
    if (!self->objects_) return;  // after shutdown()
    self->objects_->release(op.release);
    self->serve_space_waiters();  // a writer waiting for space may fit now
  } else {
    self->register_task(std::move(op.task));
  }
}

// Requires mu_. A task submitted while the session was running whose registration comes after
// shutdown() or a broken session began fails like the tasks that were pending then.
void Runtime::register_task(TaskSpec&& spec) noexcept {
  if (!objects_) return;  // shutdown() has finished: its ref's get() says so
  const std::uint64_t id = spec.id;
  objects_->add_pending(id, id);
  if (state_ != State::kRunning) {
    auto error = std::make_shared<ErrorInfo>();
    if (state_ == State::kBroken) {
      error->kind = ErrorInfo::Kind::kWorkerCrashed;
      error->what = "shoal: " + failure_ + "; call shutdown() and init() again";
    } else {
      error->kind = ErrorInfo::Kind::kShutdown;
      error->what = "shoal was shut down before this object was ready";
    }
    objects_->fail(id, std::move(error));
    return;
  }
  std::shared_ptr<const ErrorInfo> failed_dep;
  for (std::uint64_t dep : spec.deps) {
    objects_->add_ref(dep);  // the task holds its arguments until it finishes
    ObjectEntry* e = objects_->find(dep);
    if (e->state == ObjectState::kPending) {
      e->dependents.push_back(id);
      ++spec.deps_pending;
    } else if (e->state == ObjectState::kFailed && !failed_dep) {
      failed_dep = e->error;
    }
  }
  if (failed_dep) {  // Ray's rule: a task whose argument failed fails with the same error
    release_args(spec);
    fail_object(id, failed_dep);
  } else {
    scheduler_.add(std::move(spec));
    pump();
  }
}

std::uint64_t Runtime::new_object(std::uint64_t producer) {
  const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed);
  objects_->add_pending(id, producer);
  return id;
}

void Runtime::pump() {
  constexpr double kShortTaskNs = 50'000;  // see kTaskExpectedShort
  serve_space_waiters();  // space freed by the caller's updates goes to waiting writers first
  while (std::optional<Scheduler::Assignment> a = scheduler_.next()) {
    const bool expected_short = a->expected_ns > 0 && a->expected_ns < kShortTaskNs;
    // A lone task (a synchronous caller: nothing else in flight) is written from this thread at
    // once; while tasks stream in, they collect and leave together with the I/O thread's next
    // write, which costs one system call and one wake-up per batch instead of per task.
    const bool lone_task = scheduler_.size() == 1;
    const TaskSpec& task = *scheduler_.find(a->task);
    slots_[static_cast<std::size_t>(a->slot)].connection->send(
        [&](detail::ByteBuffer& out) { encode_task(out, task, expected_short); }, lone_task);
  }
  io_may_poll_.store(scheduler_.busy_slots() < num_workers_, std::memory_order_relaxed);
}

// The task message: its header, then the argument records, with each ref record replaced by the
// argument object's bytes (small objects) or its place in the arena (large ones).
void Runtime::encode_task(detail::ByteBuffer& out, const TaskSpec& task, bool expected_short) {
  const std::size_t frame =
      begin_task(out, task.id,
                 TaskHeader{task.function_index, task.function_check, task.arg_count,
                            expected_short ? kTaskExpectedShort : 0u});
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
      const ObjectEntry& e = *objects_->find(task.deps.at(r.ref_index));
      if (e.in_arena) {
        put_store_record(out, e.format, e.type_hash, e.offset, e.size);
      } else {
        put_inline_record(out, e.format, e.type_hash, e.inline_bytes->data(),
                          e.inline_bytes->size());
      }
    }
  }
  end_frame(out, frame);
}

void Runtime::on_alloc_request(int slot, const FrameParser::Frame& frame) {
  WorkerSlot& s = slots_[static_cast<std::size_t>(slot)];
  const AllocRequest request = decode_alloc_request(frame);
  if (scheduler_.running(slot) != request.task || s.result_block || s.deferred_alloc) {
    throw DecodeError("allocation request for a task that is not running");
  }
  answer_alloc(slot, request);  // now, or once space is freed (runtime_space.cpp)
}

void Runtime::on_task_done(int slot, const FrameParser::Frame& frame) {
  WorkerSlot& s = slots_[static_cast<std::size_t>(slot)];
  TaskDone done = decode_task_done(frame);
  if (done.status == TaskStatus::kOk && done.value.kind == RecordKind::kStore &&
      (!s.result_block || *s.result_block != done.value.offset ||
       s.result_block_size != done.value.size)) {
    throw DecodeError("task result names store space it was not given");
  }
  std::optional<TaskSpec> task = scheduler_.complete(slot, done.task, done.exec_ns);
  if (!task) throw DecodeError("result for a task that is not running on this worker");
  // The worker wrote the task's output before its result: its last partial line is the task's.
  if (scheduler_.running(slot) == 0) output_->end_of_task(slot);
  const std::uint64_t id = task->id;
  release_args(*task);

  if (done.status == TaskStatus::kOk && done.value.kind == RecordKind::kStore) {
    s.result_block.reset();                     // sealed: the object owns the block now
    if (ObjectEntry* e = objects_->find(id)) {  // for ObjectStoreFullError's list of holders
      e->origin = ObjectOrigin::kTaskResult;
      e->function_index = task->function_index;
    }
    complete_dependents(objects_->complete_arena(id, done.value.format, done.value.type_hash,
                                                 done.value.offset, done.value.size));
    return;
  }
  if (s.result_block) {  // space was given but not used (the task failed after asking)
    allocator_->free(*s.result_block);
    s.result_block.reset();
  }
  if (done.status == TaskStatus::kOk) {
    detail::ByteBuffer bytes(done.value.size);
    bytes.write(done.value.data, done.value.size);
    complete_dependents(
        objects_->complete_inline(id, done.value.format, done.value.type_hash, std::move(bytes)));
    return;
  }
  auto error = std::make_shared<ErrorInfo>();
  error->function = task->name;
  error->pid = s.pid;
  if (done.status == TaskStatus::kError) {
    error->kind = ErrorInfo::Kind::kTaskError;
    error->type_name = std::string(done.type_name);
    error->what = std::string(done.what);
    if (!done.frames.empty()) {
      error->backtrace = std::make_shared<const detail::TaskBacktrace>(std::move(done.frames));
    }
  } else {
    std::shared_ptr<ErrorInfo> full = store_full_error(
        done.requested, fmt::format("the result of {} ({} bytes)", task->name, done.requested));
    full->function = task->name;
    full->pid = s.pid;
    error = std::move(full);
  }
  fail_object(id, std::move(error));
}

void Runtime::release_args(const TaskSpec& task) {
  for (std::uint64_t dep : task.deps) objects_->release(dep);
}

void Runtime::complete_dependents(const std::vector<std::uint64_t>& tasks) {
  for (std::uint64_t t : tasks) scheduler_.dependency_done(t);
}

// Fails an object and, transitively, every waiting task that needs it.
void Runtime::fail_object(std::uint64_t id, std::shared_ptr<const ErrorInfo> error) {
  std::vector<std::uint64_t> work{id};
  while (!work.empty()) {
    const std::uint64_t object = work.back();
    work.pop_back();
    for (std::uint64_t task : objects_->fail(object, error)) {
      if (std::optional<TaskSpec> spec = scheduler_.remove_waiting(task)) {
        release_args(*spec);
        work.push_back(spec->id);
      }
    }
  }
}

}  // namespace shoal::internal
