// The Scheduler (src/core/scheduler.hpp): FIFO assignment, dependencies, CPU and memory
// accounting, pipelining depth learned from run times, what happens when a worker dies, and the
// stacks of tasks that start tasks (a blocked task gives back its CPUs, children run on top of it).
#include "src/core/scheduler.hpp"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace shoal::internal {
namespace {

constexpr std::uint64_t kMicrosecond = 1'000;  // ns
constexpr std::uint64_t kMillisecond = 1'000'000;
constexpr std::uint32_t kFast = 9;  // a function index the tests teach to take 1 us
constexpr std::uint64_t kMemory = 1ull << 30;

SchedTask make_task(std::uint64_t id, std::uint32_t function = 0, double cpus = 1,
                    std::uint64_t memory = 0, std::uint32_t deps_pending = 0) {
  SchedTask t;
  t.id = id;
  t.function_index = function;
  t.num_cpus = cpus;
  t.memory = memory;
  t.deps_pending = deps_pending;
  return t;
}

// Calls next() until it assigns nothing; returns what it assigned, in order.
std::vector<Scheduler::Assignment> drain(Scheduler& s) {
  std::vector<Scheduler::Assignment> out;
  while (std::optional<Scheduler::Assignment> a = s.next()) out.push_back(*a);
  return out;
}

// Teaches the scheduler that `function` takes `exec_ns`, by running one task of it on `slot`.
void learn(Scheduler& s, WorkerId slot, std::uint32_t function, std::uint64_t exec_ns,
           std::uint64_t id) {
  s.add(make_task(id, function));
  std::optional<Scheduler::Assignment> a = s.next();
  ASSERT_TRUE(a.has_value());
  ASSERT_EQ(a->worker, slot);
  ASSERT_TRUE(s.complete(slot, id, exec_ns).has_value());
}

TEST(Scheduler, AssignsNothingWithoutAWorkerUp) {
  Scheduler s(4, kMemory);
  s.add(make_task(1));
  EXPECT_FALSE(s.next().has_value());
  s.worker_up(1);
  const std::optional<Scheduler::Assignment> a = s.next();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->task, 1u);
  EXPECT_EQ(a->worker, 1);
}

TEST(Scheduler, AssignsReadyTasksInFifoOrderToIdleWorkers) {
  Scheduler s(3, kMemory);
  for (int slot = 0; slot < 3; ++slot) s.worker_up(slot);
  for (std::uint64_t id = 1; id <= 3; ++id) s.add(make_task(id, 0, 1));
  const std::vector<Scheduler::Assignment> got = drain(s);
  ASSERT_GE(got.size(), 3u);
  // Every idle worker gets a task before any is pipelined, in arrival order.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)].task, static_cast<std::uint64_t>(i + 1));
  }
  EXPECT_EQ(s.running(0) + s.running(1) + s.running(2), 1u + 2u + 3u);
  EXPECT_NE(got[0].worker, got[1].worker);
  EXPECT_NE(got[1].worker, got[2].worker);
  EXPECT_NE(got[0].worker, got[2].worker);
}

TEST(Scheduler, TaskWaitsForItsDependencies) {
  Scheduler s(4, kMemory);
  s.worker_up(0);
  s.add(make_task(1, 0, 1, 0, /*deps_pending=*/2));
  EXPECT_FALSE(s.next().has_value());
  s.dependency_done(1);
  EXPECT_FALSE(s.next().has_value());
  s.dependency_done(1);
  const std::optional<Scheduler::Assignment> a = s.next();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->task, 1u);
  // A stray extra notification must not queue the task a second time.
  s.dependency_done(1);
  EXPECT_FALSE(s.next().has_value());
  EXPECT_EQ(s.find(1)->deps_pending, 0u);
}

TEST(Scheduler, WaitingTaskDoesNotBlockLaterReadyTasks) {
  Scheduler s(4, kMemory);
  s.worker_up(0);
  s.worker_up(1);
  s.add(make_task(1, 0, 1, 0, /*deps_pending=*/1));
  s.add(make_task(2));
  const std::optional<Scheduler::Assignment> a = s.next();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->task, 2u);
  s.dependency_done(1);
  const std::optional<Scheduler::Assignment> b = s.next();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->task, 1u);
}

TEST(Scheduler, TaskHoldingAllCpusBlocksOthersUntilComplete) {
  Scheduler s(2, kMemory);
  for (int slot = 0; slot < 3; ++slot) s.worker_up(slot);
  learn(s, 0, /*function=*/5, 5 * kMillisecond, 100);  // long: never pipelined
  s.add(make_task(1, 5, /*cpus=*/2));
  s.add(make_task(2, 5, 1));
  s.add(make_task(3, 5, 1));
  const std::vector<Scheduler::Assignment> first = drain(s);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].task, 1u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 0);

  ASSERT_TRUE(s.complete(first[0].worker, 1, 5 * kMillisecond).has_value());
  const std::vector<Scheduler::Assignment> second = drain(s);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(second[0].task, 2u);
  EXPECT_EQ(second[1].task, 3u);
  EXPECT_NE(second[0].worker, second[1].worker);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 0);
}

