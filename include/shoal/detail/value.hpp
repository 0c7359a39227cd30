// File: shoal/detail/value.hpp (internal)
//
// The vocabulary shared by the public templates and the library for an encoded value:
//  - Format says how the bytes are laid out (msgpack, raw contiguous bytes, or nothing for void);
//  - ValueView is a read-only look at one encoded value, wherever it lives (a message, the heap,
//    or the shared-memory store);
//  - ValueSink is where a value is encoded to. The library implements it once (a value writer
//    used for put(), task arguments and task results) and decides there whether the value
//    travels inline in a message or goes to the shared-memory store: the templates never see that
//    choice.
#pragma once

#include <cstddef>
#include <cstdint>

#include <shoal/detail/byte_buffer.hpp>

namespace shoal::detail {

enum class Format : std::uint8_t {
  kVoid = 0,     // no bytes: the result of a void function
  kMsgpack = 1,  // one msgpack object
  kRaw = 2,      // the value's own contiguous bytes (vectors of trivially copyable types, ...)
};

struct ValueView {
  Format format = Format::kVoid;
  std::uint64_t type_hash = 0;
  const char* data = nullptr;
  std::size_t size = 0;
};

/// The value a library-side writer is in the middle of writing, between reserve_raw() or
/// begin_msgpack() and finish(): where its record starts, its type, and whether it goes to the
/// store. Plain data, so that TaskArgs can keep it in its own object.
struct OpenValue {
  std::size_t record = 0;
  std::uint64_t type_hash = 0;
  Format format = Format::kVoid;
  bool to_store = false;
};

class ValueSink {
 public:
  /// Returns `size` writable bytes for a raw value; the caller fills them, then calls finish().
  virtual char* reserve_raw(std::uint64_t type_hash, std::size_t size) = 0;
  /// Returns a buffer to msgpack-encode into; the caller appends, then calls finish().
  virtual ByteBuffer& begin_msgpack(std::uint64_t type_hash) = 0;
  /// Seals what was written. Large values move to the store here.
  virtual void finish() = 0;

 protected:
  ~ValueSink() = default;
};

}  // namespace shoal::detail
