// The driver's side of a session over MPI (see cluster_nodes.hpp).
#include "src/cluster/cluster_nodes.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/cluster/mpi_session.hpp"
#include "src/common/function_registry.hpp"
#include "src/common/limits.hpp"
#include "src/common/logging.hpp"
#include "src/common/system_info.hpp"
#include "src/core/timeline.hpp"  // steady_now_ns()
#include "src/transport/task_calls.hpp"

namespace shoal::internal {

namespace {

// What keeps an argument's bytes valid while they are sent: a reference to the object (it is not
// freed meanwhile) and the memory that holds them.
struct SentArgument {
  detail::HandlePtr ref;
  std::shared_ptr<const void> keep;
};

}  // namespace

ClusterNodes::~ClusterNodes() {
  shutdown();
  if (thread_.joinable()) thread_.join();
}

std::shared_ptr<ClusterNodes> ClusterNodes::start(std::shared_ptr<DriverRuntime> runtime,
                                                  const MpiPlace& place,
                                                  std::int64_t node_timeout_ms) {
  std::shared_ptr<ClusterNodes> self(new ClusterNodes(runtime.get()));
  self->node_timeout_ms_ = node_timeout_ms;
  self->local_address_ = node_address();
  self->local_cpus_ = std::max(1.0, self->runtime_->resources(false)["CPU"]);
  self->nodes_.resize(static_cast<std::size_t>(place.size));
  self->frees_.resize(static_cast<std::size_t>(place.size));
  self->thread_ = std::thread([raw = self.get(), place] { raw->thread_main(place); });
  std::unique_lock<std::mutex> lock(self->mu_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kHelloTimeoutS);
  const auto all_hello = [&] {
    return std::all_of(self->nodes_.begin() + 1, self->nodes_.end(),
                       [](const Node& n) { return n.said_hello; });
  };
  const auto joined = [&] {
    return std::count_if(self->nodes_.begin() + 1, self->nodes_.end(),
                         [](const Node& n) { return n.said_hello; });
  };
  // Every 10 s, say what it waits for: a rank that never calls init() (it failed or exited
  // before) leaves MPI_Init waiting here.
  while (!self->cv_.wait_until(
             lock, std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(10)),
             [&] { return self->thread_done_ || all_hello(); }) &&
         std::chrono::steady_clock::now() < deadline) {
    SHOAL_LOG(kWarn, "shoal: waiting for the other ranks: {} of {} have joined{}", joined(),
              place.size - 1,
              self->link_ == nullptr ? " (MPI_Init has not returned: not every rank has called "
                                       "shoal::init() yet)"
                                     : "");
  }
  std::string why = self->failure_;
  if (why.empty() && self->link_ == nullptr && !self->thread_done_) {
    // MPI_Init still waits for a rank that never came: nothing can stop it, so its thread is
    // left to the process's exit (detached, with this object, which it uses, kept alive).
    why = fmt::format(
        "shoal: MPI did not start within {} s: not every rank called shoal::init() (one that "
        "fails or exits before init() leaves the others waiting in MPI_Init; see mpirun's output "
        "for it)",
        kHelloTimeoutS);
    self->thread_.detach();
    static auto* const stuck = new std::vector<std::shared_ptr<ClusterNodes>>;
    stuck->push_back(self);  // never freed: the thread may still run
    throw Error(why);
  }
  if (why.empty() && !all_hello()) {
    why = fmt::format(
        "shoal: not every node said hello within {} s: is every rank calling shoal::init()?",
        kHelloTimeoutS);
  }
  for (std::size_t r = 1; why.empty() && r < self->nodes_.size(); ++r) {
    const Hello& h = self->nodes_[r].hello;
    if (!h.error.empty()) {
      why = fmt::format("shoal: the node on rank {} ({}) could not start: {}", r, h.host, h.error);
    } else if (h.functions != FunctionRegistry::instance().size() ||
               h.function_hash != FunctionRegistry::instance().prefix_hash(h.functions)) {
      why = fmt::format(
          "shoal: the node on rank {} ({}) knows other remote functions than the driver: every "
          "rank must run the same executable",
          r, h.host);
    }
  }
  if (!why.empty()) {
    lock.unlock();
    self->shutdown();
    if (self->thread_.joinable()) self->thread_.join();
    throw Error(why);
  }
  // Names: "node:<address>", made distinct when ranks share a host (or an address).
  std::vector<std::string> taken{"node:" + self->local_address_};
  for (std::size_t r = 1; r < self->nodes_.size(); ++r) {
    Node& n = self->nodes_[r];
    n.name = "node:" + n.hello.address;
    if (std::find(taken.begin(), taken.end(), n.name) != taken.end()) {
      n.name += fmt::format("/{}", r);
    }
    taken.push_back(n.name);
    SHOAL_LOG(kInfo, "shoal: node {} on rank {} ({}): {} CPUs", n.name, r, n.hello.host,
              n.hello.cpus);
  }
  self->running_ = true;
  return self;
}

