#include "src/core/reference_table.hpp"

#include <algorithm>

namespace shoal::internal {

ObjectEntry& ReferenceTable::add_pending(ObjectId id, TaskId producer, Holder owner) {
  ObjectEntry& e = entries_[id];
  e.producer = producer;
  if (owner.kind == Holder::Kind::kProgram) {
    e.program_refs = 1;
  } else {
    add_ref(id, owner);
  }
  return e;
}

ObjectEntry& ReferenceTable::add_ready_inline(ObjectId id, detail::Format format,
                                              std::uint64_t type_hash, detail::ByteBuffer bytes,
                                              Holder owner) {
  ObjectEntry& e = add_pending(id, 0, owner);
  e.state = ObjectState::kReady;
  e.format = format;
  e.type_hash = type_hash;
  e.size = bytes.size();
  inline_bytes_ += bytes.size();
  e.inline_bytes = std::make_shared<const detail::ByteBuffer>(std::move(bytes));
  return e;
}

ObjectEntry* ReferenceTable::find(ObjectId id) noexcept {
  auto it = entries_.find(id);
  return it == entries_.end() ? nullptr : &it->second;
}

std::vector<TaskId> ReferenceTable::complete_inline(ObjectId id, detail::Format format,
                                                    std::uint64_t type_hash,
                                                    detail::ByteBuffer bytes) {
  ObjectEntry* e = find(id);
  if (e == nullptr || e->state != ObjectState::kPending) return {};
  e->state = ObjectState::kReady;
  e->format = format;
  e->type_hash = type_hash;
  e->in_store = false;
  e->size = bytes.size();
  inline_bytes_ += bytes.size();
  e->inline_bytes = std::make_shared<const detail::ByteBuffer>(std::move(bytes));
  return finish(id, *e, false);
}

std::vector<TaskId> ReferenceTable::complete_store(ObjectId id, detail::Format format,
                                                   std::uint64_t type_hash, std::uint64_t offset,
                                                   std::uint64_t size) {
  ObjectEntry* e = find(id);
  if (e == nullptr || e->state != ObjectState::kPending) {
    store_->free_block(offset);  // nobody can own this block any more
    return {};
  }
  e->state = ObjectState::kReady;
  e->format = format;
  e->type_hash = type_hash;
  e->in_store = true;
  e->offset = offset;
  e->size = size;
  return finish(id, *e, false);
}

std::vector<TaskId> ReferenceTable::fail(ObjectId id, std::shared_ptr<const ErrorInfo> error) {
  ObjectEntry* e = find(id);
  if (e == nullptr || e->state != ObjectState::kPending) return {};
  e->state = ObjectState::kFailed;
  e->error = std::move(error);
  return finish(id, *e, true);
}

// Calls the waiters, hands back the dependents, and frees the object if it was only kept for its
// producer.
std::vector<TaskId> ReferenceTable::finish(ObjectId id, ObjectEntry& e, bool failed) {
  if (e.producer == id) ++(failed ? tasks_failed_ : tasks_finished_);  // a task's own result
  const std::vector<ObjectWaiter*> waiters = std::move(e.waiters);
  e.waiters.clear();
  for (ObjectWaiter* w : waiters) w->on_finished(id, failed);
  std::vector<TaskId> dependents = std::move(e.dependents);
  e.dependents.clear();
  if (!e.referenced()) erase(entries_.find(id));
  return dependents;
}

void ReferenceTable::add_ref(ObjectId id, Holder holder) noexcept {
  ObjectEntry* e = find(id);
  if (e == nullptr) return;
  switch (holder.kind) {
    case Holder::Kind::kProgram:
      ++e->program_refs;
      return;
    case Holder::Kind::kTask:
      ++e->task_refs;
      return;
    case Holder::Kind::kObject:
      ++e->object_refs;
      return;
    case Holder::Kind::kWorker: {
      auto it = std::find_if(e->worker_refs.begin(), e->worker_refs.end(),
                             [&](const auto& w) { return w.first == holder.worker; });
      if (it != e->worker_refs.end()) {
        ++it->second;
        return;
      }
      e->worker_refs.emplace_back(holder.worker, 1);
      by_worker_[holder.worker].insert(id);
      return;
    }
  }
}

void ReferenceTable::release(ObjectId id, Holder holder) noexcept {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  ObjectEntry& e = it->second;
  switch (holder.kind) {
    case Holder::Kind::kProgram:
      if (e.program_refs == 0) return;
      --e.program_refs;
      break;
    case Holder::Kind::kTask:
      if (e.task_refs == 0) return;
      --e.task_refs;
      break;
    case Holder::Kind::kObject:
      if (e.object_refs == 0) return;
      --e.object_refs;
      break;
    case Holder::Kind::kWorker: {
      auto w = std::find_if(e.worker_refs.begin(), e.worker_refs.end(),
                            [&](const auto& r) { return r.first == holder.worker; });
      if (w == e.worker_refs.end()) return;
      if (--w->second == 0) {
        e.worker_refs.erase(w);
        auto held = by_worker_.find(holder.worker);
        if (held != by_worker_.end()) held->second.erase(id);
      }
      break;
    }
  }
  free_if_unreferenced(it);
}

std::vector<ObjectId> ReferenceTable::release_all(WorkerId worker) {
  auto held = by_worker_.find(worker);
  if (held == by_worker_.end()) return {};
  const std::unordered_set<ObjectId> ids = std::move(held->second);
  by_worker_.erase(held);
  std::vector<ObjectId> orphans;
  for (ObjectId id : ids) {
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;
    auto& refs = it->second.worker_refs;
    const auto before = refs.size();
    refs.erase(
        std::remove_if(refs.begin(), refs.end(), [&](const auto& r) { return r.first == worker; }),
        refs.end());
    if (refs.size() == before) continue;
    if (it->second.state == ObjectState::kPending && !it->second.referenced()) {
      orphans.push_back(id);
    }
    free_if_unreferenced(it);
  }
  return orphans;
}

void ReferenceTable::add_waiter(ObjectId id, ObjectWaiter* waiter) {
  if (ObjectEntry* e = find(id)) e->waiters.push_back(waiter);
}

void ReferenceTable::remove_waiter(const std::vector<ObjectId>& ids,
                                   ObjectWaiter* waiter) noexcept {
  for (ObjectId id : ids) {
    if (ObjectEntry* e = find(id)) {
      e->waiters.erase(std::remove(e->waiters.begin(), e->waiters.end(), waiter), e->waiters.end());
    }
  }
}

void ReferenceTable::fail_all_pending(const std::shared_ptr<const ErrorInfo>& error) {
  std::vector<ObjectId> pending;
  for (auto& [id, e] : entries_) {
    if (e.state == ObjectState::kPending) pending.push_back(id);
  }
  for (ObjectId id : pending) fail(id, error);
}

void ReferenceTable::clear() noexcept {
  entries_.clear();
  by_worker_.clear();
  inline_bytes_ = 0;
}

std::vector<std::pair<ObjectId, const ObjectEntry*>> ReferenceTable::largest_in_store(
    std::size_t n) const {
  std::vector<std::pair<ObjectId, const ObjectEntry*>> out;
  for (const auto& [id, e] : entries_) {
    if (e.state == ObjectState::kReady && e.in_store) out.emplace_back(id, &e);
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

void ReferenceTable::free_if_unreferenced(Entries::iterator it) noexcept {
  const ObjectEntry& e = it->second;
  if (!e.referenced() && e.state != ObjectState::kPending) erase(it);
}

void ReferenceTable::erase(Entries::iterator it) noexcept {
  ObjectEntry& e = it->second;
  if (e.state == ObjectState::kReady) {
    if (e.in_store) {
      store_->free_block(e.offset);
    } else {
      inline_bytes_ -= e.size;
    }
  }
  // The refs its value held go with it (after it is erased: a release may erase others).
  const std::vector<ObjectId> contained = std::move(e.contained);
  if (e.actor) freed_actors_.push_back(it->first);  // its last handle is gone
  if (e.on_other_nodes && copies_freed_ != nullptr) copies_freed_(copies_freed_context_, it->first);
  entries_.erase(it);
  for (ObjectId id : contained) release(id, Holder::object());
}

std::vector<ObjectId> ReferenceTable::add_contained(ObjectId container,
                                                    const std::vector<ObjectId>& ids) {
  std::vector<ObjectId> missing;
  ObjectEntry* c = find(container);
  for (ObjectId id : ids) {
    ObjectEntry* e = find(id);
    if (e == nullptr || c == nullptr) {
      missing.push_back(id);
      continue;
    }
    ++e->object_refs;
    c->contained.push_back(id);
  }
  return missing;
}

}  // namespace shoal::internal
