#include "src/common/actor_instance.hpp"

#include <atomic>
#include <string>

#include <shoal/actor.hpp>
#include <shoal/errors.hpp>

#include "src/common/actor_classes.hpp"

namespace shoal::internal {
namespace {

ActorInstance g_process_actor;
std::atomic<bool> g_restarted{false};
// Local mode: the actor whose call runs on this thread; null: the process's.
thread_local ActorInstance* t_actor = nullptr;
thread_local bool t_restarted = false;

ActorInstance& current() { return t_actor != nullptr ? *t_actor : g_process_actor; }

}  // namespace

ActorInstance& process_actor() { return g_process_actor; }

void set_actor_restarted(bool restarted) noexcept { g_restarted.store(restarted); }

void destroy_process_actor() noexcept {
  try {
    g_process_actor.object.reset();  // runs ~C() here, in the actor's process
  } catch (...) {                    // a destructor that throws: the process is ending anyway
  }
}

ScopedActor::ScopedActor(ActorInstance* instance, bool restarted) noexcept
    : previous_(t_actor), previous_restarted_(t_restarted) {
  t_actor = instance;
  t_restarted = restarted;
}

ScopedActor::~ScopedActor() {
  t_actor = previous_;
  t_restarted = previous_restarted_;
}

}  // namespace shoal::internal

namespace shoal {

bool was_restarted() noexcept {
  using namespace internal;
  return t_actor != nullptr ? t_restarted : g_restarted.load();
}

namespace detail {

void* actor_instance(std::uint64_t class_hash) {
  internal::ActorInstance& a = internal::current();
  if (a.object == nullptr) {
    throw Error(
        "shoal: an actor method ran in a process that holds no actor (a bug in shoal, "
        "please report it)");
  }
  if (a.class_hash != class_hash) {
    throw TypeMismatchError("shoal: an actor method of " + internal::actor_class_name(class_hash) +
                            " was called on an actor of class " +
                            internal::actor_class_name(a.class_hash));
  }
  return a.object.get();
}

void set_actor_instance(std::shared_ptr<void> instance, std::uint64_t class_hash) {
  internal::ActorInstance& a = internal::current();
  if (a.object != nullptr) {
    throw Error(
        "shoal: an actor's constructor ran twice in one process (a bug in shoal, please "
        "report it)");
  }
  a.object = std::move(instance);
  a.class_hash = class_hash;
}

}  // namespace detail
}  // namespace shoal
