// The ids the runtime's parts share. An object's id is unique for the process's life (one counter
// for every session: new_object_id()); a task's id is its result object's id; a worker's id is
// unique within a session and grows past the number of CPUs (every replacement worker gets a new
// one, and workers beyond the task pool, for actors and for tasks blocked in get(), will need
// more); a node is one machine (one for now: the driver's).
#pragma once

#include <cstdint>

namespace shoal::internal {

using ObjectId = std::uint64_t;
using TaskId = std::uint64_t;
using WorkerId = std::uint64_t;
using NodeId = std::uint32_t;

/// The driver's own machine.
inline constexpr NodeId kLocalNode = 0;

}  // namespace shoal::internal
