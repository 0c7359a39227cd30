// The JSON documents the control socket answers with (docs/protocol.md, "The control socket"):
// status(), memory_summary() and the session's identity, each with its printable text under
// "text", so the shoal command prints what the program itself would.
#pragma once

#include <cstdint>
#include <string>

#include <shoal/observe.hpp>

namespace shoal::internal {

std::string status_json(const Status& status);
std::string memory_json(const MemorySummary& summary);

/// Who answers: {"pid", "program", "started_unix_s", "workers", "shoal_version", "local_mode"}.
struct SessionIdentity {
  int pid = 0;
  std::string program;  // the program's path
  std::int64_t started_unix_s = 0;
  int workers = 0;
  bool local_mode = false;
};
std::string hello_json(const SessionIdentity& who);

}  // namespace shoal::internal