void ClusterNodes::thread_main(MpiPlace place) {
  std::string failure;
  try {
    MpiLink link;
    if (link.size() != place.size || link.rank() != 0) {
      throw Error(fmt::format("shoal: MPI says rank {} of {}, the environment said rank 0 of {}",
                              link.rank(), link.size(), place.size));
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      link_ = &link;
      mpi_version_ = link.library_version();
    }
    try {
      link.run(*this);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      link_ = nullptr;
    }
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) SHOAL_LOG(kError, "shoal: the link to the other nodes failed: {}", failure);
  {
    std::lock_guard<std::mutex> lock(mu_);
    failure_ = failure;
    thread_done_ = true;
    running_ = false;
  }
  cv_.notify_all();
  if (!failure.empty()) fail_all("shoal lost the link to the other nodes: " + failure);
}

void ClusterNodes::shutdown() {
  std::unique_lock<std::mutex> lock(mu_);
  if (shut_down_) return;
  shut_down_ = true;
  running_ = false;
  end_sigterm_report();
  // The MPI thread sends Shutdown, waits for the Byes (at most kByeTimeoutS) and ends.
  shutdown_deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(kByeTimeoutS);
  shutdown_requested_ = true;
  if (link_ != nullptr) link_->wake();
  cv_.wait(lock, [&] { return thread_done_; });
  lock.unlock();
  if (thread_.joinable()) thread_.join();
  fail_all("shoal was shut down before this task's node answered");
}

void ClusterNodes::fail_all(const std::string& why) {
  std::unordered_map<TaskId, RemoteTask> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    left.swap(tasks_);
    ready_.clear();
    for (Node& n : nodes_) n.in_flight = 0;
  }
  for (auto& [id, t] : left) runtime_->fail_remote(id, node_error(why));
  // `left` goes here, without mu_: dropping the tasks' refs calls into the driver.
}

int ClusterNodes::place(const TaskSpec& spec) noexcept {
  const double local_load = static_cast<double>(runtime_->local_tasks()) / local_cpus_;
  std::lock_guard<std::mutex> lock(mu_);
  if (spec.node >= 0) {  // TaskOptions::node_rank
    if (spec.node == 0) return 0;
    const auto r = static_cast<std::size_t>(spec.node);
    const bool live = running_ && r < nodes_.size() && nodes_[r].said_hello && !nodes_[r].dead;
    return live ? spec.node : -1;
  }
  if (!running_) return 0;
  // Locality: the largest argument whose place is known.
  int near = -1;
  std::uint64_t near_size = 0;
  for (ObjectId dep : spec.deps) {
    const auto it = copies_.find(dep);
    if (it == copies_.end() || it->second.nodes.empty()) continue;
    if (near < 0 || it->second.size > near_size) {
      near = it->second.nodes.front();
      near_size = it->second.size;
    }
  }
  const auto load = [&](int r) {
    const Node& n = nodes_[static_cast<std::size_t>(r)];
    return static_cast<double>(n.in_flight) / std::max(1.0, n.hello.cpus);
  };
  if (near > 0 && !nodes_[static_cast<std::size_t>(near)].dead && load(near) < 2.0) return near;
  int best = 0;
  double best_load = local_load;
  for (int r = 1; r < static_cast<int>(nodes_.size()); ++r) {
    if (nodes_[static_cast<std::size_t>(r)].dead) continue;
    if (load(r) < best_load) {
      best = r;
      best_load = load(r);
    }
  }
  return best;
}

