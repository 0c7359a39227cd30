// Reading workers' stdout and stderr pipes on the I/O thread (see worker_output.hpp).
//
// Each pipe is a Stream: an Asio stream_descriptor, a read buffer and a LineSplitter. One wait for
// readability is in flight per pipe; when it fires, the stream reads what the pipe holds without
// blocking (bounded per wake-up) and re-arms. Each completed line goes straight to
// logging::write_worker_line(), which writes it under spdlog's console mutex, so lines from two
// workers, or a worker's line and a shoal log line, never mix inside a line. Lines of one pipe
// keep their order; lines of different pipes are ordered only by when they were read.
//
// A Stream is kept alive by its pending read's handler and by WorkerOutput::open_; it never
// touches its owner after the owner's destructor has closed it (closed_ is set first).
//
// Rejected: reading the pipes in the fork helper and sending the lines as messages. That adds a
// copy and a hop per line, and the helper would have to multiplex many pipes; the driver already
// has an event loop.
#include "src/node/worker_output.hpp"

#include <cerrno>
#include <string>
#include <string_view>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <fmt/format.h>
#include <unistd.h>

#include "src/common/logging.hpp"
#include "src/node/line_splitter.hpp"

namespace shoal::internal {

namespace asio = boost::asio;

namespace {
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;  // a full pipe buffer in one read
// A pipe that never runs dry (a task printing in a loop) must not keep the I/O thread from the
// sockets and the other pipes.
constexpr std::size_t kMaxReadPerWakeup = 4 * kReadChunk;
}  // namespace

class WorkerOutput::Stream : public std::enable_shared_from_this<Stream> {
 public:
  Stream(asio::io_context& io, int fd, bool is_stderr, std::string origin, WorkerOutput* owner)
      : pipe_(io, fd),
        which_(is_stderr ? logging::Stream::kStderr : logging::Stream::kStdout),
        origin_(std::move(origin)),
        owner_(owner),
        splitter_(kMaxLine),
        chunk_(new char[kReadChunk]) {
    boost::system::error_code ignored;
    pipe_.non_blocking(true, ignored);  // reads below must never block the I/O thread
  }

  // Waits for bytes, then reads them itself (not async_read_some): bytes are then only ever
  // taken from the pipe by read_available(), in order, whether it runs here or from
  // end_of_task(). With async_read_some, bytes Asio had already read for a handler still queued
  // could be overtaken by a direct read.
  void wait_for_bytes() {
    pipe_.async_wait(asio::posix::descriptor::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& ec) {
                       self->on_readable(ec);
                     });
  }

