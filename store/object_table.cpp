#include "store/object_table.hpp"

#include <algorithm>
#include <utility>

namespace shoal::internal {

ObjectEntry& ObjectTable::add_pending(std::uint64_t id, std::uint64_t producer) {
  ObjectEntry& e = entries_[id];
  e.refs = 1;
  e.producer = producer;
  return e;
}

ObjectEntry* ObjectTable::find(std::uint64_t id) noexcept {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<std::uint64_t> ObjectTable::complete_inline(std::uint64_t id, detail::Format format,
                                                        std::uint64_t type_hash,
                                                        detail::ByteBuffer bytes) {
  ObjectEntry* e = find(id);
  if (e == nullptr || e->state != ObjectState::kPending) return {};
  e->state = ObjectState::kReady;
  e->format = format;
  e->type_hash = type_hash;
  e->in_arena = false;
  e->size = bytes.size();
  inline_bytes_ += bytes.size();
  e->inline_bytes = std::make_shared<const detail::ByteBuffer>(std::move(bytes));
  return finish(id, *e, false);
}

std::vector<std::uint64_t> ObjectTable::complete_arena(std::uint64_t id, detail::Format format,
                                                       std::uint64_t type_hash,
                                                       std::uint64_t offset, std::uint64_t size) {
  ObjectEntry* e = find(id);
  if (e == nullptr || e->state != ObjectState::kPending) {
    allocator_->free(offset);  // nobody can own this block any more
    return {};
  }
  e->state = ObjectState::kReady;
  e->format = format;
  e->type_hash = type_hash;
  e->in_arena = true;
  e->offset = offset;
  e->size = size;
  return finish(id, *e, false);
}

std::vector<std::uint64_t> ObjectTable::fail(std::uint64_t id,
                                             std::shared_ptr<const ErrorInfo> error) {
  ObjectEntry* e = find(id);
  if (e == nullptr || e->state != ObjectState::kPending) return {};
  e->state = ObjectState::kFailed;
  e->error = std::move(error);
  return finish(id, *e, true);
}

// Wakes the waiters whose last awaited object this was, hands back the dependents, and frees the
// object if it was only kept for its producer.
std::vector<std::uint64_t> ObjectTable::finish(std::uint64_t id, ObjectEntry& e, bool failed) {
  for (Waiter* w : e.waiters) {
    if (w->remaining > 0) --w->remaining;
    if (failed && w->wake_on_failure) w->saw_failure = true;
    if ((w->remaining == 0 || w->saw_failure) && !w->done.load(std::memory_order_relaxed)) {
      w->done.store(true, std::memory_order_release);
      w->cv.notify_all();
    }
  }
  e.waiters.clear();
  std::vector<std::uint64_t> dependents = std::move(e.dependents);
  e.dependents.clear();
  if (e.refs == 0) erase(entries_.find(id));
  return dependents;
}

void ObjectTable::add_ref(std::uint64_t id) noexcept {
  if (ObjectEntry* e = find(id)) ++e->refs;
}

void ObjectTable::release(std::uint64_t id) noexcept {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.refs == 0) return;
  if (--it->second.refs == 0 && it->second.state != ObjectState::kPending) erase(it);
}

void ObjectTable::fail_all_pending(const std::shared_ptr<const ErrorInfo>& error) {
  std::vector<std::uint64_t> pending;
  for (auto& [id, e] : entries_) {
    if (e.state == ObjectState::kPending) pending.push_back(id);
  }
  for (std::uint64_t id : pending) fail(id, error);
}

std::vector<std::pair<std::uint64_t, const ObjectEntry*>> ObjectTable::largest_in_arena(
    std::size_t n) const {
  std::vector<std::pair<std::uint64_t, const ObjectEntry*>> out;
  for (const auto& [id, e] : entries_) {
    if (e.state == ObjectState::kReady && e.in_arena) out.emplace_back(id, &e);
  }
  const auto bigger = [](const auto& a, const auto& b) {
    return a.second->size != b.second->size ? a.second->size > b.second->size : a.first < b.first;
  };
  const std::size_t keep = std::min(n, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(keep), out.end(),
                    bigger);
  out.resize(keep);
  return out;
}

void ObjectTable::erase(std::unordered_map<std::uint64_t, ObjectEntry>::iterator it) noexcept {
  ObjectEntry& e = it->second;
  if (e.state == ObjectState::kReady) {
    if (e.in_arena) {
      allocator_->free(e.offset);
    } else {
      inline_bytes_ -= e.size;
    }
  }
  entries_.erase(it);
}

}  // namespace shoal::internal
