// The status line (see the header). The state is a pid, a text and a flag under one mutex; the
// pid is also read without the lock, so that a process with no bar (every worker, and the driver
// most of the time) logs without taking it.
#include "src/common/status_line.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/ioctl.h>
#include <unistd.h>

#include "src/common/mutex.hpp"

namespace shoal::internal::status_line {
namespace {

constexpr int kDefaultColumns = 80;
constexpr std::string_view kEraseLine = "\r\x1b[K";

Mutex g_mu;
std::atomic<pid_t> g_holder{0};             // the process whose bar holds the line; 0: none
std::string g_text SHOAL_GUARDED_BY(g_mu);  // what the bar shows now
bool g_drawn SHOAL_GUARDED_BY(g_mu) = false;

// Writes all of text to stderr; gives up on an error (a closed terminal is nothing to report).
void write_all(std::string_view text) noexcept {
  while (!text.empty()) {
    const ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

void show(const std::string& text) noexcept {
  std::string out;
  out.reserve(text.size() + 4);
  out.append("\r").append(text).append("\x1b[K");
  write_all(out);
}

}  // namespace

bool held_here() noexcept { return g_holder.load(std::memory_order_acquire) == getpid(); }

bool stderr_is_terminal() noexcept {
  if (isatty(STDERR_FILENO) == 0) return false;
  const char* term = std::getenv("TERM");
  return term == nullptr || std::strcmp(term, "dumb") != 0;
}

int terminal_columns() noexcept {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* env = std::getenv("COLUMNS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return kDefaultColumns;
}

bool acquire() noexcept {
  MutexLock<Mutex> lock(g_mu);
  if (held_here()) return false;
  g_holder.store(getpid(), std::memory_order_release);
  g_text.clear();
  g_drawn = false;
  return true;
}

void draw(std::string_view text) noexcept {
  MutexLock<Mutex> lock(g_mu);
  try {
    g_text.assign(text);
  } catch (...) {  // out of memory: keep the old text
    return;
  }
  show(g_text);
  g_drawn = true;
}

void release() noexcept {
  MutexLock<Mutex> lock(g_mu);
  if (g_drawn) write_all("\n");
  g_drawn = false;
  g_text.clear();
  g_holder.store(0, std::memory_order_release);
}

void above(const std::function<void()>& write_lines) {
  if (!held_here()) {
    write_lines();
    return;
  }
  MutexLock<Mutex> lock(g_mu);
  const bool shown = g_drawn;
  if (shown) write_all(kEraseLine);
  try {
    write_lines();
  } catch (...) {
    if (shown) show(g_text);
    throw;
  }
  if (shown) show(g_text);
}

}  // namespace shoal::internal::status_line
