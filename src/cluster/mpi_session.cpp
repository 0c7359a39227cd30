// shoal::init() under mpirun (see mpi_session.hpp).
#include "src/cluster/mpi_session.hpp"

#include <atomic>
#include <cstdlib>
#include <string>

#include <fmt/format.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/cluster/cluster_nodes.hpp"
#include "src/cluster/node_agent.hpp"
#include "src/common/logging.hpp"
#include "src/core/driver_runtime.hpp"

namespace shoal::internal {

namespace {

std::atomic<bool> g_mpi_started{false};  // MPI_Init may be called once per process

// mpirun ends the whole job with SIGTERM (then SIGKILL) when one of its ranks dies, unless it was
// started with --enable-recovery. Its own message names the rank; the driver's says what it
// means for shoal and what to do. Async-signal-safe: write(), signal(), raise().
constexpr char kTermMessage[] =
    "shoal: the driver (rank 0) got SIGTERM and ends. If mpirun sent it because a rank died (its "
    "message above or below names it), start the job with `mpirun --enable-recovery ...`: shoal "
    "then retries the dead node's tasks on the other nodes, or fails them with NodeDiedError "
    "(docs/cluster.md)\n";

std::atomic<bool> g_report_sigterm{false};  // while the session with nodes lives

// With --enable-recovery a rank's death does not end the job: the SIGTERM came from elsewhere
// (Ctrl-C on mpirun, a batch system's time limit), and the advice above would be wrong.
constexpr char kTermMessageRecovering[] =
    "shoal: the driver (rank 0) got SIGTERM and ends (Ctrl-C on mpirun, or the job's time "
    "limit?); every rank's workers end with it\n";
std::atomic<bool> g_recovering{false};  // the job runs with --enable-recovery

extern "C" void on_sigterm(int) {
  if (g_report_sigterm.load()) {
    [[maybe_unused]] const ssize_t n =
        g_recovering.load()
            ? write(STDERR_FILENO, kTermMessageRecovering, sizeof kTermMessageRecovering - 1)
            : write(STDERR_FILENO, kTermMessage, sizeof kTermMessage - 1);
  }
  signal(SIGTERM, SIG_DFL);
  raise(SIGTERM);  // ends as SIGTERM would have: the helper and workers follow (reliability.md)
}

// Only where SIGTERM still has its default action: a program's own handler stays.
void report_sigterm() {
  struct sigaction old {};
  if (sigaction(SIGTERM, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) return;
  struct sigaction sa {};
  sa.sa_handler = on_sigterm;
  sigemptyset(&sa.sa_mask);
  const char* recovery = std::getenv("OMPI_MCA_orte_enable_recovery");  // Open MPI's mpirun sets it
  g_recovering = recovery != nullptr && std::string(recovery) == "1";
  g_report_sigterm = true;
  sigaction(SIGTERM, &sa, nullptr);
}

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

void end_sigterm_report() noexcept { g_report_sigterm = false; }

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
    report_sigterm();
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
