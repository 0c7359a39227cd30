#include "worker/worker_loop.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <boost/container/small_vector.hpp>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <stdio_ext.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/actor_instance.hpp"
#include "src/common/contained_refs.hpp"
#include "src/common/core_runtime.hpp"
#include "src/common/exception_match.hpp"
#include "src/common/function_registry.hpp"
#include "src/common/limits.hpp"
#include "src/common/module_frames.hpp"
#include "src/transport/frame.hpp"
#include "src/transport/protocol.hpp"
#include "src/transport/socket_io.hpp"
#include "src/transport/task_calls.hpp"
#include "worker/exception_description.hpp"
#include "worker/invoke_context.hpp"
#include "worker/task_channel.hpp"
#include "worker/throw_trace.hpp"
#include "worker/worker_runtime.hpp"

namespace shoal::internal {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t steady_ns(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

constexpr std::size_t kCoalesceBytes = std::size_t{64} * 1024;
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;

// The task running on this thread (nested tasks replace it while they run), for is_cancelled().
thread_local std::uint64_t t_current_task = 0;
std::int64_t g_worker_id = -1;  // this process's worker id, once run_worker() started

// A task that ran at least this long may have been cancelled meanwhile: the worker reads what the
// driver sent before it starts the next task it already holds, so that a CancelTask for that one
// is seen in time. Shorter tasks skip the system call (a stream of tiny tasks would pay it each).
constexpr auto kLongTask = std::chrono::milliseconds(1);
// How often is_cancelled() looks at the socket, at most.
constexpr auto kCancelPollInterval = std::chrono::milliseconds(1);

// The driver closed its end (or we were told to stop): leave quietly.
struct DriverGone {};

// The driver sent something we cannot trust: leave loudly.
struct ProtocolViolation {
  std::string reason;
};

// The worker's loop, and the channel its tasks' shoal calls go through (task_channel.hpp). One
// mutex (io_mu_) guards the socket's buffers: the loop holds it except while a function runs; a
// call a task makes takes it until its reply comes, and runs the nested tasks the driver sends
// meanwhile on its own thread (releasing it while their functions run), so that a worker blocked
// in get() runs the children it waits for.
class WorkerLoop final : public TaskChannel {
 public:
  explicit WorkerLoop(const WorkerParams& p) : p_(p) {}

  int run() {
    runtime_ = std::make_shared<WorkerRuntime>(*this);
    exchange_current_runtime(runtime_);  // the whole API inside a task
    int code = 0;
    try {
      std::unique_lock<std::mutex> lock(io_mu_);
      send_ready();
      serve(lock);
    } catch (const DriverGone&) {
      code = 0;
    } catch (const ProtocolViolation& v) {
      SHOAL_LOG(kError, "closing the connection to the driver: {}", v.reason);
      code = 2;
    }
    // An actor's process: the instance's destructor runs here, in its own process, when the
    // driver stops it (its last handle went, or shutdown()) or goes away.
    destroy_process_actor();
    runtime_->detach();
    return code;
  }

  // ---- TaskChannel (any thread of a task)
  void send(const std::function<void(detail::ByteBuffer&)>& encode) override {
    std::lock_guard<std::mutex> lock(io_mu_);
    drain_ref_ops();  // what the task did to its refs before this call, first
    encode(out_);
    flush();
  }

  OwnedFrame call(const std::function<void(detail::ByteBuffer&, std::uint64_t)>& encode) override {
    std::unique_lock<std::mutex> lock(io_mu_);
    const std::uint64_t request = ++requests_;
    drain_ref_ops();
    encode(out_, request);
    flush();
    if (concurrent_) return await_reply_from_reader(lock, request);
    return await_reply(lock, request);
  }

  void release(ObjectId id) noexcept override {
    try {
      std::lock_guard<std::mutex> lock(release_mu_);
      ref_ops_.emplace_back(false, id);
      ref_ops_count_.store(ref_ops_.size(), std::memory_order_release);
    } catch (...) {  // out of memory: the reference is dropped when the worker ends
    }
  }

  void hold(ObjectId id) override {
    std::lock_guard<std::mutex> lock(release_mu_);
    ref_ops_.emplace_back(true, id);
    ref_ops_count_.store(ref_ops_.size(), std::memory_order_release);
  }

  ObjectId new_id() noexcept override {
    return worker_made_id(p_.worker, next_id_.fetch_add(1, std::memory_order_relaxed) + 1);
  }

  TaskLimits limits() override {
    std::lock_guard<std::mutex> lock(io_mu_);
    return limits_;
  }

  bool in_task() const noexcept override { return depth_.load(std::memory_order_acquire) > 0; }

  bool current_task_cancelled() override {
    const std::uint64_t task = t_current_task;
    if (task == 0) return false;
    thread_local Clock::time_point last_poll{};
    const auto now = Clock::now();
    if (now - last_poll >= kCancelPollInterval) {
      last_poll = now;
      Lock lock(io_mu_, std::try_to_lock);  // held: another thread is reading the socket anyway
      if (lock.owns_lock()) take_pending(lock);
    }
    std::lock_guard<std::mutex> lock(cancel_mu_);
    return cancelled_.count(task) != 0;
  }
  char* arena_base() const noexcept override { return p_.arena_base; }
  std::uint64_t arena_size() const noexcept override { return p_.arena_size; }

 private:
  using Lock = std::unique_lock<std::mutex>;

  void send_ready() {
    encode_ready(out_, Ready{p_.worker, getpid()});
    flush();
  }

  void serve(Lock& lock) {
    for (;;) {
      if (last_task_long_) {  // a CancelTask for what comes next may be waiting in the socket
        last_task_long_ = false;
        poll_socket();
      }
      if (max_concurrency_ > 1 && process_actor().object != nullptr) {
        serve_concurrently(lock);  // its constructor ran: its calls run on threads from now on
        return;
      }
      if (!backlog_.empty()) {
        OwnedFrame f = std::move(backlog_.front());
        backlog_.pop_front();
        handle(lock, f.frame());
        continue;
      }
      Frame f;
      if (next_frame(&f)) {
        handle(lock, f);
        continue;
      }
      flush();  // about to block: nothing may wait in the buffer
      fill();
    }
  }

  // An actor with max_concurrency > 1: this thread only reads the socket (waiting for it without
  // io_mu_), queues the calls in the backlog and files the replies; max_concurrency threads run
  // the calls (call_thread) and wait for their own calls' replies (await_reply_from_reader).
  // Actors get no nested tasks, so nothing has to run inside a waiting call.
  void serve_concurrently(Lock& lock) {
    concurrent_ = true;
    std::vector<std::thread> threads;
    for (std::uint32_t i = 0; i < max_concurrency_; ++i) {
      threads.emplace_back([this] { call_thread(); });
    }
    struct Join {
      WorkerLoop& loop;
      Lock& lock;
      std::vector<std::thread>& threads;
      ~Join() {
        loop.stop_ = true;
        loop.work_cv_.notify_all();
        loop.reply_cv_.notify_all();
        lock.unlock();  // the threads finish the calls they run, then see stop_
        for (std::thread& t : threads) t.join();
        lock.lock();
      }
    } join{*this, lock, threads};
    for (;;) {
      Frame f;
      while (next_frame(&f)) take(lock, f, /*in_call=*/false);
      work_cv_.notify_all();
      reply_cv_.notify_all();
      flush();
      lock.unlock();
      pollfd readable{p_.socket, POLLIN, 0};
      while (::poll(&readable, 1, -1) < 0 && errno == EINTR) {
      }
      lock.lock();
      poll_socket();  // throws DriverGone at EOF
    }
  }

  // One of a concurrent actor's call threads: runs the calls the reader queued, one at a time.
  void call_thread() {
    Lock lock(io_mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stop_ || !backlog_.empty(); });
      if (stop_) return;
      OwnedFrame f = std::move(backlog_.front());
      backlog_.pop_front();
      try {
        run_task(lock, f.frame());
        flush();
      } catch (const DriverGone&) {
        stop_ = true;
        reply_cv_.notify_all();
        return;
      } catch (const ProtocolViolation& v) {
        SHOAL_LOG(kError, "closing the connection to the driver: {}", v.reason);
        std::_Exit(2);
      }
    }
  }

