// Symbol lookup for error reports (function names of unregistered functions, task backtraces).
// Boost.Stacktrace's libbacktrace backend keeps one parsed copy of the symbol and line tables per
// thread, so the first lookup in a process pays for reading them and later ones are fast.
#include "src/common/symbolize.hpp"

#include <boost/stacktrace/frame.hpp>
#include <fmt/format.h>

namespace shoal::internal {
namespace {

boost::stacktrace::frame frame_at(const void* address) {
  return boost::stacktrace::frame(
      reinterpret_cast<boost::stacktrace::frame::native_frame_ptr_t>(address));
}

}  // namespace

std::string function_name_at(const void* address) { return frame_at(address).name(); }

std::string describe_frames(const std::vector<const void*>& frames, std::size_t max_bytes) {
  std::string out;
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const boost::stacktrace::frame f = frame_at(frames[i]);
    std::string name = f.name();
    if (name.empty()) name = "??";
    std::string line = fmt::format("#{} {} in {}", i, frames[i], name);
    if (const std::size_t n = f.source_line(); n != 0) {
      line += fmt::format(" at {}:{}", f.source_file(), n);
    }
    line += '\n';
    // Room for the last line that says how many frames were left out.
    if (out.size() + line.size() + 48 > max_bytes) {
      out += fmt::format("... {} more frames\n", frames.size() - i);
      break;
    }
    out += line;
  }
  return out;
}

}  // namespace shoal::internal
