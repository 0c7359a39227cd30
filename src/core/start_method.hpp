// How a session starts its fork helper (Config::start_method), decided once at init().
#pragma once

#include <string>
#include <vector>

#include "src/fork_helper/fork_helper.hpp"

namespace shoal::internal {

/// Resolves Config::start_method `asked` (or, when it is empty, the SHOAL_START_METHOD
/// environment variable) against the program's other threads at init() (`threads`, their
/// names) and whether a fresh start of the program can stop before main()
/// (`forkserver_available`). The rule is Config::start_method's: "fork" and "forkserver" are
/// taken as asked; "" means fork without other threads, else forkserver (Python 3.14's default
/// on Linux, for the same reason). Logs a warning, naming the program's other threads, when it
/// has some and workers will be forked (asked for, or the only method available), or when init()
/// picks forkserver because of them.
/// Throws InvalidConfigError for an unknown name, or for "forkserver" when it is not available,
/// naming the source (the Config field or the environment variable) and what to do.
StartMethod choose_start_method(std::string asked, const std::vector<std::string>& threads,
                                bool forkserver_available);

}  // namespace shoal::internal
