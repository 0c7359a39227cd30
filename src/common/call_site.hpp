// A place in the program that made an object (a put(), a remote()), as memory_summary() names it.
#pragma once

#include <string>

#include <shoal/detail/call_site.hpp>

namespace shoal::internal {

/// "file:line (function)" for `site`; "" for a default-constructed one (line 0).
std::string format_call_site(const detail::CallSite& site);

}  // namespace shoal::internal
