// Seeing inside local mode (<shoal/observe.hpp>): no worker and no store; tasks ran on the
// program's threads, so the timeline draws them on the driver's row.
#include <unistd.h>

#include "src/common/system_info.hpp"
#include "src/core/local_runtime.hpp"
#include "src/core/memory_summary.hpp"
#include "src/core/session_config.hpp"

namespace shoal::internal {

std::string LocalRuntime::timeline_json() {
  check_not_abandoned();
  TraceInput in;
  {
    MutexLock<Mutex> lock(mu_);
    check_usable_now();
    in.tasks = timeline_.snapshot();
  }
  in.calls = program_calls_.snapshot();
  in.driver_pid = static_cast<int>(getpid());
  in.origin_ns = origin_ns_;
  in.local_mode = true;
  return chrome_trace_json(in);
}

Status LocalRuntime::status() {
  check_not_abandoned();
  Status s;
  s.driver_pid = static_cast<int>(getpid());
  s.local_mode = true;
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  if (node_address_.empty()) node_address_ = node_address();
  s.total = resource_map(false, cpus_, static_cast<double>(memory_), store_bytes_, node_address_);
  s.available = resource_map(false, cpus_ - cpus_in_use_,
                             static_cast<double>(memory_ - std::min(memory_, memory_in_use_)),
                             store_bytes_, node_address_);
  s.tasks.running = tasks_running_;
  s.tasks.finished = refs_.tasks_finished();
  s.tasks.failed = refs_.tasks_failed();
  s.actors = live_actors();
  s.store.capacity_bytes = store_bytes_;
  s.store.inline_bytes = refs_.inline_bytes();
  s.store.num_objects = refs_.size();
  return s;
}

MemorySummary LocalRuntime::memory_summary() {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_usable_now();
  MemorySummary m = summarize_objects(refs_, call_sites_);
  m.store.capacity_bytes = store_bytes_;
  m.store.inline_bytes = refs_.inline_bytes();
  m.store.num_objects = refs_.size();
  return m;
}

}  // namespace shoal::internal