TEST(Scheduler, MemoryBlocksATaskThatDoesNotFit) {
  Scheduler s(8, 1000);
  s.worker_up(0);
  s.worker_up(1);
  learn(s, 0, 5, 5 * kMillisecond, 100);
  s.add(make_task(1, 5, 1, 700));
  s.add(make_task(2, 5, 1, 400));
  ASSERT_EQ(drain(s).size(), 1u);
  EXPECT_EQ(s.memory_available(), 300u);
  EXPECT_EQ(s.running(1), 0u);
  ASSERT_TRUE(s.complete(0, 1, 5 * kMillisecond).has_value());
  const std::vector<Scheduler::Assignment> got = drain(s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task, 2u);
  EXPECT_EQ(s.memory_available(), 600u);
}

TEST(Scheduler, CpusAndMemoryTrackRunningTasksExactly) {
  Scheduler s(4, 1000);
  for (int slot = 0; slot < 4; ++slot) s.worker_up(slot);
  s.add(make_task(1, 0, 0.5, 100));
  s.add(make_task(2, 0, 1.5, 300));
  s.add(make_task(3, 0, 0.25, 0));
  std::optional<Scheduler::Assignment> a1 = s.next();
  ASSERT_TRUE(a1.has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3.5);
  EXPECT_EQ(s.memory_available(), 900u);
  std::optional<Scheduler::Assignment> a2 = s.next();
  ASSERT_TRUE(a2.has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2.0);
  EXPECT_EQ(s.memory_available(), 600u);
  std::optional<Scheduler::Assignment> a3 = s.next();
  ASSERT_TRUE(a3.has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 1.75);
  EXPECT_EQ(s.memory_available(), 600u);

  ASSERT_TRUE(s.complete(a2->worker, 2, 1000).has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3.25);
  EXPECT_EQ(s.memory_available(), 900u);
  ASSERT_TRUE(s.complete(a1->worker, 1, 1000).has_value());
  ASSERT_TRUE(s.complete(a3->worker, 3, 1000).has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4.0);
  EXPECT_EQ(s.memory_available(), 1000u);
  EXPECT_EQ(s.size(), 0u);
}

TEST(Scheduler, PipelinedTaskHoldsResourcesOnlyOnceItRuns) {
  Scheduler s(4, 1000);
  s.worker_up(0);
  learn(s, 0, kFast, kMicrosecond, 1000);
  s.add(make_task(1, kFast, 2, 500));
  s.add(make_task(2, kFast, 1, 100));
  ASSERT_EQ(drain(s).size(), 2u);  // the second one is queued behind the first
  EXPECT_EQ(s.running(0), 1u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2);
  EXPECT_EQ(s.memory_available(), 500u);
  EXPECT_EQ(s.find(2)->attempts, 0);

  ASSERT_TRUE(s.complete(0, 1, kMicrosecond).has_value());
  EXPECT_EQ(s.running(0), 2u);
  EXPECT_EQ(s.find(2)->attempts, 1);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3);
  EXPECT_EQ(s.memory_available(), 900u);
}

TEST(Scheduler, NothingIsQueuedBehindAnUnknownFunction) {
  Scheduler s(8, kMemory);
  s.worker_up(0);
  s.worker_up(1);
  for (std::uint64_t id = 1; id <= 10; ++id) s.add(make_task(id, /*function=*/3));
  const std::vector<Scheduler::Assignment> got = drain(s);
  ASSERT_EQ(got.size(), 2u);  // one per worker, none queued
  EXPECT_NE(got[0].worker, got[1].worker);
  ASSERT_TRUE(s.complete(got[0].worker, got[0].task, 5 * kMillisecond).has_value());
  // The freed worker takes one, and one more queues behind it (its length is known now and the
  // backlog covers both workers); still nothing behind the task of unknown length.
  const std::vector<Scheduler::Assignment> more = drain(s);
  ASSERT_EQ(more.size(), 2u);
  EXPECT_EQ(more[0].worker, got[0].worker);
  EXPECT_EQ(more[1].worker, got[0].worker);
}

TEST(Scheduler, UnknownFunctionMayQueueBehindShortWorkButNothingBehindIt) {
  Scheduler s(8, kMemory);
  s.worker_up(0);
  learn(s, 0, kFast, kMicrosecond, 1000);
  s.add(make_task(1, kFast));
  s.add(make_task(2, /*function=*/3));  // never measured
  s.add(make_task(3, kFast));
  const std::vector<Scheduler::Assignment> got = drain(s);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].task, 1u);
  EXPECT_EQ(got[1].task, 2u);
  // Once the unknown task runs, the fast one still may not wait behind it.
  ASSERT_TRUE(s.complete(0, 1, kMicrosecond).has_value());
  EXPECT_EQ(s.running(0), 2u);
  EXPECT_FALSE(s.next().has_value());
  ASSERT_TRUE(s.complete(0, 2, kMicrosecond).has_value());
  EXPECT_EQ(drain(s).size(), 1u);
}

TEST(Scheduler, SlowFunctionIsQueuedOneDeepWhileTheBacklogCoversEveryWorker) {
  Scheduler s(8, kMemory);
  s.worker_up(0);
  learn(s, 0, 3, 5 * kMillisecond, 100);
  for (std::uint64_t id = 1; id <= 5; ++id) s.add(make_task(id, 3));
  EXPECT_EQ(drain(s).size(), 2u);  // one running, one waiting right behind it
  ASSERT_TRUE(s.complete(0, 1, 5 * kMillisecond).has_value());
  EXPECT_EQ(s.running(0), 2u);
  EXPECT_EQ(drain(s).size(), 1u);  // refilled to one behind, never deeper
}

