#include "src/common/task_backtrace.hpp"

#include <new>

#include "src/common/symbolize.hpp"

namespace shoal::detail {

const std::string& TaskBacktrace::text() const noexcept {
  std::call_once(once_, [this] {
    if (named_) return;
    named_ = true;
    try {
      text_ = internal::describe_frames(frames_, kMaxBytes);
    } catch (const std::bad_alloc&) {
      text_.clear();  // no memory to name the frames: an empty backtrace rather than a crash
    }
  });
  return text_;
}

const std::string& backtrace_text(const TaskBacktrace* backtrace) noexcept {
  static const std::string kEmpty;
  return backtrace != nullptr ? backtrace->text() : kEmpty;
}

std::shared_ptr<const TaskBacktrace> backtrace_from_text(std::string text) {
  if (text.empty()) return nullptr;
  return std::make_shared<const TaskBacktrace>(std::move(text));
}

}  // namespace shoal::detail
