// The scheduler's actor queues (src/core/scheduler_actors.cpp): calls go to their actor's worker
// in submission order, never overtake a call waiting for its arguments, are sent ahead up to the
// actor's window, come back in order when its worker dies, and hold no CPUs (the actor reserves
// its own).
#include <optional>
#include <vector>

#include <gtest/gtest.h>

#include "src/core/scheduler.hpp"

namespace shoal::internal {
namespace {

constexpr ObjectId kActor = 100;
constexpr WorkerId kWorker = 7;

SchedTask call(TaskId id, std::uint32_t deps_pending = 0) {
  SchedTask t;
  t.id = id;
  t.num_cpus = 0;
  t.deps_pending = deps_pending;
  t.actor = kActor;
  return t;
}

std::vector<TaskId> drain(Scheduler& s) {
  std::vector<TaskId> out;
  while (std::optional<Scheduler::Assignment> a = s.next()) {
    EXPECT_EQ(a->worker, kWorker);
    out.push_back(a->task);
  }
  return out;
}

TEST(SchedulerActors, CallsWaitForTheActorsWorkerThenGoInOrder) {
  Scheduler s(2, 1 << 20);
  s.add_actor(kActor, 64);
  s.add(call(1));
  s.add(call(2));
  EXPECT_FALSE(s.next().has_value());  // no worker yet
  s.actor_worker_up(kActor, kWorker);
  EXPECT_EQ(drain(s), (std::vector<TaskId>{1, 2}));
  EXPECT_EQ(s.actor_of(kWorker), kActor);
  EXPECT_EQ(s.running(kWorker), 1u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2.0);  // calls hold no CPUs
}

TEST(SchedulerActors, ACallWaitingForItsArgumentHoldsBackTheCallsBehindIt) {
  Scheduler s(2, 1 << 20);
  s.add_actor(kActor, 64);
  s.actor_worker_up(kActor, kWorker);
  s.add(call(1, /*deps_pending=*/1));
  s.add(call(2));
  EXPECT_TRUE(drain(s).empty());
  s.dependency_done(1);
  EXPECT_EQ(drain(s), (std::vector<TaskId>{1, 2}));
}

TEST(SchedulerActors, SendsAheadOnlyUpToTheWindow) {
  Scheduler s(2, 1 << 20);
  s.add_actor(kActor, 2);
  s.actor_worker_up(kActor, kWorker);
  for (TaskId id = 1; id <= 4; ++id) s.add(call(id));
  EXPECT_EQ(drain(s), (std::vector<TaskId>{1, 2}));
  ASSERT_TRUE(s.complete(kWorker, 1, 1000).has_value());
  EXPECT_EQ(drain(s), (std::vector<TaskId>{3}));
  EXPECT_EQ(s.actor_pending(kActor), 3u);
}

TEST(SchedulerActors, ConcurrentCallsMayFinishInAnyOrder) {
  Scheduler s(2, 1 << 20);
  s.add_actor(kActor, 4);
  s.actor_worker_up(kActor, kWorker);
  s.add(call(1));
  s.add(call(2));
  drain(s);
  EXPECT_TRUE(s.complete(kWorker, 2, 1000).has_value());
  EXPECT_TRUE(s.complete(kWorker, 1, 1000).has_value());
  EXPECT_FALSE(s.complete(kWorker, 1, 1000).has_value());  // not in flight any more
}

TEST(SchedulerActors, AWorkersDeathReturnsItsCallsInFlightInOrder) {
  Scheduler s(2, 1 << 20);
  s.add_actor(kActor, 2);
  s.actor_worker_up(kActor, kWorker);
  for (TaskId id = 1; id <= 3; ++id) s.add(call(id));
  drain(s);
  std::vector<SchedTask> caught = s.actor_worker_down(kActor);
  ASSERT_EQ(caught.size(), 2u);
  EXPECT_EQ(caught[0].id, 1u);
  EXPECT_EQ(caught[1].id, 2u);
  EXPECT_EQ(caught[0].attempts, 1);
  EXPECT_EQ(s.actor_of(kWorker), 0u);
  s.requeue_actor(caught);  // restarted: they go first again, before call 3
  s.actor_worker_up(kActor, kWorker + 1);
  std::vector<TaskId> order;
  while (std::optional<Scheduler::Assignment> a = s.next()) {
    order.push_back(a->task);
    s.complete(a->worker, a->task, 1000);
  }
  EXPECT_EQ(order, (std::vector<TaskId>{1, 2, 3}));
}

TEST(SchedulerActors, CancellingAQueuedCallLetsTheNextOneGo) {
  Scheduler s(2, 1 << 20);
  s.add_actor(kActor, 64);
  s.actor_worker_up(kActor, kWorker);
  s.add(call(1, 1));
  s.add(call(2));
  EXPECT_TRUE(s.remove_waiting(1).has_value());
  EXPECT_EQ(drain(s), (std::vector<TaskId>{2}));
  EXPECT_FALSE(s.remove_waiting(2).has_value());  // in flight
}

TEST(SchedulerActors, ReserveTakesCpusForTheActorsLife) {
  Scheduler s(2, 1 << 20);
  EXPECT_TRUE(s.reserve(1.5));
  EXPECT_FALSE(s.reserve(1));
  EXPECT_DOUBLE_EQ(s.cpus_available(), 0.5);
  s.unreserve(1.5);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2.0);
}

TEST(SchedulerActors, RemoveActorReturnsEveryCallItHad) {
  Scheduler s(2, 1 << 20);
  s.add_actor(kActor, 1);
  s.actor_worker_up(kActor, kWorker);
  for (TaskId id = 1; id <= 3; ++id) s.add(call(id));
  drain(s);
  EXPECT_EQ(s.remove_actor(kActor).size(), 3u);
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.actor_of(kWorker), 0u);
}

}  // namespace
}  // namespace shoal::internal
