// Boost.Interprocess's best-fit allocator over the arena, with no mutex (see allocator.hpp).
// The sizes of live blocks are kept on the driver's heap rather than read back from Boost's
// headers in shared memory, which a misbehaving worker could overwrite.
#include "store/allocator.hpp"

#include <cstdio>
#include <cstdlib>
#include <unordered_map>

#include <boost/interprocess/indexes/iset_index.hpp>
#include <boost/interprocess/managed_external_buffer.hpp>
#include <boost/interprocess/mem_algo/rbtree_best_fit.hpp>
#include <boost/interprocess/offset_ptr.hpp>
#include <boost/interprocess/sync/mutex_family.hpp>
#include <unistd.h>

namespace shoal::internal {

namespace bip = boost::interprocess;

struct Allocator::Impl {
  // Every block is kAlignment-aligned by construction (the third parameter), so a plain
  // allocate() gives an aligned block of exactly the block size it needs. allocate_aligned() on
  // the default 16-byte blocks asked for extra room to align in, so a freed block of N bytes
  // could not take a new object of N bytes: a full store stayed full after a drop.
  using Algorithm = bip::rbtree_best_fit<bip::null_mutex_family, bip::offset_ptr<void>, kAlignment>;
  using Segment = bip::basic_managed_external_buffer<char, Algorithm, bip::iset_index>;

  Impl(char* arena, std::uint64_t size) : base(arena), segment(bip::create_only, arena, size) {}

  char* base;
  Segment segment;
  std::unordered_map<std::uint64_t, std::uint64_t> sizes;  // offset -> requested size
};

Allocator::Allocator(char* base, std::uint64_t size)
    : impl_(std::make_unique<Impl>(base, size)), size_(size), owner_(getpid()) {}

// The largest block an empty segment gives, found by bisection (about 30 trial allocations).
static std::uint64_t bisect_largest_block(Allocator::Impl::Segment& segment) {
  std::uint64_t lo = 0, hi = segment.get_free_memory();
  while (lo < hi) {
    const std::uint64_t mid = lo + (hi - lo + 1) / 2;
    void* p = segment.allocate(mid, std::nothrow);
    if (p != nullptr) {
      segment.deallocate(p);
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// The largest object the empty arena takes. The runtime asks at init(), so it must be cheap:
// bisecting the arena itself touched a fresh page per trial (milliseconds for a store of
// gigabytes). An empty segment's bookkeeping does not depend on its size (120 bytes more than
// get_free_memory() reports, measured from 64 KiB to 1 GiB), so the bisection runs on a small
// heap segment, and the answer is checked here with two trials that touch no fresh page (the
// block that fits is the whole free block, so nothing is split). Bisect here if the check fails.
std::uint64_t Allocator::max_object_bytes() {
  if (max_object_ != 0) return max_object_;
  struct alignas(4096) Probe {
    char bytes[64 * 1024];
  };
  const auto probe = std::make_unique<Probe>();
  Impl small(probe->bytes, sizeof probe->bytes);
  const std::uint64_t overhead =
      small.segment.get_free_memory() - bisect_largest_block(small.segment);
  const std::uint64_t candidate = impl_->segment.get_free_memory() - overhead;
  const auto fits = [this](std::uint64_t n) {
    void* p = impl_->segment.allocate(n, std::nothrow);
    if (p != nullptr) impl_->segment.deallocate(p);
    return p != nullptr;
  };
  max_object_ =
      fits(candidate) && !fits(candidate + 1) ? candidate : bisect_largest_block(impl_->segment);
  return max_object_;
}

Allocator::~Allocator() = default;

std::uint64_t Allocator::free_bytes() const { return impl_->segment.get_free_memory(); }

std::optional<std::uint64_t> Allocator::allocate(std::uint64_t size) {
  // The rule that keeps a crashed worker from wedging the store (allocator.hpp). A fork carries
  // a copy of this object into every worker; using it there would be a bug, so stop loudly. (A
  // getpid() per allocation: only objects too large to travel in a message come here.)
  if (getpid() != owner_) {
    std::fputs("shoal: internal error: the object store allocator was used outside the driver\n",
               stderr);
    std::abort();
  }
  // Sizes come from workers: never trust them. Boost's rounding of a size near 2^64 wraps around
  // and would hand out a small block, so anything larger than the arena is refused first.
  if (size > size_) return std::nullopt;
  void* p = impl_->segment.allocate(size == 0 ? 1 : size, std::nothrow);
  if (p == nullptr) return std::nullopt;
  const auto offset = static_cast<std::uint64_t>(static_cast<char*>(p) - impl_->base);
  impl_->sizes.emplace(offset, size);
  used_ += size;
  return offset;
}

void Allocator::free(std::uint64_t offset) {
  auto it = impl_->sizes.find(offset);
  if (it == impl_->sizes.end()) return;  // not ours: never hand Boost a pointer it did not give
  used_ -= it->second;
  ++frees_;
  impl_->sizes.erase(it);
  impl_->segment.deallocate(impl_->base + offset);
}

}  // namespace shoal::internal
