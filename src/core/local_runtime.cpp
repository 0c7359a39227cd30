// Local mode: tasks run at remote(), on the caller's thread (local_runtime.hpp).
//
// A task goes the way it goes in a worker, without the message: its arguments are the records the
// program's TaskArgs wrote (inline values, and refs replaced by the referenced objects' bytes), the
// registry's invoker decodes them and calls the function, and the one value writer encodes the
// result. Its exception is described as a worker describes it (type, what(), and the stack where
// it was thrown, recorded by the same __cxa_throw hook while the task runs), so get() rethrows the
// same TaskError. Everything stays on the heap: a value the writer would send to a store goes into
// a buffer of its own instead.
#include "src/core/local_runtime.hpp"

#include <cstring>

#include <fmt/format.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/contained_refs.hpp"
#include "src/common/exception_match.hpp"
#include "src/common/function_registry.hpp"
#include "src/common/module_frames.hpp"
#include "src/common/system_info.hpp"
#include "src/common/task_backtrace.hpp"
#include "src/core/session_config.hpp"
#include "src/transport/protocol.hpp"
#include "src/transport/value_writer.hpp"
#include "worker/exception_description.hpp"
#include "worker/throw_trace.hpp"

namespace shoal::internal {
namespace {

// Where a value too large for a message would go: here, a heap buffer of its own.
class HeapSpace final : public SpaceProvider {
 public:
  char* reserve(detail::Format format, std::uint64_t type_hash, std::uint64_t size) override {
    format_ = format;
    type_hash_ = type_hash;
    bytes_ = detail::ByteBuffer(static_cast<std::size_t>(size));
    return bytes_.grow(static_cast<std::size_t>(size));
  }
  void seal(detail::ByteBuffer&) override { used_ = true; }

  bool used() const noexcept { return used_; }
  detail::Format format() const noexcept { return format_; }
  std::uint64_t type_hash() const noexcept { return type_hash_; }
  detail::ByteBuffer take() noexcept {
    used_ = false;
    return std::move(bytes_);
  }

 private:
  detail::Format format_ = detail::Format::kVoid;
  std::uint64_t type_hash_ = 0;
  detail::ByteBuffer bytes_;
  bool used_ = false;
};

// One value written through the value writer, as (format, type, bytes).
struct WrittenValue {
  detail::Format format = detail::Format::kVoid;
  std::uint64_t type_hash = 0;
  detail::ByteBuffer bytes;
};

// Turns what a writer wrote (an inline record, or a value the HeapSpace took) into its bytes.
WrittenValue take_written(detail::ByteBuffer& record, HeapSpace& space) {
  if (space.used()) return {space.format(), space.type_hash(), space.take()};
  ByteReader in(record.data(), record.size());
  const ValueRecord r = read_record(in);
  const auto size = static_cast<std::size_t>(r.size);
  std::memmove(record.data(), r.data, size);
  record.truncate(size);
  return {r.format, r.type_hash, std::move(record)};
}

// The task's side: its argument values, and a sink for its results (one value, or one per
// return with num_returns<N>(): each is taken as it is finished).
class LocalInvokeContext final : public detail::InvokeContext, private detail::ValueSink {
 public:
  LocalInvokeContext(std::vector<detail::ValueView> args, std::size_t num_returns)
      : args_(std::move(args)), num_returns_(num_returns) {}
  std::size_t arg_count() const override { return args_.size(); }
  detail::ValueView arg(std::size_t index) const override { return args_[index]; }
  detail::ValueSink& result() override { return *this; }
  void set_void_result() override { results_.emplace_back(); }
  std::size_t num_returns() const override { return num_returns_; }

  std::vector<WrittenValue> take_results() { return std::move(results_); }

 private:
  char* reserve_raw(std::uint64_t type_hash, std::size_t size) override {
    return writer_.reserve_raw(type_hash, size);
  }
  detail::ByteBuffer& begin_msgpack(std::uint64_t type_hash) override {
    return writer_.begin_msgpack(type_hash);
  }
  void finish() override {
    writer_.finish();
    results_.push_back(take_written(record_, space_));
    record_ = detail::ByteBuffer();
  }