void ClusterNodes::dispatch(int node, TaskSpec&& spec, std::vector<detail::HandlePtr>&& refs) {
  const TaskId id = spec.id;
  std::vector<ObjectId> deps = spec.deps;
  bool taken = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (running_) {
      nodes_[static_cast<std::size_t>(node)].in_flight++;
      copies_[id] = Copies{{node}, 0};  // its result will be made there
      tasks_.emplace(id, RemoteTask{std::move(spec), std::move(refs), node});
      taken = true;
    }
  }
  if (!taken) {  // the session's link is ending
    runtime_->fail_remote(id, session_error(ErrorInfo::Kind::kShutdown,
                                            "shoal was shut down before this task could start"));
    return;
  }
  std::weak_ptr<ClusterNodes> weak = weak_from_this();
  runtime_->when_finished(std::move(deps), [weak, id] {
    const std::shared_ptr<ClusterNodes> self = weak.lock();
    if (!self) return;
    std::lock_guard<std::mutex> lock(self->mu_);
    self->ready_.push_back(id);
    if (self->link_ != nullptr) self->link_->wake();
  });
}

std::vector<std::int64_t> ClusterNodes::mpi_ping_pong(int rank, std::uint64_t bytes,
                                                      std::uint32_t rounds) {
  PingRequest request;
  request.rank = rank;
  request.what = PingPong{bytes, rounds};
  std::unique_lock<std::mutex> lock(mu_);
  if (!running_ || link_ == nullptr || rank <= 0 ||
      static_cast<std::size_t>(rank) >= nodes_.size() ||
      nodes_[static_cast<std::size_t>(rank)].dead || ping_ != nullptr) {
    throw Error(fmt::format("shoal: no ping-pong with rank {} now", rank));
  }
  ping_ = &request;
  link_->wake();
  cv_.wait(lock, [&] { return request.done || thread_done_; });
  if (!request.done) {
    ping_ = nullptr;
    throw Error("shoal: the link to the nodes ended during a ping-pong");
  }
  if (!request.error.empty()) throw Error(request.error);
  return request.result;
}

void ClusterNodes::add_resources(std::map<std::string, double>& into, bool available) {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::size_t r = 1; r < nodes_.size(); ++r) {
    const Node& n = nodes_[r];
    if (!n.said_hello || n.name.empty() || n.dead) continue;  // a dead node's resources are gone
    const double cpus =
        available ? std::max(0.0, n.hello.cpus - static_cast<double>(n.in_flight)) : n.hello.cpus;
    if (cpus > 1e-9 || !available) into["CPU"] += cpus;
    into["memory"] += static_cast<double>(n.hello.memory);
    into["object_store_memory"] += static_cast<double>(n.hello.store_bytes);
    into[n.name] = 1.0;
  }
}

void ClusterNodes::copies_freed(ObjectId id) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = copies_.find(id);
  if (it == copies_.end()) return;
  for (int r : it->second.nodes) frees_[static_cast<std::size_t>(r)].push_back(id);
  copies_.erase(it);
  if (link_ != nullptr) link_->wake();
}

