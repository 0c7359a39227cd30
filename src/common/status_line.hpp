// The status line: the one line at the bottom of the terminal on stderr that a progress bar
// (get(refs, Progress{...}), src/api/progress.cpp) redraws in place, and the driver's log lines,
// which must go above it rather than be glued to the end of the bar.
//
// One bar at a time per process: a caller first acquire()s the line (a second caller is told no
// and draws nothing), draw()s as often as it likes, and release()s it, which ends the bar's line
// with a newline. The logger wraps every line it writes in above(): with a bar shown, the bar is
// erased, the line written, and the bar drawn again below it.
//
// Drawing writes to file descriptor 2 with write(2) ("\r", the text, "\x1b[K": erase to the end
// of the line), not through std::cerr or stdio, so nothing is left in a buffer when a bar stops.
//
// Fork: the holder is recorded with its pid. In a process forked while a bar was shown (a worker
// started meanwhile, or the program's own fork) that pid is not its own: above() writes straight
// away without touching the lock, which the fork may have copied while locked.
//
// Thread safety: every function may be called from any thread.
#pragma once

#include <functional>
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

/// True if a bar of this process holds the line (one lock-free load and getpid()).
bool held_here() noexcept;

/// Runs write_lines (which writes whole lines to stderr and flushes them) with the bar, if one is
/// shown, erased before and drawn again after. The driver's logger calls every write through it
/// when held_here().
void above(const std::function<void()>& write_lines);

}  // namespace shoal::internal::status_line
