// Symbol lookup for error reports (function names of unregistered functions, task backtraces).
// Boost.Stacktrace's libbacktrace backend keeps one parsed copy of the symbol and line tables per
// thread, so the first lookup in a process pays for reading them and later ones are fast.
#include "src/common/symbolize.hpp"

#include <optional>
#include <string_view>

#include <boost/stacktrace/frame.hpp>
#include <fmt/format.h>
#include <link.h>

namespace shoal::internal {
namespace {

boost::stacktrace::frame frame_at(const void* address) {
  return boost::stacktrace::frame(
      reinterpret_cast<boost::stacktrace::frame::native_frame_ptr_t>(address));
}

// "#3 0x4011d6 in f(int) at a.cpp:12\n"
std::string describe_address(std::size_t index, const void* address) {
  const boost::stacktrace::frame f = frame_at(address);
  std::string name = f.name();
  if (name.empty()) name = "??";
  std::string line = fmt::format("#{} {} in {}", index, address, name);
  if (const std::size_t n = f.source_line(); n != 0) {
    line += fmt::format(" at {}:{}", f.source_file(), n);
  }
  line += '\n';
  return line;
}

struct BiasSearch {
  const std::vector<std::string>* names;
  std::vector<std::optional<std::uintptr_t>>* bias;
};

// The load bias of each named module in this process, if it is loaded here.
std::vector<std::optional<std::uintptr_t>> load_biases(const std::vector<std::string>& names) {
  std::vector<std::optional<std::uintptr_t>> bias(names.size());
  BiasSearch search{&names, &bias};
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        auto& s = *static_cast<BiasSearch*>(data);
        const std::string_view name = info->dlpi_name != nullptr ? info->dlpi_name : "";
        for (std::size_t i = 0; i < s.names->size(); ++i) {
          if (!(*s.bias)[i] && (*s.names)[i] == name) (*s.bias)[i] = info->dlpi_addr;
        }
        return 0;
      },
      &search);
  return bias;
}

}  // namespace

std::string function_name_at(const void* address) { return frame_at(address).name(); }

std::string describe_frames(const ModuleFrames& frames, std::size_t max_bytes) {
  const std::vector<std::optional<std::uintptr_t>> bias = load_biases(frames.modules);
  std::string out;
  for (std::size_t i = 0; i < frames.frames.size(); ++i) {
    const ModuleFrames::Frame& f = frames.frames[i];
    std::string line;
    if (f.module == ModuleFrames::kNoModule) {
      line = describe_address(i, reinterpret_cast<const void*>(f.offset));
    } else if (f.module < bias.size() && bias[f.module]) {
      line = describe_address(i, reinterpret_cast<const void*>(*bias[f.module] + f.offset));
    } else {
      const std::string& module = f.module < frames.modules.size() ? frames.modules[f.module] : "";
      line =
          fmt::format("#{} ?? ({}+{:#x})\n", i, module.empty() ? "the program" : module, f.offset);
    }
    // Room for the last line that says how many frames were left out.
    if (out.size() + line.size() + 48 > max_bytes) {
      out += fmt::format("... {} more frames\n", frames.frames.size() - i);
      break;
    }
    out += line;
  }
  return out;
}

}  // namespace shoal::internal
