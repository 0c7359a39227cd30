// The actor instance of this process: a worker running an actor holds one, made by its
// constructor call and used by every method call (shoal/actor.hpp's MethodCall). In local mode
// each actor's instance is installed on the calling thread for the length of one of its calls.
//
// Thread safety: the slot may be read from any thread (a max_concurrency actor's calls run on
// several); it is set by the constructor call, before any method call is sent.
#pragma once

#include <cstdint>
#include <memory>

namespace shoal::internal {

struct ActorInstance {
  std::shared_ptr<void> object;  // the instance; its deleter runs the class's destructor
  std::uint64_t class_hash = 0;
};

/// This process's instance (empty if none).
ActorInstance& process_actor();
/// Whether this process's actor replaces one that died (ActorStart), for was_restarted().
void set_actor_restarted(bool restarted) noexcept;
/// Destroys this process's instance, running its destructor (the worker is stopping).
void destroy_process_actor() noexcept;

/// Local mode: makes `instance` the one the calling thread's method calls use, until the
/// returned scope ends (then the previous one is back). A constructor call made in the scope
/// stores its instance there.
class ScopedActor {
 public:
  explicit ScopedActor(ActorInstance* instance, bool restarted = false) noexcept;
  ~ScopedActor();
  ScopedActor(const ScopedActor&) = delete;
  ScopedActor& operator=(const ScopedActor&) = delete;

 private:
  ActorInstance* previous_;
  bool previous_restarted_;
};

}  // namespace shoal::internal
