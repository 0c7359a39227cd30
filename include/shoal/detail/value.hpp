// File: shoal/detail/value.hpp (internal)
//
// The vocabulary shared by the public templates and the library for an encoded value:
//  - Format says how the bytes are laid out (msgpack, raw contiguous bytes, or nothing for void);
//  - ValueView is a read-only look at one encoded value, wherever it lives (a message, the heap,
//    or the shared-memory store);
//  - ValueSink is where a value is encoded to. The library implements it three times (put(),
//    task arguments, task results) and decides there whether the value travels inline in a
//    message or goes to the shared-memory store: the templates never see that choice.
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
