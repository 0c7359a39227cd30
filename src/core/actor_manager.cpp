#include "src/core/actor_manager.hpp"

#include <utility>

#include <fmt/format.h>

#include <shoal/errors.hpp>

namespace shoal::internal {

ActorRecord& ActorManager::add(ActorRecord record) {
  const ObjectId id = record.id;
  if (!record.options.name.empty()) names_[record.options.name] = id;
  if (record.state == ActorRecord::State::kWaitingForCpus) ++waiting_;
  return actors_.emplace(id, std::move(record)).first->second;
}

ActorRecord* ActorManager::find(ObjectId actor) noexcept {
  auto it = actors_.find(actor);
  return it == actors_.end() ? nullptr : &it->second;
}

ActorRecord* ActorManager::of_worker(WorkerId worker) noexcept {
  auto it = by_worker_.find(worker);
  return it == by_worker_.end() ? nullptr : find(it->second);
}

ActorRecord* ActorManager::named(const std::string& name) noexcept {
  auto it = names_.find(name);
  return it == names_.end() ? nullptr : find(it->second);
}

void ActorManager::bind(ActorRecord& actor, WorkerId worker) {
  unbind(actor);
  actor.worker = worker;
  actor.has_worker = true;
  by_worker_[worker] = actor.id;
}

void ActorManager::unbind(ActorRecord& actor) {
  if (actor.has_worker) by_worker_.erase(actor.worker);
  actor.has_worker = false;
}

void ActorManager::forget_name(ActorRecord& actor) {
  if (actor.options.name.empty()) return;
  auto it = names_.find(actor.options.name);
  if (it != names_.end() && it->second == actor.id) names_.erase(it);
}

void ActorManager::erase(ObjectId actor) {
  ActorRecord* a = find(actor);
  if (a == nullptr) return;
  unbind(*a);
  forget_name(*a);
  if (a->state == ActorRecord::State::kWaitingForCpus) --waiting_;
  actors_.erase(actor);
}

void ActorManager::set_state(ActorRecord& actor, ActorRecord::State state) {
  if (actor.state == ActorRecord::State::kWaitingForCpus) --waiting_;
  if (state == ActorRecord::State::kWaitingForCpus) ++waiting_;
  actor.state = state;
}

std::vector<ObjectId> ActorManager::waiting_for_cpus() const {
  std::vector<ObjectId> out;
  for (const auto& [id, a] : actors_) {
    if (a.state == ActorRecord::State::kWaitingForCpus) out.push_back(id);
  }
  return out;
}

std::vector<ObjectId> ActorManager::all() const {
  std::vector<ObjectId> out;
  out.reserve(actors_.size());
  for (const auto& [id, a] : actors_) out.push_back(id);
  return out;
}

std::string actor_label(const std::string& class_name, const std::string& name) {
  return name.empty() ? class_name : class_name + " '" + name + "'";
}

void check_actor_options(const ActorOptions& o, double cpus) {
  if (!(o.num_cpus >= 0) || o.num_cpus > cpus + 1e-9) {
    throw InvalidConfigError(fmt::format(
        "shoal: ActorOptions::num_cpus = {} is out of range: use 0 to {} (this session's CPUs)",
        o.num_cpus, cpus));
  }
  if (o.max_restarts < -1) {
    throw InvalidConfigError(fmt::format(
        "shoal: ActorOptions::max_restarts = {} is out of range: use -1 (forever) or more",
        o.max_restarts));
  }
  if (o.max_task_retries < -1) {
    throw InvalidConfigError(fmt::format(
        "shoal: ActorOptions::max_task_retries = {} is out of range: use -1 (forever) or more",
        o.max_task_retries));
  }
  if (o.max_concurrency < 1 || o.max_concurrency > 1024) {
    throw InvalidConfigError(
        fmt::format("shoal: ActorOptions::max_concurrency = {} is out of range: use 1 to 1024",
                    o.max_concurrency));
  }
}

std::shared_ptr<ErrorInfo> actor_died_error(const std::string& label, ActorDiedError::Cause cause,
                                            std::string what, std::int64_t pid) {
  auto e = std::make_shared<ErrorInfo>();
  e->kind = ErrorInfo::Kind::kActorDied;
  e->function = label;
  e->cause = static_cast<std::uint8_t>(cause);
  e->pid = pid;
  e->what = std::move(what);
  return e;
}

std::shared_ptr<ErrorInfo> constructor_failed_error(const std::string& label,
                                                    const ErrorInfo* error, std::int64_t pid) {
  std::string text = "its constructor did not run";
  if (error != nullptr) {
    text = error->kind == ErrorInfo::Kind::kTaskError
               ? fmt::format("{} threw {}: {}", error->function, error->type_name, error->what)
               : error->what;
  }
  auto e = actor_died_error(
      label, ActorDiedError::Cause::kConstructorFailed,
      fmt::format("shoal: actor {} is dead: its constructor failed: {}", label, text), pid);
  e->constructor_error = std::move(text);
  return e;
}

}  // namespace shoal::internal