void ClusterNodes::cancel(TaskId id, bool force) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second.cancelled) return;
  it->second.cancelled = true;
  try {
    cancels_.push_back(CancelTask{id, force});
  } catch (...) {  // out of memory: the task runs to its end there; its result is dropped anyway
  }
  if (link_ != nullptr) link_->wake();
}

std::shared_ptr<const ErrorInfo> ClusterNodes::node_error(const std::string& what) const {
  return session_error(ErrorInfo::Kind::kShutdown, what);
}

// ---- the MPI thread

bool ClusterNodes::on_turn() {
  std::deque<TaskId> ready;
  std::vector<std::vector<ObjectId>> frees;
  std::vector<CancelTask> cancels;
  std::vector<TaskId> local_done;
  bool shutdown_now = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ready.swap(ready_);
    cancels.swap(cancels_);
    local_done.swap(local_done_);
    for (std::size_t r = 1; r < frees_.size(); ++r) {
      if (frees_[r].empty()) continue;
      frees.resize(frees_.size());
      frees[r].swap(frees_[r]);
    }
    shutdown_now = std::exchange(shutdown_requested_, false);
    if (shutdown_now) shutdown_sent_ = true;
  }
  MpiLink* link = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    link = link_;
  }
  for (std::size_t r = 1; r < frees.size(); ++r) {
    if (frees[r].empty()) continue;
    detail::ByteBuffer m;
    encode_free(m, frees[r]);
    link->send(static_cast<int>(r), std::move(m));
  }
  for (TaskId id : ready) send_task(id);
  for (TaskId id : local_done) finish_locally(id);
  for (const CancelTask& c : cancels) {
    // Sent: the node cancels it (its result, a cancellation or a late value, is dropped when it
    // comes). Not sent yet: send_task() never sends it; it is forgotten here.
    int node = 0;
    detail::HandlePtr local;  // run again on this machine after its node died
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto it = tasks_.find(c.task);
      if (it == tasks_.end()) continue;
      if (it->second.attempts > 0 && !nodes_[static_cast<std::size_t>(it->second.node)].dead) {
        node = it->second.node;
      }
      local = it->second.local;
    }
    if (local) {
      try {
        runtime_->cancel(local->id(), c.force, /*recursive=*/true);
      } catch (const std::exception&) {  // finished or gone meanwhile: nothing to stop
      }
      finish_task(c.task);
    } else if (node > 0) {
      detail::ByteBuffer m;
      encode_cancel(m, c);
      link->send(node, std::move(m));
    } else {
      finish_task(c.task);
    }
  }
  check_nodes(*link);
  PingRequest* ping = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ping = std::exchange(ping_, nullptr);
  }
  if (ping != nullptr) {
    detail::ByteBuffer m;
    encode_ping_pong(m, ping->what);
    link->send(ping->rank, std::move(m));
    link->after_flush([this, link, ping] {
      std::vector<std::int64_t> result;
      std::string error;
      try {
        result = link->ping_pong(ping->rank, ping->what.bytes, static_cast<int>(ping->what.rounds),
                                 true);
      } catch (const std::exception& e) {
        error = e.what();
      }
      std::lock_guard<std::mutex> lock(mu_);
      nodes_[static_cast<std::size_t>(ping->rank)].last_heard_ns = steady_now_ns();  // it was busy
      ping->result = std::move(result);
      ping->error = std::move(error);
      ping->done = true;
      cv_.notify_all();
    });
  }
  if (shutdown_now) {
    // With a dead rank, MPI_Finalize (a collective over every rank in Open MPI) would wait for it
    // forever: nobody calls it then (this side skips it too: MpiLink::forget_peer()).
    bool any_dead = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      any_dead =
          std::any_of(nodes_.begin() + 1, nodes_.end(), [](const Node& n) { return n.dead; });
    }
    for (int r = 1; r < link->size(); ++r) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (nodes_[static_cast<std::size_t>(r)].dead) continue;
      }
      detail::ByteBuffer m;
      encode_shutdown(m, !any_dead);
      link->send(r, std::move(m));
    }
  }
  if (!shutdown_now) {
    std::lock_guard<std::mutex> lock(mu_);
    if (shutdown_sent_) {
      const bool all_bye = std::all_of(nodes_.begin() + 1, nodes_.end(), [](const Node& n) {
        return n.said_bye || !n.said_hello || n.dead;
      });
      if (all_bye || std::chrono::steady_clock::now() > shutdown_deadline_) {
        if (!all_bye) {
          SHOAL_LOG(kError, "shoal: not every node ended its session within {} s", kByeTimeoutS);
          link->abandon();  // MPI_Finalize would wait for the silent ones
        }
        link->stop();
      }
    }
  }
  return !ready.empty() || !frees.empty() || !cancels.empty() || !local_done.empty() ||
         shutdown_now;
}

