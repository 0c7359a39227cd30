// An unordered map whose nodes come from a pool of its own.
//
// The driver's per-task tables (task specs, scheduler records, objects) make and free one node per
// task on every task's path. A free list hands a freed node back at once, in constant time and
// close to the last one, where malloc sorts its bins and std::pmr's pool resource searches its
// chunks (docs/benchmarks.md: async throughput and small put). The pool keeps the nodes of the
// busiest moment until the map goes (with its session).
//
// Thread safety: none; its owner's lock guards it.
#pragma once

#include <cstddef>
#include <memory_resource>
#include <new>
#include <numeric>
#include <optional>
#include <unordered_map>

#include <boost/pool/pool.hpp>

namespace shoal::internal {

/// A memory resource that serves one block size from a Boost.Pool free list (simple segregated
/// storage) and passes every other size, and every alignment the pool does not give, to the
/// default resource. The size is the first one asked for: a map's node, since a map allocates a
/// node before its first bucket array.
class NodePoolResource final : public std::pmr::memory_resource {
 private:
  // Boost.Pool rounds blocks up to a multiple of its minimum block size (the lcm of a pointer's
  // and a size_type's size), in chunks from operator new[]: blocks are aligned to that.
  static constexpr std::size_t kPoolAlign = std::lcm(sizeof(void*), sizeof(std::size_t));
  // Chunks double from the first size up to the largest. Boost.Pool threads its free list through
  // every block of a new chunk at once, so it touches the whole chunk: a bounded chunk keeps a
  // session's first burst of tasks from faulting in memory it does not use yet.
  static constexpr std::size_t kFirstChunkBlocks = 32;
  static constexpr std::size_t kMaxChunkBlocks = 1024;

  void* do_allocate(std::size_t bytes, std::size_t align) override {
    if (!pool_ && align <= kPoolAlign) pool_.emplace(bytes, kFirstChunkBlocks, kMaxChunkBlocks);
    if (pool_ && bytes == pool_->get_requested_size() && align <= kPoolAlign) {
      if (void* p = pool_->malloc()) return p;
      throw std::bad_alloc();
    }
    return std::pmr::get_default_resource()->allocate(bytes, align);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t align) override {
    if (pool_ && bytes == pool_->get_requested_size() && align <= kPoolAlign) {
      pool_->free(p);
      return;
    }
    std::pmr::get_default_resource()->deallocate(p, bytes, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::optional<boost::pool<>> pool_;
};

namespace pooled_map_detail {
// Base-from-member: the pool is constructed before, and destroyed after, the map that uses it.
struct PoolHolder {
  NodePoolResource pool;
};
}  // namespace pooled_map_detail

template <class Key, class Value>
class PooledMap : private pooled_map_detail::PoolHolder,
                  public std::pmr::unordered_map<Key, Value> {
 public:
  PooledMap() : std::pmr::unordered_map<Key, Value>(&this->pool) {}
  PooledMap(const PooledMap&) = delete;
  PooledMap& operator=(const PooledMap&) = delete;

  /// Makes and frees one node under `unused_key` (a key the map never holds), so that the pool's
  /// first chunk and the bucket array are faulted in now, not by the first task of a session:
  /// a session's memory is fresh (init() gives freed memory back with malloc_trim()), and those
  /// pages cost a session's first task tens of microseconds otherwise (bench/NOTES.md).
  void prime(const Key& unused_key) {
    this->try_emplace(unused_key);
    this->erase(unused_key);
  }
};

}  // namespace shoal::internal
