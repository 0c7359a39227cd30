// The printable forms of shoal::status() and shoal::memory_summary() (<shoal/observe.hpp>), laid
// out as `ray status` and `ray memory` lay theirs out.
#include <algorithm>
#include <sstream>

#include <fmt/format.h>

#include <shoal/observe.hpp>

namespace shoal {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr std::size_t kMaxObjectLines = 100;

// 1536 -> "1.5 KiB".
std::string human_bytes(double bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 4) {
    bytes /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, kUnits[unit]);
}

double value_of(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0.0 : it->second;
}

}  // namespace

std::string Status::to_string() const {
  std::string out = fmt::format("======== shoal status: driver pid {}{} ========\nResources\n",
                                driver_pid, local_mode ? " (local mode)" : "");
  const double cpus = value_of(total, "CPU");
  fmt::format_to(std::back_inserter(out), "  {:<22}{}/{} used\n", "CPU",
                 cpus - value_of(available, "CPU"), cpus);
  for (const char* key : {"memory", "object_store_memory"}) {
    const double all = value_of(total, key);
    fmt::format_to(std::back_inserter(out), "  {:<22}{:.2f}/{:.2f} GiB used\n", key,
                   (all - value_of(available, key)) / kGiB, all / kGiB);
  }
  fmt::format_to(std::back_inserter(out), "Workers ({})\n", workers.size());
  for (const WorkerStatus& w : workers) {
    const std::string what = !w.actor.empty() ? w.actor : w.current_task;
    fmt::format_to(std::back_inserter(out), "  pid {:<8} {:<9}{:<28} {} {} done\n", w.pid, w.state,
                   what, w.tasks_done, !w.actor.empty() ? "calls" : "tasks");
  }
  if (actors != 0) fmt::format_to(std::back_inserter(out), "Actors: {} alive\n", actors);
  fmt::format_to(std::back_inserter(out),
                 "Tasks\n  {} waiting for arguments, {} queued, {} running, {} finished, {} "
                 "failed\n",
                 tasks.waiting_for_arguments, tasks.queued, tasks.running, tasks.finished,
                 tasks.failed);
  fmt::format_to(std::back_inserter(out),
                 "Object store\n  {} objects: {} of {} used in shared memory, {} in the driver\n",
                 store.num_objects, human_bytes(static_cast<double>(store.used_bytes)),
                 human_bytes(static_cast<double>(store.capacity_bytes)),
                 human_bytes(static_cast<double>(store.inline_bytes)));
  return out;
}

std::ostream& operator<<(std::ostream& out, const Status& status) {
  return out << status.to_string();
}

std::string MemorySummary::to_string() const {
  std::string out = fmt::format(
      "======== shoal memory: {} objects, {} ========\n"
      "{:<20} {:>10}  {:<12} {:<8} {:<26} {}\n",
      objects.size(), human_bytes(static_cast<double>(total_bytes)), "OBJECT ID", "SIZE", "KIND",
      "STATE", "HELD BY", "MADE AT");
  const std::size_t shown = std::min(objects.size(), kMaxObjectLines);
  for (std::size_t i = 0; i < shown; ++i) {
    const ObjectSummary& o = objects[i];
    std::string holders;
    const auto add = [&](std::uint32_t n, const char* who) {
      if (n == 0) return;
      if (!holders.empty()) holders += ", ";
      holders += fmt::format("{} {}", who, n);
    };
    add(o.program_refs, "program");
    add(o.task_refs, "tasks");
    add(o.worker_refs, "workers");
    add(o.object_refs, "objects");
    if (holders.empty()) holders.push_back('-');  // (GCC 12 warns, wrongly, at = "-")
    fmt::format_to(std::back_inserter(out), "{:<20} {:>10}  {:<12} {:<8} {:<26} {}\n",
                   fmt::format("{:#x}", o.id), human_bytes(static_cast<double>(o.size_bytes)),
                   o.kind, o.state, holders, o.call_site.empty() ? "?" : o.call_site);
  }
  if (shown < objects.size()) {
    std::uint64_t rest = 0;
    for (std::size_t i = shown; i < objects.size(); ++i) rest += objects[i].size_bytes;
    fmt::format_to(std::back_inserter(out), "... and {} smaller objects, {} in all\n",
                   objects.size() - shown, human_bytes(static_cast<double>(rest)));
  }
  fmt::format_to(std::back_inserter(out),
                 "Store: {} of {} used in shared memory, {} in the driver\n",
                 human_bytes(static_cast<double>(store.used_bytes)),
                 human_bytes(static_cast<double>(store.capacity_bytes)),
                 human_bytes(static_cast<double>(store.inline_bytes)));
  return out;
}

std::ostream& operator<<(std::ostream& out, const MemorySummary& summary) {
  return out << summary.to_string();
}

}  // namespace shoal