  // The reply to `request` if it has come (filed in replies_). io_mu_ held.
  std::optional<OwnedFrame> take_reply(std::uint64_t request) {
    auto it = replies_.find(request);
    if (it == replies_.end()) return std::nullopt;
    OwnedFrame reply = std::move(it->second);
    replies_.erase(it);
    return reply;
  }

  // A call made by a concurrent actor's call thread: the reader files its reply.
  OwnedFrame await_reply_from_reader(Lock& lock, std::uint64_t request) {
    for (;;) {
      if (std::optional<OwnedFrame> reply = take_reply(request)) return std::move(*reply);
      if (stop_) throw DriverGone{};
      reply_cv_.wait(lock);
    }
  }

  // Reads until the reply to `request` comes. Meanwhile: nested tasks run now, other tasks wait
  // in the backlog, revoked ones leave it, replies to other calls (another thread's) are kept.
  OwnedFrame await_reply(Lock& lock, std::uint64_t request) {
    for (;;) {
      if (std::optional<OwnedFrame> reply = take_reply(request)) return std::move(*reply);
      Frame f;
      if (!next_frame(&f)) {
        flush();
        fill();
        continue;
      }
      take(lock, f, /*in_call=*/true);
    }
  }

  // A frame that came while a task runs: a nested task runs now (only inside a call the driver
  // sent it for), other tasks wait in the backlog, replies are kept for their callers.
  void take(Lock& lock, const Frame& f, bool in_call) {
    switch (f.header.type) {
      case MessageType::kTask:
        if ((peek_task_flags(f) & kTaskNested) != 0) {
          if (!in_call) throw ProtocolViolation{"a nested task came while no call was waiting"};
          run_task(lock, f);
          flush();  // the driver answers the blocked call after this result
        } else {
          backlog_.push_back(own(f));
          if (concurrent_) work_cv_.notify_one();
        }
        return;
      case MessageType::kGetReply:
      case MessageType::kWaitReply:
      case MessageType::kCreateReply:
      case MessageType::kInfoReply:
        replies_.emplace(f.header.id, own(f));
        return;
      case MessageType::kAllocReply:
        replies_.emplace(alloc_reply_request(f), own(f));
        return;
      default:
        handle_control(f);
    }
  }