  std::vector<detail::ValueView> args_;
  const std::size_t num_returns_;
  detail::ByteBuffer record_;
  HeapSpace space_;
  detail::OpenValue open_;
  ValueWriter writer_{record_, space_, open_};
  std::vector<WrittenValue> results_;
};

}  // namespace

std::shared_ptr<LocalRuntime> LocalRuntime::start(const Config& config) {
  const SessionConfig session = resolve_config(config);
  if (!config.start_method.empty() && config.start_method != "fork" &&
      config.start_method != "forkserver") {
    throw InvalidConfigError(fmt::format(
        "shoal: Config::start_method is \"{}\"; use \"fork\", \"forkserver\", or \"\" (local "
        "mode starts no process, so any of them does)",
        config.start_method));
  }
  logging::init_driver(session.level);
  return std::shared_ptr<LocalRuntime>(new LocalRuntime(config, static_cast<double>(session.cpus),
                                                        session.memory_bytes, session.store_bytes));
}

LocalRuntime::LocalRuntime(const Config& config, double cpus, std::uint64_t memory,
                           std::uint64_t store)
    : config_(config),
      cpus_(cpus),
      memory_(memory),
      store_bytes_(store),
      origin_ns_(steady_now_ns()),
      recording_(config.timeline_max_tasks > 0),
      timeline_(static_cast<std::size_t>(config.timeline_max_tasks)),
      program_calls_(static_cast<std::size_t>(config.timeline_max_tasks)) {
  timeline_.add_row(TimelineRow{static_cast<int>(getpid()), "driver", 0});
}

detail::HandlePtr LocalRuntime::handle_of(ObjectId id) {
  return std::make_shared<detail::ObjectHandle>(shared_from_this(), id);
}

// Before taking mu_: in a fork, mu_ may be held for ever by a thread that does not exist there.
void LocalRuntime::check_not_abandoned() const {
  if (abandoned_.load(std::memory_order_relaxed)) throw Error(forked_session_refusal());
}

void LocalRuntime::check_usable_now() const {
  if (stopped_) {
    throw InvalidObjectRefError(
        "shoal: this ObjectRef belongs to a shoal session that was shut down; refs do not carry "
        "over from one init() to the next");
  }
}

detail::HandlePtr LocalRuntime::add_object(detail::Format format, std::uint64_t type_hash,
                                           detail::ByteBuffer bytes, const detail::CallSite& site) {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  const ObjectId id = new_object_id();
  refs_.add_ready_inline(id, format, type_hash, std::move(bytes)).call_site =
      call_sites_.intern(site);
  return handle_of(id);
}

detail::HandlePtr LocalRuntime::put(void (*encode)(detail::ValueSink&, const void*),
                                    const void* value, const detail::CallSite& site) {
  const TimedCall timed(program_calls_, DriverCall::Kind::kPut, 1);
  detail::ByteBuffer record;
  HeapSpace space;
  detail::OpenValue open;
  ValueWriter writer(record, space, open);
  RefCollector contained(this);
  encode(writer, value);
  WrittenValue v = take_written(record, space);
  detail::HandlePtr handle = add_object(v.format, v.type_hash, std::move(v.bytes), site);
  if (!contained.ids().empty()) {  // refs inside the value: it holds them
    MutexLock<Mutex> lock(mu_);
    refs_.add_contained(handle->id(), ids_of(contained.handles()));
  }
  return handle;
}

detail::HandlePtr LocalRuntime::adopt(ObjectId id) {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  if (refs_.find(id) == nullptr) {
    throw InvalidObjectRefError(gone_ref_message(id));
  }
  refs_.add_ref(id, Holder::program());
  return handle_of(id);
}

StoreSpace LocalRuntime::reserve_object(detail::Format format, std::uint64_t type_hash,
                                        std::uint64_t size, ObjectOrigin origin,
                                        const detail::CallSite& site) {
  detail::ByteBuffer bytes(static_cast<std::size_t>(size));
  bytes.grow(static_cast<std::size_t>(size));
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  const ObjectId id = new_object_id();
  ObjectEntry& entry = refs_.add_pending(id, 0);
  entry.origin = origin;
  entry.call_site = call_sites_.intern(site);
  refs_.complete_inline(id, format, type_hash, std::move(bytes));
  // The caller writes the bytes in place before anyone else can see the handle; the buffer is
  // the object's, and stays valid while the handle does.
  const ObjectEntry* e = refs_.find(id);
  auto* dst = const_cast<char*>(e->inline_bytes->data());
  return StoreSpace{handle_of(id), dst, e->inline_bytes};
}

detail::HandlePtr LocalRuntime::submit(detail::AnyFn fn, const char* signature,
                                       const TaskOptions& options, detail::TaskArgs&& args) {
  return std::move(run(fn, signature, options, std::move(args), 1).front());
}

std::vector<detail::HandlePtr> LocalRuntime::submit_returns(detail::AnyFn fn, const char* signature,
                                                            const TaskOptions& options,
                                                            detail::TaskArgs&& args,
                                                            std::size_t num_returns) {
  return run(fn, signature, options, std::move(args), num_returns);
}

std::vector<detail::HandlePtr> LocalRuntime::run(detail::AnyFn fn, const char* signature,
                                                 const TaskOptions& options,
                                                 detail::TaskArgs&& args, std::size_t num_returns) {
  const TaskLimits limits{cpus_, memory_, config_.max_retries, FunctionRegistry::instance().size(),
                          false};
  const TaskSpec spec = TaskManager::make_spec(fn, signature, options, limits);
  if (spec.node > 0) {
    throw InvalidConfigError(fmt::format(
        "shoal: TaskOptions::node_rank is {}, but local mode runs every task in this process; use "
        "-1 or 0",
        spec.node));
  }
  const std::vector<detail::HandlePtr> refs = args.take_refs();
  const detail::ByteBuffer records = args.take_records();

  // The argument values: inline records as they are, refs as the objects' bytes (a failed one
  // fails the task with its error, as Ray does). `keep` holds them while the task runs.
  std::vector<detail::ValueView> values;
  std::vector<std::shared_ptr<const void>> keep;
  std::shared_ptr<const ErrorInfo> failed_arg;
  {
    check_not_abandoned();
    MutexLock<Mutex> lock(mu_);
    check_usable_now();
    ByteReader in(records.data(), records.size());
    for (std::uint32_t i = 0; i < args.count(); ++i) {
      const ValueRecord r = read_record(in);
      if (r.kind != RecordKind::kRef) {
        values.push_back(detail::ValueView{r.format, r.type_hash, r.data, r.size});
        continue;
      }
      const detail::HandlePtr& ref = refs.at(r.ref_index);
      if (&ref->runtime() != this) {
        throw InvalidObjectRefError(
            "shoal: an argument is an ObjectRef from another shoal session; refs do not carry "
            "over from one init() to the next");
      }
      const ObjectEntry* e = refs_.find(ref->id());
      if (e->state == ObjectState::kFailed) {
        if (!failed_arg) failed_arg = e->error;
        values.emplace_back();
        continue;
      }
      values.push_back(detail::ValueView{e->format, e->type_hash, e->inline_bytes->data(),
                                         e->inline_bytes->size()});
      keep.push_back(e->inline_bytes);
    }
    cpus_in_use_ += spec.num_cpus;
    memory_in_use_ += spec.memory;
    ++tasks_running_;
  }
  const std::int64_t submitted_ns = recording_ ? steady_now_ns() : 0;
  std::vector<TaskAttempt> attempts;
  const ObjectId id = new_object_id();

  std::shared_ptr<ErrorInfo> error;
  std::vector<WrittenValue> results;
  std::vector<detail::HandlePtr> contained;  // refs packed into the results, kept until held
  // TaskOptions::retry_exceptions: a matching throw runs the task again, attempts permitting.
  for (int attempt = 1; !failed_arg; ++attempt) {
    const RegisteredFunction* function = FunctionRegistry::instance().at(spec.function_index);
    LocalInvokeContext ctx(values, num_returns);
    ThrowTrace trace;
    bool retry = false;
    const std::int64_t start_ns = submitted_ns != 0 ? steady_now_ns() : 0;
    try {
      // Records the stack of every throw below this frame while the function runs.
      const ThrowTrace::Armed armed(trace, __builtin_frame_address(0));
      RefCollector collector(this);  // refs packed into the results: they hold them
      function->invoker(function->address, ctx);
      results = ctx.take_results();
      contained = collector.take();
    } catch (...) {
      retry = spec.retry_exceptions && (spec.max_retries < 0 || attempt <= spec.max_retries) &&
              current_exception_matches(spec.retry_types());
      ExceptionDescription d = describe_current_exception();
      error = std::make_shared<ErrorInfo>();
      error->kind = ErrorInfo::Kind::kTaskError;
      error->type_name = std::move(d.type_name);
      error->what = std::move(d.what);
      error->function = spec.name;
      error->pid = getpid();
      error->in_process = true;
      ModuleFrames frames = to_module_frames(trace.frames_of_current());
      if (!frames.empty()) {
        error->backtrace = std::make_shared<const detail::TaskBacktrace>(std::move(frames));
      }
    }
    if (submitted_ns != 0) {
      TaskAttempt a;
      a.task = id;
      a.function_index = spec.function_index;
      a.attempt = static_cast<std::uint32_t>(attempt);
      a.pid = static_cast<int>(getpid());
      a.submitted_ns = a.ready_ns = submitted_ns;
      a.start_ns = start_ns;
      a.end_ns = steady_now_ns();
      for (const WrittenValue& r : results) a.result_bytes += r.bytes.size();
      if (error) {
        a.error = std::make_shared<const std::string>(error->type_name + ": " + error->what);
      }
      attempts.push_back(std::move(a));
    }
    if (!retry) break;
    error.reset();
  }

  MutexLock<Mutex> lock(mu_);
  cpus_in_use_ -= spec.num_cpus;
  memory_in_use_ -= spec.memory;
  --tasks_running_;
  for (TaskAttempt& a : attempts) timeline_.add(std::move(a));
  const std::uint32_t site = call_sites_.intern(args.call_site());
  if (stopped_) {  // shutdown() ran while the task did: there is no session to hold its result
    throw Error(fmt::format(
        "shoal: shutdown() ran while the task {} was running (local mode), so its result was "
        "dropped",
        spec.name));
  }
  std::vector<detail::HandlePtr> handles;
  for (std::size_t k = 0; k < num_returns; ++k) {
    const ObjectId object = k == 0 ? id : new_object_id();
    refs_.add_pending(object, id).call_site = site;
    if (failed_arg) {
      refs_.fail(object, failed_arg);
    } else if (error) {
      refs_.fail(object, error);
    } else {
      WrittenValue& r = results.at(k);
      if (!contained.empty()) refs_.add_contained(object, ids_of(contained));
      refs_.complete_inline(object, r.format, r.type_hash, std::move(r.bytes));
    }
    handles.push_back(handle_of(object));
  }
  return handles;
}

detail::Fetched LocalRuntime::fetched_of(ObjectId id) {
  const ObjectEntry* e = refs_.find(id);
  if (e->state == ObjectState::kFailed) throw_error(*e->error);  // the caller's lock unwinds
  detail::Fetched f;
  f.view.format = e->format;
  f.view.type_hash = e->type_hash;
  f.view.size = e->size;
  f.view.data = e->inline_bytes->data();
  f.keep = e->inline_bytes;
  return f;
}

// Every object is finished when its ref exists: nothing waits, whatever the timeout says.
detail::Fetched LocalRuntime::fetch(ObjectId id, std::int64_t) {
  check_not_abandoned();
  const TimedCall timed(program_calls_, DriverCall::Kind::kGet, 1);
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  return fetched_of(id);
}

std::vector<detail::Fetched> LocalRuntime::fetch_all(const std::vector<ObjectId>& ids,
                                                     std::int64_t) {
  check_not_abandoned();
  const TimedCall timed(program_calls_, DriverCall::Kind::kGet, ids.size());
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  for (ObjectId id : ids) {  // the first failure in input order, as with workers
    if (refs_.find(id)->state == ObjectState::kFailed) fetched_of(id);
  }
  std::vector<detail::Fetched> out;
  out.reserve(ids.size());
  for (ObjectId id : ids) out.push_back(fetched_of(id));
  return out;
}

std::vector<bool> LocalRuntime::wait(const std::vector<ObjectId>& ids, std::size_t num_returns,
                                     std::int64_t) {
  check_num_returns(num_returns, ids.size());
  check_not_abandoned();
  const TimedCall timed(program_calls_, DriverCall::Kind::kWait, ids.size());
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  std::vector<bool> out(ids.size(), false);
  for (std::size_t i = 0; i < num_returns; ++i) out[i] = true;
  return out;
}

void LocalRuntime::release(ObjectId id) noexcept {
  if (abandoned_.load(std::memory_order_relaxed)) return;  // a fork's copy: leave it alone
  std::vector<std::shared_ptr<void>> ended;  // destroyed after the lock: they may call shoal
  UniqueLock<Mutex> lock(mu_);
  if (stopped_) return;
  refs_.release(id, Holder::program());
  if (refs_.has_freed_actors()) {
    try {
      ended = take_ended_actors();
    } catch (...) {  // out of memory: the instances go at shutdown()
    }
    lock.unlock();
    for (std::shared_ptr<void>& instance : ended) {
      try {
        instance.reset();
      } catch (...) {  // a destructor that throws: nothing to report it to
      }
    }
  }
}

void LocalRuntime::cancel(ObjectId id, bool, bool) {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  const ObjectEntry* e = refs_.find(id);
  if (e != nullptr && e->producer == 0) {
    throw InvalidObjectRefError(
        "shoal: cancel() was given the ref of a value that put() made; only tasks can be "
        "cancelled");
  }
}

std::map<std::string, double> LocalRuntime::resources(bool available) {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  const double cpus = available ? cpus_ - cpus_in_use_ : cpus_;
  const double memory = static_cast<double>(available ? memory_ - memory_in_use_ : memory_);
  if (node_address_.empty()) node_address_ = node_address();
  return resource_map(available, cpus, memory, store_bytes_, node_address_);
}

ObjectStoreStats LocalRuntime::stats() {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  ObjectStoreStats s;
  s.capacity_bytes = store_bytes_;
  s.used_bytes = 0;  // no store: every value is on the heap
  s.inline_bytes = refs_.inline_bytes();
  s.num_objects = refs_.size();
  return s;
}

void LocalRuntime::shutdown() {
  bool first = false;
  {
    MutexLock<Mutex> lock(mu_);
    first = !stopped_;
  }
  if (first) write_timeline_for_env([this] { return timeline_json(); });
  std::vector<std::shared_ptr<void>> instances;  // every actor's destructor runs, without the lock
  {
    MutexLock<Mutex> lock(mu_);
    if (stopped_) return;
    const auto error = session_error(ErrorInfo::Kind::kShutdown, "shoal was shut down");
    for (auto& [id, a] : actors_) instances.push_back(end_actor(*a, error));
    actors_.clear();
  }
  for (std::shared_ptr<void>& instance : instances) {
    try {
      instance.reset();
    } catch (...) {  // a destructor that throws: nothing to report it to
    }
  }
  MutexLock<Mutex> lock(mu_);
  if (stopped_) return;
  stopped_ = true;
  refs_.clear();
  logging::flush();
}

}  // namespace shoal::internal
