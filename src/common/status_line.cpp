// The status line (see the header). The state is a pid, a text and a flag under one mutex; the
// pid is also read without the lock, with a count of the writers that did so, so that a process
// with no bar (every worker, and the driver most of the time) logs without taking it.
#include "src/common/status_line.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sched.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "src/common/mutex.hpp"

namespace shoal::internal::status_line {
namespace {

constexpr int kDefaultColumns = 80;
constexpr std::string_view kEraseLine = "\r\x1b[K";

Mutex g_mu;
constexpr auto kMaxWaitForWriters = std::chrono::milliseconds(100);

std::atomic<pid_t> g_holder{0};             // the process whose bar holds the line; 0: none
std::atomic<int> g_unlocked_writers{0};     // Above objects writing without the lock
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

bool held_here() noexcept { return g_holder.load() == getpid(); }

}  // namespace

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
  g_holder.store(getpid());
  g_text.clear();
  g_drawn = false;
  // Writers that did not see the holder finish their line before the bar is drawn.
  const auto give_up = std::chrono::steady_clock::now() + kMaxWaitForWriters;
  while (g_unlocked_writers.load() > 0 && std::chrono::steady_clock::now() < give_up) {
    sched_yield();
  }
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
  g_holder.store(0);
}

// Locks only when a bar of this process holds the line, which the analysis cannot follow.
Above::Above() noexcept SHOAL_NO_THREAD_SAFETY_ANALYSIS {
  g_unlocked_writers.fetch_add(1);
  if (!held_here()) return;
  g_unlocked_writers.fetch_sub(1);
  g_mu.lock();
  locked_ = true;
  if (g_drawn) write_all(kEraseLine);
}

Above::~Above() SHOAL_NO_THREAD_SAFETY_ANALYSIS {
  if (!locked_) {
    g_unlocked_writers.fetch_sub(1);
    return;
  }
  if (g_drawn) show(g_text);
  g_mu.unlock();
}

}  // namespace shoal::internal::status_line
