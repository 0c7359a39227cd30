// spdlog behind SHOAL_LOG. One logger per process, never registered in spdlog's global registry
// (whose mutex a fork could copy in a locked state), and never asynchronous: an async logger's
// thread does not survive fork, and a worker that crashes must not lose its last lines.
#include "src/common/logging.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <memory>

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <shoal/errors.hpp>

namespace shoal::internal::logging {
namespace {

constexpr std::string_view kNames[] = {"trace", "debug",    "info", "warn",
                                       "error", "critical", "off"};

// The process's logger. Replaced only by init_driver()/init_child(), which run while no other
// shoal thread exists (before the I/O thread starts, or in a fresh child), so a plain pointer
// read by write() is enough; shared_ptr keeps the old one alive for a racing reader.
std::shared_ptr<spdlog::logger> g_logger;
std::atomic<int> g_level{static_cast<int>(Level::kWarn)};

spdlog::level::level_enum to_spdlog(Level level) {
  return static_cast<spdlog::level::level_enum>(static_cast<int>(level));
}

void install(std::shared_ptr<spdlog::logger> logger, Level level) {
  logger->set_level(to_spdlog(level));
  logger->flush_on(spdlog::level::trace);  // stderr lines are never held back
  std::atomic_store(&g_logger, std::move(logger));
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

void init_driver(Level level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("shoal", std::move(sink));
  logger->set_pattern("[%H:%M:%S.%e] [shoal] [%^%l%$] %v");
  install(std::move(logger), level);
}

void init_child(const std::string& tag, Level level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_st>();
  auto logger = std::make_shared<spdlog::logger>("shoal", std::move(sink));
  logger->set_pattern("[%H:%M:%S.%e] [shoal " + tag + "] [%^%l%$] %v");
  install(std::move(logger), level);
}

bool enabled(Level level) noexcept {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed) && level != Level::kOff;
}

void write(Level level, std::string_view message) {
  std::shared_ptr<spdlog::logger> logger = std::atomic_load(&g_logger);
  if (!logger) {  // before init(): a library must not stay silent about an error
    init_driver(static_cast<Level>(g_level.load(std::memory_order_relaxed)));
    logger = std::atomic_load(&g_logger);
  }
  logger->log(to_spdlog(level), message);
}

void flush() {
  if (auto logger = std::atomic_load(&g_logger)) logger->flush();
}

}  // namespace shoal::internal::logging
