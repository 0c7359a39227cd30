#include "src/common/call_site.hpp"

#include <fmt/format.h>

namespace shoal::internal {

std::string format_call_site(const std::source_location& site) {
  if (site.line() == 0) return {};
  return fmt::format("{}:{} ({})", site.file_name(), site.line(), site.function_name());
}

}  // namespace shoal::internal