TEST(Scheduler, SlowFunctionIsNotQueuedWhenAWorkerMightFreeUpForIt) {
  Scheduler s(8, kMemory);
  s.worker_up(0);
  s.worker_up(1);
  learn(s, 0, 3, 5 * kMillisecond, 100);
  for (std::uint64_t id = 1; id <= 3; ++id) s.add(make_task(id, 3));
  // Two start; the third is the only task waiting, fewer than the workers: it waits for
  // whichever worker frees up first instead of being tied to one.
  EXPECT_EQ(drain(s).size(), 2u);
  EXPECT_EQ(s.running(0) != 0 && s.running(1) != 0, true);
}

TEST(Scheduler, FastTaskIsNotQueuedBehindASlowOne) {
  Scheduler s(8, kMemory);
  s.worker_up(0);
  s.worker_up(1);
  learn(s, 0, /*function=*/1, 5 * kMillisecond, 1000);
  learn(s, 0, kFast, kMicrosecond, 1001);
  s.add(make_task(1, 1));
  s.add(make_task(2, 1));
  s.add(make_task(3, kFast));
  EXPECT_EQ(drain(s).size(), 2u);  // both workers run a slow task; the fast one waits for either
  EXPECT_NE(s.running(0), 3u);
  EXPECT_NE(s.running(1), 3u);
}

TEST(Scheduler, FastFunctionIsPipelinedUpTo64Deep) {
  Scheduler s(8, kMemory);
  s.worker_up(0);
  learn(s, 0, kFast, kMicrosecond, 1000);
  for (std::uint64_t id = 1; id <= 100; ++id) s.add(make_task(id, kFast));
  EXPECT_EQ(drain(s).size(), 64u);
  ASSERT_TRUE(s.complete(0, 1, kMicrosecond).has_value());
  EXPECT_EQ(drain(s).size(), 1u);  // one left, one more in flight
}

TEST(Scheduler, PipelineDepthFollowsTheRunTime) {
  Scheduler s(8, kMemory);
  s.worker_up(0);
  learn(s, 0, 3, 100 * kMicrosecond, 1000);
  for (std::uint64_t id = 1; id <= 20; ++id) s.add(make_task(id, 3));
  // A task may wait behind at most 500 us of known work: five 100 us tasks, so six in flight.
  EXPECT_EQ(drain(s).size(), 6u);
  // The budget is given back as tasks finish.
  ASSERT_TRUE(s.complete(0, 1, 100 * kMicrosecond).has_value());
  EXPECT_EQ(drain(s).size(), 1u);
  ASSERT_TRUE(s.complete(0, 2, 100 * kMicrosecond).has_value());
  ASSERT_TRUE(s.complete(0, 3, 100 * kMicrosecond).has_value());
  EXPECT_EQ(drain(s).size(), 2u);
}

TEST(Scheduler, PipelinedTasksGoToTheShortestQueue) {
  Scheduler s(8, kMemory);
  s.worker_up(0);
  s.worker_up(1);
  learn(s, 0, 3, 100 * kMicrosecond, 1000);  // six in flight per worker
  for (std::uint64_t id = 1; id <= 12; ++id) s.add(make_task(id, 3));
  const std::vector<Scheduler::Assignment> got = drain(s);
  ASSERT_EQ(got.size(), 12u);
  int per_slot[2] = {0, 0};
  for (const Scheduler::Assignment& a : got) ++per_slot[a.worker];
  EXPECT_EQ(per_slot[0], 6);
  EXPECT_EQ(per_slot[1], 6);
}

TEST(Scheduler, NeverPipelinesATaskNeedingMoreCpusBehindOneNeedingFewer) {
  Scheduler s(4, kMemory);
  s.worker_up(0);
  learn(s, 0, kFast, kMicrosecond, 1000);
  s.add(make_task(1, kFast, 1));
  s.add(make_task(2, kFast, 2));
  ASSERT_EQ(drain(s).size(), 1u);
  EXPECT_EQ(s.running(0), 1u);
  // When task 1 ends, it must not start with 2 CPUs reserved for 1: it waits for next().
  ASSERT_TRUE(s.complete(0, 1, kMicrosecond).has_value());
  EXPECT_EQ(s.running(0), 0u);
  const std::optional<Scheduler::Assignment> a = s.next();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->task, 2u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2);
  // The other way round is fine: a smaller task may wait behind a bigger one.
  s.add(make_task(3, kFast, 1));
  EXPECT_EQ(drain(s).size(), 1u);
}

TEST(Scheduler, NeverPipelinesATaskNeedingMoreMemoryBehindOneNeedingLess) {
  Scheduler s(4, 1000);
  s.worker_up(0);
  learn(s, 0, kFast, kMicrosecond, 1000);
  s.add(make_task(1, kFast, 1, 10));
  s.add(make_task(2, kFast, 1, 20));
  EXPECT_EQ(drain(s).size(), 1u);
  ASSERT_TRUE(s.complete(0, 1, kMicrosecond).has_value());
  EXPECT_EQ(s.running(0), 0u);
  EXPECT_EQ(s.memory_available(), 1000u);
}

