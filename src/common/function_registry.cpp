#include "src/common/function_registry.hpp"

#include <cctype>
#include <string_view>

#include <shoal/detail/type_id.hpp>

namespace shoal::internal {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// "static_cast<int (*)(int)>(f)" -> "f"; "&f" -> "f"; anything else unchanged.
std::string clean_name(std::string name) {
  if (name.rfind("static_cast", 0) == 0 || name.rfind("reinterpret_cast", 0) == 0) {
    const auto close = name.rfind(')');
    const auto open = name.rfind('(', close);
    if (open != std::string::npos && close != std::string::npos && close > open) {
      name = trim(std::string_view(name).substr(open + 1, close - open - 1));
    }
  }
  while (!name.empty() && (name.front() == '&' || name.front() == '(')) name.erase(0, 1);
  while (!name.empty() && name.back() == ')') name.pop_back();
  return trim(name);
}

}  // namespace

FunctionRegistry& FunctionRegistry::instance() {
  // Never destroyed: registration runs during static initialisation of other translation units
  // and lookups may run during their static destruction.
  static auto* registry = new FunctionRegistry();
  return *registry;
}

std::vector<std::string> FunctionRegistry::split_names(const char* names) {
  std::vector<std::string> out;
  std::string_view s(names);
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    const char c = i < s.size() ? s[i] : ',';
    if (c == '<' || c == '(' || c == '[') ++depth;
    if (c == '>' || c == ')' || c == ']') --depth;
    if (c == ',' && depth <= 0) {
      out.push_back(clean_name(trim(s.substr(start, i - start))));
      start = i + 1;
    }
  }
  return out;
}

void FunctionRegistry::add(const char* names, const detail::FunctionInfo* infos,
                           std::size_t count) {
  std::vector<std::string> split = split_names(names);
  MutexLock lock(mu_);
  for (std::size_t i = 0; i < count; ++i) {
    const auto key = reinterpret_cast<std::uintptr_t>(infos[i].address);
    if (by_address_.count(key) != 0) continue;
    auto entry = std::make_unique<RegisteredFunction>();
    entry->name = i < split.size() && !split[i].empty()
                      ? split[i]
                      : "function#" + std::to_string(entries_.size());
    entry->address = infos[i].address;
    entry->invoker = infos[i].invoker;
    entry->signature = detail::demangle(infos[i].signature);
    entry->check = detail::fnv1a(entry->name.c_str()) ^ (detail::fnv1a(infos[i].signature) * 31);
    by_address_.emplace(key, static_cast<std::uint32_t>(entries_.size()));
    entries_.push_back(std::move(entry));
  }
}

std::optional<std::uint32_t> FunctionRegistry::index_of(detail::AnyFn fn) const {
  MutexLock lock(mu_);
  auto it = by_address_.find(reinterpret_cast<std::uintptr_t>(fn));
  if (it == by_address_.end()) return std::nullopt;
  return it->second;
}

const RegisteredFunction* FunctionRegistry::at(std::uint32_t index) const {
  MutexLock lock(mu_);
  return index < entries_.size() ? entries_[index].get() : nullptr;
}

std::uint32_t FunctionRegistry::size() const {
  MutexLock lock(mu_);
  return static_cast<std::uint32_t>(entries_.size());
}

std::uint64_t FunctionRegistry::prefix_hash(std::uint32_t count) const {
  MutexLock lock(mu_);
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a over the checks
  for (std::uint32_t i = 0; i < count && i < entries_.size(); ++i) {
    h = (h ^ entries_[i]->check) * 0x100000001b3ull;
  }
  return h;
}

}  // namespace shoal::internal

namespace shoal::detail {

bool register_function_list(const char* names, const FunctionInfo* infos, std::size_t count) {
  internal::FunctionRegistry::instance().add(names, infos, count);
  return true;
}

}  // namespace shoal::detail