  // Reads what the pipe holds now, without blocking. Returns false at EOF (or an error).
  bool read_available() {
    for (std::size_t total = 0; total < kMaxReadPerWakeup;) {
      const ssize_t n = ::read(pipe_.native_handle(), chunk_.get(), kReadChunk);
      if (n > 0) {
        splitter_.feed(std::string_view(chunk_.get(), static_cast<std::size_t>(n)),
                       [this](std::string_view line) { print(line); });
        total += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return true;  // more may wait: the next wake-up reads it, after other pipes had their turn
  }

  // The task that wrote to this pipe has ended: read what it wrote, and print a last partial
  // line as a line of its own.
  void end_of_task() {
    if (closed_) return;
    if (!read_available()) {
      finish_at_eof();
      return;
    }
    splitter_.finish([this](std::string_view line) { print(line); });
  }

  // Stops reading. The last partial line is printed too: whatever was read is never dropped.
  void close() {
    if (closed_) return;
    closed_ = true;
    splitter_.finish([this](std::string_view line) { print(line); });
    boost::system::error_code ignored;
    pipe_.close(ignored);
  }

  // The owner is going away: stop without calling back into it.
  void detach() {
    owner_ = nullptr;
    close();
  }

 private:
  void on_readable(const boost::system::error_code& ec) {
    if (closed_) return;  // closed by drain()'s time limit or the owner's destructor
    if (!ec && read_available()) {
      wait_for_bytes();
      return;
    }
    finish_at_eof();
  }

  // EOF: the worker and everything that inherited the pipe have exited. Any other error (EIO
  // cannot happen on a pipe) ends the stream the same way.
  void finish_at_eof() {
    close();
    if (owner_ != nullptr) owner_->closed(shared_from_this());
  }

  void print(std::string_view line) { logging::write_worker_line(which_, origin_, line); }

  asio::posix::stream_descriptor pipe_;
  const logging::Stream which_;
  const std::string origin_;  // "worker 1 pid 4242"
  WorkerOutput* owner_;
  LineSplitter splitter_;
  // Not zeroed, on purpose: the driver's heap pages are shared copy-on-write with the fork
  // helper, and zeroing 64 KiB per pipe cost 64 page faults with TLB shootdowns per session,
  // a large share of init() (BM_InitShutdown, docs/benchmarks.md). Untouched, a page is faulted in
  // only when output arrives.
  std::unique_ptr<char[]> chunk_;
  bool closed_ = false;
};

WorkerOutput::~WorkerOutput() {
  for (const auto& stream : open_) stream->detach();
  for (const auto& [worker, pipes] : waiting_) {
    close(pipes.first);
    close(pipes.second);
  }
}

void WorkerOutput::add(WorkerId worker, int out_fd, int err_fd) {
  waiting_[worker] = {out_fd, err_fd};
}

void WorkerOutput::begin(WorkerId worker, pid_t pid) {
  auto it = waiting_.find(worker);
  if (it == waiting_.end()) return;
  const auto [out, err] = it->second;
  waiting_.erase(it);
  // pid 0: the fork failed (the pipes are at EOF already) or, in drain(), is not known yet.
  const std::string origin =
      pid > 0 ? fmt::format("worker {} pid {}", worker, pid) : fmt::format("worker {}", worker);
  current_[worker] = {start_stream(out, false, origin), start_stream(err, true, origin)};
  // Forget workers whose pipes both reached EOF: ids grow, so a session that replaces crashing
  // workers for hours would otherwise keep an entry (and its streams' memory) per worker.
  std::erase_if(current_, [](const auto& entry) {
    return entry.second.first.expired() && entry.second.second.expired();
  });
}

void WorkerOutput::end_of_task(WorkerId worker) {
  auto it = current_.find(worker);
  if (it == current_.end()) return;
  // Copies: a stream that reaches EOF here leaves open_, and its owner's references with it.
  for (const std::weak_ptr<Stream>& weak : {it->second.first, it->second.second}) {
    if (const std::shared_ptr<Stream> stream = weak.lock()) stream->end_of_task();
  }
}

std::weak_ptr<WorkerOutput::Stream> WorkerOutput::start_stream(int fd, bool is_stderr,
                                                               const std::string& origin) {
  auto stream = std::make_shared<Stream>(io_, fd, is_stderr, origin, this);
  open_.insert(stream);
  stream->wait_for_bytes();
  return stream;
}

void WorkerOutput::drain(std::chrono::milliseconds limit) {
  while (!waiting_.empty()) begin(waiting_.begin()->first, 0);
  if (open_.empty()) return;
  drain_timer_.emplace(io_, limit);
  drain_timer_->async_wait([this, limit](const boost::system::error_code& ec) {
    if (ec || open_.empty()) return;  // cancelled: everything reached EOF in time
    SHOAL_LOG(kWarn,
              "{} worker output pipe(s) still open {} ms after shutdown began, probably held by a "
              "process a task started that left its worker's process group; stopped reading them",
              open_.size(), limit.count());
    const auto streams = std::move(open_);
    open_.clear();
    for (const auto& stream : streams) stream->close();
  });
}

void WorkerOutput::closed(const std::shared_ptr<Stream>& stream) {
  open_.erase(stream);
  if (open_.empty() && drain_timer_) drain_timer_->cancel();
}

}  // namespace shoal::internal
