#include "src/node/io_loop.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>

#include <boost/asio/post.hpp>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "src/common/limits.hpp"
#include "src/common/logging.hpp"

namespace shoal::internal {
namespace {

std::int64_t now_ns() noexcept {
  return std::chrono::steady_clock::now().time_since_epoch().count();
}

// Asks the kernel for a short time slice for this thread (Linux >= 6.12, EEVDF: sched_attr's
// sched_runtime for SCHED_OTHER). The I/O thread runs often and briefly; with every core busy
// running workers, a normal slice (milliseconds) made it wait for a worker's slice to end before it
// could hand out the next task (bench/NOTES.md). With a short slice it gets an earlier deadline and
// preempts on wake-up. Its share of CPU does not change. Older kernels refuse or ignore the
// request, which is harmless.
void request_short_slice() {
  struct {  // the kernel's struct sched_attr (linux/sched/types.h clashes with <sched.h>)
    std::uint32_t size, sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime, sched_deadline, sched_period;
    std::uint32_t sched_util_min, sched_util_max;
  } attr{};
  attr.size = sizeof attr;
  attr.sched_policy = SCHED_OTHER;
  attr.sched_nice = static_cast<std::int32_t>(getpriority(PRIO_PROCESS, 0));
  attr.sched_runtime = 100'000;  // ns
  if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0) {
    SHOAL_LOG(kDebug, "no short time slice for the I/O thread: {}", std::strerror(errno));
  }
}

}  // namespace

IoLoop::IoLoop() { work_.emplace(io_.get_executor()); }

IoLoop::~IoLoop() {
  if (thread_.joinable()) finish();
}

void IoLoop::start() {
  thread_ = std::thread([this] { run(); });
}

void IoLoop::post(std::function<void()> fn) { boost::asio::post(io_, std::move(fn)); }

void IoLoop::finish() {
  work_.reset();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    io_.run();  // never started: run the handlers left (the sockets' close handlers) here
  }
}

bool IoLoop::may_poll() const noexcept {
  return may_poll_.load(std::memory_order_relaxed) &&
         spinning_.load(std::memory_order_relaxed) == 0 &&
         now_ns() - last_spin_.load(std::memory_order_relaxed) >
             std::chrono::nanoseconds(kPollBeforeBlocking).count();
}

void IoLoop::run() {
  request_short_slice();
  while (!io_.stopped()) {
    if (io_.poll() > 0) continue;
    bool worked = false;
    if (may_poll()) {
      const auto spin_until = std::chrono::steady_clock::now() + kPollBeforeBlocking;
      while (!io_.stopped() && may_poll() && std::chrono::steady_clock::now() < spin_until) {
        if (io_.poll() > 0) {
          worked = true;
          break;
        }
        sched_yield();
      }
    }
    if (!worked && io_.run_one() == 0) break;  // run_one() blocks; 0 means out of work
  }
}

IoLoop::Spinning::Spinning(IoLoop& loop) noexcept : loop_(loop) {
  loop_.spinning_.fetch_add(1, std::memory_order_relaxed);
}

IoLoop::Spinning::~Spinning() {
  loop_.spinning_.fetch_sub(1, std::memory_order_relaxed);
  loop_.last_spin_.store(now_ns(), std::memory_order_relaxed);
}

}  // namespace shoal::internal