void ClusterNodes::send_task(TaskId id) {
  int node = 0;
  std::vector<ObjectId> deps;
  std::vector<detail::HandlePtr> refs;
  detail::ByteBuffer submit;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = tasks_.find(id);
    if (it == tasks_.end() || it->second.cancelled) return;  // cancelled: forgotten in on_turn()
    node = it->second.node;
    ++it->second.attempts;
    it->second.sent.clear();
    deps = it->second.spec.deps;
    refs = it->second.refs;
    encode_submit(submit, it->second.spec);
  }
  RunTask run;
  run.task = id;
  std::vector<MpiLink::Payload> payloads;
  for (ObjectId dep : deps) {
    DriverRuntime::Finished f;
    try {
      f = runtime_->read_finished(dep);
    } catch (const std::exception& e) {
      fail_task(id, e.what());
      return;
    }
    if (f.error) {  // Ray's rule: a task whose argument failed fails with the same error
      runtime_->fail_remote(id, f.error);
      finish_task(id);
      return;
    }
    RunArgument a;
    a.id = dep;
    bool on_node = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      Copies& c = copies_[dep];
      on_node = std::find(c.nodes.begin(), c.nodes.end(), node) != c.nodes.end();
      if (!on_node) c.nodes.push_back(node);  // one copy per object and node, ever
      c.size = f.value.view.size;
      const auto t = tasks_.find(id);
      if (!on_node && t != tasks_.end()) t->second.sent.push_back(dep);
    }
    if (!on_node) runtime_->mark_copied(dep);
    if (on_node) {
      a.how = ArgumentHow::kOnNode;
    } else {
      a.format = f.value.view.format;
      a.type_hash = f.value.view.type_hash;
      a.size = f.value.view.size;
      if (a.size <= kInlineThreshold) {
        a.how = ArgumentHow::kInline;
        a.bytes = std::string_view(f.value.view.data, f.value.view.size);
      } else {
        a.how = ArgumentHow::kPayload;
        detail::HandlePtr ref;
        for (const detail::HandlePtr& h : refs) {
          if (h->id() == dep) ref = h;
        }
        auto keep = std::make_shared<SentArgument>(SentArgument{ref, f.value.keep});
        payloads.push_back(MpiLink::Payload{f.value.view.data, a.size, keep});
      }
    }
    run.arguments.push_back(a);
  }
  run.submit = std::string_view(submit.data(), submit.size());
  detail::ByteBuffer m;
  encode_run_task(m, run);  // copies the inline arguments while their `keep`s live
  MpiLink* link = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    link = link_;
  }
  if (link != nullptr) link->send(node, std::move(m), std::move(payloads));
}

void ClusterNodes::finish_task(TaskId id) {
  RemoteTask t;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = tasks_.find(id);
    if (it == tasks_.end()) return;
    t = std::move(it->second);
    tasks_.erase(it);
    Node& n = nodes_[static_cast<std::size_t>(t.node)];
    if (n.in_flight > 0) --n.in_flight;
  }
  // `t` goes here, without mu_: dropping its refs calls into the driver.
}

