// Size thresholds shared by the driver and the workers.
#pragma once

#include <chrono>
#include <cstddef>

namespace shoal::internal {

/// Values up to this size travel inside messages and are kept on the driver's heap; larger ones
/// go to the shared-memory arena. A message costs about the same to send whatever its size up to a
/// few KB (BM_Floor_UnixSocketRoundTrip, docs/benchmarks.md), while a store round trip needs an
/// allocation and bookkeeping; Ray uses 100 KB.
constexpr std::size_t kInlineThreshold = std::size_t{64} * 1024;

/// Inline argument bytes one task may carry; arguments past it go to the store, which keeps every
/// task message far below the frame size limit.
constexpr std::size_t kMaxInlineArgsPerTask = std::size_t{1024} * 1024;

/// How long a waiter polls before it blocks: a worker waiting for tasks, the I/O thread waiting
/// for replies, a thread in get()/wait(). A blocking wake-up costs tens of microseconds on our VMs,
/// while the next message of a busy stream, or a synchronous call's answer, usually comes sooner
/// (docs/architecture.md, "Waiting: poll, then sleep").
constexpr auto kPollBeforeBlocking = std::chrono::microseconds(50);

}  // namespace shoal::internal
