// TaskArgs: the argument records of one remote() call, built on the caller's thread without the
// runtime lock. Small values are encoded in place as inline records; values over the inline
// threshold (or past the per-task inline budget) become store objects, referenced like an
// ObjectRef argument, so task messages stay small.
#include <cstring>

#include <shoal/detail/runtime_api.hpp>
#include <shoal/errors.hpp>

#include "src/common/limits.hpp"
#include "src/core/runtime.hpp"
#include "src/transport/protocol.hpp"

namespace shoal::detail {

using internal::kInlineRecordOverhead;
using internal::kInlineThreshold;
using internal::kMaxInlineArgsPerTask;

TaskArgs::TaskArgs() = default;
TaskArgs::~TaskArgs() = default;
TaskArgs::TaskArgs(TaskArgs&&) noexcept = default;

char* TaskArgs::reserve_raw(std::uint64_t type_hash, std::size_t size) {
  open_format_ = Format::kRaw;
  open_type_ = type_hash;
  open_size_ = size;
  if (size > kInlineThreshold || records_.size() + size > kMaxInlineArgsPerTask) {
    internal::Runtime::StoreSpace space = internal::current_runtime()->store_value(
        Format::kRaw, type_hash, size, internal::ObjectOrigin::kArgument);
    open_store_ = std::move(space.handle);
    open_mapping_ = std::move(space.mapping);
    return space.dst;
  }
  open_record_ = records_.size();
  internal::put_inline_record(records_, Format::kRaw, type_hash, nullptr, 0);
  const auto n = static_cast<std::uint32_t>(size);
  std::memcpy(records_.data() + open_record_ + internal::kRecordPrefixSize, &n, sizeof n);
  return records_.grow(size);
}

ByteBuffer& TaskArgs::begin_msgpack(std::uint64_t type_hash) {
  open_format_ = Format::kMsgpack;
  open_type_ = type_hash;
  open_record_ = records_.size();
  internal::put_inline_record(records_, Format::kMsgpack, type_hash, nullptr, 0);
  return records_;  // msgpack appends the value right after the record's prefix
}

void TaskArgs::finish() {
  if (open_store_) {  // a large raw value, already written into the store
    HandlePtr h = std::move(open_store_);
    open_mapping_.reset();
    add_ref(h);
    return;
  }
  if (open_format_ == Format::kMsgpack) {
    const std::size_t payload = open_record_ + kInlineRecordOverhead;
    const std::size_t n = records_.size() - payload;
    if (n > kInlineThreshold || records_.size() > kMaxInlineArgsPerTask) {
      internal::Runtime::StoreSpace space = internal::current_runtime()->store_value(
          Format::kMsgpack, open_type_, n, internal::ObjectOrigin::kArgument);
      std::memcpy(space.dst, records_.data() + payload, n);
      records_.truncate(open_record_);
      add_ref(space.handle);
      return;
    }
    const auto size = static_cast<std::uint32_t>(n);
    std::memcpy(records_.data() + open_record_ + internal::kRecordPrefixSize, &size, sizeof size);
  }
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
