// The places in the program that made objects (a put(), a remote()), for memory_summary(): each
// distinct place is kept once, as "file:line (function)", and objects refer to it by a small
// number. Places come as a detail::CallSite (the program's own calls: the strings it points
// to live as long as the program) or as text (a worker's task's call, sent in its message).
//
// Thread safety: none; the runtime's lock guards it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <shoal/detail/call_site.hpp>

#include "src/common/call_site.hpp"

namespace shoal::internal {

class CallSites {
 public:
  /// 0 stands for "unknown".
  static constexpr std::uint32_t kUnknown = 0;

  /// The number of `site`, added if new. Cheap for a site seen just before (a loop of calls).
  std::uint32_t intern(const detail::CallSite& site);
  /// The number of the place `text` names, added if new.
  std::uint32_t intern(std::string_view text);
  /// Its text ("" for kUnknown).
  const std::string& text(std::uint32_t index) const;

 private:
  struct Key {
    const char* file;
    const char* function;
    std::uint32_t line;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const noexcept;
  };
  std::uint32_t add(std::string text);

  std::vector<std::string> texts_{std::string()};  // index 0: unknown
  std::unordered_map<Key, std::uint32_t, KeyHash> by_location_;
  std::unordered_map<std::string, std::uint32_t> by_text_;
  Key last_{nullptr, nullptr, 0};
  std::uint32_t last_index_ = kUnknown;
};

}  // namespace shoal::internal
