// A place in the program that made an object (a put(), a remote()), as memory_summary() names it.
#pragma once

#include <source_location>
#include <string>

namespace shoal::internal {

/// "file:line (function)" for `site`; "" for a default-constructed one (line 0).
std::string format_call_site(const std::source_location& site);

}  // namespace shoal::internal
