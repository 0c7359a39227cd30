#include "worker/invoke_context.hpp"

#include <chrono>

namespace shoal::internal {

InvokeContextImpl::InvokeContextImpl(const std::vector<ValueRecord>* args, char* arena_base,
                                     AllocateFn allocate, std::size_t num_returns)
    : args_(args),
      arena_base_(arena_base),
      allocate_(std::move(allocate)),
      num_returns_(num_returns) {}

detail::ValueView InvokeContextImpl::arg(std::size_t index) const {
  const ValueRecord& r = (*args_)[index];
  detail::ValueView v;
  v.format = r.format;
  v.type_hash = r.type_hash;
  v.size = r.size;
  // Extents were checked against the arena when the message was decoded.
  v.data = r.kind == RecordKind::kStore ? arena_base_ + r.offset : r.data;
  return v;
}

detail::ValueSink& InvokeContextImpl::result() {
  // The first call comes when the function has returned: from here on the worker stores the
  // result (the timeline's "storing the result" phase).
  if (result_started_ns_ == 0) {
    result_started_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
  }
  return writer_;
}

void InvokeContextImpl::set_void_result() {
  record_.clear();
  put_inline_record(record_, detail::Format::kVoid, 0, nullptr, 0);
}

char* InvokeContextImpl::ResultSpace::reserve(detail::Format format, std::uint64_t type_hash,
                                              std::uint64_t size) {
  format_ = format;
  type_hash_ = type_hash;
  size_ = size;
  offset_ = ctx_->allocate_(size);
  return ctx_->arena_base_ + offset_;
}

void InvokeContextImpl::ResultSpace::seal(detail::ByteBuffer& records) {
  put_store_record(records, format_, type_hash_, offset_, size_);
}

}  // namespace shoal::internal
