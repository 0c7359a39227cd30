// File: shoal/view.hpp
//
// shoal::get_view(ref) reads a stored buffer without copying it: the view points straight into
// the shared-memory store (or, for a small value, into the driver's copy of it). Getting a view
// of a 100 MB object costs about as much as getting an int; get() of the same object copies the
// 100 MB.
//
//   auto image = shoal::task(load).remote(path);               // ObjectRef<std::vector<float>>
//   shoal::View<std::vector<float>> pixels = shoal::get_view(image);
//   float first = pixels[0];  double sum = std::accumulate(pixels.begin(), pixels.end(), 0.0);
//
// Views exist for the types stored as raw bytes: std::vector<T> of trivially copyable T (a
// read-only span of T), std::string (a std::string_view), and cv::Mat (a cv::Mat header, with
// <shoal/opencv.hpp>). Other types are msgpack-encoded and must be decoded with get().
//
// Lifetime: a view keeps its object alive (and the store mapped), even if every ObjectRef to it
// is gone or shoal is shut down, until the view itself is destroyed. Copies share that hold.
// Objects are immutable: never write through a view.
//
// Thread safety: a view is an immutable value; it may be read from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <shoal/detail/codec.hpp>
#include <shoal/detail/runtime_api.hpp>
#include <shoal/detail/timeout.hpp>
#include <shoal/object_ref.hpp>

namespace shoal {

namespace detail {

/// What every view holds: the bytes, and what keeps them valid.
class ViewBase {
 public:
  ViewBase() = default;
  ViewBase(Fetched fetched, HandlePtr handle)
      : bytes_(fetched.view), keep_(std::move(fetched.keep)), handle_(std::move(handle)) {}

  /// The stored bytes (the raw encoding of the value).
  std::span<const std::byte> bytes() const noexcept {
    return {reinterpret_cast<const std::byte*>(bytes_.data), bytes_.size};
  }

 protected:
  ValueView bytes_;
  std::shared_ptr<const void> keep_;  // the store mapping, or the driver's copy of small bytes
  HandlePtr handle_;                  // keeps the object itself from being freed
};

template <class T>
void check_view_type(const ValueView& v) {
  static_assert(Codec<T>::kFormat == Format::kRaw,
                "shoal: get_view() works for values stored as raw bytes: std::vector of a "
                "trivially copyable type, std::string, cv::Mat; use get() for other types");
  if (v.type_hash != type_hash<T>() || v.format != Format::kRaw) {
    throw_type_mismatch(typeid(T).name(), v, "the stored value has another type");
  }
}

}  // namespace detail

/// A read-only view of a stored value; see the file comment. Specialised per type below.
template <class T>
class View;

/// A view of a std::vector<T>: a read-only contiguous range of T.
template <class T>
class View<std::vector<T>> : public detail::ViewBase {
 public:
  using value_type = T;
  using const_iterator = const T*;

  View() = default;
  View(detail::Fetched fetched, detail::HandlePtr handle)
      : ViewBase(std::move(fetched), std::move(handle)) {
    detail::check_view_type<std::vector<T>>(bytes_);
    if (bytes_.size % sizeof(T) != 0 ||
        reinterpret_cast<std::uintptr_t>(bytes_.data) % alignof(T) != 0) {
      detail::throw_type_mismatch(typeid(std::vector<T>).name(), bytes_,
                                  "the stored bytes do not form whole, aligned elements");
    }
  }

  const T* data() const noexcept { return reinterpret_cast<const T*>(bytes_.data); }
  std::size_t size() const noexcept { return bytes_.size / sizeof(T); }
  bool empty() const noexcept { return size() == 0; }
  const T& operator[](std::size_t i) const noexcept { return data()[i]; }
  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size(); }
  std::span<const T> span() const noexcept { return {data(), size()}; }
  /// A copy, for when the data must outlive the view or be changed.
  std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }
};

/// A view of a std::string: a std::string_view of its characters.
template <>
class View<std::string> : public detail::ViewBase {
 public:
  View() = default;
  View(detail::Fetched fetched, detail::HandlePtr handle)
      : ViewBase(std::move(fetched), std::move(handle)) {
    detail::check_view_type<std::string>(bytes_);
  }
  std::string_view str() const noexcept { return {bytes_.data, bytes_.size}; }
  std::size_t size() const noexcept { return bytes_.size; }
};

/// Waits for the object like get() and returns a view of it, without copying. Throws what get()
/// throws, and TypeMismatchError if the object is not stored as raw bytes of type T.
template <class T>
View<T> get_view(const ObjectRef<T>& ref) {
  return View<T>(detail::fetch(ref.handle().get(), detail::kNoTimeout), ref.handle());
}

/// As get_view(ref), but throws GetTimeoutError if the object is not ready within timeout (any
/// duration; zero or negative: do not wait; 146 years or more: no limit; see shoal::get()).
template <class T, class Rep, class Period>
View<T> get_view(const ObjectRef<T>& ref, std::chrono::duration<Rep, Period> timeout) {
  return View<T>(detail::fetch(ref.handle().get(), detail::to_timeout_ns(timeout)), ref.handle());
}

}  // namespace shoal