void ClusterNodes::fail_task(TaskId id, const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    copies_.erase(id);
  }
  runtime_->fail_remote(id, node_error(why));
  finish_task(id);
}

void ClusterNodes::on_message(int source, const char* data, std::size_t size,
                              std::vector<MpiLink::Landing>& landings) {
  ByteReader in(data, size);
  const auto type = static_cast<ClusterMessage>(in.get<std::uint8_t>("message type"));
  if (source <= 0 || static_cast<std::size_t>(source) >= nodes_.size()) {
    throw DecodeError(fmt::format("a message from rank {}", source));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    Node& n = nodes_[static_cast<std::size_t>(source)];
    if (n.dead) return;  // declared dead: what it still says is not waited for any more
    n.last_heard_ns = steady_now_ns();
  }
  switch (type) {
    case ClusterMessage::kHeartbeat:
      return;
    case ClusterMessage::kHello:
      on_hello(source, decode_hello(in));
      return;
    case ClusterMessage::kTaskResult:
      on_result(source, decode_task_result(in), landings);
      return;
    case ClusterMessage::kBye: {
      std::lock_guard<std::mutex> lock(mu_);
      nodes_[static_cast<std::size_t>(source)].said_bye = true;
      cv_.notify_all();
      return;
    }
    default:
      throw DecodeError(fmt::format("unexpected message {} from a node", static_cast<int>(type)));
  }
}

void ClusterNodes::on_hello(int source, Hello hello) {
  std::lock_guard<std::mutex> lock(mu_);
  if (source <= 0 || static_cast<std::size_t>(source) >= nodes_.size() || hello.rank != source) {
    throw DecodeError("a hello from an unexpected rank");
  }
  Node& n = nodes_[static_cast<std::size_t>(source)];
  n.hello = std::move(hello);
  n.said_hello = true;
  cv_.notify_all();
}

void ClusterNodes::on_result(int source, TaskResult result,
                             std::vector<MpiLink::Landing>& landings) {
  const TaskId id = result.task;
  const bool copy = result.node_keeps_copy && result.how != ResultHow::kError;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (copy) {
      copies_[id] = Copies{{source}, result.size};
    } else {
      copies_.erase(id);
    }
  }
  // The node's copy must go if the driver no longer wants the object.
  const auto unwanted = [this, id, source, copy] {
    if (!copy) return;
    std::lock_guard<std::mutex> lock(mu_);
    copies_.erase(id);
    frees_[static_cast<std::size_t>(source)].push_back(id);
  };
  switch (result.how) {
    case ResultHow::kError: {
      if (result.error.kind == ErrorInfo::Kind::kShutdown) {
        // The node could not run it (an argument it could not store, its session ending): the
        // copies sent with it may not be there. Forgotten, they are sent again when needed
        // (a node that has one after all keeps it and drops the second).
        std::lock_guard<std::mutex> lock(mu_);
        const auto t = tasks_.find(id);
        if (t != tasks_.end()) {
          for (ObjectId dep : t->second.sent) {
            const auto c = copies_.find(dep);
            if (c == copies_.end()) continue;
            auto& holders = c->second.nodes;
            holders.erase(std::remove(holders.begin(), holders.end(), source), holders.end());
          }
        }
      }
      auto error = std::make_shared<ErrorInfo>(std::move(result.error));
      runtime_->fail_remote(id, std::move(error));
      break;
    }
    case ResultHow::kInline: {
      detail::ByteBuffer bytes(result.bytes.size());
      bytes.write(result.bytes.data(), result.bytes.size());
      if (!runtime_->complete_remote(id, result.format, result.type_hash, std::move(bytes), copy)) {
        unwanted();
      }
      break;
    }
    case ResultHow::kPayload: {
      DriverRuntime::RemoteSpace space;
      try {
        space = runtime_->reserve_remote(result.size);
      } catch (const std::exception& e) {
        landings.push_back(MpiLink::Landing{nullptr, result.size, nullptr});  // drop the bytes
        unwanted();
        runtime_->fail_remote(id, node_error(e.what()));
        break;
      }
      landings.push_back(MpiLink::Landing{
          space.dst, result.size,
          [this, id, space, format = result.format, type_hash = result.type_hash,
           size = result.size, copy, unwanted] {
            if (!runtime_->complete_remote_store(id, format, type_hash, space, size, copy)) {
              unwanted();
            }
          }});
      break;
    }
  }
  finish_task(id);
}

}  // namespace shoal::internal

