// A node's loop (see node_agent.hpp).
#include "src/cluster/node_agent.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/function_registry.hpp"
#include "src/common/limits.hpp"
#include "src/common/logging.hpp"
#include "src/common/system_info.hpp"
#include "src/core/timeline.hpp"  // steady_now_ns()
#include "src/transport/task_calls.hpp"

namespace shoal::internal {

namespace {

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

Hello make_hello(int rank, const std::shared_ptr<DriverRuntime>& session,
                 const std::string& start_error) {
  Hello h;
  h.rank = rank;
  h.host = host_name();
  h.error = start_error;
  const FunctionRegistry& registry = FunctionRegistry::instance();
  h.functions = registry.size();
  h.function_hash = registry.prefix_hash(h.functions);
  if (session) {
    std::map<std::string, double> r = session->resources(false);
    h.cpus = r["CPU"];
    h.memory = static_cast<std::uint64_t>(r["memory"]);
    h.store_bytes = static_cast<std::uint64_t>(r["object_store_memory"]);
    for (const auto& [key, value] : r) {
      if (key.rfind("node:", 0) == 0) h.address = key.substr(5);
    }
  }
  return h;
}

}  // namespace

int NodeAgent::run(std::shared_ptr<DriverRuntime> session, const std::string& start_error,
                   const MpiPlace& place, std::int64_t driver_timeout_ms) {
  const std::shared_ptr<DriverRuntime> keep = session;  // to end it if anything below throws
  // MPI_Init waits for every rank: if the driver's never calls init(), it would wait forever.
  // After kMpiStartTimeoutS the node gives up: its session ends and the process exits 1.
  std::mutex started_mu;
  std::condition_variable started_cv;
  bool started = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(started_mu);
    if (started_cv.wait_for(lock, std::chrono::seconds(kMpiStartTimeoutS),
                            [&] { return started; })) {
      return;
    }
    SHOAL_LOG(kError,
              "shoal: rank {}: MPI did not start within {} s: not every rank called "
              "shoal::init() (see mpirun's output); ending this node",
              place.rank, kMpiStartTimeoutS);
    if (keep) keep->shutdown();
    logging::flush();
    std::_Exit(1);
  });
  const auto mpi_started = [&] {
    {
      std::lock_guard<std::mutex> lock(started_mu);
      started = true;
    }
    started_cv.notify_one();
    if (watchdog.joinable()) watchdog.join();
  };
  try {
    std::optional<MpiLink> made;
    try {
      made.emplace();
    } catch (...) {
      mpi_started();
      throw;
    }
    mpi_started();
    MpiLink& link = *made;
    if (link.rank() != place.rank || link.size() != place.size) {
      throw Error(fmt::format("MPI says rank {} of {}, the environment said rank {} of {}",
                              link.rank(), link.size(), place.rank, place.size));
    }
    NodeAgent agent(std::move(session), link, driver_timeout_ms);
    agent.last_heard_ns_ = steady_now_ns();
    detail::ByteBuffer hello;
    encode_hello(hello, make_hello(link.rank(), agent.session_, start_error));
    link.send(0, std::move(hello));
    link.run(agent);
    agent.end_session();  // if the loop ended without a Shutdown
    if (!start_error.empty()) {
      SHOAL_LOG(kError, "shoal: the node on rank {} could not start: {}", place.rank, start_error);
      return 1;
    }
    return agent.driver_lost_ ? 1 : 0;
  } catch (const std::exception& e) {
    SHOAL_LOG(kError, "shoal: the node on rank {} failed: {}", place.rank, e.what());
    if (keep) keep->shutdown();  // idempotent: its workers never outlive the node
    return 1;
  }
}

void NodeAgent::end_session() {
  if (!session_) return;
  // Results not sent are dropped with the session: the driver ended it.
  running_.clear();
  waiting_.clear();
  copies_.clear();
  session_->shutdown();
  session_.reset();
}

