// File: shoal/detail/call_site.hpp (internal)
//
// Where in the program a call was made (a put(), a task(f)): what memory_summary() shows as an
// object's maker. std::source_location's role, spelled with the builtins GCC and Clang both have
// (__builtin_FILE and friends), because Clang 14 with Debian 12's libstdc++ has no
// std::source_location (its <source_location> needs a builtin Clang 14 lacks), and a program
// built with Clang must be able to include shoal.
#pragma once

#include <cstdint>

namespace shoal::detail {

struct CallSite {
  const char* file = nullptr;      // as the compiler names the source file; static storage
  const char* function = nullptr;  // the calling function's name; static storage
  std::uint32_t line = 0;          // 0: unknown

  /// The place of the call that evaluates it, when it is a default argument
  /// (`CallSite site = CallSite::current()`): the caller of the function that declares it.
  static constexpr CallSite current(const char* file = __builtin_FILE(),
                                    const char* function = __builtin_FUNCTION(),
                                    std::uint32_t line = __builtin_LINE()) noexcept {
    return CallSite{file, function, line};
  }
};

}  // namespace shoal::detail
