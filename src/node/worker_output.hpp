// Forwards what workers write to their stdout and stderr to the driver's log, line by line
// (Config::log_to_driver), each line prefixed with the worker's id and pid.
//
// A worker's fds 1 and 2 are the write ends of two pipes (ForkHelper::spawn); the driver holds
// the read ends and reads them here, on its I/O thread, with Asio. A stream lives until its pipe
// reaches EOF, which is when the worker *and every process that inherited the pipe* has exited,
// so it outlives its worker: what a worker wrote just before abort() or SIGKILL is still in the
// pipe, and is read and printed after its death. (A pipe, not a pty: writes to a pipe reach the
// kernel buffer at once and survive the writer; the worker's stdio is line-buffered for that.)
//
// A pipe is not read before the fork helper has said which pid the worker got (begin()): the pid
// is part of every line's prefix, and the pipe holds what the worker writes meanwhile.
//
// Shutdown: drain() reads every pipe to EOF but gives up after a time limit, because a process
// a task started inherits the pipes, and one that left the worker's process group (setsid(), a
// daemon) is not killed with the worker and may hold them open for ever.
//
// Thread safety: none. Every member function runs on the I/O thread, or while it does not run
// (before it starts, after it has been joined).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <sys/types.h>

#include "src/common/ids.hpp"

namespace shoal::internal {

class WorkerOutput {
 public:
  /// Longest line printed as one; longer ones are printed in pieces of this size.
  static constexpr std::size_t kMaxLine = std::size_t{64} * 1024;

  explicit WorkerOutput(boost::asio::io_context& io) : io_(io) {}
  /// Closes every pipe still open, without reading further.
  ~WorkerOutput();
  WorkerOutput(const WorkerOutput&) = delete;
  WorkerOutput& operator=(const WorkerOutput&) = delete;

  /// Takes ownership of the read ends of the stdout and stderr pipes of the worker just
  /// requested. Nothing is read before begin().
  void add(WorkerId worker, int out_fd, int err_fd);

  /// The fork helper answered the request for `worker`: `pid` is the worker's, or 0 if its fork
  /// failed (its pipes then just reach EOF). Starts reading that worker's pipes. Does nothing if
  /// no pipes wait for `worker`.
  void begin(WorkerId worker, pid_t pid);

  /// The task that `worker` ran has ended and no other task was queued behind it on that
  /// worker: reads what its pipes hold now (the worker wrote to them before it sent the result)
  /// and prints a last line without a newline as a line of its own, so that it is not glued to
  /// what the next task prints. (With a task queued behind, the next task may have started
  /// writing already; the worker itself ends a partial line left in its stdio buffers.)
  void end_of_task(WorkerId worker);

  /// For shutdown, after the workers were told to stop: starts reading pipes still waiting for
  /// begin(), and closes the pipes that have not reached EOF after `limit`. Once every pipe is
  /// closed this object holds no work in the io_context, so its run() can return.
  void drain(std::chrono::milliseconds limit);

 private:
  class Stream;

  std::weak_ptr<Stream> start_stream(int fd, bool is_stderr, const std::string& origin);
  void closed(const std::shared_ptr<Stream>& stream);  // a stream reached EOF (or was closed)

  boost::asio::io_context& io_;
  std::map<WorkerId, std::pair<int, int>> waiting_;  // worker -> {out, err} before begin()
  std::set<std::shared_ptr<Stream>> open_;           // being read
  // The stdout and stderr streams of each worker, for end_of_task().
  std::map<WorkerId, std::pair<std::weak_ptr<Stream>, std::weak_ptr<Stream>>> current_;
  std::optional<boost::asio::steady_timer> drain_timer_;  // set while draining
};

}  // namespace shoal::internal