void NodeAgent::on_message(int source, const char* data, std::size_t size,
                           std::vector<MpiLink::Landing>& landings) {
  if (source != 0) throw DecodeError(fmt::format("a message from rank {}, not the driver", source));
  ByteReader in(data, size);
  const auto type = static_cast<ClusterMessage>(in.get<std::uint8_t>("message type"));
  last_heard_ns_ = steady_now_ns();
  switch (type) {
    case ClusterMessage::kHeartbeat:
      return;
    case ClusterMessage::kPingPong: {
      const PingPong p = decode_ping_pong(in);
      link_.ping_pong(0, p.bytes, static_cast<int>(p.rounds), false);
      last_heard_ns_ = steady_now_ns();
      last_heartbeat_ns_ = 0;  // say so at once: the driver heard nothing meanwhile
      return;
    }
    case ClusterMessage::kRunTask:
      on_run_task(decode_run_task(in), landings);
      return;
    case ClusterMessage::kCancel:
      on_cancel(decode_cancel_task(in));
      return;
    case ClusterMessage::kFree:
      for (ObjectId id : decode_free(in)) {
        const auto it = copies_.find(id);
        if (it == copies_.end()) continue;
        if (it->second.arriving) {  // dropped when it has arrived (MPI is writing into it)
          it->second.freed = true;
          continue;
        }
        copies_.erase(it);
      }
      return;
    case ClusterMessage::kShutdown: {
      if (!decode_shutdown(in)) link_.abandon();  // a rank died: MPI_Finalize would wait for it
      end_session();
      ending_ = true;
      detail::ByteBuffer bye;
      encode_signal(bye, ClusterMessage::kBye);
      link_.send(0, std::move(bye));
      link_.stop();
      return;
    }
    default:
      throw DecodeError(
          fmt::format("unexpected message {} from the driver", static_cast<int>(type)));
  }
}

void NodeAgent::on_run_task(const RunTask& m, std::vector<MpiLink::Landing>& landings) {
  // The spec comes as the Submit frame a worker would send (task_calls.hpp).
  if (m.submit.size() < kFrameHeaderSize) throw DecodeError("run task: short submit frame");
  Frame frame;
  frame.header = parse_header(m.submit.data());
  frame.body = m.submit.data() + kFrameHeaderSize;
  if (frame.header.body_size != m.submit.size() - kFrameHeaderSize) {
    throw DecodeError("run task: submit frame size");
  }
  TaskSpec spec = decode_submit(frame, nullptr);
  if (!session_ || ending_) return send_error(m.task, "this node's session is not running");
  if (spec.deps.size() != m.arguments.size()) {
    throw DecodeError("run task: arguments do not match the dependencies");
  }
  std::size_t missing = 0;
  for (std::size_t i = 0; i < m.arguments.size(); ++i) {
    const RunArgument& a = m.arguments[i];
    if (a.id != spec.deps[i]) throw DecodeError("run task: argument order");
    auto it = copies_.find(a.id);
    if (a.how == ArgumentHow::kOnNode) {
      if (it == copies_.end()) {
        return send_error(m.task, fmt::format("this node has no copy of argument {:#x}", a.id));
      }
    } else if (it != copies_.end()) {
      // Sent again though this node holds it (the driver forgot the copy after an error here):
      // keep the one held; a payload's chunks still arrive and must be received, into nothing.
      if (a.how == ArgumentHow::kPayload) landings.push_back(MpiLink::Landing{nullptr, a.size, {}});
    } else {
      Copy c;
      try {
        if (a.how == ArgumentHow::kInline) {
          detail::ByteBuffer bytes(a.bytes.size());
          bytes.write(a.bytes.data(), a.bytes.size());
          c.handle = session_->put_bytes(a.format, a.type_hash, std::move(bytes));
        } else {
          StoreSpace space = session_->reserve_object(a.format, a.type_hash, a.size,
                                                      ObjectOrigin::kArgument, detail::CallSite{});
          c.handle = std::move(space.handle);
          c.arriving = true;
          const ObjectId id = a.id;
          landings.push_back(
              MpiLink::Landing{space.dst, a.size, [this, id, keep = space.keep] { arrived(id); }});
        }
      } catch (const std::exception& e) {
        c.handle.reset();
        c.error = e.what();
        if (a.how == ArgumentHow::kPayload) {
          landings.push_back(MpiLink::Landing{nullptr, a.size, nullptr});  // dropped
        }
      }
      it = copies_.emplace(a.id, std::move(c)).first;
    }
    if (!it->second.error.empty()) {
      // Stored nothing: the task fails as one whose argument could not be stored.
      const std::string why = it->second.error;
      copies_.erase(it);
      return send_error(m.task, why);
    }
    if (it->second.arriving) {
      it->second.waiting.push_back(m.task);
      ++missing;
    }
  }
  if (missing == 0) return start(m.task, std::move(spec));
  waiting_.emplace(m.task, Waiting{std::move(spec), missing});
}

void NodeAgent::on_cancel(const CancelTask& m) {
  // Waiting for its arguments: it never starts (arrived() skips it). The driver has failed its
  // result already and drops whatever comes; it still needs an answer to forget the task.
  if (waiting_.erase(m.task) > 0) {
    return send_error(m.task, "the task was cancelled (shoal::cancel()) before it started");
  }
  for (const auto& [local, r] : running_) {
    if (r.driver_task != m.task) continue;
    try {  // as on one machine; its result then fails with TaskCancelledError and goes back
      session_->cancel(local, m.force, /*recursive=*/true);
    } catch (const std::exception& e) {
      SHOAL_LOG(kWarn, "shoal: a task could not be cancelled on this node: {}", e.what());
    }
    return;
  }
  // Finished already: its result is on its way; the driver drops it.
}