  // Reads what the driver has sent, without blocking, and takes every whole frame (is_cancelled()).
  void take_pending(Lock& lock) {
    poll_socket();
    Frame f;
    while (next_frame(&f)) take(lock, f, /*in_call=*/false);
  }

  // Appends whatever the socket holds to the parser, without blocking.
  void poll_socket() {
    parser_.compact();
    for (;;) {
      char* at = parser_.writable(kReadChunk);
      const ssize_t n = recv(p_.socket, at, kReadChunk, MSG_DONTWAIT);
      if (n > 0) {
        parser_.commit(static_cast<std::size_t>(n));
        note_cancels();
        if (static_cast<std::size_t>(n) < kReadChunk) return;
        continue;
      }
      parser_.commit(0);
      if (n == 0) throw DriverGone{};
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      throw DriverGone{};
    }
  }

  static OwnedFrame own(const Frame& f) {
    return OwnedFrame{f.header, std::vector<char>(f.body, f.body + f.header.body_size)};
  }

  static std::uint32_t peek_task_flags(const Frame& f) {
    try {
      ByteReader in(f.body, f.header.body_size);
      return read_task_header(in).flags;
    } catch (const DecodeError& e) {
      throw ProtocolViolation{std::string("bad task message: ") + e.what()};
    }
  }

