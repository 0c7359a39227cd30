// get(refs, Progress{...}) (<shoal/progress.hpp>): the bar on a terminal, nothing elsewhere, and
// results and errors exactly as get(refs).
//
// A test that needs stderr to be a terminal runs its session in a forked child whose fd 2 is the
// slave side of a pseudo-terminal (openpty); the parent reads everything the child (and its
// workers) wrote from the master side until the last of them closes it, then replays the bytes
// through a tiny terminal (carriage return, newline, "erase to the end of the line") to get the
// lines a user would see. The child checks the values itself and says what went wrong by its exit
// code. No timing is asserted beyond generous bounds.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal/progress.hpp>
#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono;
using shoal::Progress;
using shoal::testing::SessionTest;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr auto kLimit = seconds(60);  // for a child's whole session
constexpr int kColumns = 100;         // the pseudo-terminal's width

// ---- the tasks

int square_after_ms(int i, int ms) {
  std::this_thread::sleep_for(milliseconds(ms));
  return i * i;
}
std::string text_after_ms(int i, int ms) {
  std::this_thread::sleep_for(milliseconds(ms));
  return std::string(static_cast<std::size_t>(i % 7), 'x') + std::to_string(i);
}
void nothing_after_ms(int ms) { std::this_thread::sleep_for(milliseconds(ms)); }
int fail_after_ms(int i, int ms) {
  std::this_thread::sleep_for(milliseconds(ms));
  throw std::out_of_range("task " + std::to_string(i) + " failed");
}
int say_and_square(int i) {
  std::printf("hello from task %d\n", i);
  std::fflush(stdout);
  std::this_thread::sleep_for(milliseconds(30));
  return i * i;
}
// Inside a task: a progress get of its own children.
std::vector<int> squares_inside(int n) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(shoal::task(square_after_ms).remote(i, 20));
  return shoal::get(refs, Progress{"inner"});
}
SHOAL_REMOTE(square_after_ms, text_after_ms, nothing_after_ms, fail_after_ms, say_and_square,
             squares_inside);

// Durations that make the refs finish out of input order.
int ms_for(int i) { return 5 + (i * 7) % 30; }

std::vector<shoal::ObjectRef<int>> squares(int n, int ms = -1) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) {
    refs.push_back(shoal::task(square_after_ms).remote(i, ms < 0 ? ms_for(i) : ms));
  }
  return refs;
}

bool are_squares(const std::vector<int>& values, int n) {
  if (values.size() != static_cast<std::size_t>(n)) return false;
  for (int i = 0; i < n; ++i) {
    if (values[static_cast<std::size_t>(i)] != i * i) return false;
  }
  return true;
}

shoal::Config child_config() {
  shoal::Config c = SessionTest::test_config();
  c.object_store_memory = 64ull << 20;
  return c;
}

// ---- a child with a terminal for stderr

struct TerminalOutcome {
  bool timed_out = false;
  int status = -1;  // from waitpid(); -1 if the child could not be started (raw says why)
  std::string raw;  // every byte written to the terminal
};

// Runs body in a forked child whose stderr is a pseudo-terminal `columns` wide, with TERM set to
// `term` (unset for null), and exits the child with body's return value (99 if it throws).
TerminalOutcome run_on_terminal(const std::function<int()>& body, int columns = kColumns,
                                const char* term = "xterm") {
  TerminalOutcome out;
  int master = -1;
  int slave = -1;
  winsize ws{};
  ws.ws_row = 24;
  ws.ws_col = static_cast<unsigned short>(columns);
  if (openpty(&master, &slave, nullptr, nullptr, &ws) != 0) {
    out.raw = std::string("openpty: ") + std::strerror(errno);
    return out;
  }
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child < 0) {
    out.raw = std::string("fork: ") + std::strerror(errno);
    close(master);
    close(slave);
    return out;
  }
  if (child == 0) {
    close(master);
    dup2(slave, STDERR_FILENO);
    close(slave);
    if (term != nullptr) {
      setenv("TERM", term, 1);
    } else {
      unsetenv("TERM");
    }
    int code = 99;
    try {
      code = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "exception: %s\n", e.what());
    }
    shoal::shutdown();
    std::fflush(nullptr);
    _exit(code);
  }
  close(slave);
  // Until every process holding the slave has closed it (read() fails with EIO), or the limit.
  const auto deadline = steady_clock::now() + kLimit;
  char buf[4096];
  for (;;) {
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now());
    if (left.count() <= 0) {
      out.timed_out = true;
      kill(child, SIGKILL);
      break;
    }
    pollfd p{master, POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    const ssize_t n = read(master, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.raw.append(buf, static_cast<std::size_t>(n));
  }
  close(master);
  while (waitpid(child, &out.status, 0) < 0 && errno == EINTR) {
  }
  return out;
}

