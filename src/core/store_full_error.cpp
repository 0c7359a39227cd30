#include "src/core/store_full_error.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "src/common/function_registry.hpp"

namespace shoal::internal {

std::vector<ObjectStoreHolder> biggest_store_holders(const NodeStore& store,
                                                     const ReferenceTable& refs,
                                                     const TaskManager& tasks, std::size_t n) {
  const FunctionRegistry& registry = FunctionRegistry::instance();
  const auto function_name = [&](std::uint32_t index) {
    const RegisteredFunction* f = registry.at(index);
    return f != nullptr ? f->name : std::string("a task");
  };
  std::vector<ObjectStoreHolder> out;
  for (const auto& [id, e] : refs.largest_in_store(n)) {
    std::string by = e->origin == ObjectOrigin::kTaskResult ? function_name(e->function_index)
                     : e->origin == ObjectOrigin::kArgument ? "an argument of remote()"
                                                            : "put()";
    out.push_back(ObjectStoreHolder{id, e->size, std::move(by)});
  }
  for (const NodeStore::Block& block : store.result_blocks()) {
    const TaskSpec* spec = tasks.find(block.task);
    out.push_back(ObjectStoreHolder{
        block.task, block.size,
        (spec != nullptr ? function_name(spec->function_index) : "a task") + " (being written)"});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.size_bytes > b.size_bytes; });
  if (out.size() > n) out.resize(n);
  return out;
}

std::shared_ptr<ErrorInfo> store_full_error(const NodeStore& store, const ReferenceTable& refs,
                                            const TaskManager& tasks, std::int64_t timeout_ms,
                                            std::uint64_t size, const std::string& what_for) {
  auto e = std::make_shared<ErrorInfo>();
  e->kind = ErrorInfo::Kind::kStoreFull;
  e->requested = size;
  e->capacity = store.capacity();
  const std::uint64_t largest = store.max_object_bytes();
  if (size > largest) {
    e->what = fmt::format(
        "shoal: cannot store {}: it is larger than the whole object store ({} bytes, of which one "
        "object can use at most {}). Pass a larger Config::object_store_memory, or split the value",
        what_for, store.capacity(), largest);
    return e;
  }
  e->holders = biggest_store_holders(store, refs, tasks, kStoreHoldersNamed);
  const std::uint64_t free = store.free_bytes();
  const std::string fragmented =
      free >= size ? fmt::format(" ({} bytes are free, but not in one piece)", free) : "";
  const std::string waited =
      timeout_ms > 0
          ? fmt::format("stayed full for {} ms (Config::object_store_full_timeout_ms)", timeout_ms)
          : std::string("is full (Config::object_store_full_timeout_ms is 0: no waiting)");
  std::string holders;
  for (const ObjectStoreHolder& h : e->holders) {
    holders += fmt::format("{}object {} ({} bytes, {})", holders.empty() ? "" : ", ", h.object_id,
                           h.size_bytes, h.created_by);
  }
  e->what = fmt::format(
      "shoal: cannot store {}: the object store {}; {} of its {} bytes are held by referenced "
      "objects{}. The biggest holders: {}. Drop ObjectRefs and Views you no longer need (their "
      "space is reused at once), pass a larger Config::object_store_memory, or a longer "
      "Config::object_store_full_timeout_ms",
      what_for, waited, store.used_bytes(), store.capacity(), fragmented,
      holders.empty() ? "none" : holders);
  return e;
}

}  // namespace shoal::internal
