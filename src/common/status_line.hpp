// The status line: the one line at the bottom of the terminal on stderr that a progress bar
// (get(refs, Progress{...}), src/api/progress.cpp) redraws in place, and the driver's log lines,
// which must go above it rather than be glued to the end of the bar.
//
// One bar at a time per process: a caller first acquire()s the line (a second caller is told no
// and draws nothing), draw()s as often as it likes, and release()s it, which ends the bar's line
// with a newline. The logger writes every line inside an Above: with a bar shown, the bar is
// erased, the line written, and the bar drawn again below it.
//
// Without a bar, a writer takes no lock: it counts itself in an atomic, then checks for a bar. To
// close the gap between that check and its write, acquire() publishes the holder and then waits
// for the writers counted without the lock to finish (Dekker's handshake, with sequentially
// consistent atomics: either the writer sees the holder and takes the lock, or acquire() sees the
// writer and waits for it). It waits 100 ms at most, so that a writer stuck on a stopped terminal,
// or a count copied by fork() from a thread that does not exist here, cannot hold a bar back for
// ever (a line may then land on the bar's line).
//
// Drawing writes to file descriptor 2 with write(2) ("\r", the text, "\x1b[K": erase to the end
// of the line), not through std::cerr or stdio, so nothing is left in a buffer when a bar stops.
//
// Fork: the holder is recorded with its pid. In a process forked while a bar was shown (a worker
// started meanwhile, or the program's own fork) that pid is not its own: an Above there writes
// straight away without touching the lock, which the fork may have copied while locked.
//
// Thread safety: every function may be called from any thread.
#pragma once

#include <string_view>

namespace shoal::internal::status_line {

/// True if a bar can be drawn on stderr: it is a terminal (isatty) and TERM is not "dumb" (an
/// unset TERM counts as a terminal).
bool stderr_is_terminal() noexcept;

/// The width of the terminal on stderr, in columns: TIOCGWINSZ, else COLUMNS, else 80.
int terminal_columns() noexcept;

/// Takes the line for one bar. False if another bar of this process holds it.
bool acquire() noexcept;

/// Replaces what the holder's bar shows with `text` (one line, no newline). Only the holder.
void draw(std::string_view text) noexcept;

/// Ends the holder's line with a newline (if it drew anything) and frees the line. Only the
/// holder.
void release() noexcept;

/// While it lives, what the thread writes to stderr (whole lines, flushed before it goes) goes
/// above the bar: if a bar of this process is shown, the bar is erased when it is made and drawn
/// again when it goes, and no bar is drawn in between. The driver's logger writes every line inside
/// one. Without a bar it takes no lock (an atomic counter and two loads).
class Above {
 public:
  Above() noexcept;
  ~Above();
  Above(const Above&) = delete;
  Above& operator=(const Above&) = delete;

 private:
  bool locked_ = false;  // a bar held the line: the lock is held
};

}  // namespace shoal::internal::status_line
