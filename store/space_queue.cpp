// SpaceQueue (space_queue.hpp): first come, first served among the requests that fit.
//
// serve() runs after every operation that may free space, on whichever thread did it, so it must
// cost nothing when there is nothing to do: it compares the allocator's free counter with the
// value it saw last. A request is granted only by serve() and withdrawn only by cancel(), both
// under the runtime lock, so a request is granted at most once and never after it was withdrawn.
#include "store/space_queue.hpp"

#include <algorithm>
#include <optional>
#include <utility>

namespace shoal::internal {

SpaceQueue::Ticket SpaceQueue::push(std::uint64_t size, Grant grant) {
  const Ticket ticket = next_ticket_++;
  requests_.push_back(Request{ticket, size, std::move(grant)});
  return ticket;
}

bool SpaceQueue::cancel(Ticket ticket) {
  const auto it = std::find_if(requests_.begin(), requests_.end(),
                               [ticket](const Request& r) { return r.ticket == ticket; });
  if (it == requests_.end()) return false;
  requests_.erase(it);
  return true;
}

std::size_t SpaceQueue::serve() {
  if (requests_.empty() || allocator_->frees() == served_frees_) return 0;
  served_frees_ = allocator_->frees();
  std::size_t granted = 0;
  for (auto it = requests_.begin(); it != requests_.end();) {
    const std::optional<std::uint64_t> offset = allocator_->allocate(it->size);
    if (!offset) {
      ++it;
      continue;
    }
    // Out of the queue before the callback runs: it owns the block from now on.
    Grant grant = std::move(it->grant);
    it = requests_.erase(it);
    grant(*offset);
    ++granted;
  }
  return granted;
}

}  // namespace shoal::internal