  static std::uint64_t alloc_reply_request(const Frame& f) {
    try {
      return decode_alloc_reply(f).request;
    } catch (const DecodeError& e) {
      throw ProtocolViolation{e.what()};
    }
  }

  // Messages that may come at any time: the session's limits, revoked tasks.
  void handle_control(const Frame& f) {
    try {
      switch (f.header.type) {
        case MessageType::kSession:
          limits_ = decode_session(f);
          return;
        case MessageType::kActorStart: {
          const ActorStart start = decode_actor_start(f);
          set_actor_restarted(start.restarted);
          max_concurrency_ = start.max_concurrency;
          return;
        }
        case MessageType::kCancelTask: {
          // note_cancels() took it in as it arrived; now it comes in order: if its task has
          // finished already, nothing will ask about it again.
          const std::uint64_t task = decode_cancel_task(f);
          const bool queued =
              std::any_of(backlog_.begin(), backlog_.end(), [&](const OwnedFrame& b) {
                return b.header.type == MessageType::kTask && b.header.id == task;
              });
          const bool running = std::find(running_.begin(), running_.end(), task) != running_.end();
          if (!queued && !running) forget_cancel(task);
          return;
        }
        case MessageType::kRevoke: {
          const std::vector<ObjectId> revoked = decode_id_list(f);
          for (ObjectId task : revoked) {
            auto it = std::find_if(backlog_.begin(), backlog_.end(), [&](const OwnedFrame& b) {
              return b.header.type == MessageType::kTask && b.header.id == task;
            });
            if (it == backlog_.end()) throw ProtocolViolation{"revoked a task that is not queued"};
            backlog_.erase(it);
          }
          return;
        }
        default:
          break;
      }
    } catch (const DecodeError& e) {
      throw ProtocolViolation{e.what()};
    }
    throw ProtocolViolation{std::string("unexpected ") + message_type_name(f.header.type) +
                            " message"};
  }

  bool next_frame(Frame* f) {
    try {
      return parser_.next(f);
    } catch (const FrameError& e) {
      throw ProtocolViolation{e.what()};
    }
  }

  void handle(Lock& lock, const Frame& f) {
    if (f.header.type != MessageType::kTask) {
      handle_control(f);
      return;
    }
    if ((peek_task_flags(f) & kTaskNested) != 0) {
      throw ProtocolViolation{"a nested task came while no call was waiting"};
    }
    run_task(lock, f);
    // Hold the reply back only if the next task is already here and expected to be short: then
    // both replies share one write. Before anything else, send now (the next task may be long).
    if (!next_task_expected_short() || out_.size() >= kCoalesceBytes) flush();
  }

  bool next_task_expected_short() {
    const char* body = nullptr;
    FrameHeader h;
    if (!backlog_.empty()) {
      h = backlog_.front().header;
      body = backlog_.front().body.data();
    } else if (!parser_.peek(&h, &body)) {
      return false;
    }
    if (h.type != MessageType::kTask || h.body_size < kTaskHeaderSize) return false;
    try {
      ByteReader in(body, h.body_size);
      return (read_task_header(in).flags & kTaskExpectedShort) != 0;
    } catch (const DecodeError&) {
      return false;  // reported when the frame itself is handled
    }
  }

