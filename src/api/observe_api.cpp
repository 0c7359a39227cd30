// shoal::timeline(), status(), memory_summary() (<shoal/observe.hpp>): the process's runtime
// answers; this writes the file.
#include <shoal/observe.hpp>

#include "src/common/core_runtime.hpp"
#include "src/core/timeline.hpp"

namespace shoal {

void timeline(const std::string& path) {
  internal::write_text_file(path, internal::current_runtime()->timeline_json());
}

Status status() { return internal::current_runtime()->status(); }

MemorySummary memory_summary() { return internal::current_runtime()->memory_summary(); }

}  // namespace shoal
