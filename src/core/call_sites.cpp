#include "src/core/call_sites.hpp"

#include <functional>

namespace shoal::internal {

std::size_t CallSites::KeyHash::operator()(const Key& k) const noexcept {
  const std::size_t h =
      std::hash<const void*>()(k.file) * 31 + std::hash<const void*>()(k.function);
  return h * 1'000'003 + k.line;
}

std::uint32_t CallSites::add(std::string text) {
  auto [it, added] = by_text_.emplace(std::move(text), 0);
  if (added) {
    it->second = static_cast<std::uint32_t>(texts_.size());
    texts_.push_back(it->first);
  }
  return it->second;
}

std::uint32_t CallSites::intern(const detail::CallSite& site) {
  if (site.line == 0 || site.file == nullptr) return kUnknown;
  const Key key{site.file, site.function, site.line};
  if (key == last_) return last_index_;
  auto it = by_location_.find(key);
  if (it == by_location_.end()) it = by_location_.emplace(key, add(format_call_site(site))).first;
  last_ = key;
  last_index_ = it->second;
  return it->second;
}

std::uint32_t CallSites::intern(std::string_view text) {
  if (text.empty()) return kUnknown;
  auto it = by_text_.find(std::string(text));
  return it != by_text_.end() ? it->second : add(std::string(text));
}

const std::string& CallSites::text(std::uint32_t index) const {
  return index < texts_.size() ? texts_[index] : texts_[0];
}

}  // namespace shoal::internal
