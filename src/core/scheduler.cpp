#include "src/core/scheduler.hpp"

#include <algorithm>
#include <cstdint>

namespace shoal::internal {
namespace {
constexpr double kPipelineBudgetNs = 500'000;  // known work a task may wait behind
constexpr std::size_t kMaxDepth = 64;          // tasks in flight per worker
constexpr double kAverageWeight = 0.2;         // of the newest run time sample
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
  if (spec.deps_pending == 0)
    ready_.erase(std::remove(ready_.begin(), ready_.end(), id), ready_.end());
  return spec;
}

void Scheduler::dependency_done(std::uint64_t id) {
  TaskSpec* t = find(id);
  if (t == nullptr || t->deps_pending == 0) return;
  if (--t->deps_pending == 0) ready_.push_back(id);
}

double Scheduler::expected_ns(std::uint32_t function_index) const {
  return function_index < avg_ns_.size() ? avg_ns_[function_index] : 0;
}

bool Scheduler::can_queue_behind(const Slot& slot, const TaskSpec& t) const {
  if (slot.queue.size() >= kMaxDepth || slot.unknown > 0) return false;
  const TaskSpec& last = tasks_.at(slot.queue.back().task);
  if (t.num_cpus > last.num_cpus + 1e-9 || t.memory > last.memory) return false;
  if (slot.expected_ns <= kPipelineBudgetNs) return true;  // behind a little known work
  // One task behind a long one, while there is a task waiting for every worker: then no worker
  // will go idle for want of it, and the next task is already there when the running one ends,
  // instead of a round trip through the driver later (which, with every core busy, waits for
  // the driver to get a core: hundreds of microseconds measured on our VMs).
  return slot.queue.size() == 1 && ready_.size() >= up_slots();
}

std::size_t Scheduler::up_slots() const {
  return static_cast<std::size_t>(
      std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return s.up; }));
}

std::optional<Scheduler::Assignment> Scheduler::next() {
  if (ready_.empty()) return std::nullopt;
  const std::uint64_t id = ready_.front();
  TaskSpec& t = tasks_.at(id);
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
    } else if (slot.queue.size() < shortest && can_queue_behind(slot, t)) {
      pipelined = static_cast<int>(s);
      shortest = slot.queue.size();
    }
  }
  const int chosen = idle >= 0 ? idle : pipelined;
  if (chosen < 0) return std::nullopt;
  ready_.pop_front();
  Slot& slot = slots_[static_cast<std::size_t>(chosen)];
  const double expected = expected_ns(t.function_index);
  slot.queue.push_back(Queued{id, expected});
  if (expected > 0) {
    slot.expected_ns += expected;
  } else {
    ++slot.unknown;
  }
  if (slot.queue.size() == 1) start(t);
  return Assignment{id, chosen, expected};
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

std::uint64_t Scheduler::pop_front(Slot& slot) {
  const Queued q = slot.queue.front();
  slot.queue.pop_front();
  if (q.expected_ns > 0) {
    slot.expected_ns = slot.queue.empty() ? 0 : slot.expected_ns - q.expected_ns;
  } else {
    --slot.unknown;
  }
  return q.task;
}

std::optional<TaskSpec> Scheduler::complete(int slot_index, std::uint64_t id,
                                            std::uint64_t exec_ns) {
  if (slot_index < 0 || static_cast<std::size_t>(slot_index) >= slots_.size()) return std::nullopt;
  Slot& slot = slots_[static_cast<std::size_t>(slot_index)];
  if (slot.queue.empty() || slot.queue.front().task != id) return std::nullopt;
  pop_front(slot);
  auto it = tasks_.find(id);
  TaskSpec spec = std::move(it->second);
  tasks_.erase(it);
  stop(spec);
  if (!slot.queue.empty()) start(tasks_.at(slot.queue.front().task));

  if (spec.function_index >= avg_ns_.size()) avg_ns_.resize(spec.function_index + 1, 0);
  double& avg = avg_ns_[spec.function_index];
  const double sample = std::max(1.0, static_cast<double>(exec_ns));
  avg = avg <= 0 ? sample : avg + kAverageWeight * (sample - avg);
  return spec;
}

std::uint64_t Scheduler::running(int slot) const noexcept {
  if (slot < 0 || static_cast<std::size_t>(slot) >= slots_.size()) return 0;
  const Slot& s = slots_[static_cast<std::size_t>(slot)];
  return s.queue.empty() ? 0 : s.queue.front().task;
}

int Scheduler::busy_slots() const noexcept {
  return static_cast<int>(
      std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.queue.empty(); }));
}

void Scheduler::worker_up(int slot) { slots_.at(static_cast<std::size_t>(slot)).up = true; }

std::optional<TaskSpec> Scheduler::worker_down(int slot_index) {
  Slot& slot = slots_.at(static_cast<std::size_t>(slot_index));
  slot.up = false;
  if (slot.queue.empty()) return std::nullopt;
  const std::uint64_t head = slot.queue.front().task;
  // Queued tasks never started: back to the front of the ready queue, keeping their order.
  for (auto it = slot.queue.rbegin(); it + 1 != slot.queue.rend(); ++it)
    ready_.push_front(it->task);
  slot.queue.clear();
  slot.expected_ns = 0;
  slot.unknown = 0;
  auto it = tasks_.find(head);
  TaskSpec spec = std::move(it->second);
  tasks_.erase(it);
  stop(spec);
  return spec;
}

void Scheduler::retry(TaskSpec spec) {
  const std::uint64_t id = spec.id;
  // At the back: a task that keeps killing its worker must not starve the tasks behind it.
  if (tasks_.emplace(id, std::move(spec)).second) ready_.push_back(id);
}

std::vector<TaskSpec> Scheduler::clear() {
  for (Slot& s : slots_) {
    if (!s.queue.empty()) stop(tasks_.at(s.queue.front().task));  // give back what it held
    s.queue.clear();
    s.expected_ns = 0;
    s.unknown = 0;
  }
  std::vector<TaskSpec> out;
  out.reserve(tasks_.size());
  for (auto& [id, spec] : tasks_) out.push_back(std::move(spec));
  tasks_.clear();
  ready_.clear();
  return out;
}

}  // namespace shoal::internal
