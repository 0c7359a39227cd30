// File: shoal/detail/type_id.hpp (internal)
//
// Every stored value carries a 64-bit hash of its C++ type, so a reader that asks for another
// type gets a TypeMismatchError instead of garbage. The hash is FNV-1a over typeid(T).name(): the
// driver and the workers are the same binary, so the mangled names agree across processes.
// type_hash<T>() also records the hash's readable name, so errors can name both types.
#pragma once

#include <cstdint>
#include <string>
#include <typeinfo>

namespace shoal::detail {

constexpr std::uint64_t fnv1a(const char* s) noexcept {
  std::uint64_t h = 1469598103934665603ull;
  for (; *s != '\0'; ++s) {
    h ^= static_cast<unsigned char>(*s);
    h *= 1099511628211ull;
  }
  return h;
}

/// Remembers that `hash` stands for the type whose mangled name is `mangled` (thread safe).
void note_type_name(std::uint64_t hash, const char* mangled);

/// The demangled name of a type hash seen in this process, or "type#<hex>" if never seen.
std::string type_name_of_hash(std::uint64_t hash);

/// Demangles a typeid name ("St6vectorIiSaIiEE" -> "std::vector<int, std::allocator<int> >").
std::string demangle(const char* mangled);

template <class T>
std::uint64_t type_hash() {
  static const std::uint64_t h = [] {
    const std::uint64_t v = fnv1a(typeid(T).name());
    note_type_name(v, typeid(T).name());
    return v;
  }();
  return h;
}

}  // namespace shoal::detail
