// Names of code addresses, through Boost.Stacktrace (libbacktrace backend): it reads the
// executable's symbol table, so it names functions of a program linked without -rdynamic and
// without debug information, where dladdr() finds nothing. With debug information (-g, or -g1)
// it adds file and line. It cannot name functions of a stripped binary, nor functions the
// compiler inlined into their callers (their frames do not exist).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "src/common/module_frames.hpp"

namespace shoal::internal {

/// The demangled name of the function at `address` (e.g. "rotate(std::string const&)"), or an
/// empty string if no symbol covers it.
std::string function_name_at(const void* address);

/// One line per frame, innermost first: "#0 0x4011d6 in f(int) at a.cpp:12" (the "at" part only
/// with debug information; "??" for an address no symbol covers). Each frame is looked up where
/// its module is loaded in this process; a frame of a module this process has not loaded is shown
/// as "#3 ?? (libfoo.so+0x1a2b)". At most max_bytes long: frames that do not fit are counted in a
/// last line instead. Slow the first time in a process (it reads symbol and line tables):
/// call it when someone asks for the text, not on a hot path.
std::string describe_frames(const ModuleFrames& frames, std::size_t max_bytes);

}  // namespace shoal::internal
