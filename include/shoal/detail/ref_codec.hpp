// File: shoal/detail/ref_codec.hpp (internal)
//
// An ObjectRef<T> inside a value (a std::vector<ObjectRef<T>>, a tuple, a map, a MSGPACK_DEFINE
// struct, a task's result) travels as a reference, not as the object's value, as in Ray: msgpack
// packs it as an extension (type kRefExt: the object's id and a hash of T), and unpacking it makes
// an ObjectRef of the process's current session. The library keeps the object alive while any
// holder remains: a value stored with refs inside holds them (the library collects them while it
// encodes), a pending task holds the refs inside its arguments, and a process that unpacks one
// holds it as long as its copy lives.
#pragma once

#include <cstdint>
#include <cstring>

#include <msgpack.hpp>

#include <shoal/detail/runtime_api.hpp>
#include <shoal/detail/type_id.hpp>
#include <shoal/object_ref.hpp>

namespace shoal::detail {

/// The msgpack extension type of a ref: 'S'.
inline constexpr std::int8_t kRefExt = 83;

/// The id to write for `handle` (0 for an empty ref), noting it as contained in the value being
/// encoded (the encoder keeps a copy until the stored value holds it). Throws
/// InvalidObjectRefError for a ref of another session than the one storing it.
std::uint64_t contained_ref_id(const HandlePtr& handle);

/// A handle for object `id` read from a value, held by this process from now on (null for 0).
/// Throws InvalidObjectRefError if the session no longer has the object, NotInitializedError
/// without a session.
HandlePtr ref_from_value(std::uint64_t id);

[[noreturn]] void throw_ref_type_mismatch(const char* expected_mangled, std::uint64_t stored_hash);

}  // namespace shoal::detail

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {

  template <class T>
  struct pack<shoal::ObjectRef<T>> {
    template <class Stream>
    packer<Stream>& operator()(packer<Stream>& o, const shoal::ObjectRef<T>& ref) const {
      const std::uint64_t id = shoal::detail::contained_ref_id(ref.handle());
      const std::uint64_t type = shoal::detail::type_hash<T>();
      char body[16];
      std::memcpy(body, &id, 8);
      std::memcpy(body + 8, &type, 8);
      o.pack_ext(sizeof body, shoal::detail::kRefExt);
      o.pack_ext_body(body, sizeof body);
      return o;
    }
  };

  template <class T>
  struct convert<shoal::ObjectRef<T>> {
    const msgpack::object& operator()(const msgpack::object& o, shoal::ObjectRef<T>& ref) const {
      if (o.type != msgpack::type::EXT || o.via.ext.type() != shoal::detail::kRefExt ||
          o.via.ext.size != 16) {
        throw msgpack::type_error();
      }
      std::uint64_t id = 0, type = 0;
      std::memcpy(&id, o.via.ext.data(), 8);
      std::memcpy(&type, o.via.ext.data() + 8, 8);
      if (type != shoal::detail::type_hash<T>()) {
        shoal::detail::throw_ref_type_mismatch(typeid(T).name(), type);
      }
      ref = shoal::ObjectRef<T>(shoal::detail::ref_from_value(id));
      return o;
    }
  };

  }  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS)
}  // namespace msgpack
