#include "src/core/timeline.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/common/function_registry.hpp"
#include "src/common/logging.hpp"
#include "src/control/json_quote.hpp"

namespace shoal::internal {
namespace {

// A small number for the calling thread, from 1, for the driver row's lanes.
std::uint32_t thread_number() noexcept {
  static std::atomic<std::uint32_t> next{1};
  thread_local const std::uint32_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine;
}

const char* call_name(DriverCall::Kind kind) {
  switch (kind) {
    case DriverCall::Kind::kGet:
      return "get";
    case DriverCall::Kind::kPut:
      return "put";
    case DriverCall::Kind::kWait:
      return "wait";
  }
  return "call";
}

// Microseconds since the origin, with nanosecond precision.
std::string micros(std::int64_t ns, std::int64_t origin_ns) {
  return fmt::format("{:.3f}", static_cast<double>(ns - origin_ns) / 1000.0);
}
std::string micros(std::int64_t ns) { return fmt::format("{:.3f}", static_cast<double>(ns) / 1e3); }

// Lanes (trace threads) for one row's attempts: an attempt goes on the first lane where it either
// starts after the lane's open attempts end or lies inside the innermost one (a nested task runs
// inside the one blocked on it), so events of one lane always nest, as the format requires.
// Overlapping ones (an actor with max_concurrency > 1) get lanes of their own.
std::vector<int> assign_lanes(const std::vector<const TaskAttempt*>& attempts) {
  std::vector<std::vector<std::int64_t>> lanes;  // per lane: the ends of its open attempts
  std::vector<int> out;
  out.reserve(attempts.size());
  for (const TaskAttempt* a : attempts) {
    int chosen = -1;
    for (std::size_t l = 0; l < lanes.size() && chosen < 0; ++l) {
      std::vector<std::int64_t>& open = lanes[l];
      while (!open.empty() && open.back() <= a->start_ns) open.pop_back();
      if (open.empty() || a->end_ns <= open.back()) chosen = static_cast<int>(l);
    }
    if (chosen < 0) {
      lanes.emplace_back();
      chosen = static_cast<int>(lanes.size() - 1);
    }
    lanes[static_cast<std::size_t>(chosen)].push_back(a->end_ns);
    out.push_back(chosen);
  }
  return out;
}

class TraceWriter {
 public:
  explicit TraceWriter(std::int64_t origin_ns) : origin_ns_(origin_ns) {
    out_ = "{\"traceEvents\":[\n";
  }

  void metadata(const char* name, int pid, int tid, const std::string& args) {
    begin();
    fmt::format_to(std::back_inserter(out_), R"({{"ph":"M","name":"{}","pid":{})", name, pid);
    if (tid >= 0) fmt::format_to(std::back_inserter(out_), R"(,"tid":{})", tid);
    fmt::format_to(std::back_inserter(out_), R"(,"args":{}}})", args);
  }

  void complete(std::string_view cat, std::string_view name, int pid, int tid,
                std::int64_t start_ns, std::int64_t dur_ns, const std::string& args) {
    begin();
    fmt::format_to(std::back_inserter(out_),
                   R"({{"ph":"X","cat":"{}","name":{},"pid":{},"tid":{},"ts":{},"dur":{})", cat,
                   control::json_quoted(name), pid, tid, micros(start_ns, origin_ns_),
                   micros(std::max<std::int64_t>(dur_ns, 0)));
    if (!args.empty()) fmt::format_to(std::back_inserter(out_), R"(,"args":{})", args);
    out_ += '}';
  }

  // An async span ("b"/"e" pair): Perfetto stacks overlapping ones on tracks of their own.
  void span(std::string_view name, int pid, const std::string& id, std::int64_t start_ns,
            std::int64_t end_ns) {
    for (const char* ph : {"b", "e"}) {
      begin();
      fmt::format_to(std::back_inserter(out_),
                     R"({{"ph":"{}","cat":"phase","name":"{}","id":"{}","pid":{},"ts":{}}})", ph,
                     name, id, pid, micros(ph[0] == 'b' ? start_ns : end_ns, origin_ns_));
    }
  }

  std::string finish(const std::string& other_data) {
    fmt::format_to(std::back_inserter(out_), "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{}}}\n",
                   other_data);
    return std::move(out_);
  }

 private:
  void begin() {
    if (!first_) out_ += ",\n";
    first_ = false;
  }

  std::int64_t origin_ns_;
  std::string out_;
  bool first_ = true;
};

std::string name_args(const std::string& name) {
  return "{\"name\":" + control::json_quoted(name) + "}";
}

}  // namespace

std::int64_t steady_now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void CallTimeline::add(DriverCall::Kind kind, std::int64_t start_ns, std::size_t objects) {
  DriverCall call{kind, thread_number(), static_cast<std::uint32_t>(objects), start_ns,
                  steady_now_ns()};
  const std::lock_guard<std::mutex> lock(mu_);
  calls_.add(std::move(call));
}

CallTimeline::Snapshot CallTimeline::snapshot() const {
  const std::lock_guard<std::mutex> lock(mu_);
  return {calls_.copy(), calls_.dropped()};
}

TimedCall::~TimedCall() {
  if (timeline_ == nullptr) return;
  try {
    timeline_->add(kind_, start_ns_, objects_);
  } catch (...) {  // out of memory: the call's own result matters more than its record
  }
}

void write_text_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw SystemError(
        fmt::format("shoal: cannot open {} for writing: {}", path, std::strerror(errno)));
  }
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) throw SystemError(fmt::format("shoal: could not write {} (is the disk full?)", path));
}

