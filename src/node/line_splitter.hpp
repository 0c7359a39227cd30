// Cuts a byte stream into lines for the driver's log (worker output, see worker_output.hpp).
//
// A line ends at '\n', which is not part of it. A line longer than the bound is handed out in
// pieces of exactly `max_line` bytes, so one runaway writer (a progress bar without newlines, a
// binary dump) cannot make the driver buffer without limit. finish() hands out a last line that
// had no '\n'. Bytes are never changed or checked: invalid UTF-8 and NUL pass through, and a
// piece may end inside a multi-byte character.
//
// Thread safety: none; one splitter per stream, used by one thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace shoal::internal {

class LineSplitter {
 public:
  /// max_line >= 1.
  explicit LineSplitter(std::size_t max_line) : max_(max_line) {}

  /// Calls emit(std::string_view) for every line (or piece) completed by `data`, in order. The
  /// view is valid only during the call.
  template <class Emit>
  void feed(std::string_view data, Emit&& emit) {
    // Invariant: partial_.size() <= max_. A partial line of exactly max_ bytes is kept until the
    // next byte shows whether the line ends there, so such a line is not followed by an empty one.
    while (!data.empty()) {
      const std::size_t nl = data.find('\n');
      const std::size_t len = nl == std::string_view::npos ? data.size() : nl;
      if (partial_.size() + len > max_) {
        const std::size_t take = max_ - partial_.size();  // 0 if partial_ is full already
        emit_joined(data.substr(0, take), emit);
        data.remove_prefix(take);
        continue;
      }
      if (nl == std::string_view::npos) {
        partial_.append(data);
        return;
      }
      emit_joined(data.substr(0, len), emit);
      data.remove_prefix(len + 1);
    }
  }

  /// At the end of the stream: emits the last line if it had no '\n'.
  template <class Emit>
  void finish(Emit&& emit) {
    if (partial_.empty()) return;
    emit(std::string_view(partial_));
    partial_.clear();
  }

 private:
  // Emits partial_ + tail as one line, without copying when nothing is buffered.
  template <class Emit>
  void emit_joined(std::string_view tail, Emit& emit) {
    if (partial_.empty()) {
      emit(tail);
      return;
    }
    partial_.append(tail);
    emit(std::string_view(partial_));
    partial_.clear();
  }

  const std::size_t max_;
  std::string partial_;  // the line so far, before its '\n' has arrived
};

}  // namespace shoal::internal
