#include "src/core/session_config.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/system_info.hpp"

namespace shoal::internal {
namespace {

constexpr int kMaxCpus = 4096;
constexpr std::uint64_t kMinStoreBytes = 1 << 20;
constexpr double kDefaultStoreShare = 0.3;                   // of available memory, as Ray does
constexpr std::int64_t kMaxStoreFullTimeoutMs = 86'400'000;  // one day
constexpr std::int64_t kMaxTimelineTasks = 100'000'000;

std::uint64_t round_up_to_page(std::uint64_t n) {
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

}  // namespace

SessionConfig resolve_config(const Config& config) {
  if (config.num_cpus < 0 || config.num_cpus > kMaxCpus) {
    throw InvalidConfigError(
        fmt::format("shoal: Config::num_cpus is {}; use 1 to {}, or 0 to use the CPUs this process "
                    "may run on ({})",
                    config.num_cpus, kMaxCpus, usable_cpus()));
  }
  if (config.object_store_full_timeout_ms < 0 ||
      config.object_store_full_timeout_ms > kMaxStoreFullTimeoutMs) {
    throw InvalidConfigError(fmt::format(
        "shoal: Config::object_store_full_timeout_ms is {}; use 0 (fail at once) to {} (one day)",
        config.object_store_full_timeout_ms, kMaxStoreFullTimeoutMs));
  }
  if (config.max_retries < -1) {
    throw InvalidConfigError(
        fmt::format("shoal: Config::max_retries is {}; use 0 or more, or -1 to retry without limit",
                    config.max_retries));
  }
  if (config.timeline_max_tasks < 0 || config.timeline_max_tasks > kMaxTimelineTasks) {
    throw InvalidConfigError(
        fmt::format("shoal: Config::timeline_max_tasks is {}; use 0 (no timeline) to {}",
                    config.timeline_max_tasks, kMaxTimelineTasks));
  }
  if (config.node_timeout_ms < 1000 || config.node_timeout_ms > 3'600'000) {
    throw InvalidConfigError(
        fmt::format("shoal: Config::node_timeout_ms is {}; use 1000 to 3600000 (milliseconds)",
                    config.node_timeout_ms));
  }
  SessionConfig out;
  out.level = logging::resolve_level(config.log_level);
  const int workers = config.num_cpus > 0 ? config.num_cpus : usable_cpus();
  const std::uint64_t available = available_memory();
  std::uint64_t store = config.object_store_memory;
  if (store == 0)
    store = static_cast<std::uint64_t>(static_cast<double>(available) * kDefaultStoreShare);
  // Compared before rounding up to a page as well: a size near 2^64 would wrap around to 0.
  const bool too_large = store > available;
  store = round_up_to_page(std::max(store, kMinStoreBytes));
  if (config.object_store_memory != 0 && config.object_store_memory < kMinStoreBytes) {
    throw InvalidConfigError(fmt::format(
        "shoal: Config::object_store_memory is {} bytes; use at least {} (1 MiB), or 0 for 30% of "
        "available memory",
        config.object_store_memory, kMinStoreBytes));
  }
  if (too_large || store > available) {
    throw InvalidConfigError(fmt::format(
        "shoal: Config::object_store_memory is {} bytes, more than the {} bytes of memory this "
        "machine can give now (MemAvailable, or the cgroup limit's headroom); pass at most that, "
        "or 0 for 30% of it",
        config.object_store_memory, available));
  }
  out.cpus = workers;
  out.store_bytes = store;
  out.memory_bytes = available > store ? available - store : 0;
  return out;
}

std::map<std::string, double> resource_map(bool available, double cpus, double memory_bytes,
                                           std::uint64_t store_bytes,
                                           const std::string& node_address) {
  std::map<std::string, double> out;
  if (cpus > 1e-9 || !available) out["CPU"] = cpus;
  if (memory_bytes > 0 || !available) out["memory"] = memory_bytes;
  out["object_store_memory"] = static_cast<double>(store_bytes);
  out["node:" + node_address] = 1.0;
  return out;
}

}  // namespace shoal::internal
