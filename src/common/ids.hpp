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

/// Ids a worker makes for the tasks and objects its running tasks create, so that remote() and
/// put() inside a task need no round trip (Ray's owner-made ids): the top bit, the worker's id
/// (23 bits), then the worker's own count (40 bits). new_object_id() never reaches the top bit.
inline constexpr ObjectId kWorkerMadeBit = ObjectId{1} << 63;
inline constexpr int kWorkerMadeCountBits = 40;
inline constexpr WorkerId kMaxWorkerMadeWorker = (WorkerId{1} << 23) - 1;
inline constexpr ObjectId worker_made_id(WorkerId worker, std::uint64_t count) noexcept {
  return kWorkerMadeBit | (worker << kWorkerMadeCountBits) |
         (count & ((ObjectId{1} << kWorkerMadeCountBits) - 1));
}
/// True if `id` is one `worker` may make.
inline constexpr bool made_by_worker(ObjectId id, WorkerId worker) noexcept {
  return (id >> kWorkerMadeCountBits) == (worker_made_id(worker, 0) >> kWorkerMadeCountBits);
}

/// The driver's own machine.
inline constexpr NodeId kLocalNode = 0;

}  // namespace shoal::internal
