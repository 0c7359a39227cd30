// Code addresses to (module, offset) with dl_iterate_phdr(): each module's loadable segments give
// the address ranges it covers. No symbol table is read here; that is the expensive part, done
// later and elsewhere (src/common/symbolize.cpp).
#include "src/common/module_frames.hpp"

#include <algorithm>

#include <link.h>

namespace shoal::internal {
namespace {

struct Search {
  const std::vector<const void*>* addresses;
  ModuleFrames* out;
};

int visit_module(dl_phdr_info* info, std::size_t, void* data) {
  auto& s = *static_cast<Search*>(data);
  std::uint16_t index = ModuleFrames::kNoModule;
  for (std::size_t i = 0; i < s.addresses->size(); ++i) {
    ModuleFrames::Frame& frame = s.out->frames[i];
    if (frame.module != ModuleFrames::kNoModule) continue;  // found in an earlier module
    const auto address = reinterpret_cast<std::uintptr_t>((*s.addresses)[i]);
    for (int p = 0; p < info->dlpi_phnum; ++p) {
      const ElfW(Phdr)& ph = info->dlpi_phdr[p];
      if (ph.p_type != PT_LOAD) continue;
      const std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
      if (address < start || address - start >= ph.p_memsz) continue;
      if (index == ModuleFrames::kNoModule) {
        index = static_cast<std::uint16_t>(s.out->modules.size());
        s.out->modules.emplace_back(info->dlpi_name != nullptr ? info->dlpi_name : "");
      }
      frame.module = index;
      frame.offset = address - info->dlpi_addr;
      break;
    }
  }
  return 0;
}

}  // namespace

ModuleFrames to_module_frames(const std::vector<const void*>& addresses) {
  ModuleFrames out;
  std::vector<const void*> kept(
      addresses.begin(), addresses.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                 addresses.size(), ModuleFrames::kMaxFrames)));
  out.frames.resize(kept.size());
  Search search{&kept, &out};
  dl_iterate_phdr(&visit_module, &search);
  for (std::size_t i = 0; i < kept.size(); ++i) {
    if (out.frames[i].module == ModuleFrames::kNoModule) {
      out.frames[i].offset = reinterpret_cast<std::uintptr_t>(kept[i]);
    }
  }
  return out;
}

}  // namespace shoal::internal
