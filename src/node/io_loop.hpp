// The driver's I/O thread: one Boost.Asio io_context that reads every worker's socket and output
// pipes and the fork helper's socket, writes coalesced frames, and runs the store's timers.
//
// Waiting policy (docs/architecture.md, "Waiting: poll, then sleep"): after a burst of work, while
// some worker is idle (set_may_poll), the thread keeps polling (non-blocking) for up to
// kPollBeforeBlocking before it blocks in epoll_wait, so that the answer to a synchronous call
// needs no wake-up. While every worker is busy it blocks at once: polling would only take CPU from
// the workers. Nor does it poll while a program thread polls for a result itself (Spinning): two
// cores do not fit three pollers. It asks the kernel for a short time slice, so that it gets a
// core soon after it is woken even while the workers use every core.
//
// Thread safety: post(), set_may_poll() and Spinning may be used from any thread; start() and
// finish() from the thread that owns the loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace shoal::internal {

class IoLoop {
 public:
  IoLoop();
  ~IoLoop();
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  boost::asio::io_context& context() noexcept { return io_; }

  /// Starts the thread.
  void start();
  /// Runs `fn` on the I/O thread.
  void post(std::function<void()> fn);
  /// Lets the loop end once it has no work left (sockets closed, timers done), and waits for
  /// that; if the thread was never started, runs the remaining handlers here.
  void finish();

  /// Whether some worker is idle, so that a reply may come soon: the thread may poll.
  void set_may_poll(bool may) noexcept { may_poll_.store(may, std::memory_order_relaxed); }

  /// While one lives, a program thread polls for a result itself and the I/O thread does not (and
  /// not for kPollBeforeBlocking after the last one ends).
  class Spinning {
   public:
    explicit Spinning(IoLoop& loop) noexcept;
    ~Spinning();
    Spinning(const Spinning&) = delete;
    Spinning& operator=(const Spinning&) = delete;

   private:
    IoLoop& loop_;
  };

 private:
  void run();
  bool may_poll() const noexcept;

  boost::asio::io_context io_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::atomic<bool> may_poll_{true};
  std::atomic<int> spinning_{0};
  std::atomic<std::int64_t> last_spin_{0};  // when a spinner last stopped (steady_clock ns)
};

}  // namespace shoal::internal
