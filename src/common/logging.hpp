// Logging for the driver, the fork helper and the workers. This header and logging.cpp are the
// only places that know spdlog; the rest of the code writes SHOAL_LOG(kWarn, "fmt {}", x).
//
// Each process has one logger writing to stderr. The driver's is thread safe. A forked child
// (fork helper, worker) builds a fresh single-threaded logger after the fork and never touches
// the inherited one: a logger copied by fork() may hold a lock taken by a thread that the child
// does not have (spdlog#166).
//
// The driver also prints what workers write to their stdout and stderr (Config::log_to_driver)
// through a second logger on the same stream. Both sinks take spdlog's one console mutex, so a
// forwarded line and a shoal log line never interleave inside a line.
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
/// On a node of an MPI session: every line of this process, of the processes it forks and of
/// their workers' output says `label` ("rank 2") after "shoal". Called by init() before the session
/// starts, while the process has one thread.
void set_node(const std::string& label);
/// Replaces this process's logger after fork(): single-threaded, every line prefixed with `tag`,
/// written to `fd` (a worker whose own stderr is a pipe to the driver logs to the stderr it
/// inherited, kept as another descriptor). An fd < 0 means stderr.
void init_child(const std::string& tag, Level level, int fd = 2);

bool enabled(Level level) noexcept;
void write(Level level, std::string_view message);
/// Flushes buffered lines (before a process exits).
void flush();

/// Which stream of a worker a forwarded line came from.
enum class Stream { kStdout, kStderr };
/// Prints one line a worker wrote, in the driver: "[time] [shoal] [stdout] (origin) line". Printed
/// at every log level, "off" included: this is the program's own output, which the level (meant
/// for shoal's diagnostics) must not hide. `line` may hold any bytes; they are written unchanged
/// and never used as a format string. Thread safe.
void write_worker_line(Stream stream, std::string_view origin, std::string_view line);

}  // namespace shoal::internal::logging

#define SHOAL_LOG(level, ...)                                                            \
  do {                                                                                   \
    if (::shoal::internal::logging::enabled(::shoal::internal::logging::Level::level)) { \
      ::shoal::internal::logging::write(::shoal::internal::logging::Level::level,        \
                                        ::fmt::format(__VA_ARGS__));                     \
    }                                                                                    \
  } while (0)