TEST(Scheduler, CompleteWithTheWrongIdChangesNothing) {
  Scheduler s(4, kMemory);
  s.worker_up(0);
  learn(s, 0, kFast, kMicrosecond, 1000);
  s.add(make_task(1, kFast, 1));
  s.add(make_task(2, kFast, 1));
  ASSERT_EQ(drain(s).size(), 2u);  // one worker up: 2 is queued behind 1 on slot 0
  ASSERT_EQ(s.running(0), 1u);

  EXPECT_FALSE(s.complete(0, 2, 1000).has_value());   // queued, not running
  EXPECT_FALSE(s.complete(0, 99, 1000).has_value());  // unknown
  EXPECT_FALSE(s.complete(1, 1, 1000).has_value());   // another slot
  EXPECT_FALSE(s.complete(7, 1, 1000).has_value());   // no such slot
  EXPECT_FALSE(s.complete(-1, 1, 1000).has_value());
  EXPECT_EQ(s.running(0), 1u);
  EXPECT_EQ(s.size(), 2u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3);

  std::optional<SchedTask> done = s.complete(0, 1, 1000);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->id, 1u);
  EXPECT_EQ(done->attempts, 1);
  EXPECT_EQ(s.find(1), nullptr);
  EXPECT_EQ(s.running(0), 2u);
}

TEST(Scheduler, WorkerDownReturnsTheRunningTaskAndRequeuesTheRestInOrder) {
  Scheduler s(8, kMemory);
  s.worker_up(0);
  learn(s, 0, 3, 100 * kMicrosecond, 1000);  // six in flight per worker
  for (std::uint64_t id = 1; id <= 8; ++id) s.add(make_task(id, 3));
  ASSERT_EQ(drain(s).size(), 6u);  // 1 runs, 2..6 queued on slot 0; 7, 8 ready
  ASSERT_DOUBLE_EQ(s.cpus_available(), 7);

  const std::vector<SchedTask> lost = s.worker_down(0);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0].id, 1u);
  EXPECT_EQ(lost[0].attempts, 1);
  EXPECT_EQ(s.find(1), nullptr);
  EXPECT_EQ(s.running(0), 0u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 8);
  EXPECT_EQ(s.size(), 7u);
  EXPECT_FALSE(s.next().has_value());  // the dead slot takes nothing

  s.worker_up(1);
  const std::vector<Scheduler::Assignment> got = drain(s);
  ASSERT_EQ(got.size(), 6u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].task, i + 2) << "position " << i;
    EXPECT_EQ(got[i].worker, 1);
  }
  EXPECT_EQ(s.find(2)->attempts, 1);  // the queued ones had never started

  // The dead slot's queue bookkeeping was reset: back up, it takes a full queue again.
  s.worker_up(0);
  for (std::uint64_t id = 9; id <= 20; ++id) s.add(make_task(id, 3));
  const std::vector<Scheduler::Assignment> refill = drain(s);
  int on_zero = 0;
  for (const Scheduler::Assignment& a : refill) on_zero += a.worker == 0 ? 1 : 0;
  EXPECT_EQ(on_zero, 6);
}

TEST(Scheduler, WorkerDownWhileIdleReturnsNothing) {
  Scheduler s(4, kMemory);
  s.worker_up(0);
  EXPECT_TRUE(s.worker_down(0).empty());
  s.add(make_task(1));
  EXPECT_FALSE(s.next().has_value());
}

// At the back: a task that keeps killing its worker must not starve the others.
TEST(Scheduler, RetryPutsTheTaskAtTheBackAndCountsAttempts) {
  Scheduler s(1, kMemory);
  s.worker_up(0);
  learn(s, 0, 3, 5 * kMillisecond, 1000);
  s.add(make_task(1, 3));
  s.add(make_task(2, 3));
  s.add(make_task(3, 3));
  ASSERT_EQ(drain(s).size(), 2u);  // 1 runs, 2 waits behind it
  std::vector<SchedTask> lost = s.worker_down(0);
  ASSERT_EQ(lost.size(), 1u);
  ASSERT_EQ(lost[0].id, 1u);
  s.retry(lost[0]);
  s.worker_up(0);

  std::vector<std::uint64_t> started;  // in the order the worker starts them
  while (started.size() < 3) {
    while (s.next()) {
    }
    const std::uint64_t head = s.running(0);
    ASSERT_NE(head, 0u);
    if (head == 1) {
      EXPECT_EQ(s.find(1)->attempts, 2);
    }
    started.push_back(head);
    ASSERT_TRUE(s.complete(0, head, 5 * kMillisecond).has_value());
  }
  EXPECT_EQ(started, (std::vector<std::uint64_t>{2, 3, 1}));
}

TEST(Scheduler, RemoveWaitingDropsATaskThatWillNotRun) {
  Scheduler s(4, kMemory);
  s.add(make_task(1, 0, 1, 0, /*deps_pending=*/1));
  s.add(make_task(2));  // ready, but no worker is up yet
  s.add(make_task(3));

  std::optional<SchedTask> waiting = s.remove_waiting(1);
  ASSERT_TRUE(waiting.has_value());
  EXPECT_EQ(waiting->id, 1u);
  std::optional<SchedTask> ready = s.remove_waiting(2);
  ASSERT_TRUE(ready.has_value());
  EXPECT_FALSE(s.remove_waiting(2).has_value());
  EXPECT_FALSE(s.remove_waiting(42).has_value());
  EXPECT_EQ(s.size(), 1u);

  s.dependency_done(1);  // late notification for a removed task: ignored
  s.worker_up(0);
  const std::vector<Scheduler::Assignment> got = drain(s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task, 3u);
}

