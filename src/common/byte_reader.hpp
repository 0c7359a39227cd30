// A bounds-checked little-endian reader over untrusted bytes (frames from another process).
// Every read checks the remaining length first; a short or malformed input throws DecodeError,
// which the frame's receiver turns into "close this connection, log why".
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace shoal::internal {

class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ByteReader {
 public:
  ByteReader(const char* data, std::size_t size) noexcept : p_(data), end_(data + size) {}

  std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
  bool done() const noexcept { return p_ == end_; }
  const char* position() const noexcept { return p_; }

  template <class T>
  T get(const char* what) {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }

  /// Returns a pointer to the next n bytes and skips them.
  const char* bytes(std::size_t n, const char* what) {
    need(n, what);
    const char* at = p_;
    p_ += n;
    return at;
  }

  /// A u32 length followed by that many bytes.
  std::string_view string(const char* what) {
    const auto n = get<std::uint32_t>(what);
    return std::string_view(bytes(n, what), n);
  }

  void expect_done(const char* what) const {
    if (!done()) throw DecodeError(std::string(what) + ": unexpected trailing bytes");
  }

 private:
  void need(std::size_t n, const char* what) const {
    if (remaining() < n) throw DecodeError(std::string(what) + ": message is truncated");
  }

  const char* p_;
  const char* end_;
};

}  // namespace shoal::internal
