// File: shoal/detail/byte_buffer.hpp (internal; included by the public templates)
//
// ByteBuffer is a growable byte array that does not zero what it grows into, so encoders can
// append without paying for a fill. It has the write(const char*, size_t) member msgpack's packer
// expects, which lets msgpack encode straight into a frame or an object buffer.
//
// Thread safety: none; a buffer belongs to one thread at a time.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

namespace shoal::detail {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  explicit ByteBuffer(std::size_t capacity) { reserve(capacity); }
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ByteBuffer(ByteBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        capacity_(std::exchange(o.capacity_, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      capacity_ = std::exchange(o.capacity_, 0);
    }
    return *this;
  }
  ~ByteBuffer() { std::free(data_); }

  char* data() noexcept { return data_; }
  const char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }

  /// Drops the contents but keeps the memory, so a reused buffer does not allocate again.
  void clear() noexcept { size_ = 0; }

  void reserve(std::size_t n) {
    if (n <= capacity_) return;
    // Start small: every task holds two buffers (its arguments and its result), usually a few
    // bytes each, and fresh memory is costly (a page fault per 4 KiB on first touch).
    std::size_t cap = capacity_ ? capacity_ : 32;
    while (cap < n) cap *= 2;
    void* p = std::realloc(data_, cap);
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
    capacity_ = cap;
  }

  /// Appends n uninitialised bytes and returns where they start.
  char* grow(std::size_t n) {
    reserve(size_ + n);
    char* at = data_ + size_;
    size_ += n;
    return at;
  }

  /// Shrinks the logical size to n (n <= size()).
  void truncate(std::size_t n) noexcept { size_ = n < size_ ? n : size_; }

  void write(const char* p, std::size_t n) {
    if (n != 0) std::memcpy(grow(n), p, n);
  }

  template <class T>
  void put(const T& v) {  // T is a trivially copyable scalar; host (little-endian) order
    write(reinterpret_cast<const char*>(&v), sizeof v);
  }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
};

}  // namespace shoal::detail
