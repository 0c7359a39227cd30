// Names of code addresses, through Boost.Stacktrace (libbacktrace backend): it reads the
// executable's symbol table, so it names functions of a program linked without -rdynamic and
// without debug information, where dladdr() finds nothing. With debug information (-g, or -g1)
// it adds file and line. It cannot name functions of a stripped binary, nor functions the
// compiler inlined into their callers (their frames do not exist).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace shoal::internal {

/// The demangled name of the function at `address` (e.g. "rotate(std::string const&)"), or an
/// empty string if no symbol covers it.
std::string function_name_at(const void* address);

/// One line per frame, innermost first: "#0 0x4011d6 in f(int) at a.cpp:12" (the "at" part only
/// with debug information; "??" for an address no symbol covers). At most max_bytes long: frames
/// that do not fit are counted in a last line instead. Slow (reads symbol tables): call it when
/// something has failed, not on a hot path.
std::string describe_frames(const std::vector<const void*>& frames, std::size_t max_bytes);

}  // namespace shoal::internal