TEST(Scheduler, ClearRemovesEveryTask) {
  Scheduler s(4, kMemory);
  s.worker_up(0);
  learn(s, 0, kFast, kMicrosecond, 1000);
  s.add(make_task(1, kFast));                            // runs
  s.add(make_task(2, kFast));                            // queued behind it
  s.add(make_task(3, kFast, /*cpus=*/2));                // ready: too big to queue
  s.add(make_task(4, kFast, 1, 0, /*deps_pending=*/1));  // waiting
  ASSERT_EQ(drain(s).size(), 2u);

  std::vector<std::uint64_t> ids;
  for (const SchedTask& t : s.clear()) ids.push_back(t.id);
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.cpus_available(), 4.0) << "clear() gives back what the running task held";
  EXPECT_EQ(s.running(0), 0u);
  EXPECT_EQ(s.find(3), nullptr);
  EXPECT_FALSE(s.next().has_value());
  EXPECT_FALSE(s.complete(0, 1, 1000).has_value());
  s.dependency_done(4);
  EXPECT_FALSE(s.next().has_value());
}

// ---- Tasks that start tasks: a task blocked in get() or wait() gives back its CPUs, and the
// children it waits for may run on top of it, on its worker (a stack).

// Runs task `id` on idle worker `worker` (it must be the next ready task and go there).
void run_on(Scheduler& s, WorkerId worker, std::uint64_t id) {
  const std::optional<Scheduler::Assignment> a = s.next();
  ASSERT_TRUE(a.has_value()) << "task " << id << " was not assigned";
  ASSERT_EQ(a->task, id);
  ASSERT_EQ(a->worker, worker);
}

TEST(SchedulerNested, BlockGivesBackTheTopTasksCpusAndUnblockTakesThemBack) {
  Scheduler s(4, 1000);
  s.worker_up(0);
  s.add(make_task(1, 0, 1.5, 100));
  run_on(s, 0, 1);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2.5);

  EXPECT_TRUE(s.block(0).empty());
  EXPECT_TRUE(s.find(1)->blocked);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4);
  EXPECT_EQ(s.memory_available(), 900u) << "a blocked task keeps its memory";
  EXPECT_EQ(s.running(0), 1u);
  EXPECT_EQ(s.busy_workers(), 1);

  // Blocking twice gives back nothing more.
  EXPECT_TRUE(s.block(0).empty());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4);

  s.unblock(0, 1);
  EXPECT_FALSE(s.find(1)->blocked);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2.5);
  s.unblock(0, 1);  // not blocked any more: nothing taken twice
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2.5);

  ASSERT_TRUE(s.complete(0, 1, 1000).has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4);
  EXPECT_EQ(s.memory_available(), 1000u);
}

TEST(SchedulerNested, BlockOfAnIdleOrUnknownWorkerAndStrayUnblocksChangeNothing) {
  Scheduler s(2, kMemory);
  s.worker_up(0);
  EXPECT_TRUE(s.block(0).empty());  // idle
  EXPECT_TRUE(s.block(7).empty());  // unknown
  s.add(make_task(1));
  run_on(s, 0, 1);
  s.unblock(0, 1);   // running, not blocked
  s.unblock(0, 99);  // unknown task
  s.unblock(7, 1);   // unknown worker
  EXPECT_DOUBLE_EQ(s.cpus_available(), 1);
  EXPECT_FALSE(s.find(1)->blocked);
}

TEST(SchedulerNested, UnblockMayTakeTheCpusBelowZero) {
  Scheduler s(2, kMemory);
  s.worker_up(0);
  s.worker_up(1);
  s.add(make_task(1, 0, 2));
  run_on(s, 0, 1);
  s.block(0);
  s.add(make_task(2, 0, 2));  // takes the CPUs task 1 gave back
  run_on(s, 1, 2);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 0);

  s.unblock(0, 1);  // resumes at once, as in Ray: the node is oversubscribed for a while
  EXPECT_DOUBLE_EQ(s.cpus_available(), -2);
  s.add(make_task(3, 0, 0.5));
  s.worker_up(2);
  EXPECT_FALSE(s.next().has_value()) << "a task started on an oversubscribed node";
  EXPECT_FALSE(s.ready_task_fits());

  ASSERT_TRUE(s.complete(1, 2, 1000).has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 0);
  ASSERT_TRUE(s.complete(0, 1, 1000).has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2);
  run_on(s, 0, 3);
}

TEST(SchedulerNested, BlockRevokesTheQueuedTasksInOrderAndTheyAreAssignedFirst) {
  Scheduler s(4, kMemory);
  s.worker_up(0);
  learn(s, 0, kFast, kMicrosecond, 1000);
  for (std::uint64_t id = 1; id <= 4; ++id) s.add(make_task(id, kFast));
  ASSERT_EQ(drain(s).size(), 4u);  // 1 runs on worker 0, 2..4 queued behind it
  s.add(make_task(5, kFast));      // arrives later: ready, no worker can take it yet
  s.add(make_task(6, kFast));
  for (std::uint64_t id = 2; id <= 4; ++id) EXPECT_TRUE(s.find(id)->assigned);

  EXPECT_EQ(s.block(0), (std::vector<std::uint64_t>{2, 3, 4}));
  for (std::uint64_t id = 2; id <= 4; ++id) {
    EXPECT_FALSE(s.find(id)->assigned) << id;
    EXPECT_EQ(s.find(id)->attempts, 0) << id << " had not started";
  }
  EXPECT_EQ(s.running(0), 1u);
  EXPECT_EQ(s.stack_depth(0), 1u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4);
  EXPECT_FALSE(s.next().has_value()) << "the blocked worker took a task";

  // Another worker takes them before the tasks that were ready already, in their order.
  s.worker_up(1);
  const std::vector<Scheduler::Assignment> got = drain(s);
  ASSERT_EQ(got.size(), 5u);
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].task, i + 2) << "position " << i;
    EXPECT_EQ(got[i].worker, 1) << "position " << i;
  }
  EXPECT_EQ(s.running(1), 2u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3);
}

