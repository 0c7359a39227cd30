// What a task threw, in words the driver can rethrow: the thrown type's name and a message, for
// anything a C++ program can throw, not only std::exception (`throw 42;`, a std::string, a
// struct of the program's own).
#pragma once

#include <cstddef>
#include <string>

namespace shoal::internal {

/// The longest type name and message kept (TaskError::original_what() promises it): a failed
/// task's reply stays far below the frame limit, and local mode reports the same text.
inline constexpr std::size_t kMaxExceptionText = std::size_t{64} * 1024;

struct ExceptionDescription {
  /// The demangled type of the thrown object: "std::invalid_argument", "int", "std::string",
  /// "app::Oddity".
  std::string type_name;
  /// what() for a std::exception; the value itself for a string (std::string, const char*) or a
  /// number; empty for anything else.
  std::string what;
};

/// Describes the exception being handled, each text cut at kMaxExceptionText; a what() that
/// returns null counts as empty. Call only inside a catch handler.
ExceptionDescription describe_current_exception();

}  // namespace shoal::internal
