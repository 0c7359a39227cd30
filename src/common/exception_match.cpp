// The registry of exception matchers (include/shoal/detail/exception_match.hpp).
#include "src/common/exception_match.hpp"

#include <mutex>
#include <unordered_map>

namespace shoal::internal {

// The matchers by type hash.
struct ExceptionMatchers {
  std::mutex mu;
  std::unordered_map<std::uint64_t, detail::ExceptionMatcher> matchers;
};

// Never destroyed: static initialisers of other files register into it in any order.
ExceptionMatchers& exception_matchers() {
  static auto* r = new ExceptionMatchers();
  return *r;
}

bool current_exception_matches(const std::vector<std::uint64_t>& type_hashes) {
  if (type_hashes.empty()) return true;
  for (std::uint64_t hash : type_hashes) {
    detail::ExceptionMatcher matcher = nullptr;
    {
      ExceptionMatchers& r = exception_matchers();
      const std::lock_guard<std::mutex> lock(r.mu);
      auto it = r.matchers.find(hash);
      if (it != r.matchers.end()) matcher = it->second;
    }
    if (matcher != nullptr && matcher()) return true;
  }
  return false;
}

}  // namespace shoal::internal

namespace shoal::detail {

bool register_exception_matcher(std::uint64_t hash, ExceptionMatcher matcher) noexcept {
  try {
    internal::ExceptionMatchers& r = internal::exception_matchers();
    const std::lock_guard<std::mutex> lock(r.mu);
    r.matchers.emplace(hash, matcher);
  } catch (...) {  // out of memory before main(): the type then never matches
  }
  return true;
}

}  // namespace shoal::detail
