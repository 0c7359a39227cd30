#include "src/node/node_store.hpp"

namespace shoal::internal {

NodeStore::NodeStore(std::uint64_t bytes)
    : arena_(Arena::create(bytes)), allocator_(arena_->base(), arena_->size()) {
  max_object_ = allocator_.max_object_bytes();  // measured now, while the arena is empty
}

NodeStore::~NodeStore() = default;

const NodeStore::Block* NodeStore::result_block(WorkerId worker) const noexcept {
  auto it = result_blocks_.find(worker);
  return it == result_blocks_.end() || it->second.empty() ? nullptr : &it->second.front();
}

std::vector<NodeStore::Block> NodeStore::take_result_blocks(WorkerId worker) {
  auto it = result_blocks_.find(worker);
  if (it == result_blocks_.end()) return {};
  std::vector<Block> blocks = std::move(it->second);
  result_blocks_.erase(it);
  return blocks;
}

std::vector<NodeStore::Block> NodeStore::result_blocks() const {
  std::vector<Block> out;
  for (const auto& [worker, blocks] : result_blocks_) {
    out.insert(out.end(), blocks.begin(), blocks.end());
  }
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
  for (const Block& block : take_result_blocks(worker)) {
    allocator_.free(block.offset);  // never sealed: nobody can see it
  }
  if (std::shared_ptr<DeferredAlloc> d = take_deferred(worker)) space_queue_.cancel(d->ticket);
}

void NodeStore::close_waiters() {
  for (auto& [worker, d] : deferred_) space_queue_.cancel(d->ticket);
  deferred_.clear();
  space_queue_.clear();
}

}  // namespace shoal::internal