TEST(SchedulerNested, BlockedWorkerTakesNoPipelinedOrNewTask) {
  Scheduler s(4, kMemory);
  s.worker_up(0);
  learn(s, 0, kFast, kMicrosecond, 1000);
  s.add(make_task(1, kFast));
  run_on(s, 0, 1);
  s.block(0);
  s.add(make_task(2, kFast));
  s.add(make_task(3, kFast));
  // CPUs are free and the work ahead is short and known, but it waits for other tasks.
  EXPECT_FALSE(s.next().has_value());
  EXPECT_TRUE(s.ready_task_fits());

  // A child on top of it: still nothing queued behind the stack.
  ASSERT_TRUE(s.assign_nested(0, 2).has_value());
  EXPECT_FALSE(s.next().has_value());
  // Even with no task of the stack blocked, nested tasks keep the queue closed.
  s.unblock(0, 1);
  EXPECT_FALSE(s.next().has_value());
  EXPECT_EQ(s.stack_depth(0), 2u);

  ASSERT_TRUE(s.complete(0, 2, kMicrosecond).has_value());
  EXPECT_EQ(s.stack_depth(0), 1u);
  const std::optional<Scheduler::Assignment> a = s.next();  // plain pipelining again
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->task, 3u);
  EXPECT_EQ(a->worker, 0);
  EXPECT_EQ(s.running(0), 1u);
}

// The revoked tasks' share of the pipeline budget goes back with them.
TEST(SchedulerNested, RevokedTasksGiveBackTheirShareOfThePipeline) {
  Scheduler s(8, kMemory);
  s.worker_up(0);
  learn(s, 0, 3, 100 * kMicrosecond, 1000);
  for (std::uint64_t id = 1; id <= 20; ++id) s.add(make_task(id, 3));
  ASSERT_EQ(drain(s).size(), 6u);  // 500 us of known work behind a task: six in flight
  EXPECT_EQ(s.block(0).size(), 5u);
  s.unblock(0, 1);
  EXPECT_EQ(drain(s).size(), 5u) << "the worker's queue did not forget the revoked tasks";
}

TEST(SchedulerNested, RevokedTaskOfUnknownLengthNoLongerClosesTheQueue) {
  Scheduler s(8, kMemory);
  s.worker_up(0);
  learn(s, 0, kFast, kMicrosecond, 1000);
  s.add(make_task(1, kFast));
  s.add(make_task(2, /*function=*/3));  // never measured: nothing may queue behind it
  ASSERT_EQ(drain(s).size(), 2u);
  EXPECT_EQ(s.block(0), (std::vector<std::uint64_t>{2}));
  s.unblock(0, 1);
  s.remove_waiting(2);  // say its dependency failed
  s.add(make_task(3, kFast));
  const std::optional<Scheduler::Assignment> a = s.next();
  ASSERT_TRUE(a.has_value()) << "the revoked unknown task still counts on worker 0";
  EXPECT_EQ(a->task, 3u);
  EXPECT_EQ(a->worker, 0);
}

TEST(SchedulerNested, AssignNestedRunsOnlyAReadyTaskOnABlockedTop) {
  Scheduler s(4, kMemory);
  s.worker_up(0);
  s.worker_up(1);
  s.add(make_task(1));
  run_on(s, 0, 1);
  s.add(make_task(2));
  run_on(s, 1, 2);  // worker 1 has it
  s.add(make_task(3, 0, 1, 0, /*deps_pending=*/1));
  s.add(make_task(4));

  EXPECT_FALSE(s.assign_nested(0, 4).has_value()) << "its top is not blocked";
  s.block(0);
  EXPECT_FALSE(s.assign_nested(0, 3).has_value()) << "waits for its arguments";
  EXPECT_FALSE(s.assign_nested(0, 2).has_value()) << "another worker has it";
  EXPECT_FALSE(s.assign_nested(0, 99).has_value()) << "unknown";
  EXPECT_FALSE(s.assign_nested(7, 4).has_value()) << "unknown worker";
  EXPECT_FALSE(s.assign_nested(1, 4).has_value()) << "worker 1's top is not blocked";
  s.worker_up(2);
  EXPECT_FALSE(s.assign_nested(2, 4).has_value()) << "worker 2 runs nothing";
  EXPECT_EQ(s.stack_depth(0), 1u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3);

  const std::optional<Scheduler::Assignment> a = s.assign_nested(0, 4);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->task, 4u);
  EXPECT_EQ(a->worker, 0);
  EXPECT_EQ(a->node, kLocalNode);
  EXPECT_TRUE(s.find(4)->assigned);
  EXPECT_EQ(s.find(4)->attempts, 1);
  EXPECT_EQ(s.running(0), 4u);
  EXPECT_EQ(s.stack_depth(0), 2u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2);
  EXPECT_FALSE(s.assign_nested(0, 4).has_value()) << "assigned twice";
  EXPECT_FALSE(s.next().has_value()) << "task 4 is still in the ready queue";

  // Task 3's argument arrives: ready now, but the top of worker 0 (task 4) is not blocked.
  s.dependency_done(3);
  EXPECT_FALSE(s.assign_nested(0, 3).has_value());
  run_on(s, 2, 3);
}