void write_timeline_for_env(const std::function<std::string()>& make_json) {
  const char* path = std::getenv("SHOAL_TIMELINE");
  if (path == nullptr || *path == '\0') return;
  try {
    write_text_file(path, make_json());
    SHOAL_LOG(kInfo, "SHOAL_TIMELINE: wrote the timeline to {}", path);
  } catch (const std::exception& e) {
    SHOAL_LOG(kError, "SHOAL_TIMELINE: could not write the timeline: {}", e.what());
  }
}

std::string chrome_trace_json(const TraceInput& in) {
  TraceWriter w(in.origin_ns);
  const FunctionRegistry& registry = FunctionRegistry::instance();
  std::map<std::uint32_t, std::string> names;  // function index -> name, looked up once each
  const auto function_name = [&](std::uint32_t index) -> const std::string& {
    auto it = names.find(index);
    if (it == names.end()) {
      const RegisteredFunction* f = registry.at(index);
      it = names.emplace(index, f != nullptr ? f->name : fmt::format("function {}", index)).first;
    }
    return it->second;
  };

  // Rows: the driver first, then each process in the order it started.
  w.metadata("process_name", in.driver_pid, -1,
             name_args(fmt::format("driver (pid {}){}", in.driver_pid,
                                   in.local_mode ? ", local mode" : "")));
  w.metadata("process_sort_index", in.driver_pid, -1, R"({"sort_index":0})");
  for (const TimelineRow& row : in.tasks.rows) {
    if (row.pid == in.driver_pid) continue;
    w.metadata("process_name", row.pid, -1, name_args(row.name));
    w.metadata("process_sort_index", row.pid, -1,
               fmt::format(R"({{"sort_index":{}}})", row.sort_index));
  }

  // Task attempts, per row, with their lanes.
  std::map<int, std::vector<const TaskAttempt*>> by_pid;
  for (const TaskAttempt& a : in.tasks.attempts) by_pid[a.pid].push_back(&a);
  for (auto& [pid, attempts] : by_pid) {
    std::stable_sort(attempts.begin(), attempts.end(),
                     [](const TaskAttempt* x, const TaskAttempt* y) {
                       if (x->start_ns != y->start_ns) return x->start_ns < y->start_ns;
                       return x->end_ns > y->end_ns;  // the enclosing one first
                     });
    const std::vector<int> lanes = assign_lanes(attempts);
    const int base_tid = pid == in.driver_pid ? 1000 : 0;  // apart from the driver's call lanes
    int max_lane = -1;
    for (std::size_t i = 0; i < attempts.size(); ++i) {
      const TaskAttempt& a = *attempts[i];
      const int tid = base_tid + lanes[i];
      max_lane = std::max(max_lane, lanes[i]);
      std::string args = fmt::format(R"({{"task_id":"{:#x}","attempt":{},"result_bytes":{})",
                                     a.task, a.attempt, a.result_bytes);
      if (a.error) args += ",\"error\":" + control::json_quoted(*a.error);
      args += '}';
      w.complete("task", function_name(a.function_index), pid, tid, a.start_ns,
                 a.end_ns - a.start_ns, args);
      if (a.store_ns > 0) {
        const auto store = static_cast<std::int64_t>(a.store_ns);
        w.complete("phase", "storing the result", pid, tid, a.end_ns - store, store, "");
      }
      const std::string id = fmt::format("{:#x}.{}", a.task, a.attempt);
      if (a.ready_ns > a.submitted_ns && a.submitted_ns != 0) {
        w.span("waiting for arguments", pid, id, a.submitted_ns, a.ready_ns);
      }
      const std::int64_t queued_from = std::max(a.ready_ns, a.submitted_ns);
      if (queued_from != 0 && a.start_ns > queued_from) {
        w.span("queued", pid, id, queued_from, a.start_ns);
      }
    }
    for (int l = 0; l <= max_lane; ++l) {
      w.metadata("thread_name", pid, base_tid + l,
                 name_args(l == 0 ? std::string("tasks") : fmt::format("tasks {}", l + 1)));
    }
  }

  // The program's calls, one lane per thread.
  std::map<std::uint32_t, bool> threads;
  for (const DriverCall& c : in.calls.calls) {
    threads[c.thread] = true;
    w.complete("driver", call_name(c.kind), in.driver_pid, static_cast<int>(c.thread), c.start_ns,
               c.end_ns - c.start_ns, fmt::format(R"({{"objects":{}}})", c.objects));
  }
  for (const auto& [thread, unused] : threads) {
    w.metadata("thread_name", in.driver_pid, static_cast<int>(thread),
               name_args(fmt::format("program thread {}", thread)));
  }

  return w.finish(fmt::format(
      R"({{"session_pid":{},"recording":{},"dropped_task_attempts":{},"dropped_driver_calls":{}}})",
      in.driver_pid, in.tasks.enabled ? "true" : "false", in.tasks.dropped, in.calls.dropped));
}

}  // namespace shoal::internal
