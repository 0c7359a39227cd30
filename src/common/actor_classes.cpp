#include "src/common/actor_classes.hpp"

#include <mutex>
#include <unordered_map>

#include <shoal/detail/type_id.hpp>

namespace shoal::internal {
namespace {

struct Classes {
  std::mutex mu;
  std::unordered_map<std::uint64_t, std::string> names;
};

// Never destroyed: registration runs during other files' static initialisation.
Classes& classes() {
  static auto* c = new Classes();
  return *c;
}

}  // namespace

void add_actor_class(std::uint64_t class_hash, const std::string& name) {
  Classes& c = classes();
  std::lock_guard<std::mutex> lock(c.mu);
  c.names.emplace(class_hash, name);
}

bool actor_class_known(std::uint64_t class_hash) noexcept {
  Classes& c = classes();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.names.count(class_hash) != 0;
}

std::string actor_class_name(std::uint64_t class_hash) {
  {
    Classes& c = classes();
    std::lock_guard<std::mutex> lock(c.mu);
    auto it = c.names.find(class_hash);
    if (it != c.names.end()) return it->second;
  }
  return detail::type_name_of_hash(class_hash);
}

}  // namespace shoal::internal
