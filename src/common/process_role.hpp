// Which shoal process this is. Workers and the fork helper are forks of the driver and so contain
// the whole driver library; the role lets the public API refuse to run there with a clear message
// instead of acting on a copied, dead runtime.
#pragma once

#include <atomic>

namespace shoal::internal {

// kForkedDriver: a child the program fork()ed itself while a session was running. It holds copies
// of the session's sockets; using them would interleave its messages with the parent's.
enum class ProcessRole { kDriver, kForkHelper, kWorker, kForkedDriver };

inline std::atomic<ProcessRole> g_process_role{ProcessRole::kDriver};

}  // namespace shoal::internal
