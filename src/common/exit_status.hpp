// How a process ended, from its wait status, in the words a user needs: "killed by signal 11
// (SIGSEGV, Segmentation fault)" or "exited with code 3". Used for dead workers.
#pragma once

#include <string>

namespace shoal::internal {

struct ExitStatus {
  int signal = 0;      // the signal that ended it, 0 if it exited
  int exit_code = -1;  // its exit code, -1 if a signal ended it
  std::string text;    // one phrase, for messages
};

/// Describes a status from waitpid(). A status that is neither "exited" nor "signaled" (it never
/// is, for a reaped process) is described as such rather than guessed at.
ExitStatus describe_exit(int wait_status);

}  // namespace shoal::internal
