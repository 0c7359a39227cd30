#include "worker/invoke_context.hpp"

#include <cstring>

#include <shoal/errors.hpp>

#include "src/common/limits.hpp"

namespace shoal::internal {

InvokeContextImpl::InvokeContextImpl(const std::vector<ValueRecord>* args, char* arena_base,
                                     std::uint64_t arena_size, AllocateFn allocate)
    : args_(args),
      arena_base_(arena_base),
      arena_size_(arena_size),
      allocate_(std::move(allocate)) {}

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

void InvokeContextImpl::set_void_result() {
  record_.clear();
  put_inline_record(record_, detail::Format::kVoid, 0, nullptr, 0);
  done_ = true;
}

char* InvokeContextImpl::ResultSink::reserve_raw(std::uint64_t type_hash, std::size_t size) {
  type_hash_ = type_hash;
  format_ = detail::Format::kRaw;
  size_ = size;
  ctx_->record_.clear();
  if (size <= kInlineThreshold) {
    to_store_ = false;
    put_inline_record(ctx_->record_, format_, type_hash, nullptr, 0);
    // Patch the size and return the space right after the record's prefix.
    const auto n = static_cast<std::uint32_t>(size);
    std::memcpy(ctx_->record_.data() + kRecordPrefixSize, &n, sizeof n);
    return ctx_->record_.grow(size);
  }
  to_store_ = true;
  offset_ = ctx_->allocate_(size);
  return ctx_->arena_base_ + offset_;
}

detail::ByteBuffer& InvokeContextImpl::ResultSink::begin_msgpack(std::uint64_t type_hash) {
  type_hash_ = type_hash;
  format_ = detail::Format::kMsgpack;
  to_store_ = false;
  ctx_->scratch_.clear();
  return ctx_->scratch_;
}

void InvokeContextImpl::ResultSink::finish() {
  if (format_ == detail::Format::kMsgpack) {
    const detail::ByteBuffer& bytes = ctx_->scratch_;
    ctx_->record_.clear();
    if (bytes.size() <= kInlineThreshold) {
      put_inline_record(ctx_->record_, format_, type_hash_, bytes.data(), bytes.size());
    } else {
      const std::uint64_t offset = ctx_->allocate_(bytes.size());
      std::memcpy(ctx_->arena_base_ + offset, bytes.data(), bytes.size());
      put_store_record(ctx_->record_, format_, type_hash_, offset, bytes.size());
    }
  } else if (to_store_) {
    ctx_->record_.clear();
    put_store_record(ctx_->record_, format_, type_hash_, offset_, size_);
  }
  ctx_->done_ = true;
}

}  // namespace shoal::internal
