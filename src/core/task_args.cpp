// TaskArgs: the argument records of one remote() call, built on the caller's thread without any
// runtime lock, by the one value writer (src/transport/value_writer.hpp). Values over the inline
// threshold (or past the per-task inline budget) become objects of their own in the store,
// referenced like an ObjectRef argument, so that task messages stay small.
#include <shoal/detail/runtime_api.hpp>
#include <shoal/errors.hpp>

#include "src/common/contained_refs.hpp"
#include "src/common/core_runtime.hpp"
#include "src/common/limits.hpp"
#include "src/transport/protocol.hpp"
#include "src/transport/value_writer.hpp"

namespace shoal::detail {

// A large argument becomes an object of the runtime's, which the task then takes like a ref.
struct TaskArgs::Space final : internal::SpaceProvider {
  explicit Space(TaskArgs& a) : args(a) {}
  char* reserve(Format format, std::uint64_t type_hash, std::uint64_t size) override {
    internal::StoreSpace space = args.runtime_->reserve_object(
        format, type_hash, size, internal::ObjectOrigin::kArgument, args.site_);
    args.open_store_ = std::move(space.handle);
    args.open_keep_ = std::move(space.keep);
    return space.dst;
  }
  void seal(ByteBuffer& records) override {
    internal::put_ref_record(records, static_cast<std::uint32_t>(args.refs_.size()));
    args.refs_.push_back(std::move(args.open_store_));
    args.open_keep_.reset();
  }
  TaskArgs& args;
};

TaskArgs::TaskArgs(detail::CallSite site) : runtime_(internal::current_runtime()), site_(site) {}
TaskArgs::~TaskArgs() { restore_sink(); }

// Ends the collection begin_msgpack() started, if one is open (also when encoding threw).
void TaskArgs::restore_sink() noexcept {
  if (previous_sink_[0] == nullptr && previous_sink_[1] == nullptr) {
    internal::RefSink now = internal::set_ref_sink({});
    if (now.handles != &contained_) internal::set_ref_sink(now);  // not ours: put it back
    return;
  }
  internal::set_ref_sink({static_cast<std::vector<HandlePtr>*>(previous_sink_[0]),
                          static_cast<const internal::CoreRuntime*>(previous_sink_[1])});
  previous_sink_[0] = previous_sink_[1] = nullptr;
}
TaskArgs::TaskArgs(TaskArgs&&) noexcept = default;

char* TaskArgs::reserve_raw(std::uint64_t type_hash, std::size_t size) {
  Space space(*this);
  return internal::ValueWriter(records_, space, open_, internal::kMaxInlineArgsPerTask)
      .reserve_raw(type_hash, size);
}

ByteBuffer& TaskArgs::begin_msgpack(std::uint64_t type_hash) {
  // Refs packed inside this value are collected until finish(): the task will hold them.
  const internal::RefSink previous = internal::set_ref_sink({&contained_, runtime_.get()});
  previous_sink_[0] = previous.handles;
  previous_sink_[1] = const_cast<internal::CoreRuntime*>(previous.runtime);
  Space space(*this);
  return internal::ValueWriter(records_, space, open_, internal::kMaxInlineArgsPerTask)
      .begin_msgpack(type_hash);
}

void TaskArgs::finish() {
  restore_sink();
  Space space(*this);
  internal::ValueWriter(records_, space, open_, internal::kMaxInlineArgsPerTask).finish();
  ++count_;
}

void TaskArgs::add_ref(const HandlePtr& ref) {
  if (!ref) {
    throw InvalidObjectRefError(
        "shoal: an argument is an empty ObjectRef (default-constructed or moved-from); pass a ref "
        "returned by remote() or put()");
  }
  internal::put_ref_record(records_, static_cast<std::uint32_t>(refs_.size()));
  refs_.push_back(ref);
  ++count_;
}

}  // namespace shoal::detail
