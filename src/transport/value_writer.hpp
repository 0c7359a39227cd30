// The one writer of encoded values: task arguments (TaskArgs, on the program's thread), put()
// values (in the driver) and task results (in a worker) all go through it.
//
// A value becomes a value record (protocol.hpp) appended to a record buffer: inline, its bytes in
// the record, while it is at most kInlineThreshold and the buffer stays within its budget (a task
// message must stay small); otherwise its bytes go to the object store, through a SpaceProvider,
// which also writes the record that names them there. Raw values are written once, straight to
// where they belong; a msgpack value is encoded into the buffer and moved to the store only if it
// turns out too large.
//
// Thread safety: none; one writer writes one value at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include <shoal/detail/byte_buffer.hpp>
#include <shoal/detail/value.hpp>

namespace shoal::internal {

/// Where the writer puts a value that does not travel inline.
class SpaceProvider {
 public:
  /// Space for `size` bytes of the value; the writer fills it, then calls seal(). Throws what the
  /// store throws (ObjectStoreFullError, ...).
  virtual char* reserve(detail::Format format, std::uint64_t type_hash, std::uint64_t size) = 0;
  /// The value reserve() gave space for is written: append the record that names it (a store
  /// record, a ref record; nothing if the caller keeps track of it itself).
  virtual void seal(detail::ByteBuffer& records) = 0;

 protected:
  ~SpaceProvider() = default;
};

/// How an inline value is written: as a record (a header, then its bytes) among others, or as
/// its bare bytes alone, its format and type in the OpenValue (put(): the bytes become an object
/// as they are, with no header to strip).
enum class InlineForm : std::uint8_t { kRecord, kBare };

class ValueWriter final : public detail::ValueSink {
 public:
  /// `open` holds the value being written between reserve_raw()/begin_msgpack() and finish(), so
  /// that a writer may be made afresh for each call (TaskArgs keeps it in its own object).
  ValueWriter(detail::ByteBuffer& records, SpaceProvider& space, detail::OpenValue& open,
              std::size_t budget = std::numeric_limits<std::size_t>::max(),
              InlineForm form = InlineForm::kRecord) noexcept
      : records_(records), space_(space), open_(open), budget_(budget), form_(form) {}

  char* reserve_raw(std::uint64_t type_hash, std::size_t size) override;
  detail::ByteBuffer& begin_msgpack(std::uint64_t type_hash) override;
  void finish() override;

 private:
  detail::ByteBuffer& records_;
  SpaceProvider& space_;
  detail::OpenValue& open_;
  const std::size_t budget_;
  const InlineForm form_;
};

}  // namespace shoal::internal
