// File: shoal/detail/codec.hpp (internal; the serialization customization point)
//
// Codec<T> turns a T into bytes and back. Two families:
//  - raw: numbers, and contiguous buffers (std::vector of trivially copyable elements,
//    std::string, and cv::Mat through <shoal/opencv.hpp>) are copied as their own bytes, with no
//    encoding, so a large buffer costs one memcpy into the store and one out;
//  - msgpack (everything else): numbers, strings, vectors, maps, optional, pair, tuple work out of
//    the box, and a user type becomes serializable the msgpack way, with MSGPACK_DEFINE(fields...)
//    in the class or a msgpack adaptor specialisation. An ObjectRef inside such a value travels
//    as a reference (ref_codec.hpp).
//
// Why msgpack-c++: the fastest of the three we measured for a small task message
// (cereal and Boost.Serialization were several times slower), it is a Debian package, and its
// MSGPACK_DEFINE is the customization users of Ray's C++ API already know.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <msgpack.hpp>

#include <shoal/detail/copy_destination.hpp>
#include <shoal/detail/ref_codec.hpp>
#include <shoal/detail/type_id.hpp>
#include <shoal/detail/value.hpp>

namespace shoal::detail {

[[noreturn]] void throw_type_mismatch(const char* expected_mangled, const ValueView& value,
                                      const char* detail);

template <class T, class Enable = void>
struct Codec {
  static constexpr Format kFormat = Format::kMsgpack;
  static void encode(const T& v, ByteBuffer& out) {
    msgpack::packer<ByteBuffer> packer(out);
    packer.pack(v);
  }
  static T decode(const char* data, std::size_t size) {
    msgpack::object_handle oh = msgpack::unpack(data, size);
    return oh.get().as<T>();
  }
};

// Numbers, enums and bool travel as their own bytes: exact (msgpack-c 4.1 packs an integral double
// as an integer, which turns -0.0 into 0) and cheaper than encoding.
template <class T>
struct Codec<T, std::enable_if_t<std::is_arithmetic_v<T> || std::is_enum_v<T>>> {
  static constexpr Format kFormat = Format::kRaw;
  static std::size_t size(const T&) { return sizeof(T); }
  static void write(const T& v, char* dst) { std::memcpy(dst, &v, sizeof(T)); }
  static T decode(const char* data, std::size_t size) {
    if (size != sizeof(T)) throw std::length_error("raw value size does not match the type");
    T v;
    std::memcpy(&v, data, sizeof(T));
    return v;
  }
};

template <class U>
inline constexpr bool kIsRawElement =
    std::is_trivially_copyable_v<U> && !std::is_same_v<U, bool> && !std::is_pointer_v<U>;

template <class U>
struct Codec<std::vector<U>, std::enable_if_t<kIsRawElement<U>>> {
  static constexpr Format kFormat = Format::kRaw;
  static std::size_t size(const std::vector<U>& v) { return v.size() * sizeof(U); }
  static void write(const std::vector<U>& v, char* dst) {
    if (!v.empty()) std::memcpy(dst, v.data(), v.size() * sizeof(U));
  }
  static std::vector<U> decode(const char* data, std::size_t size) {
    if (size % sizeof(U) != 0)
      throw std::length_error("raw vector size is not a multiple of the element size");
    const std::size_t n = size / sizeof(U);
    std::vector<U> v;
    if (n == 0) return v;
    v.reserve(n);
    prepare_copy_destination(v.data(), size);  // before the first write to the new memory
    if (reinterpret_cast<std::uintptr_t>(data) % alignof(U) == 0) {
      // Copy straight into the reserved memory: resize() would zero every byte first, a second
      // pass over memory that is not in the cache. Store objects are 64-byte aligned, so every
      // large value takes this path.
      const U* first = reinterpret_cast<const U*>(data);
      v.assign(first, first + n);
    } else {
      // A misaligned source (a small value inline in a message) cannot be read as U: fill, then
      // copy the bytes.
      v.resize(n);
      std::memcpy(v.data(), data, size);
    }
    return v;
  }
};

template <>
struct Codec<std::string> {
  static constexpr Format kFormat = Format::kRaw;
  static std::size_t size(const std::string& s) { return s.size(); }
  static void write(const std::string& s, char* dst) {
    if (!s.empty()) std::memcpy(dst, s.data(), s.size());
  }
  static std::string decode(const char* data, std::size_t size) { return std::string(data, size); }
};

/// Encodes v into sink (raw or msgpack, as Codec<T> says).
template <class T>
void encode_value(ValueSink& sink, const T& v) {
  using C = Codec<T>;
  if constexpr (C::kFormat == Format::kRaw) {
    char* dst = sink.reserve_raw(type_hash<T>(), C::size(v));
    C::write(v, dst);
  } else {
    C::encode(v, sink.begin_msgpack(type_hash<T>()));
  }
  sink.finish();
}

/// Decodes a T from value, checking that it was written as a T.
template <class T>
T decode_value(const ValueView& value) {
  using C = Codec<T>;
  if (value.type_hash != type_hash<T>() || value.format != C::kFormat) {
    throw_type_mismatch(typeid(T).name(), value, "the stored value has another type");
  }
  try {
    return C::decode(value.data, value.size);
  } catch (const msgpack::type_error& e) {  // the bytes are a msgpack object of another shape
    throw_type_mismatch(typeid(T).name(), value, e.what());
  } catch (const msgpack::unpack_error& e) {  // the bytes are not msgpack at all
    throw_type_mismatch(typeid(T).name(), value, e.what());
  } catch (const std::length_error& e) {  // a raw size that does not fit the element type
    throw_type_mismatch(typeid(T).name(), value, e.what());
  }
}

}  // namespace shoal::detail
