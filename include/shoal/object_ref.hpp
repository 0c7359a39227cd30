// File: shoal/object_ref.hpp
//
// ObjectRef<T> names one immutable object in shoal's store: the result of a task, or a value
// given to put(). It is what task(f).remote(...) and put(...) return, what get() reads, and what
// you pass to another task so that the task runs once the object exists (the worker then reads
// it from the store; the driver never copies it).
//
// Lifetime: copies share one reference. When the last copy is destroyed (in the program, and in
// the arguments of tasks still waiting to run), the object's memory is reused. An ObjectRef that
// outlives shoal::shutdown() is harmless but stale: using it throws InvalidObjectRefError.
//
// Thread safety: like std::shared_ptr. Different ObjectRef objects, even copies of one another,
// may be used from different threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>

#include <shoal/detail/runtime_api.hpp>

namespace shoal {

template <class T>
class ObjectRef {
 public:
  using value_type = T;

  /// An empty ref: valid() is false and get() throws InvalidObjectRefError.
  ObjectRef() = default;

  /// True if this ref names an object (it may still be stale after shutdown()).
  bool valid() const noexcept { return handle_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }

  /// The object's id, unique for the life of the process (across sessions); 0 for an empty ref.
  std::uint64_t id() const noexcept { return handle_ ? detail::object_id_of(*handle_) : 0; }

  friend bool operator==(const ObjectRef& a, const ObjectRef& b) noexcept {
    return a.handle_ == b.handle_;
  }

  // Library side: wraps a handle returned by the runtime.
  explicit ObjectRef(detail::HandlePtr handle) noexcept : handle_(std::move(handle)) {}
  const detail::HandlePtr& handle() const noexcept { return handle_; }

 private:
  detail::HandlePtr handle_;
};

}  // namespace shoal

template <class T>
struct std::hash<shoal::ObjectRef<T>> {
  std::size_t operator()(const shoal::ObjectRef<T>& r) const noexcept {
    return std::hash<std::uint64_t>()(r.id());
  }
};