// The lines a terminal shows after `raw`: "\r" moves to the start of the line, "\n" to the next
// line, "\x1b[K" erases from the cursor to the end of the line, and every other code point takes
// one cell, overwriting what is there.
std::vector<std::string> screen_lines(const std::string& raw) {
  std::vector<std::string> lines;
  std::vector<std::string> cells;
  std::size_t cursor = 0;
  const auto commit = [&] {
    std::string line;
    for (const std::string& c : cells) line += c;
    lines.push_back(line);
    cells.clear();
    cursor = 0;
  };
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '\n') {
      commit();
    } else if (c == '\r') {
      cursor = 0;
    } else if (raw.compare(i, 3, "\x1b[K") == 0) {
      cells.resize(std::min(cursor, cells.size()));
      i += 2;
    } else {
      std::size_t len = 1;
      while (i + len < raw.size() && (static_cast<unsigned char>(raw[i + len]) & 0xC0) == 0x80) {
        ++len;
      }
      std::string cell = raw.substr(i, len);
      i += len - 1;
      if (cursor < cells.size()) {
        cells[cursor] = cell;
      } else {
        cells.push_back(cell);
      }
      ++cursor;
    }
  }
  if (!cells.empty()) commit();
  return lines;
}

std::size_t columns_of(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::vector<std::string> lines_with(const std::vector<std::string>& lines, const std::string& s) {
  std::vector<std::string> out;
  for (const std::string& l : lines) {
    if (l.find(s) != std::string::npos) out.push_back(l);
  }
  return out;
}

std::size_t count_of(const std::string& text, const std::string& piece) {
  std::size_t n = 0;
  for (std::size_t at = text.find(piece); at != std::string::npos; at = text.find(piece, at + 1)) {
    ++n;
  }
  return n;
}

// Prints what a child saw, for a failed assertion.
std::string describe(const TerminalOutcome& t) {
  std::string out = "exit status " + std::to_string(t.status) +
                    (t.timed_out ? " (timed out)" : "") + "; the terminal showed:\n";
  for (const std::string& l : screen_lines(t.raw)) out += "  | " + l + "\n";
  return out;
}

// Writes a line of the child's own to stderr, after whatever the bar left there.
void say(const std::string& text) {
  const std::string line = text + "\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

#define EXPECT_CHILD_EXITED_WITH(outcome, code)                            \
  do {                                                                     \
    ASSERT_FALSE((outcome).timed_out) << describe(outcome);                \
    ASSERT_TRUE(WIFEXITED((outcome).status)) << describe(outcome);         \
    EXPECT_EQ(WEXITSTATUS((outcome).status), (code)) << describe(outcome); \
  } while (false)

// ---- a terminal

TEST(ProgressTest, ABarShowsCountPercentageAndRateOnATerminal) {
  const auto start = steady_clock::now();
  const TerminalOutcome t = run_on_terminal([] {
    shoal::init(child_config());
    const std::vector<shoal::ObjectRef<int>> refs = squares(40, 20);
    const std::vector<int> values = shoal::get(refs, Progress{"work"});
    return are_squares(values, 40) ? 0 : 10;
  });
  EXPECT_CHILD_EXITED_WITH(t, 0);
  const std::vector<std::string> lines = screen_lines(t.raw);
  // Redrawn in place: one line is left, the last state, and it was ended with a newline.
  const std::vector<std::string> bars = lines_with(lines, "work:");
  ASSERT_EQ(bars.size(), 1u) << describe(t);
  const std::string& bar = bars[0];
  EXPECT_THAT(bar, StartsWith("work: 100%|")) << describe(t);
  EXPECT_THAT(bar, HasSubstr("| 40/40 [")) << describe(t);
  EXPECT_TRUE(std::regex_search(bar, std::regex(R"(\[\d\d:\d\d<00:00, \d+\.\d+ tasks/s\]$)")))
      << bar;
  EXPECT_THAT(bar, HasSubstr("\u2588"));
  EXPECT_LE(columns_of(bar), static_cast<std::size_t>(kColumns - 1)) << bar;
  EXPECT_NE(t.raw.find("40/40 ["), std::string::npos);
  EXPECT_NE(t.raw.find('\n', t.raw.rfind("40/40 [")), std::string::npos) << "no final newline";
  // It was drawn before the end too (40 tasks of 20 ms on 2 workers take 400 ms), and at most 10
  // times a second (the whole child's life bounds the call's).
  const double seconds_taken = duration<double>(steady_clock::now() - start).count();
  EXPECT_GE(count_of(t.raw, "\x1b[K"), 2u) << describe(t);
  EXPECT_LE(static_cast<double>(count_of(t.raw, "\x1b[K")), 10 * seconds_taken + 2) << describe(t);
  // The line never outgrew the terminal.
  for (std::size_t at = t.raw.find('\r'); at != std::string::npos; at = t.raw.find('\r', at + 1)) {
    const std::size_t end = t.raw.find_first_of("\r\n", at + 1);
    std::string drawn = t.raw.substr(at + 1, end == std::string::npos ? end : end - at - 1);
    if (drawn.size() >= 3 && drawn.compare(drawn.size() - 3, 3, "\x1b[K") == 0) {
      drawn.resize(drawn.size() - 3);
    }
    EXPECT_LE(columns_of(drawn), static_cast<std::size_t>(kColumns - 1)) << drawn;
  }
}

TEST(ProgressTest, ANarrowTerminalGetsALineThatFits) {
  const int columns = 30;
  const TerminalOutcome t = run_on_terminal(
      [] {
        shoal::init(child_config());
        return are_squares(shoal::get(squares(20, 10), Progress{"narrow"}), 20) ? 0 : 10;
      },
      columns);
  EXPECT_CHILD_EXITED_WITH(t, 0);
  const std::vector<std::string> bars = lines_with(screen_lines(t.raw), "narrow:");
  ASSERT_EQ(bars.size(), 1u) << describe(t);
  EXPECT_EQ(bars[0], "narrow: 100% 20/20");
  EXPECT_LE(columns_of(bars[0]), static_cast<std::size_t>(columns - 1)) << bars[0];
}

TEST(ProgressTest, ValuesAreThoseOfGetInInputOrder) {
  const TerminalOutcome t = run_on_terminal([] {
    shoal::init(child_config());
    const int n = 60;
    const std::vector<shoal::ObjectRef<int>> ints = squares(n);  // finishing out of order
    std::vector<shoal::ObjectRef<std::string>> texts;
    std::vector<shoal::ObjectRef<void>> voids;
    for (int i = 0; i < n; ++i) {
      texts.push_back(shoal::task(text_after_ms).remote(i, ms_for(n - i)));
      voids.push_back(shoal::task(nothing_after_ms).remote(ms_for(i)));
    }
    const std::vector<int> with_bar = shoal::get(ints, Progress{"ints"});
    if (with_bar != shoal::get(ints) || !are_squares(with_bar, n)) return 10;
    const std::vector<std::string> text_bar = shoal::get(texts, Progress{"texts", "texts"});
    if (text_bar != shoal::get(texts)) return 11;
    for (int i = 0; i < n; ++i) {
      const std::string want =
          std::string(static_cast<std::size_t>(i % 7), 'x') + std::to_string(i);
      if (text_bar[static_cast<std::size_t>(i)] != want) return 12;
    }
    shoal::get(voids, Progress{"voids"});
    // With a timeout long enough: the same values.
    if (shoal::get(squares(n), seconds(30), Progress{"timed"}) != with_bar) return 13;
    // A put() object and a task result in one list; a ref given twice.
    std::vector<shoal::ObjectRef<int>> mixed{shoal::put(7), ints[3], ints[3],
                                             shoal::task(square_after_ms).remote(5, 50)};
    if (shoal::get(mixed, Progress{"mixed"}) != std::vector<int>{7, 9, 9, 25}) return 14;
    return 0;
  });
  EXPECT_CHILD_EXITED_WITH(t, 0);
  const std::vector<std::string> lines = screen_lines(t.raw);
  // The first call surely waited; each bar that was drawn ends at its total.
  ASSERT_EQ(lines_with(lines, "ints:").size(), 1u) << describe(t);
  EXPECT_THAT(lines_with(lines, "ints:")[0], HasSubstr(" 60/60 ["));
  for (const char* name : {"texts:", "voids:", "timed:", "mixed:"}) {
    const std::vector<std::string> bars = lines_with(lines, name);
    EXPECT_LE(bars.size(), 1u) << name << "\n" << describe(t);
    for (const std::string& bar : bars) EXPECT_THAT(bar, HasSubstr("100%|")) << describe(t);
  }
  for (const std::string& bar : lines_with(lines, "texts:")) {
    EXPECT_THAT(bar, HasSubstr(" texts/s]")) << "Progress::unit";
  }
}

TEST(ProgressTest, AFailureEndsTheLineAndIsRethrownAsGetWould) {
  const TerminalOutcome t = run_on_terminal([] {
    shoal::init(child_config());
    std::vector<shoal::ObjectRef<int>> refs = squares(30, 20);
    refs[12] = shoal::task(fail_after_ms).remote(12, 150);
    refs[25] = shoal::task(fail_after_ms).remote(25, 5000);  // still running when 12 fails
    std::string with_bar;
    const auto start = steady_clock::now();
    try {
      shoal::get(refs, Progress{"work"});
      return 10;
    } catch (const shoal::TaskError& e) {
      with_bar = e.type_name() + ": " + e.original_what();
      say("caught " + with_bar);
    }
    // Without waiting for the rest (task 25 sleeps 5 s).
    if (steady_clock::now() - start > seconds(4)) return 11;
    try {
      shoal::get(refs);
      return 12;
    } catch (const shoal::TaskError& e) {
      if (e.type_name() + ": " + e.original_what() != with_bar) return 13;
    }
    return with_bar.find("task 12 failed") != std::string::npos ? 0 : 14;
  });
  EXPECT_CHILD_EXITED_WITH(t, 0);
  const std::vector<std::string> lines = screen_lines(t.raw);
  // The message the program printed after catching starts a line of its own, below the bar.
  const auto caught = std::find_if(lines.begin(), lines.end(),
                                   [](const std::string& l) { return l.rfind("caught ", 0) == 0; });
  ASSERT_NE(caught, lines.end()) << describe(t);
  EXPECT_THAT(*caught, HasSubstr("out_of_range: task 12 failed"));
  ASSERT_NE(caught, lines.begin()) << describe(t);
  EXPECT_THAT(*(caught - 1), StartsWith("work: ")) << describe(t);
  EXPECT_THAT(*(caught - 1), Not(HasSubstr("30/30"))) << "task 25 cannot have finished";
}

TEST(ProgressTest, ATimeoutEndsTheLineAndThrowsGetTimeoutError) {
  const TerminalOutcome t = run_on_terminal([] {
    shoal::init(child_config());
    const std::vector<shoal::ObjectRef<int>> refs = squares(4, 3000);
    const auto start = steady_clock::now();
    try {
      shoal::get(refs, milliseconds(300), Progress{"slow"});
      return 10;
    } catch (const shoal::GetTimeoutError& e) {
      say(std::string("caught ") + e.what());
    }
    const auto took = steady_clock::now() - start;
    if (took < milliseconds(300) || took > seconds(2)) return 11;
    return 0;
  });
  EXPECT_CHILD_EXITED_WITH(t, 0);
  const std::vector<std::string> lines = screen_lines(t.raw);
  const auto caught = std::find_if(lines.begin(), lines.end(),
                                   [](const std::string& l) { return l.rfind("caught ", 0) == 0; });
  ASSERT_NE(caught, lines.end()) << describe(t);
  EXPECT_THAT(*caught, HasSubstr("with 4 of 4 objects not ready yet"));
  ASSERT_NE(caught, lines.begin()) << describe(t);
  EXPECT_THAT(*(caught - 1), StartsWith("slow:   0%|")) << describe(t);
}

TEST(ProgressTest, NothingIsDrawnWhenThereIsNothingToWaitFor) {
  const TerminalOutcome t = run_on_terminal([] {
    shoal::init(child_config());
    if (!shoal::get(std::vector<shoal::ObjectRef<int>>{}, Progress{"empty"}).empty()) return 10;
    shoal::get(std::vector<shoal::ObjectRef<void>>{}, Progress{"empty"});
    const std::vector<shoal::ObjectRef<int>> refs = squares(10, 1);
    (void)shoal::get(refs);  // all finished now
    if (!are_squares(shoal::get(refs, Progress{"already"}), 10)) return 11;
    shoal::shutdown();
    // Local mode: every task has finished when remote() returns.
    shoal::Config local = child_config();
    local.local_mode = true;
    shoal::init(local);
    if (!are_squares(shoal::get(squares(10, 1), Progress{"local"}), 10)) return 12;
    return 0;
  });
  EXPECT_CHILD_EXITED_WITH(t, 0);
  EXPECT_EQ(count_of(t.raw, "\x1b[K"), 0u) << describe(t);
  for (const char* name : {"empty", "already", "local"}) {
    EXPECT_EQ(t.raw.find(name), std::string::npos) << describe(t);
  }
}

TEST(ProgressTest, ADumbTerminalGetsNoBar) {
  const TerminalOutcome t = run_on_terminal(
      [] {
        shoal::init(child_config());
        return are_squares(shoal::get(squares(10, 20), Progress{"dumb"}), 10) ? 0 : 10;
      },
      kColumns, "dumb");
  EXPECT_CHILD_EXITED_WITH(t, 0);
  EXPECT_EQ(t.raw.find("dumb"), std::string::npos) << describe(t);
}

TEST(ProgressTest, InsideATaskThereIsNoBar) {
  const TerminalOutcome t = run_on_terminal([] {
    shoal::Config c = child_config();
    c.log_to_driver = false;  // the workers' stderr is the terminal too
    shoal::init(c);
    const std::vector<shoal::ObjectRef<std::vector<int>>> refs{
        shoal::task(squares_inside).remote(8)};
    const std::vector<std::vector<int>> got = shoal::get(refs, Progress{"outer"});
    return got.size() == 1 && are_squares(got[0], 8) ? 0 : 10;
  });
  EXPECT_CHILD_EXITED_WITH(t, 0);
  EXPECT_EQ(t.raw.find("inner"), std::string::npos) << describe(t);
  EXPECT_EQ(lines_with(screen_lines(t.raw), "outer: 100%|").size(), 1u) << describe(t);
}

TEST(ProgressTest, LogLinesGoAboveTheBar) {
  const TerminalOutcome t = run_on_terminal([] {
    shoal::init(child_config());  // log_to_driver: what tasks print reaches the driver's log
    std::vector<shoal::ObjectRef<int>> refs;
    for (int i = 0; i < 30; ++i) refs.push_back(shoal::task(say_and_square).remote(i));
    return are_squares(shoal::get(refs, Progress{"work"}), 30) ? 0 : 10;
  });
  EXPECT_CHILD_EXITED_WITH(t, 0);
  const std::vector<std::string> lines = screen_lines(t.raw);
  // Every task's line arrived whole, none glued to the bar, and one bar line is left.
  const std::vector<std::string> hellos = lines_with(lines, "hello from task");
  EXPECT_EQ(hellos.size(), 30u) << describe(t);
  for (const std::string& l : hellos) EXPECT_THAT(l, Not(HasSubstr("work:"))) << describe(t);
  const std::vector<std::string> bars = lines_with(lines, "work:");
  ASSERT_EQ(bars.size(), 1u) << describe(t);
  EXPECT_THAT(bars[0], StartsWith("work: 100%|"));
}

// ---- not a terminal

TEST(ProgressTest, NothingIsPrintedWhenStderrIsAPipe) {
  const shoal::testing::ChildOutcome child = shoal::testing::run_in_child(
      [] {
        setenv("TERM", "xterm", 1);
        shoal::Config c = child_config();
        // Under TSan the child has the sanitizer's own thread, and init() warns about it.
        c.log_level = "error";
        shoal::init(c);
        const std::vector<int> values = shoal::get(squares(20, 10), Progress{"work"});
        shoal::shutdown();
        return are_squares(values, 20) ? 0 : 10;
      },
      kLimit);
  ASSERT_FALSE(child.timed_out) << child.err;
  ASSERT_TRUE(WIFEXITED(child.status)) << child.err;
  EXPECT_EQ(WEXITSTATUS(child.status), 0) << child.err;
  EXPECT_EQ(child.err, "");
}

using ProgressSessionTest = SessionTest;

// Here stderr is whatever ctest gave: no terminal, so these check the plain path's contract.
TEST_F(ProgressSessionTest, WithoutATerminalItIsGet) {
  const std::vector<shoal::ObjectRef<int>> refs = squares(20);
  EXPECT_EQ(shoal::get(refs, Progress{"work"}), shoal::get(refs));
  EXPECT_TRUE(shoal::get(std::vector<shoal::ObjectRef<int>>{}, Progress{"empty"}).empty());
  std::vector<shoal::ObjectRef<int>> failing = squares(4);
  failing[2] = shoal::task(fail_after_ms).remote(2, 10);
  EXPECT_THROW(shoal::get(failing, Progress{"work"}), shoal::TaskError);
  EXPECT_THROW(shoal::get(std::vector<shoal::ObjectRef<int>>{shoal::ObjectRef<int>()}, Progress{}),
               shoal::InvalidObjectRefError);
  EXPECT_THROW(shoal::get(squares(2, 2000), milliseconds(50), Progress{"slow"}),
               shoal::GetTimeoutError);
}

TEST(ProgressNoSessionTest, AnEmptyListThrowsAsGetDoesBeforeInit) {
  EXPECT_THROW(shoal::get(std::vector<shoal::ObjectRef<int>>{}), shoal::NotInitializedError);
  EXPECT_THROW(shoal::get(std::vector<shoal::ObjectRef<int>>{}, Progress{"x"}),
               shoal::NotInitializedError);
}

}  // namespace
