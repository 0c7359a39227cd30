// A Config checked and resolved for a session, and the other rules a session applies the same way
// whether it has worker processes or runs in local mode.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include <shoal/config.hpp>

#include "src/common/logging.hpp"

namespace shoal::internal {

struct SessionConfig {
  int cpus = 0;                    // Config::num_cpus, or the CPUs this process may use
  std::uint64_t store_bytes = 0;   // the object store's capacity
  std::uint64_t memory_bytes = 0;  // memory for tasks: what is available besides the store
  logging::Level level = logging::Level::kWarn;
};

/// Checks every field of `config` (InvalidConfigError names the field and what to pass) and
/// resolves the defaults against this machine.
SessionConfig resolve_config(const Config& config);

/// A session's resources as Ray names them (cluster_resources(), available_resources()): CPU,
/// memory (bytes), object_store_memory (bytes) and node:<address>. With `available`, a resource
/// that is used up is left out, as in Ray.
std::map<std::string, double> resource_map(bool available, double cpus, double memory_bytes,
                                           std::uint64_t store_bytes,
                                           const std::string& node_address);

}  // namespace shoal::internal
