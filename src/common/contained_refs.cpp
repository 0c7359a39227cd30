#include "src/common/contained_refs.hpp"

#include <fmt/format.h>

#include <shoal/detail/ref_codec.hpp>
#include <shoal/errors.hpp>

#include "src/common/core_runtime.hpp"

namespace shoal::internal {
// This thread's collector (one value is encoded at a time on a thread).
static thread_local RefSink t_sink;

RefSink set_ref_sink(RefSink sink) noexcept { return std::exchange(t_sink, sink); }

std::string gone_ref_message(ObjectId id) {
  return fmt::format(
      "shoal: a value holds a ref to object {}, which is gone: the value was read where it was "
      "not stored by shoal (refs inside values are kept alive only by values shoal stores)",
      id);
}

std::vector<ObjectId> ids_of(const std::vector<detail::HandlePtr>& handles) {
  std::vector<ObjectId> ids;
  ids.reserve(handles.size());
  for (const detail::HandlePtr& h : handles) ids.push_back(h->id());
  return ids;
}

}  // namespace shoal::internal

namespace shoal::detail {

std::uint64_t contained_ref_id(const HandlePtr& handle) {
  if (handle == nullptr) return 0;
  const internal::RefSink sink = internal::t_sink;
  if (sink.handles != nullptr) {
    if (sink.runtime != nullptr && &handle->runtime() != sink.runtime) {
      throw InvalidObjectRefError(
          "shoal: a value holds an ObjectRef from another shoal session; refs do not carry over "
          "from one init() to the next");
    }
    sink.handles->push_back(handle);
  }
  return handle->id();
}

HandlePtr ref_from_value(std::uint64_t id) {
  if (id == 0) return nullptr;
  return internal::current_runtime()->adopt(id);
}

void throw_ref_type_mismatch(const char* expected_mangled, std::uint64_t stored_hash) {
  throw TypeMismatchError(
      fmt::format("shoal: a value holds an ObjectRef<{}> where ObjectRef<{}> was expected",
                  type_name_of_hash(stored_hash), demangle(expected_mangled)));
}

}  // namespace shoal::detail
