// Logging for the driver, the fork helper and the workers. This header and logging.cpp are the
// only places that know spdlog; the rest of the code writes SHOAL_LOG(kWarn, "fmt {}", x).
//
// Each process has one logger writing to stderr. The driver's is thread safe. A forked child
// (fork helper, worker) builds a fresh single-threaded logger after the fork and never touches
// the inherited one: a logger copied by fork() may hold a lock taken by a thread that the child
// does not have (spdlog#166).
#pragma once

#include <string>
#include <string_view>

#include <fmt/format.h>

namespace shoal::internal::logging {

enum class Level { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };

/// Parses "trace".."off" (case-insensitive); false if the text names no level.
bool parse_level(std::string_view text, Level* out);
std::string_view level_name(Level level);

/// The level from Config::log_level, else SHOAL_LOG_LEVEL, else warn. Throws InvalidConfigError
/// for a text that is not a level.
Level resolve_level(const std::string& configured);

/// Sets up the driver's logger (thread safe). Called by init().
void init_driver(Level level);
/// Replaces this process's logger after fork(): single-threaded, every line prefixed with `tag`.
void init_child(const std::string& tag, Level level);

bool enabled(Level level) noexcept;
void write(Level level, std::string_view message);
/// Flushes buffered lines (before a process exits).
void flush();

}  // namespace shoal::internal::logging

#define SHOAL_LOG(level, ...)                                                            \
  do {                                                                                   \
    if (::shoal::internal::logging::enabled(::shoal::internal::logging::Level::level)) { \
      ::shoal::internal::logging::write(::shoal::internal::logging::Level::level,        \
                                        ::fmt::format(__VA_ARGS__));                     \
    }                                                                                    \
  } while (0)
