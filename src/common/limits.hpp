// Size thresholds shared by the driver and the workers.
#pragma once

#include <cstddef>

namespace shoal::internal {

/// Values up to this size travel inside messages and are kept on the driver's heap; larger ones
/// go to the shared-memory arena. A message costs about 1 us to send whatever its size up to a
/// few KB, while a store round trip needs an allocation and bookkeeping; Ray uses 100 KB.
constexpr std::size_t kInlineThreshold = 64 * 1024;

/// Inline argument bytes one task may carry; arguments past it go to the store, which keeps every
/// task message far below the frame size limit.
constexpr std::size_t kMaxInlineArgsPerTask = 1024 * 1024;

}  // namespace shoal::internal
