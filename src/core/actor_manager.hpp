// The driver's table of actors (Ray's GCS actor manager, on the driver): each actor's options,
// state, worker, restarts, name, and the constructor call kept to restart it. Pure bookkeeping:
// the runtime (driver_actors.cpp) decides, starts and stops processes, and sends messages.
//
//   waiting for CPUs --reserved--> starting --constructor returned--> alive
//        (a new process, the constructor first in its queue)           |
//   alive/starting --process died, restarts left--> starting (a fresh process, same constructor)
//   any --constructor threw / died without restarts / kill()--> dead (calls fail: `death`)
//   alive, no handle left and no call pending --> stopping (its destructor runs) --> dead
//
// A dead actor's record stays while handles to it exist, so that their calls fail with its death;
// it goes when the last handle does.
//
// Thread safety: none. The runtime calls it with its lock held.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <sys/types.h>

#include <shoal/actor.hpp>

#include "src/common/error_info.hpp"
#include "src/common/ids.hpp"
#include "src/common/task_spec.hpp"
#include "src/core/scheduler.hpp"

namespace shoal::internal {

struct ActorRecord {
  enum class State { kWaitingForCpus, kStarting, kAlive, kStopping, kDead };
  ObjectId id = 0;    // the object its handles hold
  std::string label;  // "Counter" or "Counter 'totals'", for messages
  std::uint64_t class_hash = 0;
  ActorOptions options;
  TaskSpec constructor;  // the first constructor call, kept to run again on a restart
  State state = State::kWaitingForCpus;
  WorkerId worker = 0;          // its process now (0: none)
  bool has_worker = false;      // worker is set (ids start at 0)
  pid_t pid = 0;                // its last process's pid
  int restarts = 0;             // fresh processes started after deaths
  bool holds_cpus = false;      // options.num_cpus reserved in the scheduler
  bool out_of_scope = false;    // every handle is gone
  bool no_restart = false;      // kill(): its death is final
  bool args_held = false;       // its constructor's arguments are held (for restarts)
  bool named_ref_held = false;  // named: the driver holds a reference to its handle's object
  bool warned_waiting = false;  // it was told it waits for CPUs other actors hold
  std::chrono::steady_clock::time_point started_at;  // its current process's start
  int quick_deaths = 0;  // its processes in a row that died soon after they started
  // The delayed restart's timer (on the I/O thread's context), while one is pending: cancelled
  // when the actor dies and at shutdown(), which would otherwise wait for it.
  std::shared_ptr<boost::asio::steady_timer> restart_timer;
  // The constructor call running or queued now (0: none); the driver holds a reference to its
  // object until it is answered.
  TaskId constructor_call = 0;
  std::vector<SchedTask> caught;           // calls in flight when its process died (until Exited)
  std::shared_ptr<const ErrorInfo> death;  // set once it is dead for good
};

class ActorManager {
 public:
  /// Adds an actor (its id, label, options and constructor set). Returns it.
  ActorRecord& add(ActorRecord record);
  ActorRecord* find(ObjectId actor) noexcept;
  /// The actor whose current process is `worker`, or null.
  ActorRecord* of_worker(WorkerId worker) noexcept;
  /// The live actor named `name`, or null.
  ActorRecord* named(const std::string& name) noexcept;
  /// `worker` is the actor's process from now on.
  void bind(ActorRecord& actor, WorkerId worker);
  /// The actor has no process any more.
  void unbind(ActorRecord& actor);
  /// Its name is free again (it died for good).
  void forget_name(ActorRecord& actor);
  /// Forgets the actor (it is dead and no handle is left).
  void erase(ObjectId actor);
  /// Actors waiting for CPUs, in creation order.
  std::vector<ObjectId> waiting_for_cpus() const;
  /// Every actor, in creation order.
  std::vector<ObjectId> all() const;
  /// Actors whose process runs or starts (bound to a worker).
  std::size_t with_process() const noexcept { return by_worker_.size(); }
  std::size_t size() const noexcept { return actors_.size(); }
  /// True if some actor waits for CPUs (checked on every pump: O(1)).
  bool any_waiting() const noexcept { return waiting_ > 0; }
  /// Call when an actor leaves kWaitingForCpus.
  void set_state(ActorRecord& actor, ActorRecord::State state);
  /// Calls f(record) for every actor, oldest first.
  template <class F>
  void for_each(F&& f) const {
    for (const auto& [id, record] : actors_) f(record);
  }

 private:
  std::map<ObjectId, ActorRecord> actors_;  // ids grow: creation order
  std::unordered_map<WorkerId, ObjectId> by_worker_;
  std::unordered_map<std::string, ObjectId> names_;
  int waiting_ = 0;  // actors in kWaitingForCpus
};

/// Throws InvalidConfigError naming the field if `options` is out of range for a session of
/// `cpus` CPUs.
void check_actor_options(const ActorOptions& options, double cpus);

/// The error of an actor that cannot run calls (ActorDiedError): actor `label`, `cause`, the
/// whole message, its last process's pid.
std::shared_ptr<ErrorInfo> actor_died_error(const std::string& label, ActorDiedError::Cause cause,
                                            std::string what, std::int64_t pid);
/// The error of actor `label` whose constructor call failed with `error` (null: it never ran).
std::shared_ptr<ErrorInfo> constructor_failed_error(const std::string& label,
                                                    const ErrorInfo* error, std::int64_t pid);

/// "Counter" or "Counter 'totals'".
std::string actor_label(const std::string& class_name, const std::string& name);

}  // namespace shoal::internal