namespace shoal::internal {

int ClusterNodes::least_loaded_node() const {
  int best = 0;
  double best_load = 0;
  const std::int64_t now = steady_now_ns();
  for (int r = 1; r < static_cast<int>(nodes_.size()); ++r) {
    const Node& n = nodes_[static_cast<std::size_t>(r)];
    if (n.dead || !n.said_hello || now - n.last_heard_ns > kSuspectMs * 1'000'000) continue;
    const double load = static_cast<double>(n.in_flight) / std::max(1.0, n.hello.cpus);
    if (best == 0 || load < best_load) {
      best = r;
      best_load = load;
    }
  }
  return best;
}

void ClusterNodes::check_nodes(MpiLink& link) {
  const std::int64_t now = steady_now_ns();
  if (now - last_heartbeat_ns_ >= std::int64_t{kHeartbeatMs} * 1'000'000) {
    last_heartbeat_ns_ = now;
    for (int r = 1; r < link.size(); ++r) {
      bool alive = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        alive = !nodes_[static_cast<std::size_t>(r)].dead;
      }
      if (!alive) continue;
      detail::ByteBuffer m;
      encode_signal(m, ClusterMessage::kHeartbeat);
      link.send(r, std::move(m));
    }
  }
  std::vector<std::pair<int, std::int64_t>> silent;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t r = 1; r < nodes_.size(); ++r) {
      const Node& n = nodes_[r];
      if (n.dead || !n.said_hello || n.said_bye) continue;
      const std::int64_t quiet_ms = (now - n.last_heard_ns) / 1'000'000;
      if (quiet_ms > node_timeout_ms_) silent.emplace_back(static_cast<int>(r), quiet_ms);
    }
  }
  for (const auto& [rank, quiet_ms] : silent) node_died(link, rank, quiet_ms);
}

void ClusterNodes::node_died(MpiLink& link, int rank, std::int64_t silent_ms) {
  std::vector<TaskId> retried;
  std::vector<TaskId> here;  // retried on the driver's machine
  std::vector<std::pair<TaskId, std::shared_ptr<ErrorInfo>>> failed;
  std::string name;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Node& dead = nodes_[static_cast<std::size_t>(rank)];
    dead.dead = true;
    dead.in_flight = 0;
    name = fmt::format("{} (rank {}, {})", dead.name, rank, dead.hello.host);
    frees_[static_cast<std::size_t>(rank)].clear();
    for (auto& [id, c] : copies_) {
      c.nodes.erase(std::remove(c.nodes.begin(), c.nodes.end(), rank), c.nodes.end());
    }
    for (auto& [id, t] : tasks_) {
      if (t.node != rank) continue;
      if (t.cancelled) {  // its result has failed already: nothing to retry or report
        failed.emplace_back(id, nullptr);
        continue;
      }
      const bool retries_left = t.spec.max_retries < 0 || t.attempts <= t.spec.max_retries;
      const bool pinned = t.spec.node > 0;  // TaskOptions::node_rank: never moved
      if (retries_left && !pinned) {
        const int other = least_loaded_node();
        t.node = other;
        if (other > 0) {
          nodes_[static_cast<std::size_t>(other)].in_flight++;
          copies_[id].nodes = {other};
          retried.push_back(id);
        } else {  // no other node: this machine
          copies_.erase(id);
          here.push_back(id);
        }
        continue;
      }
      auto e = std::make_shared<ErrorInfo>();
      e->kind = ErrorInfo::Kind::kNodeDied;
      e->function = t.spec.name.empty() ? "a task" : t.spec.name;
      e->node = rank;
      e->attempts = t.attempts;
      e->what = fmt::format(
          "shoal: the node {} running task {} stopped answering ({} ms without a word; "
          "Config::node_timeout_ms is {}) and {}",
          name, e->function, silent_ms, node_timeout_ms_,
          pinned ? fmt::format("the task must run there (TaskOptions::node_rank {})", rank)
                 : fmt::format("the task has no retries left (attempts: {}; raise "
                               "TaskOptions::max_retries to run it again elsewhere)",
                               t.attempts));
      failed.emplace_back(id, std::move(e));
    }
    for (TaskId id : retried) ready_.push_back(id);
  }
  SHOAL_LOG(kError,
            "shoal: node {} stopped answering ({} ms without a word): {} of its tasks are "
            "retried on other nodes, {} fail with NodeDiedError; nothing is placed there again",
            name, silent_ms, retried.size() + here.size(), failed.size());
  link.forget_peer(rank);
  for (auto& [id, e] : failed) {
    if (e) runtime_->fail_remote(id, std::move(e));
    finish_task(id);
  }
  for (TaskId id : here) run_locally(id);
}