void NodeAgent::arrived(ObjectId id) {
  const auto it = copies_.find(id);
  if (it == copies_.end()) return;
  it->second.arriving = false;
  std::vector<TaskId> waiting = std::move(it->second.waiting);
  if (it->second.freed) copies_.erase(it);  // the driver freed it while it arrived
  for (TaskId t : waiting) {
    const auto w = waiting_.find(t);
    if (w == waiting_.end()) continue;
    if (--w->second.missing == 0) {
      TaskSpec spec = std::move(w->second.spec);
      waiting_.erase(w);
      start(t, std::move(spec));
    }
  }
}

void NodeAgent::start(TaskId driver_task, TaskSpec spec) {
  for (ObjectId& dep : spec.deps) dep = copies_.at(dep).handle->id();
  detail::HandlePtr result;
  try {
    result = session_->submit_spec(std::move(spec));
  } catch (const std::exception& e) {
    return send_error(driver_task, e.what());
  }
  const ObjectId local = result->id();
  running_.emplace(local, Running{driver_task, std::move(result)});
  session_->when_finished({local}, [this, local] {
    {
      std::lock_guard<std::mutex> lock(done_mu_);
      done_.push_back(local);
    }
    link_.wake();
  });
}

bool NodeAgent::on_turn() {
  const std::int64_t now = steady_now_ns();
  if (!ending_ && now - last_heartbeat_ns_ >= std::int64_t{kHeartbeatMs} * 1'000'000) {
    last_heartbeat_ns_ = now;
    detail::ByteBuffer m;
    encode_signal(m, ClusterMessage::kHeartbeat);
    link_.send(0, std::move(m));
  }
  if (!ending_ && (now - last_heard_ns_) / 1'000'000 > driver_timeout_ms_) {
    // The driver is gone (killed, its machine down) and mpirun did not end the job: do not
    // outlive it. No MPI_Finalize: it would wait for the driver.
    SHOAL_LOG(kError,
              "shoal: rank {} heard nothing from the driver for {} ms (Config::node_timeout_ms): "
              "ending this node",
              link_.rank(), (now - last_heard_ns_) / 1'000'000);
    ending_ = true;
    driver_lost_ = true;
    end_session();
    // Sends to the driver still in flight would never complete: run() would wait for them
    // forever. forget_peer() also skips MPI_Finalize.
    link_.forget_peer(0);
    link_.stop();
    return true;
  }
  std::vector<ObjectId> done;
  {
    std::lock_guard<std::mutex> lock(done_mu_);
    done.swap(done_);
  }
  for (ObjectId local : done) {
    const auto it = running_.find(local);
    if (it == running_.end()) continue;
    Running r = std::move(it->second);
    running_.erase(it);
    send_result(r);
  }
  return !done.empty();
}

void NodeAgent::send_result(const Running& r) {
  TaskResult m;
  m.task = r.driver_task;
  std::vector<MpiLink::Payload> payloads;
  DriverRuntime::Finished f;
  try {
    f = session_->read_finished(r.result->id());
  } catch (const std::exception& e) {
    return send_error(r.driver_task, e.what());
  }
  if (f.error) {
    m.how = ResultHow::kError;
    m.error = *f.error;
  } else {
    m.format = f.value.view.format;
    m.type_hash = f.value.view.type_hash;
    m.size = f.value.view.size;
    m.node_keeps_copy = true;
    if (m.size <= kInlineThreshold) {
      m.how = ResultHow::kInline;
      m.bytes = std::string_view(f.value.view.data, f.value.view.size);
    } else {
      m.how = ResultHow::kPayload;
      payloads.push_back(MpiLink::Payload{
          f.value.view.data, m.size,
          std::make_shared<std::pair<detail::HandlePtr, std::shared_ptr<const void>>>(
              r.result, f.value.keep)});
    }
    copies_[r.driver_task] = Copy{r.result, false, false, {}, {}};  // kept until the driver's Free
  }
  detail::ByteBuffer out;
  encode_task_result(out, m);
  link_.send(0, std::move(out), std::move(payloads));
}

void NodeAgent::send_error(TaskId driver_task, const std::string& why) {
  TaskResult m;
  m.task = driver_task;
  m.how = ResultHow::kError;
  m.error = *session_error(ErrorInfo::Kind::kShutdown,
                           fmt::format("shoal: on node rank {}: {}", link_.rank(), why));
  detail::ByteBuffer out;
  encode_task_result(out, m);
  link_.send(0, std::move(out));
}

}  // namespace shoal::internal