TEST(SchedulerNested, AssignNestedNeedsItsCpusAndMemoryFree) {
  Scheduler s(3, 1000);
  s.worker_up(0);
  s.worker_up(1);
  s.add(make_task(1, 0, 2, 600));
  run_on(s, 0, 1);
  s.add(make_task(9, 0, 1, 0));
  run_on(s, 1, 9);
  s.block(0);  // 2 CPUs back; its 600 bytes stay held
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2);
  EXPECT_EQ(s.memory_available(), 400u);
  s.add(make_task(2, 0, 2.5, 0));
  s.add(make_task(3, 0, 1, 500));
  s.add(make_task(4, 0, 2, 400));
  EXPECT_FALSE(s.assign_nested(0, 2).has_value()) << "more CPUs than are free";
  EXPECT_FALSE(s.assign_nested(0, 3).has_value()) << "more memory than is free";
  ASSERT_TRUE(s.assign_nested(0, 4).has_value()) << "exactly what is free";
  EXPECT_DOUBLE_EQ(s.cpus_available(), 0);
  EXPECT_EQ(s.memory_available(), 0u);
  EXPECT_EQ(s.running(0), 4u);

  // The refused ones are still ready, in their order, for whoever frees up.
  ASSERT_TRUE(s.complete(0, 4, 1000).has_value());
  s.unblock(0, 1);
  ASSERT_TRUE(s.complete(0, 1, 1000).has_value());
  ASSERT_TRUE(s.complete(1, 9, 1000).has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3);
  EXPECT_EQ(s.memory_available(), 1000u);
  const std::vector<Scheduler::Assignment> got = drain(s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].task, 2u);
  EXPECT_NE(s.find(3), nullptr);
}

TEST(SchedulerNested, StackRunsTopFirstAndCompleteRefusesAnythingButTheTop) {
  Scheduler s(4, 1000);
  s.worker_up(0);
  s.add(make_task(1, 0, 1, 100));
  s.add(make_task(2, 0, 1, 100));
  s.add(make_task(3, 0, 1, 100));
  run_on(s, 0, 1);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3);
  s.block(0);
  ASSERT_TRUE(s.assign_nested(0, 2).has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3);
  EXPECT_TRUE(s.block(0).empty());  // task 2 blocks in its turn
  EXPECT_TRUE(s.find(2)->blocked);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4);
  ASSERT_TRUE(s.assign_nested(0, 3).has_value());
  EXPECT_EQ(s.stack_depth(0), 3u);
  EXPECT_EQ(s.running(0), 3u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3);
  EXPECT_EQ(s.memory_available(), 700u);

  // Replies come in stack order: only the top may complete.
  EXPECT_FALSE(s.complete(0, 1, 1000).has_value());
  EXPECT_FALSE(s.complete(0, 2, 1000).has_value());
  EXPECT_EQ(s.stack_depth(0), 3u);
  EXPECT_NE(s.find(1), nullptr);
  EXPECT_NE(s.find(2), nullptr);

  std::optional<SchedTask> done = s.complete(0, 3, 1000);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->id, 3u);
  EXPECT_EQ(s.find(3), nullptr);
  EXPECT_EQ(s.running(0), 2u);
  EXPECT_EQ(s.stack_depth(0), 2u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4);
  EXPECT_EQ(s.memory_available(), 800u);

  s.unblock(0, 2);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3);
  EXPECT_FALSE(s.complete(0, 1, 1000).has_value());
  ASSERT_TRUE(s.complete(0, 2, 1000).has_value());
  EXPECT_EQ(s.running(0), 1u);
  EXPECT_EQ(s.stack_depth(0), 1u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4);  // task 1 is still blocked

  s.unblock(0, 1);
  ASSERT_TRUE(s.complete(0, 1, 1000).has_value());
  EXPECT_EQ(s.stack_depth(0), 0u);
  EXPECT_EQ(s.running(0), 0u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4);
  EXPECT_EQ(s.memory_available(), 1000u);
  EXPECT_EQ(s.size(), 0u);
}

TEST(SchedulerNested, WorkerDownReturnsTheWholeStackBottomFirstAndEveryResource) {
  Scheduler s(4, 1000);
  s.worker_up(0);
  s.worker_up(1);
  s.add(make_task(1, 0, 1, 100));
  s.add(make_task(2, 0, 0.5, 200));
  s.add(make_task(3, 0, 0.25, 300));
  s.add(make_task(4, 0, 1, 50));  // on worker 1: untouched
  run_on(s, 0, 1);
  s.block(0);
  ASSERT_TRUE(s.assign_nested(0, 2).has_value());
  s.block(0);
  ASSERT_TRUE(s.assign_nested(0, 3).has_value());  // running, not blocked
  run_on(s, 1, 4);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4 - 0.25 - 1);
  EXPECT_EQ(s.memory_available(), 1000u - 650u);

  const std::vector<SchedTask> lost = s.worker_down(0);
  ASSERT_EQ(lost.size(), 3u);
  for (std::size_t i = 0; i < lost.size(); ++i) {
    EXPECT_EQ(lost[i].id, i + 1) << "position " << i;
    EXPECT_EQ(lost[i].attempts, 1) << "position " << i;
    EXPECT_FALSE(lost[i].blocked) << "position " << i;
    EXPECT_FALSE(lost[i].assigned) << "position " << i;
    EXPECT_EQ(s.find(lost[i].id), nullptr) << "position " << i;
  }
  // The two blocked tasks had given their CPUs back already: nothing is counted twice.
  EXPECT_DOUBLE_EQ(s.cpus_available(), 3);
  EXPECT_EQ(s.memory_available(), 950u);
  EXPECT_EQ(s.stack_depth(0), 0u);
  EXPECT_EQ(s.size(), 1u);
  ASSERT_TRUE(s.complete(1, 4, 1000).has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4);
  EXPECT_EQ(s.memory_available(), 1000u);
}