  // Runs one task; `lock` (io_mu_) is released while its function runs, so that its shoal calls
  // can use the socket. The frame is decoded first: it may move while the function runs.
  void run_task(Lock& lock, const Frame& frame) {
    const FunctionRegistry& registry = FunctionRegistry::instance();
    const RegisteredFunction* fn = nullptr;
    Task task;
    try {
      task = decode_task(frame);
      fn = registry.at(task.header.function_index);
      if (fn == nullptr || fn->check != task.header.function_check) {
        throw DecodeError("task names function #" + std::to_string(task.header.function_index) +
                          ", which this worker does not have");
      }
      for (const ValueRecord& r : task.args) {
        if (r.kind == RecordKind::kStore && !arena_contains(r.offset, r.size)) {
          throw DecodeError("argument lies outside the object store");
        }
      }
    } catch (const DecodeError& e) {
      throw ProtocolViolation{std::string("bad task message: ") + e.what()};
    }
    const std::vector<ValueRecord> args = std::move(task.args);
    const std::uint64_t task_id = task.task;
    if (skip_cancelled(task_id)) return;
    const bool retry_on_throw = (task.header.flags & kTaskRetryExceptions) != 0;
    const std::vector<std::uint64_t> retry_types = std::move(task.retry_types);

    const std::uint32_t num_returns = task.num_returns;
    InvokeContextImpl ctx(
        &args, p_.arena_base, [this, task_id](std::uint64_t n) { return allocate(task_id, n); },
        num_returns);
    // A throw trace per depth: a nested task's throws must not overwrite its parent's record.
    // The outermost task's trace lives in the loop itself: a fresh worker's first task would pay a
    // copy-on-write fault for heap it allocates (tens of microseconds on our VMs).
    const std::size_t level = depth_.load();
    if (!concurrent_ && level > 0 && traces_.size() < level) {
      traces_.push_back(std::make_unique<ThrowTrace>());
    }
    // A concurrent actor's calls run on several threads at once: one trace per thread.
    thread_local ThrowTrace thread_trace;
    ThrowTrace& throw_trace =
        concurrent_ ? thread_trace : (level == 0 ? throw_trace_ : *traces_[level - 1]);
    const auto started = Clock::now();
    TaskStatus status = TaskStatus::kOk;
    std::string type_name, what;
    std::uint64_t requested = 0, capacity = 0;
    std::vector<const void*> thrown_at;  // where the task's exception was thrown
    // Refs packed into the result: their handles are kept until TaskDone is written, so that the
    // result holds them before this worker's own references go.
    std::vector<detail::HandlePtr> contained;
    {
      // Records the stack of every throw below this frame while the function runs.
      const ThrowTrace::Armed armed(throw_trace, __builtin_frame_address(0));
      const Depth depth(depth_);
      const Running running(*this, task_id);
      lock.unlock();
      struct Relock {
        Lock& lock;
        ~Relock() { lock.lock(); }
      } relock{lock};
      try {
        // Refs packed into the result (a vector of refs): the result objects will hold them.
        RefCollector collector(runtime_.get());
        fn->invoker(fn->address, ctx);
        contained = collector.take();
      } catch (const ObjectStoreFullError& e) {
        status = TaskStatus::kStoreFull;
        requested = e.requested_bytes();
        capacity = e.capacity_bytes();
      } catch (const DriverGone&) {  // from allocate(): not the task's failure, the worker's end
        throw;
      } catch (const ProtocolViolation&) {
        throw;
      } catch (...) {  // whatever the task threw: a std::exception, `throw 42;`, a struct
        status = retry_on_throw && current_exception_matches(retry_types)
                     ? TaskStatus::kRetryableError
                     : TaskStatus::kError;
        ExceptionDescription d = describe_current_exception();
        type_name = std::move(d.type_name);
        what = std::move(d.what);
        thrown_at = throw_trace.frames_of_current();
      }
    }
    const auto ended = Clock::now();
    const auto exec_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(ended - started).count());
    last_task_long_ =
        exec_ns >= static_cast<std::uint64_t>(std::chrono::nanoseconds(kLongTask).count());
    TaskDone done;
    done.task = task_id;
    done.status = status;
    done.exec_ns = exec_ns;
    done.start_ns = steady_ns(started);
    if (ctx.result_started_ns() != 0) {
      done.store_ns = static_cast<std::uint64_t>(
          std::max<std::int64_t>(0, steady_ns(ended) - ctx.result_started_ns()));
    }
    if (status == TaskStatus::kOk && num_returns > 1) {
      done.status = TaskStatus::kOkMany;
      ByteReader records(ctx.result_record().data(), ctx.result_record().size());
      for (std::uint32_t i = 0; i < num_returns; ++i) done.values.push_back(read_record(records));
    } else if (status == TaskStatus::kOk) {
      ByteReader record(ctx.result_record().data(), ctx.result_record().size());
      done.value = read_record(record);
    } else if (status == TaskStatus::kError || status == TaskStatus::kRetryableError) {
      // Both are cut by describe_current_exception(), the frames by ModuleFrames::kMaxFrames: the
      // reply stays far below the frame limit.
      done.type_name = type_name;
      done.what = what;
      // Addresses only: naming them reads symbol tables (slow the first time in a process), which
      // the driver does if and when the program asks (TaskError::backtrace()).
      done.frames = to_module_frames(thrown_at);
    } else {
      done.requested = requested;
      done.capacity = capacity;
    }
    done.contained = ids_of(contained);
    drain_ref_ops();  // refs the task read from values are held before its arguments go
    encode_task_done(out_, done);
    end_task_output();
  }

  // What the function printed reaches the terminal (or the driver's log) before its result. When
  // output goes to the driver's log, a last line the task printed without a newline is ended
  // here, so it is logged as a line of this task's, not glued to the next task's first line.
  // Stdio buffers line by line, so bytes still pending in a stream's buffer are exactly such a
  // partial line; checking costs no system call. (A partial line that already left the buffer,
  // flushed with std::flush or fflush(), written with write(2) or by a program the task ran, is
  // ended by the driver when it sees this task's result, if no other task is queued behind it on
  // this worker: see WorkerOutput::end_of_task.)
  void end_task_output() {
    if (p_.output_forwarded) {
      // Before any flush below: std::cout and std::cerr write into these same stdio buffers.
      for (FILE* stream : {stdout, stderr}) {
        if (__fpending(stream) > 0) std::fputc('\n', stream);
      }
    }
    std::cout.flush();  // iostreams not synchronised with stdio have buffers of their own
    std::cerr.flush();
    std::clog.flush();
    std::fflush(stdout);
    std::fflush(stderr);
  }

  // Asks the driver for result space and waits for the answer (the function has returned; its
  // result is being encoded, without io_mu_).
  std::uint64_t allocate(std::uint64_t task_id, std::uint64_t size) {
    // Replies held back for coalescing go first: the driver expects them in task order.
    const OwnedFrame f = call([&](detail::ByteBuffer& out, std::uint64_t request) {
      encode_alloc_request(out, AllocRequest{task_id, request, size});
    });
    AllocReply reply;
    try {
      reply = decode_alloc_reply(f.frame());
    } catch (const DecodeError& e) {
      throw ProtocolViolation{e.what()};
    }
    if (reply.task != task_id) throw ProtocolViolation{"allocation reply for another request"};
    if (!reply.ok) {
      throw ObjectStoreFullError("shoal: the object store has no room for this result", size,
                                 reply.value);
    }
    if (!arena_contains(reply.value, size)) throw ProtocolViolation{"allocation outside the store"};
    return reply.value;
  }

  bool arena_contains(std::uint64_t offset, std::uint64_t size) const {
    return offset <= p_.arena_size && size <= p_.arena_size - offset;
  }

  // Waits for more bytes from the driver. It polls first, for up to kPollBeforeBlocking, and only
  // then blocks: on our VMs a blocking wake-up costs tens of microseconds (a context switch and an
  // interrupt on an idle vCPU), while the next task of a busy driver or the answer to a
  // synchronous get() usually arrives within a few. Each poll is a non-blocking recv(), with a
  // sched_yield() between them so that a driver thread waiting for this core gets it.
  void fill() {
    parser_.compact();
    const auto spin_until = Clock::now() + kPollBeforeBlocking;
    for (bool spin = true;;) {
      char* at = parser_.writable(kReadChunk);
      const ssize_t n = recv(p_.socket, at, kReadChunk, spin ? MSG_DONTWAIT : 0);
      if (n > 0) {
        parser_.commit(static_cast<std::size_t>(n));
        note_cancels();
        return;
      }
      parser_.commit(0);
      if (n == 0) throw DriverGone{};
      if (errno == EINTR) continue;
      if (spin && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        sched_yield();
        spin = Clock::now() < spin_until;
        continue;
      }
      throw DriverGone{};  // ECONNRESET and friends: the driver is gone too
    }
  }

  // Appends the references taken (AddRef) and dropped (Release) since the last time, in the order
  // they happened: a ref read from inside a value is held before the value can go. io_mu_ held.
  void drain_ref_ops() {
    if (ref_ops_count_.load(std::memory_order_acquire) == 0) return;  // every task passes here
    std::lock_guard<std::mutex> lock(release_mu_);
    ref_ops_count_.store(0, std::memory_order_relaxed);
    std::size_t i = 0;
    std::vector<ObjectId> run;
    while (i < ref_ops_.size()) {
      const bool add = ref_ops_[i].first;
      run.clear();
      for (; i < ref_ops_.size() && ref_ops_[i].first == add; ++i)
        run.push_back(ref_ops_[i].second);
      encode_id_list(out_, add ? MessageType::kAddRef : MessageType::kRelease, run);
    }
    ref_ops_.clear();
  }

  // Writes what is buffered, and the references taken or dropped since the last write. io_mu_
  // held.
  void flush() {
    drain_ref_ops();
    if (out_.empty()) return;
    write_all(out_.data(), out_.size());
    out_.clear();
  }

  // A task cancelled before it started is answered without running (in order: the driver expects
  // every task's reply in the order it sent them).
  bool skip_cancelled(std::uint64_t task_id) {
    if (!forget_cancel(task_id)) return false;
    TaskDone done;
    done.task = task_id;
    done.status = TaskStatus::kCancelled;
    encode_task_done(out_, done);
    return true;
  }

  // Every CancelTask the worker receives is noted at once, ahead of its turn, so that a task
  // queued behind the running one is skipped even though its CancelTask comes after it.
  void note_cancels() {
    parser_.scan_new([this](const FrameHeader& h) {
      if (h.type != MessageType::kCancelTask) return;
      std::lock_guard<std::mutex> lock(cancel_mu_);
      if (cancelled_.insert(h.id).second) cancelled_count_.fetch_add(1);
    });
  }

  // Drops `task`'s cancel flag; true if it had one. Takes no lock while nothing is cancelled
  // (every task asks).
  bool forget_cancel(std::uint64_t task) {
    if (cancelled_count_.load(std::memory_order_relaxed) == 0) return false;
    std::lock_guard<std::mutex> lock(cancel_mu_);
    if (cancelled_.erase(task) == 0) return false;
    cancelled_count_.fetch_sub(1);
    return true;
  }

  // The task runs on this thread: is_cancelled() answers for it; its cancel flag goes with it.
  // Made and destroyed with io_mu_ held (run_task), which guards running_.
  struct Running {
    Running(WorkerLoop& loop, std::uint64_t task) : loop_(loop), task_(task) {
      previous_ = t_current_task;
      t_current_task = task;
      loop_.running_.push_back(task);
    }
    ~Running() {
      t_current_task = previous_;
      auto it = std::find(loop_.running_.begin(), loop_.running_.end(), task_);
      if (it != loop_.running_.end()) loop_.running_.erase(it);
      loop_.forget_cancel(task_);
    }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;
    WorkerLoop& loop_;
    std::uint64_t task_;
    std::uint64_t previous_ = 0;
  };

  // Counts the tasks running on this thread's stack (in_task()).
  struct Depth {
    explicit Depth(std::atomic<std::size_t>& d) : d_(d) { d_.fetch_add(1); }
    ~Depth() { d_.fetch_sub(1); }
    std::atomic<std::size_t>& d_;
  };

  void write_all(const char* data, std::size_t size) {
    if (send_all(p_.socket, data, size) != 0) throw DriverGone{};
  }

  WorkerParams p_;
  std::shared_ptr<WorkerRuntime> runtime_;
  std::mutex io_mu_;  // guards everything down to requests_
  FrameParser parser_;
  detail::ByteBuffer out_;
  std::deque<OwnedFrame> backlog_;                         // tasks to run after the current one
  std::unordered_map<std::uint64_t, OwnedFrame> replies_;  // replies to calls of other threads
  std::uint64_t requests_ = 0;                             // request ids used so far
  TaskLimits limits_;                                      // the driver's Session message
  ThrowTrace throw_trace_;                                 // the outermost task's
  std::vector<std::unique_ptr<ThrowTrace>> traces_;        // one per depth of nested tasks
  std::atomic<std::size_t> depth_{0};                      // tasks running (nested ones too)
  std::mutex release_mu_;
  // References taken (true) and dropped (false), not yet sent (release_mu_).
  std::vector<std::pair<bool, ObjectId>> ref_ops_;
  std::atomic<std::size_t> ref_ops_count_{0};  // ref_ops_.size(), read without the lock
  std::atomic<std::uint64_t> next_id_{0};
  bool last_task_long_ = false;        // io_mu_
  std::uint32_t max_concurrency_ = 1;  // an actor's (ActorStart)
  // A concurrent actor (serve_concurrently): its call threads wait on work_cv_ for the backlog
  // and on reply_cv_ for their replies; stop_ ends them (all io_mu_).
  bool concurrent_ = false;
  bool stop_ = false;
  std::condition_variable work_cv_;
  std::condition_variable reply_cv_;
  // Tasks running (nested ones too): a few, kept in the object (io_mu_).
  boost::container::small_vector<std::uint64_t, 8> running_;
  std::mutex cancel_mu_;                         // guards cancelled_
  std::unordered_set<std::uint64_t> cancelled_;  // tasks CancelTask named, not yet done with
  std::atomic<std::size_t> cancelled_count_{0};  // its size, read without the lock
};

}  // namespace