void ClusterNodes::run_locally(TaskId id) {
  detail::ByteBuffer submit;  // a copy of its spec, as a worker would submit it
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = tasks_.find(id);
    if (it == tasks_.end()) return;
    ++it->second.attempts;
    encode_submit(submit, it->second.spec);
  }
  Frame frame;
  frame.header = parse_header(submit.data());
  frame.body = submit.data() + kFrameHeaderSize;
  TaskSpec spec = decode_submit(frame, nullptr);
  detail::HandlePtr local;
  try {
    local = runtime_->submit_spec(std::move(spec));  // its arguments are the driver's objects
  } catch (const std::exception& e) {
    fail_task(id, e.what());
    return;
  }
  const ObjectId local_id = local->id();
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = tasks_.find(id);
    if (it == tasks_.end()) return;  // answered meanwhile (a late result): the run is dropped
    it->second.local = std::move(local);
  }
  std::weak_ptr<ClusterNodes> weak = weak_from_this();
  runtime_->when_finished({local_id}, [weak, id] {
    const std::shared_ptr<ClusterNodes> self = weak.lock();
    if (!self) return;
    std::lock_guard<std::mutex> lock(self->mu_);
    self->local_done_.push_back(id);
    if (self->link_ != nullptr) self->link_->wake();
  });
}

void ClusterNodes::finish_locally(TaskId id) {
  detail::HandlePtr local;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = tasks_.find(id);
    if (it == tasks_.end() || !it->second.local) return;
    local = it->second.local;
  }
  try {
    DriverRuntime::Finished f = runtime_->read_finished(local->id());
    if (f.error) {
      runtime_->fail_remote(id, f.error);
    } else if (f.value.view.size <= kInlineThreshold) {
      detail::ByteBuffer bytes(f.value.view.size);
      bytes.write(f.value.view.data, f.value.view.size);
      runtime_->complete_remote(id, f.value.view.format, f.value.view.type_hash, std::move(bytes),
                                false);
    } else {  // a copy into the store, as a result from a node would land
      const DriverRuntime::RemoteSpace space = runtime_->reserve_remote(f.value.view.size);
      std::memcpy(space.dst, f.value.view.data, f.value.view.size);
      runtime_->complete_remote_store(id, f.value.view.format, f.value.view.type_hash, space,
                                      f.value.view.size, false);
    }
  } catch (const std::exception& e) {
    runtime_->fail_remote(id, node_error(e.what()));
  }
  finish_task(id);
}

}  // namespace shoal::internal
