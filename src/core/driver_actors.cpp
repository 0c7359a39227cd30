// Actors on the driver's side (shoal/actor.hpp): creating one (its CPUs, its process, its
// constructor call first in its queue), its calls, its death (restart or fail its calls), its end
// when no handle is left, kill(), get_actor(), shutdown's stop, and the direct deadlock check.
//
// An actor is its constructor call's result object: its handles hold that object, so handles in
// tasks, in other actors and inside stored values keep it alive through the reference table, and
// the table says when the last one goes (take_freed_actors()). Its calls are tasks whose spec
// names the actor (TaskSpec::actor): the scheduler queues them per actor and sends them to its
// worker in order (scheduler_actors.cpp); results, errors, views and refs inside values are those
// of tasks.
#include <algorithm>
#include <chrono>
#include <utility>

#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <shoal/errors.hpp>

#include "src/common/actor_classes.hpp"
#include "src/core/driver_runtime.hpp"
#include "src/transport/task_calls.hpp"

namespace shoal::internal {
namespace {

// Calls sent ahead to an actor's worker: enough to keep a stream of small calls flowing (the
// worker runs them in order), as tasks are pipelined.
// A process that dies within kQuickDeath of its start is restarted after a delay that doubles
// with each such death in a row (kFirstRestartDelay up to kMaxRestartDelay), so that an actor
// whose constructor or method always crashes, restarted forever, does not fork in a tight loop.
constexpr auto kQuickDeath = std::chrono::seconds(1);
constexpr auto kFirstRestartDelay = std::chrono::milliseconds(10);
constexpr auto kMaxRestartDelay = std::chrono::milliseconds(1000);

std::size_t calls_in_flight(int max_concurrency) {
  return std::max<std::size_t>(64, 2 * static_cast<std::size_t>(max_concurrency));
}

std::shared_ptr<ErrorInfo> actor_error(const ActorRecord& a, ActorDiedError::Cause cause,
                                       std::string what) {
  return actor_died_error(a.label, cause, std::move(what), a.pid);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The program's calls

detail::HandlePtr DriverRuntime::create_actor(detail::AnyFn constructor, const char* signature,
                                              std::uint64_t class_hash, const ActorOptions& options,
                                              detail::TaskArgs&& args) {
  check_not_abandoned();
  check_actor_options(options, static_cast<double>(num_workers_));
  TaskOptions call;
  call.num_cpus = 0;  // the actor holds its CPUs itself
  call.max_retries = 0;
  std::vector<detail::HandlePtr> refs;  // held until the call is registered
  TaskSpec spec = checked_spec(constructor, signature, call, std::move(args), refs);
  spec.id = new_object_id();
  spec.actor = spec.id;
  MutexLock<Mutex> lock(mu_);
  check_running();
  const std::string cls = actor_class_name(class_hash);
  if (!options.name.empty()) {
    if (const ActorRecord* other = actors_.named(options.name)) {
      throw InvalidConfigError(fmt::format(
          "shoal: an actor named '{}' exists already ({}); pick another name, or find it with "
          "get_actor<{}>(\"{}\")",
          options.name, other->label, actor_class_name(other->class_hash), options.name));
    }
  }
  spec.call_site_index = call_sites_.intern(spec.call_site);  // for memory_summary()
  ActorRecord record;
  record.id = spec.id;
  record.label = actor_label(cls, options.name);
  record.class_hash = class_hash;
  record.options = options;
  record.constructor = copy_task_spec(spec);
  record.constructor_call = spec.id;
  scheduler_.add_actor(spec.id, calls_in_flight(options.max_concurrency));
  ActorRecord& a = actors_.add(std::move(record));
  // Its constructor's arguments are kept for restarts, for its whole life.
  for (ObjectId dep : a.constructor.deps) refs_.add_ref(dep, Holder::task());
  for (ObjectId held : a.constructor.contained()) refs_.add_ref(held, Holder::task());
  a.args_held = true;
  detail::HandlePtr handle = handle_of(a.id);
  tasks_.add(std::move(spec), nullptr, Holder::program());
  // The driver holds the constructor call's object until the call is answered (or the actor
  // dies first), so its outcome can be read even if every handle went meanwhile.
  refs_.add_ref(a.id, Holder::program());
  if (ObjectEntry* e = refs_.find(a.id)) e->actor = true;
  if (!options.name.empty()) {  // a named actor lives until kill() or shutdown()
    refs_.add_ref(a.id, Holder::program());
    a.named_ref_held = true;
  }
  if (tasks_.find(a.id) == nullptr) {  // an argument had failed: the constructor cannot run
    const ObjectEntry* e = refs_.find(a.id);
    actor_constructor_failed(a, e != nullptr ? e->error : nullptr);
  }
  pump();
  return handle;
}

detail::HandlePtr DriverRuntime::submit_actor_task(ObjectId actor, detail::AnyFn method,
                                                   const char* signature, detail::TaskArgs&& args) {
  TaskOptions call;
  call.num_cpus = 0;
  call.max_retries = 0;
  std::vector<detail::HandlePtr> refs;  // held until the call is registered
  TaskSpec spec = checked_spec(method, signature, call, std::move(args), refs);
  spec.actor = actor;
  spec.id = new_object_id();
  detail::HandlePtr handle = handle_of(spec.id);
  // Registered like a task (register_task), in the order of submission.
  mu_.run_or_defer(Deferred{0, std::move(spec)});
  return handle;
}

detail::HandlePtr DriverRuntime::find_named_actor(const std::string& name,
                                                  std::uint64_t class_hash) {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  check_running();
  ActorRecord* a = actors_.named(name);
  if (a == nullptr || a->state == ActorRecord::State::kDead) return nullptr;
  if (a->class_hash != class_hash) {
    throw TypeMismatchError(fmt::format("shoal: the actor named '{}' is a {}, not a {}", name,
                                        actor_class_name(a->class_hash),
                                        actor_class_name(class_hash)));
  }
  refs_.add_ref(a->id, Holder::program());  // the handle's, released when it goes
  return handle_of(a->id);
}

void DriverRuntime::kill_actor(ObjectId actor, bool no_restart) {
  check_not_abandoned();
  MutexLock<Mutex> lock(mu_);
  if (state_ == State::kStopping || state_ == State::kStopped) {
    throw InvalidObjectRefError(
        "shoal: this ActorHandle belongs to a shoal session that was shut down; handles do not "
        "carry over from one init() to the next");
  }
  check_running();
  ActorRecord* a = actors_.find(actor);
  if (a == nullptr || a->state == ActorRecord::State::kDead) return;
  if (no_restart) {
    a->no_restart = true;
    actor_dies(*a,
               actor_error(*a, ActorDiedError::Cause::kKilled,
                           fmt::format("shoal: actor {} was killed by shoal::kill()", a->label)),
               /*kill_process=*/true);
  } else if (a->has_worker) {  // as if it crashed: restarted if it has restarts left
    end_actor_process(*a, "was killed by shoal::kill() (no_restart = false)", /*kill=*/true);
  }
  pump();
}

// A call registered by register_task() or on_submit(): it fails with the actor's death if the
// actor is dead; otherwise it runs with the actor's retry rule and no CPUs of its own.
std::shared_ptr<const ErrorInfo> DriverRuntime::prepare_actor_call(TaskSpec& spec) {
  const ActorRecord* a = actors_.find(spec.actor);
  if (a == nullptr) {
    return session_error(ErrorInfo::Kind::kShutdown,
                         "shoal: the actor this handle names is not known to the driver (its "
                         "handle comes from an earlier session)");
  }
  if (a->death) return a->death;
  spec.num_cpus = 0;
  spec.memory = 0;
  spec.max_retries = a->options.max_task_retries;
  spec.retry_exceptions = false;
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Life cycle

// Actors waiting for CPUs, in creation order: each takes its CPUs for its whole life and gets a
// process; the first that does not fit stops the others (first come, first served).
void DriverRuntime::start_waiting_actors() {
  for (ObjectId id : actors_.waiting_for_cpus()) {
    ActorRecord& a = *actors_.find(id);
    if (!scheduler_.reserve(a.options.num_cpus)) {
      warn_if_actors_hold_the_cpus(a);
      return;
    }
    a.holds_cpus = true;
    start_actor_process(a);
  }
}

// An actor that can only start once other actors end would wait in silence (as in Ray, which
// warns too): say so once.
void DriverRuntime::warn_if_actors_hold_the_cpus(ActorRecord& waiting) {
  if (waiting.warned_waiting) return;
  double held = 0;
  for (ObjectId id : actors_.all()) {
    const ActorRecord& other = *actors_.find(id);
    if (other.holds_cpus) held += other.options.num_cpus;
  }
  if (held + waiting.options.num_cpus <= static_cast<double>(num_workers_) + 1e-9) return;
  waiting.warned_waiting = true;
  SHOAL_LOG(kWarn,
            "actor {} waits for {} CPU(s): live actors hold {} of the session's {} for their whole "
            "lives; it starts when enough of them end. Give actors that mostly wait "
            "ActorOptions::num_cpus = 0 or a fraction",
            waiting.label, waiting.options.num_cpus, held, num_workers_);
}

void DriverRuntime::start_actor_process(ActorRecord& a) {
  actors_.set_state(a, ActorRecord::State::kStarting);
  a.started_at = std::chrono::steady_clock::now();
  try {
    actors_.bind(a, pool_->start_actor());
  } catch (const Error& e) {
    actor_dies(
        a,
        actor_error(a, ActorDiedError::Cause::kProcessDied,
                    fmt::format("shoal: actor {} could not be started: {}", a.label, e.what())),
        /*kill_process=*/false);
  }
}

void DriverRuntime::actor_worker_ready(ActorRecord& a, WorkerId worker) {
  a.pid = pool_->pid(worker);
  if (a.state == ActorRecord::State::kDead || a.state == ActorRecord::State::kStopping) {
    end_actor_process(a, "was stopped: its actor ended while it started", /*kill=*/false);
    return;
  }
  const ActorStart start{a.id, static_cast<std::uint32_t>(a.options.max_concurrency),
                         a.restarts > 0};
  send_to_worker(worker, [&](detail::ByteBuffer& out) { encode_actor_start(out, start); });
  scheduler_.actor_worker_up(a.id, worker);
}

// After every answered call of an actor: the constructor's answer makes it alive or dead; an
// actor without handles stops once idle.
void DriverRuntime::actor_call_done(const SchedTask& ran) {
  ActorRecord* a = actors_.find(ran.actor);
  if (a == nullptr || a->state == ActorRecord::State::kDead) return;
  if (ran.id == a->constructor_call) {
    const ObjectEntry* e = refs_.find(ran.id);  // held by the driver until now
    const bool failed = e == nullptr || e->state == ObjectState::kFailed;
    const std::shared_ptr<const ErrorInfo> error = e != nullptr ? e->error : nullptr;
    a->constructor_call = 0;
    refs_.release(ran.id, Holder::program());  // may free it: then no handle is left
    if (failed) {
      actor_constructor_failed(*a, error);
      return;
    }
    actors_.set_state(*a, ActorRecord::State::kAlive);
  }
  if (a->out_of_scope && scheduler_.actor_pending(a->id) == 0) stop_idle_actor(*a);
}

void DriverRuntime::actor_constructor_failed(ActorRecord& a,
                                             const std::shared_ptr<const ErrorInfo>& error) {
  auto death = constructor_failed_error(a.label, error.get(), a.pid);
  actor_dies(a, death, /*kill_process=*/false);
}

// Dead for good: every call it still has fails with `error`, and so will every later one; its
// CPUs, its name and its constructor's arguments are given back; its process (if any) is stopped.
void DriverRuntime::actor_dies(ActorRecord& a, std::shared_ptr<const ErrorInfo> error,
                               bool kill_process) {
  if (a.state == ActorRecord::State::kDead) return;
  if (a.restart_timer) {  // no restart any more
    a.restart_timer->cancel();
    a.restart_timer.reset();
  }
  a.death = std::move(error);
  actors_.set_state(a, ActorRecord::State::kDead);
  std::vector<SchedTask> calls = std::move(a.caught);
  a.caught.clear();
  for (const SchedTask& c : scheduler_.remove_actor(a.id)) calls.push_back(c);
  for (const SchedTask& c : calls) {
    tasks_.fail_task(c.id, a.death);
    tasks_.finish(c.id);
  }
  if (a.constructor_call != 0) refs_.release(a.constructor_call, Holder::program());  // ours
  a.constructor_call = 0;
  if (a.holds_cpus) {
    scheduler_.unreserve(a.options.num_cpus);
    a.holds_cpus = false;
  }
  actors_.forget_name(a);
  if (a.args_held) {
    a.args_held = false;
    for (ObjectId dep : a.constructor.deps) refs_.release(dep, Holder::task());
    for (ObjectId held : a.constructor.contained()) refs_.release(held, Holder::task());
  }
  if (a.has_worker) {
    end_actor_process(a,
                      kill_process ? "was killed by shoal::kill()"
                                   : "was stopped: its actor "
                                     "is dead",
                      kill_process);
  }
  actors_cv_.notify_all();
  // Last: it may free the object, and so (take_freed_actors(), next pump) the record.
  if (a.named_ref_held) {
    a.named_ref_held = false;
    refs_.release(a.id, Holder::program());
  }
}

// Ends the actor's process on the I/O thread, which owns the sockets: SIGKILL, or a stop that
// lets its destructor run (bounded by kActorStopTimeoutMs).
void DriverRuntime::end_actor_process(ActorRecord& a, const std::string& why, bool kill) {
  const WorkerId worker = a.worker;
  io_->post([this, worker, why, kill] {
    MutexLock<Mutex> lock(mu_);
    if (state_ != State::kRunning || !pool_) return;
    if (kill) {
      pool_->kill(worker, why);
    } else {
      pool_->stop_actor(worker, why, std::chrono::milliseconds(kActorStopTimeoutMs));
    }
    pump();
  });
}

void DriverRuntime::stop_idle_actor(ActorRecord& a) {
  if (a.state == ActorRecord::State::kStopping || a.state == ActorRecord::State::kDead) return;
  if (!a.has_worker) {  // never started: nothing to stop
    actor_dies(a,
               actor_error(a, ActorDiedError::Cause::kShutdown,
                           fmt::format("shoal: actor {} ended: its last handle is gone", a.label)),
               false);
    return;
  }
  actors_.set_state(a, ActorRecord::State::kStopping);
  end_actor_process(a, "was stopped: its last handle is gone", /*kill=*/false);
}

// The last handle of these actors is gone.
void DriverRuntime::actors_out_of_scope() {
  for (ObjectId id : refs_.take_freed_actors()) {
    ActorRecord* a = actors_.find(id);
    if (a == nullptr) continue;
    a->out_of_scope = true;
    if (a->state == ActorRecord::State::kDead) {
      if (!a->has_worker) {
        scheduler_.remove_actor(id);
        actors_.erase(id);
      }
      continue;
    }
    if (scheduler_.actor_pending(id) == 0) stop_idle_actor(*a);
  }
}

// The actor's socket closed: its calls in flight are kept until the helper says how it ended.
void DriverRuntime::actor_lost(ActorRecord& a) {
  std::vector<SchedTask> calls = scheduler_.actor_worker_down(a.id);
  a.caught.insert(a.caught.end(), calls.begin(), calls.end());
}

// The actor's process was reaped: it restarts (calls caught by the death run again while they
// have retries) or dies for good (every call fails saying how it ended).
void DriverRuntime::actor_exited(ActorRecord& a, pid_t pid, const ExitStatus& how) {
  actors_.unbind(a);
  a.pid = pid;
  actors_cv_.notify_all();
  if (a.state == ActorRecord::State::kDead) {
    if (a.out_of_scope) {
      scheduler_.remove_actor(a.id);
      actors_.erase(a.id);
    }
    return;
  }
  if (a.state == ActorRecord::State::kStopping) {  // ended as asked: handles gone, or shutdown
    actor_dies(a,
               actor_error(a, ActorDiedError::Cause::kShutdown,
                           fmt::format("shoal: actor {} was stopped ({})", a.label, how.text)),
               false);
    if (a.out_of_scope) {
      scheduler_.remove_actor(a.id);
      actors_.erase(a.id);
    }
    return;
  }
  const bool restart = !a.no_restart && state_ == State::kRunning &&
                       (a.options.max_restarts < 0 || a.restarts < a.options.max_restarts);
  auto died = actor_error(
      a, ActorDiedError::Cause::kProcessDied,
      fmt::format("shoal: the process (pid {}) of actor {} {}{}", pid, a.label, how.text,
                  restart ? ""
                          : fmt::format("; it had no restarts left (max_restarts = {})",
                                        a.options.max_restarts)));
  died->signal = how.signal;
  died->exit_code = how.exit_code;
  if (!restart) {
    SHOAL_LOG(kWarn, "{}", died->what);
    actor_dies(a, std::move(died), false);
    return;
  }
  ++a.restarts;
  SHOAL_LOG(kWarn, "the process (pid {}) of actor {} {}; restarting it (restart {})", pid, a.label,
            how.text, a.restarts);
  // Calls caught without retries left fail; the actor itself lives on.
  died->cause = static_cast<std::uint8_t>(ActorDiedError::Cause::kRestarting);
  died->what = fmt::format(
      "shoal: the process (pid {}) of actor {} {} while it ran or held this call; the actor is "
      "restarting, but the call had no retries left (ActorOptions::max_task_retries = {})",
      pid, a.label, how.text, a.options.max_task_retries);
  const std::shared_ptr<const ErrorInfo> shared = std::move(died);
  std::vector<SchedTask> again;
  std::vector<SchedTask> constructor;
  for (const SchedTask& c : a.caught) {
    if (c.id == a.constructor_call) {
      constructor.push_back(c);
    } else if (a.options.max_task_retries < 0 || c.attempts <= a.options.max_task_retries) {
      again.push_back(c);
    } else {
      tasks_.fail_task(c.id, shared);
      tasks_.finish(c.id);
    }
  }
  a.caught.clear();
  scheduler_.requeue_actor(again);
  if (!constructor.empty()) {
    scheduler_.requeue_actor(constructor);  // in front of the calls
  } else if (a.constructor_call == 0) {     // it had run: it runs again, first
    TaskSpec spec = copy_task_spec(a.constructor);
    spec.id = new_object_id();
    a.constructor_call = spec.id;
    // Its result is no handle's: the program reference is the driver's, dropped when the call is
    // answered, as for the first constructor call.
    tasks_.add(std::move(spec), nullptr, Holder::program(), /*front=*/true);
  }
  if (std::chrono::steady_clock::now() - a.started_at >= kQuickDeath) {
    a.quick_deaths = 0;
    start_actor_process(a);
    return;
  }
  const int doublings = std::min(a.quick_deaths++, 7);
  const auto delay =
      std::min<std::chrono::milliseconds>(kFirstRestartDelay * (1 << doublings), kMaxRestartDelay);
  actors_.set_state(a, ActorRecord::State::kStarting);  // no process until the timer fires
  auto timer = std::make_shared<boost::asio::steady_timer>(io_->context(), delay);
  a.restart_timer = timer;
  timer->async_wait([this, id = a.id](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the actor died, or shutdown()
    MutexLock<Mutex> lock(mu_);
    if (state_ != State::kRunning) return;
    ActorRecord* restarting = actors_.find(id);
    if (restarting != nullptr) restarting->restart_timer.reset();
    // Killed meanwhile (dead), or already restarted: nothing to do.
    if (restarting == nullptr || restarting->state != ActorRecord::State::kStarting ||
        restarting->has_worker) {
      return;
    }
    start_actor_process(*restarting);
    pump();
  });
}

// shutdown(), first step: every actor's process stops (its destructor runs), for at most
// kActorStopTimeoutMs, after which the pool kills what is left; then shutdown goes on.
void DriverRuntime::stop_all_actors() {
  UniqueLock<Mutex> lock(mu_);
  if (state_ != State::kRunning) return;
  for (ObjectId id : actors_.all()) {
    ActorRecord& a = *actors_.find(id);
    if (a.state == ActorRecord::State::kDead) continue;
    if (!a.has_worker) continue;  // shutdown() fails its calls
    actors_.set_state(a, ActorRecord::State::kStopping);
    end_actor_process(a, "was stopped by shutdown()", /*kill=*/false);
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(kActorStopTimeoutMs) + std::chrono::seconds(2);
  while (actors_.with_process() != 0 && state_ == State::kRunning &&
         actors_cv_.wait_until(lock, deadline) == std::cv_status::no_timeout) {
  }
}

// shutdown(): restarts waiting for their delay will not happen.
void DriverRuntime::cancel_actor_restarts() {
  for (ObjectId id : actors_.all()) {
    ActorRecord& a = *actors_.find(id);
    if (!a.restart_timer) continue;
    a.restart_timer->cancel();
    a.restart_timer.reset();
  }
}

}  // namespace shoal::internal
