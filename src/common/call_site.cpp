#include "src/common/call_site.hpp"

#include <fmt/format.h>

namespace shoal::internal {

std::string format_call_site(const detail::CallSite& site) {
  if (site.line == 0 || site.file == nullptr) return {};
  return fmt::format("{}:{} ({})", site.file, site.line,
                     site.function != nullptr ? site.function : "?");
}

}  // namespace shoal::internal
