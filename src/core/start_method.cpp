#include "src/core/start_method.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/common/logging.hpp"

namespace shoal::internal {

StartMethod choose_start_method(std::string asked, const std::vector<std::string>& threads,
                                bool forkserver_available) {
  std::string source = "Config::start_method";
  if (asked.empty()) {
    if (const char* env = std::getenv("SHOAL_START_METHOD"); env != nullptr && *env != '\0') {
      asked = env;
      source = "SHOAL_START_METHOD";
    }
  }
  std::string names;
  for (const std::string& t : threads) names += (names.empty() ? "" : ", ") + t;
  if (asked == "fork") {
    if (!threads.empty()) {  // as asked, but say what it risks, as Python 3.12 does
      SHOAL_LOG(kWarn,
                "init() forks its workers (start method \"fork\", from {}) while this process has "
                "{} other thread(s): {}. fork() copies this thread only, so a library whose "
                "threads do not survive fork() (GCC's OpenMP, some BLAS and TBB pools) can make "
                "tasks hang; if they do, use \"forkserver\" or call init() before starting threads",
                source, threads.size(), names);
    }
    return StartMethod::kFork;
  }
  if (asked == "forkserver") {
    if (!forkserver_available) {
      throw InvalidConfigError(fmt::format(
          "shoal: {} is \"forkserver\", but this program's main() is not wrapped, so a fresh "
          "start of it cannot stop before main() runs: link the program with -Wl,--wrap=main "
          "(linking it to the CMake target shoal::shoal adds it), or use \"fork\" and call "
          "init() before starting threads",
          source));
    }
    return StartMethod::kForkserver;
  }
  if (!asked.empty()) {
    throw InvalidConfigError(fmt::format(
        "shoal: {} is \"{}\"; use \"fork\", \"forkserver\", or \"\" to let init() choose "
        "(fork without other threads, else forkserver)",
        source, asked));
  }
  if (threads.empty()) return StartMethod::kFork;
  if (!forkserver_available) {
    SHOAL_LOG(kWarn,
              "init() runs while this process has {} other thread(s): {}. Workers are forked from "
              "a copy of this thread only, so a library whose threads do not survive fork() (GCC's "
              "OpenMP, some BLAS and TBB pools) can make tasks hang. The safe start method "
              "(\"forkserver\") needs the program linked with -Wl,--wrap=main (the CMake target "
              "shoal::shoal adds it); else call init() before anything starts threads",
              threads.size(), names);
    return StartMethod::kFork;
  }
  SHOAL_LOG(kWarn,
            "init() runs while this process has {} other thread(s): {}. fork() would copy this "
            "thread only, which can hang tasks that use a library with a thread pool (OpenMP, "
            "BLAS, TBB), so workers are started from a fresh start of the program instead "
            "(start method \"forkserver\"): they see globals as the program's start leaves them, "
            "not as this process has changed them; pass such data as task arguments or put() it. "
            "Call init() before starting threads to have workers forked from this process, or set "
            "Config::start_method to choose",
            threads.size(), names);
  return StartMethod::kForkserver;
}

}  // namespace shoal::internal
