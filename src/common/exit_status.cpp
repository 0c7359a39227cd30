#include "src/common/exit_status.hpp"

#include <cstring>

#include <fmt/format.h>
#include <signal.h>
#include <sys/wait.h>

namespace shoal::internal {

ExitStatus describe_exit(int wait_status) {
  ExitStatus s;
  if (WIFEXITED(wait_status)) {
    s.exit_code = WEXITSTATUS(wait_status);
    s.text = fmt::format("exited with code {}", s.exit_code);
    return s;
  }
  if (WIFSIGNALED(wait_status)) {
    s.signal = WTERMSIG(wait_status);
    const char* abbrev = sigabbrev_np(s.signal);  // "SEGV"; null for an unknown number
    s.text = fmt::format("was killed by signal {} (SIG{}, {}){}", s.signal,
                         abbrev != nullptr ? abbrev : "?", strsignal(s.signal),
                         WCOREDUMP(wait_status) ? ", core dumped" : "");
    // SIGKILL is what the kernel's OOM killer sends, and what `kill -9` sends: say both, since
    // the first is the likelier surprise in a batch job.
    if (s.signal == SIGKILL) s.text += " - by the OOM killer (out of memory?) or by kill -9";
    return s;
  }
  s.text = fmt::format("ended with wait status {:#x}", wait_status);
  return s;
}

}  // namespace shoal::internal
