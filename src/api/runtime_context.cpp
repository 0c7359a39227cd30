// shoal::runtime_context(): read from the process (its MPI rank from mpirun's environment) and the
// worker loop (its worker id, the task on this thread).
#include <mutex>

#include <unistd.h>

#include <shoal/runtime_context.hpp>

#include "src/cluster/mpi_link.hpp"
#include "src/common/system_info.hpp"
#include "worker/worker_loop.hpp"

namespace shoal {

RuntimeContext runtime_context() noexcept {
  RuntimeContext c;
  c.node_rank = internal::mpi_place_from_environment().rank;
  try {
    static std::once_flag once;
    static std::string address;
    std::call_once(once, [] { address = internal::node_address(); });
    c.node_address = address;
  } catch (...) {
    c.node_address = "127.0.0.1";
  }
  c.worker_id = internal::current_worker_id();
  c.task_id = internal::current_task_id();
  c.pid = static_cast<std::int64_t>(getpid());
  return c;
}

}  // namespace shoal
