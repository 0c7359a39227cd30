#include "src/core/memory_summary.hpp"

#include <algorithm>

namespace shoal::internal {
namespace {

const char* kind_of(const ObjectEntry& e) {
  if (e.actor) return "actor";
  if (e.producer != 0) return "task result";
  switch (e.origin) {
    case ObjectOrigin::kArgument:
      return "argument";
    case ObjectOrigin::kTaskResult:
      return "task result";
    case ObjectOrigin::kPut:
      break;
  }
  return "put";
}

const char* state_of(const ObjectEntry& e) {
  switch (e.state) {
    case ObjectState::kPending:
      return "pending";
    case ObjectState::kReady:
      return "ready";
    case ObjectState::kFailed:
      return "failed";
  }
  return "?";
}

}  // namespace

MemorySummary summarize_objects(const ReferenceTable& refs, const CallSites& sites) {
  MemorySummary out;
  out.objects.reserve(refs.size());
  refs.for_each([&](ObjectId id, const ObjectEntry& e) {
    ObjectSummary o;
    o.id = id;
    if (e.state == ObjectState::kReady) {
      o.size_bytes = e.in_store ? e.size : (e.inline_bytes ? e.inline_bytes->size() : 0);
    }
    o.kind = kind_of(e);
    o.state = state_of(e);
    o.in_store = e.in_store;
    o.program_refs = e.program_refs;
    o.task_refs = e.task_refs;
    for (const auto& [worker, n] : e.worker_refs) o.worker_refs += n;
    o.object_refs = e.object_refs;
    o.call_site = sites.text(e.call_site);
    out.total_bytes += o.size_bytes;
    out.objects.push_back(std::move(o));
  });
  std::sort(out.objects.begin(), out.objects.end(),
            [](const ObjectSummary& a, const ObjectSummary& b) {
              if (a.size_bytes != b.size_bytes) return a.size_bytes > b.size_bytes;
              return a.id < b.id;
            });
  return out;
}

}  // namespace shoal::internal
