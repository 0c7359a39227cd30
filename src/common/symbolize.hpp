// Names of code addresses, through Boost.Stacktrace (libbacktrace backend): it reads the
// executable's symbol table, so it names functions of a program linked without -rdynamic and
// without debug information, where dladdr() finds nothing.
#pragma once

#include <string>

namespace shoal::internal {

/// The demangled name of the function at `address` (e.g. "rotate(std::string const&)"), or an
/// empty string if no symbol covers it.
std::string function_name_at(const void* address);

}  // namespace shoal::internal
