#include "src/core/observe_json.hpp"

#include <nlohmann/json.hpp>

#include <shoal/version.hpp>

namespace shoal::internal {
namespace {

nlohmann::json store_json(const ObjectStoreStats& s) {
  return {{"capacity_bytes", s.capacity_bytes},
          {"used_bytes", s.used_bytes},
          {"inline_bytes", s.inline_bytes},
          {"num_objects", s.num_objects}};
}

}  // namespace

std::string status_json(const Status& s) {
  nlohmann::json workers = nlohmann::json::array();
  for (const WorkerStatus& w : s.workers) {
    workers.push_back({{"pid", w.pid},
                       {"state", w.state},
                       {"current_task", w.current_task},
                       {"actor", w.actor},
                       {"tasks_done", w.tasks_done}});
  }
  const nlohmann::json doc = {{"driver_pid", s.driver_pid},
                              {"local_mode", s.local_mode},
                              {"resources", {{"total", s.total}, {"available", s.available}}},
                              {"workers", std::move(workers)},
                              {"tasks",
                               {{"waiting_for_arguments", s.tasks.waiting_for_arguments},
                                {"queued", s.tasks.queued},
                                {"running", s.tasks.running},
                                {"finished", s.tasks.finished},
                                {"failed", s.tasks.failed}}},
                              {"actors", s.actors},
                              {"store", store_json(s.store)},
                              {"text", s.to_string()}};
  // Replacement of invalid UTF-8 (a function name is the program's own bytes) instead of a throw.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string memory_json(const MemorySummary& m) {
  nlohmann::json objects = nlohmann::json::array();
  for (const ObjectSummary& o : m.objects) {
    objects.push_back({{"id", o.id},
                       {"size_bytes", o.size_bytes},
                       {"kind", o.kind},
                       {"state", o.state},
                       {"in_store", o.in_store},
                       {"program_refs", o.program_refs},
                       {"task_refs", o.task_refs},
                       {"worker_refs", o.worker_refs},
                       {"object_refs", o.object_refs},
                       {"call_site", o.call_site}});
  }
  const nlohmann::json doc = {{"objects", std::move(objects)},
                              {"total_bytes", m.total_bytes},
                              {"store", store_json(m.store)},
                              {"text", m.to_string()}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string hello_json(const SessionIdentity& who) {
  const nlohmann::json doc = {{"pid", who.pid},
                              {"program", who.program},
                              {"started_unix_s", who.started_unix_s},
                              {"workers", who.workers},
                              {"local_mode", who.local_mode},
                              {"shoal_version", SHOAL_VERSION_STRING}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace shoal::internal
