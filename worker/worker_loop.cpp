#include "worker/worker_loop.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iostream>
#include <string>
#include <typeinfo>
#include <vector>

#include <malloc.h>
#include <sched.h>
#include <stdio_ext.h>
#include <sys/socket.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/core_runtime.hpp"
#include "src/common/function_registry.hpp"
#include "src/common/limits.hpp"
#include "src/common/module_frames.hpp"
#include "src/transport/frame.hpp"
#include "src/transport/protocol.hpp"
#include "src/transport/socket_io.hpp"
#include "worker/exception_description.hpp"
#include "worker/invoke_context.hpp"
#include "worker/throw_trace.hpp"

namespace shoal::internal {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kCoalesceBytes = std::size_t{64} * 1024;
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;

// The driver closed its end (or we were told to stop): leave quietly.
struct DriverGone {};

// The driver sent something we cannot trust: leave loudly.
struct ProtocolViolation {
  std::string reason;
};

class WorkerLoop {
 public:
  explicit WorkerLoop(const WorkerParams& p) : p_(p) {}

  int run() {
    try {
      send_ready();
      serve();
    } catch (const DriverGone&) {
      return 0;
    } catch (const ProtocolViolation& v) {
      SHOAL_LOG(kError, "closing the connection to the driver: {}", v.reason);
      return 2;
    }
    return 0;
  }

 private:
  struct OwnedFrame {
    FrameHeader header;
    std::vector<char> body;
  };

  void send_ready() {
    encode_ready(out_, Ready{p_.worker, getpid()});
    flush();
  }

  void serve() {
    for (;;) {
      if (!backlog_.empty()) {
        OwnedFrame f = std::move(backlog_.front());
        backlog_.pop_front();
        handle(Frame{f.header, f.body.data()});
        continue;
      }
      Frame f;
      if (next_frame(&f)) {
        handle(f);
        continue;
      }
      flush();  // about to block: nothing may wait in the buffer
      fill();
    }
  }

  bool next_frame(Frame* f) {
    try {
      return parser_.next(f);
    } catch (const FrameError& e) {
      throw ProtocolViolation{e.what()};
    }
  }

  void handle(const Frame& f) {
    if (f.header.type != MessageType::kTask) {
      throw ProtocolViolation{std::string("unexpected ") + message_type_name(f.header.type) +
                              " message"};
    }
    run_task(f);
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

  void run_task(const Frame& frame) {
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
    args_ = std::move(task.args);
    const std::uint64_t task_id = task.task;

    InvokeContextImpl ctx(&args_, p_.arena_base,
                          [this, task_id](std::uint64_t n) { return allocate(task_id, n); });
    const auto started = Clock::now();
    TaskStatus status = TaskStatus::kOk;
    std::string type_name, what;
    std::uint64_t requested = 0, capacity = 0;
    std::vector<const void*> thrown_at;  // where the task's exception was thrown
    {
      // Records the stack of every throw below this frame while the function runs.
      const ThrowTrace::Armed armed(throw_trace_, __builtin_frame_address(0));
      try {
        fn->invoker(fn->address, ctx);
      } catch (const ObjectStoreFullError& e) {
        status = TaskStatus::kStoreFull;
        requested = e.requested_bytes();
        capacity = e.capacity_bytes();
      } catch (const DriverGone&) {  // from allocate(): not the task's failure, the worker's end
        throw;
      } catch (const ProtocolViolation&) {
        throw;
      } catch (...) {  // whatever the task threw: a std::exception, `throw 42;`, a struct
        status = TaskStatus::kError;
        ExceptionDescription d = describe_current_exception();
        type_name = std::move(d.type_name);
        what = std::move(d.what);
        thrown_at = throw_trace_.frames_of_current();
      }
    }
    const auto exec_ns = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count());
    TaskDone done;
    done.task = task_id;
    done.status = status;
    done.exec_ns = exec_ns;
    if (status == TaskStatus::kOk) {
      ByteReader record(ctx.result_record().data(), ctx.result_record().size());
      done.value = read_record(record);
    } else if (status == TaskStatus::kError) {
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

  // Asks the driver for result space and waits for the answer, keeping any task messages that
  // arrive meanwhile for later.
  std::uint64_t allocate(std::uint64_t task_id, std::uint64_t size) {
    // Replies held back for coalescing go first: the driver expects them in task order.
    const std::uint64_t request = ++requests_;
    encode_alloc_request(out_, AllocRequest{task_id, request, size});
    flush();
    for (;;) {
      Frame f;
      while (next_frame(&f)) {
        if (f.header.type == MessageType::kAllocReply) {
          AllocReply reply;
          try {
            reply = decode_alloc_reply(f);
          } catch (const DecodeError& e) {
            throw ProtocolViolation{e.what()};
          }
          if (reply.task != task_id || reply.request != request) {
            throw ProtocolViolation{"allocation reply for another request"};
          }
          if (!reply.ok) {
            throw ObjectStoreFullError("shoal: the object store has no room for this result", size,
                                       reply.value);
          }
          if (!arena_contains(reply.value, size))
            throw ProtocolViolation{"allocation outside the store"};
          return reply.value;
        }
        OwnedFrame copy{f.header, std::vector<char>(f.body, f.body + f.header.body_size)};
        backlog_.push_back(std::move(copy));
      }
      fill();
    }
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

  void flush() {
    if (out_.empty()) return;
    write_all(out_.data(), out_.size());
    out_.clear();
  }

  void write_all(const char* data, std::size_t size) {
    if (send_all(p_.socket, data, size) != 0) throw DriverGone{};
  }

  WorkerParams p_;
  FrameParser parser_;
  detail::ByteBuffer out_;
  std::deque<OwnedFrame> backlog_;
  std::vector<ValueRecord> args_;
  std::uint64_t requests_ = 0;  // AllocRequest ids sent so far
  ThrowTrace throw_trace_;
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

int run_worker(const WorkerParams& params) {
  // The shoal API inside a task: refused, with the reason, by this process's runtime.
  exchange_current_runtime(std::make_shared<UnusableRuntime>(
      "shoal: the shoal API was called inside a remote function (in a worker); nested tasks are "
      "not supported: return a value and call remote() from the driver instead"));
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
