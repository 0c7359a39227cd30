// shoal::init() under mpirun (docs/cluster.md): rank 0 becomes the driver, with the other ranks as
// its nodes; every other rank becomes a node and never returns.
#pragma once

#include <memory>

#include <shoal/config.hpp>

#include "src/cluster/mpi_link.hpp"
#include "src/common/core_runtime.hpp"

namespace shoal::internal {

/// On rank 0: starts the driver's session (its fork helper and workers first, then MPI), waits for
/// every node's Hello and returns the runtime. On any other rank: starts the node's session, then
/// MPI, serves the driver until it shuts the session down, and exits the process (status 0; 1 if
/// MPI failed). On rank 0, where SIGTERM has its default action, a handler says on stderr what
/// mpirun's SIGTERM means (it ends the job when a rank dies, unless --enable-recovery) before
/// the process ends as it would have. Throws (rank 0) what DriverRuntime::start() and
/// ClusterNodes::start() throw, and Error when called a second time in a process (MPI cannot be
/// initialised twice).
std::shared_ptr<CoreRuntime> start_mpi_session(const Config& config, const MpiPlace& place);

/// The session with nodes has ended (ClusterNodes::shutdown()): SIGTERM no longer says anything
/// about mpirun. Async-signal-safe.
void end_sigterm_report() noexcept;

/// What init() says, once, when this rank is bound to fewer CPUs than the machine has (mpirun
/// binds each rank to one core by default): every worker would share them. Empty if it is not.
std::string narrow_binding_warning();

}  // namespace shoal::internal
