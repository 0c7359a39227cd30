// Readable type names for error messages: demangling, and the process-wide table from type hash
// to name that lets a TypeMismatchError name the type that was stored, not only the one asked for.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <unordered_map>

#include <cxxabi.h>

#include <shoal/detail/type_id.hpp>

#include "src/common/mutex.hpp"
#include "src/common/thread_annotations.hpp"

namespace shoal::detail {
namespace {

struct TypeTable {
  internal::Mutex mu;
  std::unordered_map<std::uint64_t, const char*> names SHOAL_GUARDED_BY(mu);
};

// Never destroyed, the mutex included: type_hash<T>() may run during static destruction of
// another translation unit.
TypeTable& table() {
  static auto* t = new TypeTable();
  return *t;
}

}  // namespace

void note_type_name(std::uint64_t hash, const char* mangled) {
  TypeTable& t = table();
  internal::MutexLock lock(t.mu);
  t.names.emplace(hash, mangled);
}

std::string type_name_of_hash(std::uint64_t hash) {
  const char* mangled = nullptr;
  {
    TypeTable& t = table();
    internal::MutexLock lock(t.mu);
    auto it = t.names.find(hash);
    if (it != t.names.end()) mangled = it->second;
  }
  if (mangled != nullptr) return demangle(mangled);
  char buf[32];
  std::snprintf(buf, sizeof buf, "type#%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), &std::free);
  if (status != 0 || out == nullptr) return mangled;
  std::string s(out.get());
  // The one spelling users meet most: shorten std::string's full template name.
  const std::string full =
      "std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >";
  for (std::size_t at; (at = s.find(full)) != std::string::npos;)
    s.replace(at, full.size(), "std::string");
  return s;
}

}  // namespace shoal::detail
