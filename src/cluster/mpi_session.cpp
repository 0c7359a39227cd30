// shoal::init() under mpirun (see mpi_session.hpp).
#include "src/cluster/mpi_session.hpp"

#include <atomic>
#include <cstdlib>
#include <string>

#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/cluster/cluster_nodes.hpp"
#include "src/cluster/node_agent.hpp"
#include "src/common/logging.hpp"
#include "src/core/driver_runtime.hpp"

namespace shoal::internal {

namespace {
std::atomic<bool> g_mpi_started{false};  // MPI_Init may be called once per process
}  // namespace

std::string narrow_binding_warning() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return {};
  const int allowed = CPU_COUNT(&set);
  const long online = sysconf(_SC_NPROCESSORS_ONLN);
  if (online <= 0 || allowed >= online) return {};
  return fmt::format(
      "shoal: this rank is bound to {} of the machine's {} CPUs (mpirun binds each rank to a "
      "core by default), so all of its workers share them; start the job with "
      "`mpirun --bind-to none --map-by ppr:1:node ...`",
      allowed, online);
}

std::shared_ptr<CoreRuntime> start_mpi_session(const Config& config, const MpiPlace& place) {
  if (g_mpi_started.exchange(true)) {
    throw Error(
        "shoal: under mpirun, init() can start one session per process: MPI cannot be "
        "initialised again after shutdown(). Keep one session for the whole program");
  }
  if (place.rank != 0) logging::set_node(fmt::format("rank {}", place.rank));
  if (const std::string warning = narrow_binding_warning(); !warning.empty()) {
    SHOAL_LOG(kWarn, "{}", warning);
  }
  if (place.rank == 0) {
    // The workers are forked before MPI starts (fork() after MPI_Init is unsafe on several MPI
    // transports); MPI starts on the cluster's own thread.
    std::shared_ptr<DriverRuntime> runtime = DriverRuntime::start(config);
    std::shared_ptr<ClusterNodes> nodes;
    try {
      nodes = ClusterNodes::start(runtime, place, config.node_timeout_ms);
    } catch (...) {
      runtime->shutdown();
      throw;
    }
    runtime->attach_nodes(std::move(nodes));
    return runtime;
  }
  std::shared_ptr<DriverRuntime> session;
  std::string error;
  try {
    session = DriverRuntime::start(config);
  } catch (const std::exception& e) {
    error = e.what();
  }
  const int status = NodeAgent::run(std::move(session), error, place, config.node_timeout_ms);
  logging::flush();
  std::exit(status);
}

}  // namespace shoal::internal
