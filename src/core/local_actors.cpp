// Actors in local mode (Config::local_mode): the instance lives in this process, the constructor
// runs inside actor<C>().remote() and each call inside its remote(), on the calling thread, with
// the task rules of local mode (run()). The instance a call's MethodCall finds is installed on the
// calling thread for the call's length (ScopedActor). The handle's object, its holders and its
// end are those of a session with workers; what differs: there is no process, so no crash and no
// restart, and kill() runs the destructor (there is no process to SIGKILL).
#include <algorithm>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/actor_classes.hpp"
#include "src/common/actor_instance.hpp"
#include "src/core/actor_manager.hpp"
#include "src/core/local_runtime.hpp"

namespace shoal::internal {

struct LocalRuntime::LocalActor {
  ObjectId id = 0;
  std::string label;
  std::uint64_t class_hash = 0;
  ActorOptions options;
  ActorInstance instance;                  // mu_; a call works on a copy of the pointer
  std::mutex call_mu;                      // one call at a time (max_concurrency 1)
  std::shared_ptr<const ErrorInfo> death;  // mu_; set once it ended
  bool named_ref_held = false;             // mu_
};

namespace {

std::shared_ptr<ErrorInfo> local_actor_error(const std::string& label, ActorDiedError::Cause cause,
                                             std::string what) {
  return actor_died_error(label, cause, std::move(what), getpid());
}

// The actors whose calls run on this thread now, innermost last: a call runs inside remote(), so
// one to an actor already on this stack (max_concurrency 1) would wait for itself.
thread_local std::vector<const void*> t_calling;

struct Calling {
  explicit Calling(const void* actor) { t_calling.push_back(actor); }
  ~Calling() { t_calling.pop_back(); }
  Calling(const Calling&) = delete;
  Calling& operator=(const Calling&) = delete;
};

TaskOptions call_options() {
  TaskOptions o;
  o.num_cpus = 0;  // the actor holds its CPUs itself
  o.max_retries = 0;
  return o;
}

}  // namespace

detail::HandlePtr LocalRuntime::create_actor(detail::AnyFn constructor, const char* signature,
                                             std::uint64_t class_hash, const ActorOptions& options,
                                             detail::TaskArgs&& args) {
  check_not_abandoned();
  check_actor_options(options, cpus_);
  auto actor = std::make_shared<LocalActor>();
  actor->class_hash = class_hash;
  actor->options = options;
  actor->label = actor_label(actor_class_name(class_hash), options.name);
  {
    MutexLock<Mutex> lock(mu_);
    check_usable_now();
    if (!options.name.empty() && actor_names_.count(options.name) != 0) {
      throw InvalidConfigError(fmt::format(
          "shoal: an actor named '{}' exists already; pick another name, or find it with "
          "get_actor<{}>(\"{}\")",
          options.name, actor_class_name(class_hash), options.name));
    }
  }
  detail::HandlePtr handle;
  {
    const ScopedActor scope(&actor->instance);  // the constructor stores its instance there
    handle = std::move(run(constructor, signature, call_options(), std::move(args), 1).front());
  }
  actor->id = handle->id();
  MutexLock<Mutex> lock(mu_);
  ObjectEntry* e = refs_.find(actor->id);
  if (e == nullptr) return handle;  // shutdown() ran meanwhile: the handle is stale
  e->actor = true;
  if (e->state == ObjectState::kFailed) {
    auto death = constructor_failed_error(actor->label, e->error.get(), getpid());
    actor->death = std::move(death);
  } else if (!options.name.empty()) {             // a named actor lives until kill() or shutdown()
    if (actor_names_.count(options.name) != 0) {  // another thread took the name meanwhile
      actor->death = local_actor_error(
          actor->label, ActorDiedError::Cause::kShutdown,
          fmt::format("shoal: actor {} was not started: another actor took the name '{}' first",
                      actor->label, options.name));
    } else {
      actor_names_[options.name] = actor->id;
      refs_.add_ref(actor->id, Holder::program());
      actor->named_ref_held = true;
    }
  }
  if (!actor->death) cpus_in_use_ += options.num_cpus;
  actors_.emplace(actor->id, std::move(actor));
  return handle;
}

detail::HandlePtr LocalRuntime::submit_actor_task(ObjectId actor, detail::AnyFn method,
                                                  const char* signature, detail::TaskArgs&& args) {
  check_not_abandoned();
  std::shared_ptr<LocalActor> a;
  ActorInstance instance;  // a copy: a kill() meanwhile does not pull the instance from under it
  {
    MutexLock<Mutex> lock(mu_);
    check_usable_now();
    auto it = actors_.find(actor);
    std::shared_ptr<const ErrorInfo> death =
        it == actors_.end()
            ? session_error(ErrorInfo::Kind::kShutdown,
                            "shoal: the actor this handle names is not known (its handle comes "
                            "from an earlier session)")
            : it->second->death;
    if (death) {  // a failed object, as a session with workers gives
      const ObjectId id = new_object_id();
      refs_.add_pending(id, id);
      refs_.fail(id, death);
      return handle_of(id);
    }
    a = it->second;
    instance = a->instance;
  }
  if (a->options.max_concurrency == 1 &&
      std::find(t_calling.begin(), t_calling.end(), a.get()) != t_calling.end()) {
    throw DeadlockError(fmt::format(
        "shoal: a call to actor {} from inside one of its own calls (directly, or through "
        "another actor's call) would wait for itself: in local mode each call runs inside "
        "remote(), one at a time. Raise ActorOptions::max_concurrency, or do not call an actor "
        "back from its own calls",
        a->label));
  }
  std::unique_lock<std::mutex> one_at_a_time(a->call_mu, std::defer_lock);
  if (a->options.max_concurrency == 1) one_at_a_time.lock();
  const Calling calling(a.get());
  const ScopedActor scope(&instance);
  return std::move(run(method, signature, call_options(), std::move(args), 1).front());
}

detail::HandlePtr LocalRuntime::find_named_actor(const std::string& name,
                                                 std::uint64_t class_hash) {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  auto it = actor_names_.find(name);
  if (it == actor_names_.end()) return nullptr;
  const LocalActor& a = *actors_.at(it->second);
  if (a.class_hash != class_hash) {
    throw TypeMismatchError(fmt::format("shoal: the actor named '{}' is a {}, not a {}", name,
                                        actor_class_name(a.class_hash),
                                        actor_class_name(class_hash)));
  }
  refs_.add_ref(a.id, Holder::program());  // the handle's, released when it goes
  return handle_of(a.id);
}

void LocalRuntime::kill_actor(ObjectId actor, bool) {
  check_not_abandoned();
  std::shared_ptr<void> instance;  // destroyed after the lock: its destructor may call shoal
  std::vector<std::shared_ptr<void>> ended;
  {
    MutexLock<Mutex> lock(mu_);
    check_usable_now();
    auto it = actors_.find(actor);
    if (it == actors_.end() || it->second->death) return;
    LocalActor& a = *it->second;
    instance = end_actor(
        a, local_actor_error(a.label, ActorDiedError::Cause::kKilled,
                             fmt::format("shoal: actor {} was killed by shoal::kill()", a.label)));
    ended = take_ended_actors();  // a named actor's object may have gone with its name
  }
}

std::shared_ptr<void> LocalRuntime::end_actor(LocalActor& a,
                                              std::shared_ptr<const ErrorInfo> death) {
  if (!a.death) cpus_in_use_ -= a.options.num_cpus;
  if (!a.death) a.death = std::move(death);
  auto name = actor_names_.find(a.options.name);
  if (name != actor_names_.end() && name->second == a.id) actor_names_.erase(name);
  std::shared_ptr<void> instance = std::move(a.instance.object);
  a.instance.object.reset();
  if (a.named_ref_held) {  // last: it may free the handle's object (take_ended_actors())
    a.named_ref_held = false;
    refs_.release(a.id, Holder::program());
  }
  return instance;
}

std::vector<std::shared_ptr<void>> LocalRuntime::take_ended_actors() {
  std::vector<std::shared_ptr<void>> instances;
  for (ObjectId id : refs_.take_freed_actors()) {
    auto it = actors_.find(id);
    if (it == actors_.end()) continue;
    instances.push_back(end_actor(
        *it->second, local_actor_error(it->second->label, ActorDiedError::Cause::kShutdown,
                                       fmt::format("shoal: actor {} ended: its last handle is gone",
                                                   it->second->label))));
    actors_.erase(it);
  }
  return instances;
}

std::uint64_t LocalRuntime::live_actors() const {
  std::uint64_t n = 0;
  for (const auto& [id, a] : actors_) n += a->death ? 0 : 1;
  return n;
}

}  // namespace shoal::internal
