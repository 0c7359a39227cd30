#include "src/transport/value_writer.hpp"

#include <cstring>

#include "src/common/limits.hpp"
#include "src/transport/protocol.hpp"

namespace shoal::internal {

using detail::Format;

namespace {

// An inline record's u32 size, written once the size is known.
void patch_inline_size(detail::ByteBuffer& records, std::size_t record, std::size_t size) {
  const auto n = static_cast<std::uint32_t>(size);
  std::memcpy(records.data() + record + kRecordPrefixSize, &n, sizeof n);
}

}  // namespace

char* ValueWriter::reserve_raw(std::uint64_t type_hash, std::size_t size) {
  open_ = detail::OpenValue{records_.size(), type_hash, Format::kRaw, false};
  if (size > kInlineThreshold || records_.size() + size > budget_) {
    open_.to_store = true;
    return space_.reserve(Format::kRaw, type_hash, size);
  }
  if (form_ == InlineForm::kRecord) {
    put_inline_record(records_, Format::kRaw, type_hash, nullptr, 0);
    patch_inline_size(records_, open_.record, size);
  }
  return records_.grow(size);
}

detail::ByteBuffer& ValueWriter::begin_msgpack(std::uint64_t type_hash) {
  open_ = detail::OpenValue{records_.size(), type_hash, Format::kMsgpack, false};
  if (form_ == InlineForm::kRecord)
    put_inline_record(records_, Format::kMsgpack, type_hash, nullptr, 0);
  return records_;  // msgpack appends the value right after the record's prefix
}

void ValueWriter::finish() {
  if (open_.to_store) {  // a raw value, already written into the store
    space_.seal(records_);
    return;
  }
  if (open_.format != Format::kMsgpack) return;  // a raw inline value is complete already
  const std::size_t payload =
      open_.record + (form_ == InlineForm::kRecord ? kInlineRecordOverhead : 0);
  const std::size_t n = records_.size() - payload;
  if (n > kInlineThreshold || records_.size() > budget_) {
    char* dst = space_.reserve(Format::kMsgpack, open_.type_hash, n);
    std::memcpy(dst, records_.data() + payload, n);
    records_.truncate(open_.record);
    space_.seal(records_);
    return;
  }
  if (form_ == InlineForm::kRecord) patch_inline_size(records_, open_.record, n);
}

}  // namespace shoal::internal
