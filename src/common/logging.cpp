// spdlog behind SHOAL_LOG. One logger per process, never registered in spdlog's global registry
// (whose mutex a fork could copy in a locked state), and never asynchronous: an async logger's
// thread does not survive fork, and a worker that crashes must not lose its last lines.
#include "src/common/logging.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include <spdlog/logger.h>
#include <spdlog/sinks/ansicolor_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/status_line.hpp"

namespace shoal::internal::logging {
namespace {

constexpr std::string_view kNames[] = {"trace", "debug",    "info", "warn",
                                       "error", "critical", "off"};

// The process's logger, built on first use. Replaced only by init_driver()/init_child(), which run
// while no other shoal thread exists (before the I/O thread starts, or in a fresh child), so a
// shared_ptr read atomically by write() is enough.
//
// Why lazily: building the spdlog sink is a one-time library set-up, several times dearer in a
// freshly forked worker (copy-on-write faults), and it was most of a worker's start-up; most
// workers never log a line.
std::shared_ptr<spdlog::logger> g_logger;
std::atomic<int> g_level{static_cast<int>(Level::kWarn)};
std::string g_child_tag;         // empty in the driver; "worker 3 pid 1234" in a child
int g_child_fd = STDERR_FILENO;  // where a child's logger writes
// The driver's logger for worker output (write_worker_line), built on first use like g_logger.
std::shared_ptr<spdlog::logger> g_output_logger;

spdlog::level::level_enum to_spdlog(Level level) {
  return static_cast<spdlog::level::level_enum>(static_cast<int>(level));
}

spdlog::sink_ptr child_sink() {
  // A FILE of our own on the kept descriptor; flushed after every line (flush_on below).
  FILE* file = g_child_fd == STDERR_FILENO ? nullptr : fdopen(g_child_fd, "w");
  if (file == nullptr) return std::make_shared<spdlog::sinks::stderr_color_sink_st>();
  return std::make_shared<spdlog::sinks::ansicolor_sink<spdlog::details::console_nullmutex>>(
      file, spdlog::color_mode::automatic);
}

// " rank N" on a node of an MPI session (set_node()), else empty: in every line's "[shoal...]".
std::string g_node_label;

std::shared_ptr<spdlog::logger> build_logger() {
  std::shared_ptr<spdlog::logger> logger;
  if (g_child_tag.empty()) {  // the driver: several threads may log
    logger = std::make_shared<spdlog::logger>(
        "shoal", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("[%H:%M:%S.%e] [shoal" + g_node_label + "] [%^%l%$] %v");
  } else {  // a fork helper or worker: one thread
    logger = std::make_shared<spdlog::logger>("shoal", child_sink());
    logger->set_pattern("[%H:%M:%S.%e] [shoal" + g_node_label + " " + g_child_tag +
                        "] [%^%l%$] %v");
  }
  logger->set_level(to_spdlog(static_cast<Level>(g_level.load(std::memory_order_relaxed))));
  logger->flush_on(spdlog::level::trace);  // stderr lines are never held back
  return logger;
}

// Writes one line; with a progress bar on the terminal, above it (src/common/status_line.hpp).
void log_line(spdlog::logger& logger, spdlog::level::level_enum level, std::string_view message) {
  const status_line::Above above;
  logger.log(level, spdlog::string_view_t(message.data(), message.size()));
}

void configure(std::string tag, Level level, int fd) {
  std::shared_ptr<spdlog::logger> old =
      std::atomic_exchange(&g_logger, std::shared_ptr<spdlog::logger>());
  // In a child the old logger is the parent's copy. Its destructor would flush under a lock that
  // a thread which does not exist here may have held at fork time: leak it instead.
  if (!tag.empty() && old) new std::shared_ptr<spdlog::logger>(std::move(old));
  g_child_tag = std::move(tag);
  g_child_fd = fd < 0 ? STDERR_FILENO : fd;
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

}  // namespace

bool parse_level(std::string_view text, Level* out) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "warning") lower = "warn";
  for (std::size_t i = 0; i < std::size(kNames); ++i) {
    if (lower == kNames[i]) {
      *out = static_cast<Level>(i);
      return true;
    }
  }
  return false;
}

std::string_view level_name(Level level) { return kNames[static_cast<int>(level)]; }

Level resolve_level(const std::string& configured) {
  std::string text = configured;
  std::string source = "Config::log_level";
  if (text.empty()) {
    const char* env = std::getenv("SHOAL_LOG_LEVEL");
    if (env == nullptr || *env == '\0') return Level::kWarn;
    text = env;
    source = "SHOAL_LOG_LEVEL";
  }
  Level level;
  if (!parse_level(text, &level)) {
    throw InvalidConfigError(fmt::format(
        "shoal: {} is '{}', which is not a log level; use one of trace, debug, info, warn, error, "
        "critical, off",
        source, text));
  }
  return level;
}

void init_driver(Level level) { configure("", level, STDERR_FILENO); }

void set_node(const std::string& label) {
  g_node_label = label.empty() ? std::string() : " " + label;
  std::atomic_store(&g_logger, std::shared_ptr<spdlog::logger>());  // rebuilt with the label
  std::atomic_store(&g_output_logger, std::shared_ptr<spdlog::logger>());
}

void init_child(const std::string& tag, Level level, int fd) { configure(tag, level, fd); }

bool enabled(Level level) noexcept {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed) && level != Level::kOff;
}

void write(Level level, std::string_view message) {
  std::shared_ptr<spdlog::logger> logger = std::atomic_load(&g_logger);
  if (!logger) {
    logger = build_logger();
    std::atomic_store(&g_logger, logger);
  }
  log_line(*logger, to_spdlog(level), message);
}

void flush() {
  if (auto logger = std::atomic_load(&g_logger)) logger->flush();
  if (auto logger = std::atomic_load(&g_output_logger)) logger->flush();
}

void write_worker_line(Stream stream, std::string_view origin, std::string_view line) {
  std::shared_ptr<spdlog::logger> logger = std::atomic_load(&g_output_logger);
  if (!logger) {
    // Its own sink, for its own pattern (a pattern belongs to the sink in spdlog), but the same
    // console mutex as g_logger's: lines of the two loggers never mix.
    logger = std::make_shared<spdlog::logger>(
        "shoal-output", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    logger->set_pattern("[%H:%M:%S.%e] [shoal" + g_node_label + "] %v");
    logger->set_level(spdlog::level::trace);
    logger->flush_on(spdlog::level::trace);
    std::shared_ptr<spdlog::logger> expected;
    if (!std::atomic_compare_exchange_strong(&g_output_logger, &expected, logger)) {
      logger = expected;  // another thread built one first
    }
  }
  const std::string_view name = stream == Stream::kStdout ? "stdout" : "stderr";
  std::string message;
  message.reserve(name.size() + origin.size() + line.size() + 6);
  message.append("[").append(name).append("] (").append(origin).append(") ").append(line);
  log_line(*logger, spdlog::level::info, message);
}

}  // namespace shoal::internal::logging
