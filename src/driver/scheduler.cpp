#include "src/driver/scheduler.hpp"

#include <algorithm>
#include <cmath>

namespace shoal::internal {
namespace {
constexpr double kPipelineBudgetNs = 500'000;  // work queued per worker, see scheduler.hpp
constexpr std::size_t kMaxDepth = 64;
constexpr std::size_t kUnknownDepth = 2;
constexpr double kAverageWeight = 0.2;  // of the newest sample
}  // namespace

Scheduler::Scheduler(double total_cpus, std::uint64_t total_memory, int num_slots)
    : slots_(static_cast<std::size_t>(num_slots)),
      cpus_available_(total_cpus),
      memory_available_(total_memory) {}

void Scheduler::add(TaskSpec spec) {
  const std::uint64_t id = spec.id;
  const bool ready = spec.deps_pending == 0;
  tasks_.emplace(id, std::move(spec));
  if (ready) ready_.push_back(id);
}

TaskSpec* Scheduler::find(std::uint64_t id) noexcept {
  auto it = tasks_.find(id);
  return it == tasks_.end() ? nullptr : &it->second;
}

std::optional<TaskSpec> Scheduler::remove_waiting(std::uint64_t id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return std::nullopt;
  TaskSpec spec = std::move(it->second);
  tasks_.erase(it);
  if (spec.deps_pending == 0) ready_.erase(std::remove(ready_.begin(), ready_.end(), id), ready_.end());
  return spec;
}

void Scheduler::dependency_done(std::uint64_t id) {
  TaskSpec* t = find(id);
  if (t == nullptr || t->deps_pending == 0) return;
  if (--t->deps_pending == 0) ready_.push_back(id);
}

std::size_t Scheduler::depth(std::uint32_t function_index) const {
  if (function_index >= avg_ns_.size() || avg_ns_[function_index] <= 0) return kUnknownDepth;
  const double d = std::floor(kPipelineBudgetNs / avg_ns_[function_index]);
  return static_cast<std::size_t>(std::clamp(d, 1.0, static_cast<double>(kMaxDepth)));
}

std::optional<Scheduler::Assignment> Scheduler::next() {
  if (ready_.empty()) return std::nullopt;
  const std::uint64_t id = ready_.front();
  const TaskSpec& t = tasks_.at(id);
  const std::size_t max_depth = depth(t.function_index);
  int idle = -1, pipelined = -1;
  std::size_t shortest = SIZE_MAX;
  for (std::size_t s = 0; s < slots_.size(); ++s) {
    const Slot& slot = slots_[s];
    if (!slot.up) continue;
    if (slot.queue.empty()) {
      if (t.num_cpus <= cpus_available_ + 1e-9 && t.memory <= memory_available_) {
        idle = static_cast<int>(s);
        break;
      }
      continue;
    }
    if (slot.queue.size() >= max_depth || slot.queue.size() >= shortest) continue;
    const TaskSpec& last = tasks_.at(slot.queue.back());
    if (t.num_cpus <= last.num_cpus + 1e-9 && t.memory <= last.memory) {
      pipelined = static_cast<int>(s);
      shortest = slot.queue.size();
    }
  }
  const int chosen = idle >= 0 ? idle : pipelined;
  if (chosen < 0) return std::nullopt;
  ready_.pop_front();
  Slot& slot = slots_[static_cast<std::size_t>(chosen)];
  slot.queue.push_back(id);
  if (slot.queue.size() == 1) start(tasks_.at(id));
  return Assignment{id, chosen};
}

void Scheduler::start(TaskSpec& t) {
  ++t.attempts;
  cpus_available_ -= t.num_cpus;
  memory_available_ -= t.memory;
}

void Scheduler::stop(const TaskSpec& t) {
  cpus_available_ += t.num_cpus;
  memory_available_ += t.memory;
}

std::optional<TaskSpec> Scheduler::complete(int slot_index, std::uint64_t id, std::uint64_t exec_ns) {
  if (slot_index < 0 || static_cast<std::size_t>(slot_index) >= slots_.size()) return std::nullopt;
  Slot& slot = slots_[static_cast<std::size_t>(slot_index)];
  if (slot.queue.empty() || slot.queue.front() != id) return std::nullopt;
  slot.queue.pop_front();
  auto it = tasks_.find(id);
  TaskSpec spec = std::move(it->second);
  tasks_.erase(it);
  stop(spec);
  if (!slot.queue.empty()) start(tasks_.at(slot.queue.front()));

  if (spec.function_index >= avg_ns_.size()) avg_ns_.resize(spec.function_index + 1, 0);
  double& avg = avg_ns_[spec.function_index];
  const auto sample = static_cast<double>(exec_ns);
  avg = avg <= 0 ? sample : avg + kAverageWeight * (sample - avg);
  return spec;
}

std::uint64_t Scheduler::running(int slot) const noexcept {
  if (slot < 0 || static_cast<std::size_t>(slot) >= slots_.size()) return 0;
  const Slot& s = slots_[static_cast<std::size_t>(slot)];
  return s.queue.empty() ? 0 : s.queue.front();
}

void Scheduler::worker_up(int slot) { slots_.at(static_cast<std::size_t>(slot)).up = true; }

std::optional<TaskSpec> Scheduler::worker_down(int slot_index) {
  Slot& slot = slots_.at(static_cast<std::size_t>(slot_index));
  slot.up = false;
  if (slot.queue.empty()) return std::nullopt;
  const std::uint64_t head = slot.queue.front();
  // Queued tasks never started: back to the front of the ready queue, keeping their order.
  for (auto it = slot.queue.rbegin(); it + 1 != slot.queue.rend(); ++it) ready_.push_front(*it);
  slot.queue.clear();
  auto it = tasks_.find(head);
  TaskSpec spec = std::move(it->second);
  tasks_.erase(it);
  stop(spec);
  return spec;
}

void Scheduler::retry(TaskSpec spec) {
  const std::uint64_t id = spec.id;
  tasks_.emplace(id, std::move(spec));
  ready_.push_front(id);
}

std::vector<std::uint64_t> Scheduler::clear() {
  std::vector<std::uint64_t> ids;
  ids.reserve(tasks_.size());
  for (const auto& [id, spec] : tasks_) ids.push_back(id);
  tasks_.clear();
  ready_.clear();
  for (Slot& s : slots_) s.queue.clear();
  return ids;
}

}  // namespace shoal::internal
