// What the machine can give this process: CPUs (affinity and cgroup quota), memory (MemAvailable
// and the cgroup limit) and an address to name the node by. Read at init(), never cached.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shoal::internal {

/// CPUs this process may use: the affinity mask's count, lowered to ceil(quota / period) when a
/// cgroup (v2 cpu.max, or v1 cfs quota) sets a CPU quota. At least 1.
int usable_cpus();

/// Bytes of memory this process could still get: /proc/meminfo MemAvailable, lowered to the
/// cgroup's memory.max minus memory.current when a limit is set.
std::uint64_t available_memory();

/// The names (/proc/self/task/<tid>/comm) of this process's threads other than the calling one,
/// as "name (tid 1234)".
std::vector<std::string> other_threads();

/// The first non-loopback IPv4 address of this host, else "127.0.0.1" (Ray's node:<address>).
std::string node_address();

}  // namespace shoal::internal
