// A Config checked and resolved for a session: the same rules whether the session has worker
// processes or runs in local mode.
#pragma once

#include <cstdint>

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

}  // namespace shoal::internal
