// The stack of a failed task, as TaskError::backtrace() gives it: recorded in the worker as
// module-relative frames (src/common/module_frames.hpp) and named in this process the first time
// somebody asks, so that a failure costs its worker no symbol lookup and reaches get() as fast as
// a result. Every TaskError of one failure (get() may be called many times, and tasks that depend
// on the failed one fail with the same error) shares one TaskBacktrace, so the names are looked
// up once.
//
// Thread safety: text() may be called from any number of threads at once (std::call_once).
#pragma once

#include <cstddef>
#include <mutex>
#include <string>

#include <shoal/errors.hpp>

#include "src/common/module_frames.hpp"

namespace shoal::detail {

class TaskBacktrace {
 public:
  /// The text is at most this long; further frames are counted in a last line.
  static constexpr std::size_t kMaxBytes = std::size_t{16} * 1024;

  explicit TaskBacktrace(internal::ModuleFrames frames) : frames_(std::move(frames)) {}
  /// A text made already (TaskError's public constructor).
  explicit TaskBacktrace(std::string text) : named_(true), text_(std::move(text)) {}

  /// The frames, one line each (see TaskError::backtrace()). Names them on the first call.
  const std::string& text() const noexcept;
  /// The recorded frames; empty for a backtrace made from a text.
  const internal::ModuleFrames& frames() const noexcept { return frames_; }

 private:
  internal::ModuleFrames frames_;
  mutable std::once_flag once_;
  mutable bool named_ = false;
  mutable std::string text_;
};

}  // namespace shoal::detail