// A worker keeps the memory it has used. By default glibc serves blocks over 128 KiB (an image,
// a buffer) with a fresh mmap() and returns them to the kernel on free, and trims the heap top:
// the next task then pays a page fault for every page again, about 30% of a loop that rotates
// images on our VMs. With these settings, freed memory stays in the worker's heap for reuse.
static void keep_memory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest value glibc accepts on 64-bit
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  mallopt(M_TOP_PAD, 16 << 20);  // grow the heap in 16 MiB steps, not page by page
}

// Tasks that start tasks nest on the worker's stack: a parent blocked in get() runs its child
// inside the call (worker_loop's await_reply), a few kilobytes of stack per level. The main
// thread's stack grows on demand up to RLIMIT_STACK (8 MiB by default: about a thousand levels);
// the gap the kernel leaves below it at exec is at least 128 MiB, which this soft limit lets the
// worker use (growth stops at the first mapping below in any case).
static void allow_deep_nesting() {
  constexpr rlim_t kStack = rlim_t{256} << 20;
  struct rlimit limit {};
  if (getrlimit(RLIMIT_STACK, &limit) != 0) return;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < kStack) {
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? kStack : std::min(kStack, limit.rlim_max);
    setrlimit(RLIMIT_STACK, &limit);
  }
}

std::uint64_t current_task_id() noexcept { return t_current_task; }
std::int64_t current_worker_id() noexcept { return g_worker_id; }

int run_worker(const WorkerParams& params) {
  g_worker_id = static_cast<std::int64_t>(params.worker);
  allow_deep_nesting();
  // Line-buffered stdio: each line reaches the pipe (or terminal) when it ends, so a line printed
  // just before abort(), a segfault or SIGKILL is not lost in a stdio buffer. Costs a write per
  // line, which a task printing in a tight loop may notice. When output is forwarded to the
  // driver, stderr is line-buffered too (it is unbuffered by default), so that a partial line a
  // task leaves on it can be seen and ended when the task ends (end_task_output); only a partial
  // line at the moment of a crash is lost that way, as in Python, whose stderr is line-buffered.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (params.output_forwarded) std::setvbuf(stderr, nullptr, _IOLBF, 0);
  keep_memory();
  return WorkerLoop(params).run();
}

}  // namespace shoal::internal
