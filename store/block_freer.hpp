// Where a store block goes back when the object that owned it is freed: the node's store. An
// interface, so that the owner's table of objects (src/core/reference_table.hpp) can free blocks
// without knowing the store, and be tested with a fake.
#pragma once

#include <cstdint>

namespace shoal::internal {

class BlockFreer {
 public:
  virtual void free_block(std::uint64_t offset) noexcept = 0;

 protected:
  ~BlockFreer() = default;
};

}  // namespace shoal::internal
