#include "src/node/node_store.hpp"

namespace shoal::internal {

NodeStore::NodeStore(std::uint64_t bytes)
    : arena_(Arena::create(bytes)), allocator_(arena_->base(), arena_->size()) {
  max_object_ = allocator_.max_object_bytes();  // measured now, while the arena is empty
}

NodeStore::~NodeStore() = default;

const NodeStore::Block* NodeStore::result_block(WorkerId worker) const noexcept {
  auto it = result_blocks_.find(worker);
  return it == result_blocks_.end() ? nullptr : &it->second;
}

std::vector<NodeStore::Block> NodeStore::result_blocks() const {
  std::vector<Block> out;
  out.reserve(result_blocks_.size());
  for (const auto& [worker, block] : result_blocks_) out.push_back(block);
  return out;
}

std::shared_ptr<NodeStore::DeferredAlloc> NodeStore::defer_alloc(
    WorkerId worker, const AllocRequest& request, boost::asio::io_context& io,
    std::function<void(std::uint64_t offset)> grant) {
  auto d = std::make_shared<DeferredAlloc>(io);
  d->request = request;
  d->ticket = space_queue_.push(request.size, std::move(grant));
  deferred_[worker] = d;
  return d;
}

std::shared_ptr<NodeStore::DeferredAlloc> NodeStore::deferred(WorkerId worker) const {
  auto it = deferred_.find(worker);
  return it == deferred_.end() ? nullptr : it->second;
}

std::shared_ptr<NodeStore::DeferredAlloc> NodeStore::take_deferred(WorkerId worker) {
  auto it = deferred_.find(worker);
  if (it == deferred_.end()) return nullptr;
  std::shared_ptr<DeferredAlloc> d = std::move(it->second);
  deferred_.erase(it);
  return d;
}

void NodeStore::drop_worker(WorkerId worker) {
  if (auto it = result_blocks_.find(worker); it != result_blocks_.end()) {
    allocator_.free(it->second.offset);  // never sealed: nobody can see it
    result_blocks_.erase(it);
  }
  if (std::shared_ptr<DeferredAlloc> d = take_deferred(worker)) space_queue_.cancel(d->ticket);
}

void NodeStore::close_waiters() {
  for (auto& [worker, d] : deferred_) space_queue_.cancel(d->ticket);
  deferred_.clear();
  space_queue_.clear();
}

}  // namespace shoal::internal