TEST(SchedulerNested, WorkerDownOfABlockedWorkerGivesItsCpusBackOnce) {
  Scheduler s(2, kMemory);
  s.worker_up(0);
  s.add(make_task(1, 0, 2));
  run_on(s, 0, 1);
  s.block(0);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2);
  const std::vector<SchedTask> lost = s.worker_down(0);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2);
}

TEST(SchedulerNested, ClearGivesBackExactlyWhatANestedStackHeld) {
  Scheduler s(4, 1000);
  s.worker_up(0);
  s.add(make_task(1, 0, 1, 100));
  s.add(make_task(2, 0, 1, 100));
  run_on(s, 0, 1);
  s.block(0);
  ASSERT_TRUE(s.assign_nested(0, 2).has_value());
  EXPECT_EQ(s.clear().size(), 2u);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 4);
  EXPECT_EQ(s.memory_available(), 1000u);
  EXPECT_EQ(s.stack_depth(0), 0u);
  // The worker is usable again, pipelining included.
  s.add(make_task(3));
  run_on(s, 0, 3);
}

TEST(SchedulerNested, RetriedTaskThatHadBlockedRunsAgainHoldingItsCpus) {
  Scheduler s(2, kMemory);
  s.worker_up(0);
  s.add(make_task(1, 0, 1));
  run_on(s, 0, 1);
  s.block(0);
  std::vector<SchedTask> lost = s.worker_down(0);
  ASSERT_EQ(lost.size(), 1u);
  s.retry(lost[0]);
  EXPECT_FALSE(s.find(1)->blocked);
  EXPECT_FALSE(s.find(1)->assigned);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2);

  s.worker_up(1);
  run_on(s, 1, 1);
  EXPECT_EQ(s.find(1)->attempts, 2);
  EXPECT_TRUE(s.find(1)->assigned);
  EXPECT_DOUBLE_EQ(s.cpus_available(), 1);
  // It may block again, and gives back its CPUs once.
  EXPECT_TRUE(s.block(1).empty());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2);
  s.unblock(1, 1);
  ASSERT_TRUE(s.complete(1, 1, 1000).has_value());
  EXPECT_DOUBLE_EQ(s.cpus_available(), 2);
}

TEST(SchedulerNested, ReadyTaskFitsLooksAtTheNextReadyTask) {
  Scheduler s(2, 1000);
  EXPECT_FALSE(s.ready_task_fits()) << "nothing ready";
  s.add(make_task(1, 0, 1, 0, /*deps_pending=*/1));
  EXPECT_FALSE(s.ready_task_fits()) << "a waiting task is not ready";
  s.add(make_task(2, 0, 2, 500));
  EXPECT_TRUE(s.ready_task_fits()) << "fits, with no worker up yet";
  s.worker_up(0);
  run_on(s, 0, 2);
  s.add(make_task(3, 0, 1, 100));
  EXPECT_FALSE(s.ready_task_fits()) << "no CPU free";
  s.block(0);
  EXPECT_TRUE(s.ready_task_fits()) << "the blocked task's CPUs are free";
  s.add(make_task(4, 0, 2, 100));
  ASSERT_TRUE(s.assign_nested(0, 4).has_value());
  EXPECT_FALSE(s.ready_task_fits()) << "task 3 needs a CPU task 4 took";
  ASSERT_TRUE(s.complete(0, 4, 1000).has_value());
  EXPECT_TRUE(s.ready_task_fits());
  // Memory counts too; and only the head of the ready queue is looked at.
  s.remove_waiting(3);
  s.add(make_task(5, 0, 1, 600));
  s.add(make_task(6, 0, 1, 1));
  EXPECT_FALSE(s.ready_task_fits()) << "500 bytes are free, task 5 needs 600";
}

TEST(SchedulerNested, RemoveWaitingRefusesATaskAWorkerHas) {
  Scheduler s(4, kMemory);
  s.worker_up(0);
  learn(s, 0, kFast, kMicrosecond, 1000);
  s.add(make_task(1, kFast));
  s.add(make_task(2, kFast));
  ASSERT_EQ(drain(s).size(), 2u);  // 1 runs, 2 is queued behind it
  EXPECT_FALSE(s.remove_waiting(1).has_value()) << "running";
  EXPECT_FALSE(s.remove_waiting(2).has_value()) << "queued on the worker";
  EXPECT_NE(s.find(1), nullptr);
  EXPECT_NE(s.find(2), nullptr);

  s.block(0);  // 2 comes back to the ready queue: it may be removed now
  s.add(make_task(3, kFast));
  ASSERT_TRUE(s.assign_nested(0, 3).has_value());
  EXPECT_FALSE(s.remove_waiting(3).has_value()) << "nested on the worker";
  EXPECT_FALSE(s.remove_waiting(1).has_value()) << "blocked";
  const std::optional<SchedTask> removed = s.remove_waiting(2);
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->id, 2u);
  EXPECT_EQ(s.find(2), nullptr);
  EXPECT_EQ(s.stack_depth(0), 2u);
  EXPECT_EQ(s.size(), 2u);
}

}  // namespace
}  // namespace shoal::internal
