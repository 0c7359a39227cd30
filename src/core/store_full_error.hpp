// The error for a write that found the object store full: which case it is and who holds the
// space, so that the user knows which references to drop or how large a store to ask for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "src/common/error_info.hpp"
#include "src/core/reference_table.hpp"
#include "src/core/task_manager.hpp"
#include "src/node/node_store.hpp"

namespace shoal::internal {

/// How many holders the message names.
inline constexpr std::size_t kStoreHoldersNamed = 5;

/// The `n` biggest holders of store space, largest first: ready objects in the store (named after
/// the function whose result they are, "put()" or "an argument of remote()") and results that
/// workers are writing right now ("<function> (being written)"), whose blocks hold space too.
std::vector<ObjectStoreHolder> biggest_store_holders(const NodeStore& store,
                                                     const ReferenceTable& refs,
                                                     const TaskManager& tasks, std::size_t n);

/// An ErrorInfo of kind kStoreFull for `size` bytes of `what_for` (a phrase such as "a value of
/// 8 bytes given to put()"). The message says which case it is: larger than the whole store (no
/// holders then: dropping references cannot help), or a store that stayed full for
/// `timeout_ms` (Config::object_store_full_timeout_ms; 0: it did not wait), whether the free
/// space is merely split into pieces too small, and the biggest holders. Every case ends with
/// what to do.
std::shared_ptr<ErrorInfo> store_full_error(const NodeStore& store, const ReferenceTable& refs,
                                            const TaskManager& tasks, std::int64_t timeout_ms,
                                            std::uint64_t size, const std::string& what_for);

}  // namespace shoal::internal
