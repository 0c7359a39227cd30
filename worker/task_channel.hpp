// What a worker's runtime needs from its worker loop: the one socket to the driver, shared by the
// loop (tasks in, results out) and by the calls its running task makes (tasks that start tasks).
// The loop implements it (worker_loop.cpp); the runtime (worker_runtime.hpp) only encodes and
// decodes.
//
// Thread safety: every member may be called from any thread; calls are served one at a time (a
// call holds the socket until its reply comes, running the nested tasks the driver sends
// meanwhile on the calling thread).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>

#include "src/common/ids.hpp"
#include "src/common/task_spec.hpp"
#include "src/transport/frame.hpp"

namespace shoal::internal {

/// A frame with a body of its own (a reply kept past the next read).
struct OwnedFrame {
  FrameHeader header;
  std::vector<char> body;
  Frame frame() const noexcept { return Frame{header, body.data()}; }
};

class TaskChannel {
 public:
  /// Writes the frames `encode` appends, now (a request that needs no answer).
  virtual void send(const std::function<void(detail::ByteBuffer&)>& encode) = 0;
  /// Writes the request `encode` appends, with the request id it is given, and blocks until the
  /// driver's reply to it; nested tasks the driver sends meanwhile run on this thread.
  virtual OwnedFrame call(
      const std::function<void(detail::ByteBuffer&, std::uint64_t)>& encode) = 0;
  /// Drops one reference to `id`: sent with the next frames. Never blocks for long, never throws.
  virtual void release(ObjectId id) noexcept = 0;
  /// Takes one reference to `id` (a ref read from inside a value): sent before anything this
  /// thread sends next, and before any later release.
  virtual void hold(ObjectId id) = 0;
  /// A new id for a task or object this worker's tasks create (worker_made_id()).
  virtual ObjectId new_id() noexcept = 0;
  /// What the session allows a task to ask for (the driver's Session message).
  virtual TaskLimits limits() = 0;
  /// True while a task runs on this worker (calls outside a task are refused).
  virtual bool in_task() const noexcept = 0;
  /// True if the task running on the calling thread was cancelled (CancelTask came). Looks at
  /// the socket at most once per millisecond, without blocking.
  virtual bool current_task_cancelled() = 0;
  virtual char* arena_base() const noexcept = 0;
  virtual std::uint64_t arena_size() const noexcept = 0;

 protected:
  ~TaskChannel() = default;
};

}  // namespace shoal::internal
