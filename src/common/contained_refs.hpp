// Which refs a value holds: while a value is encoded, the ObjectRefs packed inside it
// (include/shoal/detail/ref_codec.hpp) are collected on the encoding thread, so that whoever
// stores the value can make it hold them (ReferenceTable::add_contained; a task's arguments hold
// theirs while the task is pending). Values written without a collector (a program packing
// msgpack itself) are not tracked.
#pragma once

#include <string>
#include <vector>

#include <shoal/detail/runtime_api.hpp>

#include "src/common/ids.hpp"

namespace shoal::internal {

class CoreRuntime;

/// Where the refs packed on this thread go (copies of their handles: each stays held until the
/// value that contains it holds it), and the session they must belong to.
struct RefSink {
  std::vector<detail::HandlePtr>* handles = nullptr;
  const CoreRuntime* runtime = nullptr;
};

/// Why a ref read from inside a value cannot be used: its object is gone (for adopt()).
std::string gone_ref_message(ObjectId id);

/// The ids of `handles`.
std::vector<ObjectId> ids_of(const std::vector<detail::HandlePtr>& handles);

/// Makes `sink` this thread's collector; returns the previous one, to restore with
/// set_ref_sink(previous) when the value is written.
RefSink set_ref_sink(RefSink sink) noexcept;

/// Collects the refs packed on this thread while it lives (nests: the outer collector resumes
/// when it ends).
class RefCollector {
 public:
  explicit RefCollector(const CoreRuntime* runtime) noexcept
      : previous_(set_ref_sink({&handles_, runtime})) {}
  ~RefCollector() {
    if (!done_) set_ref_sink(previous_);
  }
  RefCollector(const RefCollector&) = delete;
  RefCollector& operator=(const RefCollector&) = delete;

  /// The refs packed so far (kept alive by the collector until it goes).
  const std::vector<detail::HandlePtr>& handles() const noexcept { return handles_; }
  std::vector<ObjectId> ids() const { return ids_of(handles_); }
  /// Stops collecting and hands over the handles (the caller keeps them until the refs are held).
  std::vector<detail::HandlePtr> take() noexcept {
    set_ref_sink(previous_);
    previous_ = RefSink{};
    done_ = true;
    return std::move(handles_);
  }

 private:
  std::vector<detail::HandlePtr> handles_;
  bool done_ = false;
  RefSink previous_;
};

}  // namespace shoal::internal
