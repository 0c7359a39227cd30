// The TaskManager (src/core/task_manager.hpp) over a real ReferenceTable and a real Scheduler: the
// checks on a call (make_spec), what registering a task holds, failure propagation, retries after a
// worker's death, failing everything at shutdown, and the tasks a worker's tasks submit (held by
// that worker; dropped when it dies and nobody else holds them).
#include "src/core/task_manager.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <typeinfo>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include "src/common/function_registry.hpp"

namespace {

// Remote functions for these tests only: make_spec looks them up in the process's registry.
int tm_square(int x) { return x * x; }
double tm_half(double x) { return x / 2; }
int tm_unregistered(int x) { return x + 1; }

}  // namespace

SHOAL_REMOTE(tm_square, tm_half);

namespace shoal::internal {
namespace {

using detail::ByteBuffer;
using detail::Format;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr double kCpus = 4;
constexpr std::uint64_t kMemory = 1ull << 30;
constexpr std::uint64_t kTypeHash = 0x7a7a;

detail::AnyFn any(int (*f)(int)) { return reinterpret_cast<detail::AnyFn>(f); }
const char* signature_of_int_fn() { return typeid(int(int)).name(); }

std::uint32_t index_of(int (*f)(int)) {
  const std::optional<std::uint32_t> i = FunctionRegistry::instance().index_of(any(f));
  EXPECT_TRUE(i.has_value());
  return i.value_or(0);
}

// Limits under which every registered function is known to the workers.
// The bottom of a dead worker's stack (the only task, without nested ones).
std::optional<SchedTask> first(const std::vector<SchedTask>& lost) {
  if (lost.empty()) return std::nullopt;
  return lost.front();
}

TaskLimits limits() {
  TaskLimits l;
  l.cpus = kCpus;
  l.memory = kMemory;
  l.default_max_retries = 2;
  l.known_functions = FunctionRegistry::instance().size();
  l.functions_from_fresh_start = false;
  return l;
}

std::shared_ptr<const ErrorInfo> task_error(const std::string& what) {
  auto e = std::make_shared<ErrorInfo>();
  e->kind = ErrorInfo::Kind::kTaskError;
  e->type_name = "std::runtime_error";
  e->what = what;
  e->function = "tm_square";
  return e;
}

// The store's side: records which blocks the table gives back.
struct RecordingFreer final : BlockFreer {
  void free_block(std::uint64_t offset) noexcept override { freed.push_back(offset); }
  std::vector<std::uint64_t> freed;
};

// The message of the exception `call` throws, which must be an E.
template <class E, class Call>
std::string message_of(Call&& call) {
  try {
    call();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception of the expected type";
  return {};
}

// ---- make_spec

TEST(TaskManagerSpec, UnregisteredFunctionIsRefusedWithHowToRegisterIt) {
  try {
    TaskManager::make_spec(any(tm_unregistered), signature_of_int_fn(), TaskOptions{}, limits());
    FAIL() << "an unregistered function was accepted";
  } catch (const FunctionNotRegisteredError& e) {
    EXPECT_THAT(e.what(), HasSubstr("is not a remote function"));
    EXPECT_THAT(e.what(), HasSubstr("SHOAL_REMOTE"));
    EXPECT_THAT(e.what(), HasSubstr("int (int)"));  // its type, demangled
    EXPECT_FALSE(e.function_name().empty());
  }
}

TEST(TaskManagerSpec, FunctionRegisteredAfterTheWorkersStartedIsRefused) {
  TaskLimits l = limits();
  l.known_functions = index_of(tm_square);  // the workers know the functions before it only
  try {
    TaskManager::make_spec(any(tm_square), signature_of_int_fn(), TaskOptions{}, l);
    FAIL() << "a function the workers do not have was accepted";
  } catch (const FunctionNotRegisteredError& e) {
    EXPECT_EQ(e.function_name(), "tm_square");
    EXPECT_THAT(e.what(), HasSubstr("tm_square was registered after init()"));
  }

  l.functions_from_fresh_start = true;  // forkserver: the workers know what main() had
  try {
    TaskManager::make_spec(any(tm_square), signature_of_int_fn(), TaskOptions{}, l);
    FAIL() << "a function the workers do not have was accepted";
  } catch (const FunctionNotRegisteredError& e) {
    EXPECT_EQ(e.function_name(), "tm_square");
    EXPECT_THAT(e.what(), HasSubstr("registered after the program started"));
    EXPECT_THAT(e.what(), Not(HasSubstr("after init()")));
  }

  l.known_functions = index_of(tm_square) + 1;  // now it is known
  EXPECT_NO_THROW(TaskManager::make_spec(any(tm_square), signature_of_int_fn(), TaskOptions{}, l));
}

TEST(TaskManagerSpec, NumCpusMustBeBetweenZeroAndTheSessionsCpus) {
  for (const double bad : {-1.0, -0.001, std::numeric_limits<double>::quiet_NaN(), kCpus + 0.5,
                           std::numeric_limits<double>::infinity()}) {
    TaskOptions o;
    o.num_cpus = bad;
    const std::string what = message_of<InvalidConfigError>(
        [&] { TaskManager::make_spec(any(tm_square), signature_of_int_fn(), o, limits()); });
    EXPECT_THAT(what, HasSubstr("TaskOptions::num_cpus")) << "num_cpus " << bad;
    EXPECT_THAT(what, HasSubstr("tm_square")) << "num_cpus " << bad;
  }
  for (const double good : {0.0, 0.5, kCpus}) {
    TaskOptions o;
    o.num_cpus = good;
    const TaskSpec spec =
        TaskManager::make_spec(any(tm_square), signature_of_int_fn(), o, limits());
    EXPECT_EQ(spec.num_cpus, good);
  }
}

TEST(TaskManagerSpec, MemoryMustFitTheSessionsMemory) {
  TaskOptions o;
  o.memory = kMemory + 1;
  const std::string what = message_of<InvalidConfigError>(
      [&] { TaskManager::make_spec(any(tm_square), signature_of_int_fn(), o, limits()); });
  EXPECT_THAT(what, HasSubstr("TaskOptions::memory"));

  o.memory = kMemory;
  EXPECT_EQ(TaskManager::make_spec(any(tm_square), signature_of_int_fn(), o, limits()).memory,
            kMemory);
}

TEST(TaskManagerSpec, MaxRetriesMustBeMinusOneOrMore) {
  TaskOptions o;
  o.max_retries = -2;
  const std::string what = message_of<InvalidConfigError>(
      [&] { TaskManager::make_spec(any(tm_square), signature_of_int_fn(), o, limits()); });
  EXPECT_THAT(what, HasSubstr("TaskOptions::max_retries"));

  o.max_retries = -1;  // forever
  EXPECT_EQ(TaskManager::make_spec(any(tm_square), signature_of_int_fn(), o, limits()).max_retries,
            -1);
  o.max_retries = 0;
  EXPECT_EQ(TaskManager::make_spec(any(tm_square), signature_of_int_fn(), o, limits()).max_retries,
            0);
}

TEST(TaskManagerSpec, DefaultsComeFromTheRegistryAndTheSession) {
  const TaskSpec spec =
      TaskManager::make_spec(any(tm_square), signature_of_int_fn(), TaskOptions{}, limits());
  const std::uint32_t index = index_of(tm_square);
  EXPECT_EQ(spec.function_index, index);
  EXPECT_EQ(spec.function_check, FunctionRegistry::instance().at(index)->check);
  EXPECT_EQ(spec.name, "tm_square");
  EXPECT_EQ(spec.max_retries, 2);  // limits().default_max_retries
  EXPECT_EQ(spec.num_cpus, 1.0);
  EXPECT_EQ(spec.memory, 0u);
  EXPECT_EQ(spec.id, 0u);  // set by the caller
  EXPECT_THAT(spec.deps, IsEmpty());

  TaskOptions o;
  o.name = "square-7";
  o.max_retries = 5;
  o.num_cpus = 2;
  o.memory = 1 << 20;
  const TaskSpec named = TaskManager::make_spec(any(tm_square), signature_of_int_fn(), o, limits());
  EXPECT_EQ(named.name, "square-7");
  EXPECT_EQ(named.max_retries, 5);
  EXPECT_EQ(named.num_cpus, 2.0);
  EXPECT_EQ(named.memory, 1u << 20);

  // Another function gets its own index and check.
  const TaskSpec half =
      TaskManager::make_spec(reinterpret_cast<detail::AnyFn>(tm_half),
                             typeid(double(double)).name(), TaskOptions{}, limits());
  EXPECT_EQ(half.name, "tm_half");
  EXPECT_NE(half.function_index, index);
  EXPECT_NE(half.function_check, spec.function_check);
}

// ---- the life of a task

class TaskManagerTest : public ::testing::Test {
 protected:
  // A task `id` of tm_square taking the objects `deps` as its ObjectRef arguments.
  static TaskSpec spec(TaskId id, std::vector<ObjectId> deps = {}, int max_retries = 3) {
    TaskSpec s;
    s.id = id;
    s.function_index = 0;
    s.name = "task-" + std::to_string(id);
    s.max_retries = max_retries;
    s.deps = std::move(deps);
    return s;
  }

  // A finished object in the store at `offset`, held by nobody but its program ref.
  void ready_object(ObjectId id, std::uint64_t offset) {
    refs_.add_pending(id, 0);
    EXPECT_THAT(refs_.complete_store(id, Format::kRaw, kTypeHash, offset, 1000), IsEmpty());
  }

  // Assigns the next ready task; it must be `task`, on `worker`.
  void expect_next(TaskId task, WorkerId worker) {
    const std::optional<Scheduler::Assignment> a = scheduler_.next();
    ASSERT_TRUE(a.has_value()) << "expected task " << task;
    EXPECT_EQ(a->task, task);
    EXPECT_EQ(a->worker, worker);
  }

  ObjectState state(ObjectId id) {
    const ObjectEntry* e = refs_.find(id);
    EXPECT_NE(e, nullptr) << "object " << id;
    return e != nullptr ? e->state : ObjectState::kPending;
  }
  std::uint32_t task_refs(ObjectId id) {
    const ObjectEntry* e = refs_.find(id);
    EXPECT_NE(e, nullptr) << "object " << id;
    return e != nullptr ? e->task_refs : 0;
  }
  const ErrorInfo* error(ObjectId id) {
    const ObjectEntry* e = refs_.find(id);
    EXPECT_NE(e, nullptr) << "object " << id;
    return e != nullptr ? e->error.get() : nullptr;
  }

  RecordingFreer freer_;
  ReferenceTable refs_{&freer_};
  Scheduler scheduler_{kCpus, kMemory};
  TaskManager tasks_{refs_, scheduler_};
};

TEST_F(TaskManagerTest, AddMakesAPendingResultWithOneProgramRef) {
  tasks_.add(spec(10));
  const ObjectEntry* result = refs_.find(10);
  ASSERT_NE(result, nullptr);
  EXPECT_EQ(result->state, ObjectState::kPending);
  EXPECT_EQ(result->program_refs, 1u);
  EXPECT_EQ(result->task_refs, 0u);
  EXPECT_EQ(result->producer, 10u);
  ASSERT_NE(tasks_.find(10), nullptr);
  EXPECT_EQ(tasks_.find(10)->name, "task-10");
  EXPECT_EQ(tasks_.size(), 1u);
  EXPECT_EQ(tasks_.find(11), nullptr);

  // Without dependencies it is ready at once.
  ASSERT_NE(scheduler_.find(10), nullptr);
  EXPECT_EQ(scheduler_.find(10)->deps_pending, 0u);
  scheduler_.worker_up(1);
  expect_next(10, 1);
}

TEST_F(TaskManagerTest, ArgumentsAreHeldWhilePendingAndReleasedByFinish) {
  ready_object(1, 4096);
  ready_object(2, 8192);
  tasks_.add(spec(10, {1, 2, 1}));  // object 1 passed twice
  EXPECT_EQ(task_refs(1), 2u);
  EXPECT_EQ(task_refs(2), 1u);

  // The program drops its refs: the pending task keeps the arguments alive.
  refs_.release(1, Holder::program());
  refs_.release(2, Holder::program());
  ASSERT_NE(refs_.find(1), nullptr);
  ASSERT_NE(refs_.find(2), nullptr);
  EXPECT_THAT(freer_.freed, IsEmpty());

  ASSERT_NE(tasks_.find(10), nullptr);
  EXPECT_THAT(tasks_.find(10)->deps, ElementsAre(1u, 2u, 1u));
  std::string name;
  ASSERT_TRUE(tasks_.finish(10, &name));
  EXPECT_EQ(name, "task-10");
  EXPECT_EQ(tasks_.find(10), nullptr);
  EXPECT_EQ(tasks_.size(), 0u);
  // Its arguments went with it, and their blocks back to the store.
  EXPECT_EQ(refs_.find(1), nullptr);
  EXPECT_EQ(refs_.find(2), nullptr);
  EXPECT_THAT(freer_.freed, UnorderedElementsAre(4096u, 8192u));

  EXPECT_FALSE(tasks_.finish(10));  // finished already
  EXPECT_FALSE(tasks_.finish(99));  // never known
}

TEST_F(TaskManagerTest, TaskWaitsUntilItsDependenciesAreDone) {
  scheduler_.worker_up(1);
  scheduler_.worker_up(2);
  tasks_.add(spec(1));          // produces object 1
  tasks_.add(spec(2));          // produces object 2
  tasks_.add(spec(3, {1, 2}));  // needs both
  ASSERT_NE(scheduler_.find(3), nullptr);
  EXPECT_EQ(scheduler_.find(3)->deps_pending, 2u);
  EXPECT_THAT(refs_.find(1)->dependents, ElementsAre(3u));
  EXPECT_THAT(refs_.find(2)->dependents, ElementsAre(3u));

  expect_next(1, 1);
  expect_next(2, 2);
  scheduler_.worker_up(3);
  EXPECT_FALSE(scheduler_.next().has_value()) << "task 3 ran before its arguments existed";

  // Task 1 ends: one argument exists.
  ASSERT_TRUE(scheduler_.complete(1, 1, 1000).has_value());
  ASSERT_TRUE(tasks_.finish(1));
  std::vector<TaskId> waiting = refs_.complete_inline(1, Format::kMsgpack, kTypeHash, ByteBuffer{});
  EXPECT_THAT(waiting, ElementsAre(3u));
  tasks_.dependencies_done(waiting);
  EXPECT_FALSE(scheduler_.next().has_value()) << "task 3 ran before its second argument existed";

  ASSERT_TRUE(scheduler_.complete(2, 2, 1000).has_value());
  ASSERT_TRUE(tasks_.finish(2));
  waiting = refs_.complete_inline(2, Format::kMsgpack, kTypeHash, ByteBuffer{});
  tasks_.dependencies_done(waiting);
  expect_next(3, 1);
}

TEST_F(TaskManagerTest, TaskWithAFailedArgumentFailsAtOnceWithItsError) {
  const std::shared_ptr<const ErrorInfo> boom = task_error("boom");
  refs_.add_pending(1, 0);
  refs_.fail(1, boom);
  ready_object(2, 4096);

  tasks_.add(spec(10, {2, 1}));
  EXPECT_EQ(state(10), ObjectState::kFailed);
  EXPECT_EQ(error(10), boom.get());  // the same error, as Ray does
  EXPECT_EQ(tasks_.find(10), nullptr);
  EXPECT_EQ(scheduler_.find(10), nullptr);
  EXPECT_EQ(tasks_.size(), 0u);
  // Its arguments are not held.
  EXPECT_EQ(task_refs(1), 0u);
  EXPECT_EQ(task_refs(2), 0u);
  refs_.release(2, Holder::program());
  EXPECT_THAT(freer_.freed, ElementsAre(4096u));
}

TEST_F(TaskManagerTest, FailObjectFailsEveryTaskWaitingForItTransitively) {
  const std::shared_ptr<const ErrorInfo> boom = task_error("boom");
  scheduler_.worker_up(1);
  tasks_.add(spec(1));       // runs and fails
  tasks_.add(spec(2, {1}));  // 1 -> 2 -> 3 -> 4
  tasks_.add(spec(3, {2}));
  tasks_.add(spec(4, {3}));
  refs_.add_pending(50, 0);      // put() in progress, say
  tasks_.add(spec(5, {50, 1}));  // needs 1 and another object
  tasks_.add(spec(6, {50}));     // unrelated to 1
  expect_next(1, 1);

  ASSERT_TRUE(scheduler_.complete(1, 1, 1000).has_value());
  ASSERT_TRUE(tasks_.finish(1));
  tasks_.fail_object(1, boom);

  for (const TaskId t : {1u, 2u, 3u, 4u, 5u}) {
    EXPECT_EQ(state(t), ObjectState::kFailed) << "task " << t;
    EXPECT_EQ(error(t), boom.get()) << "task " << t;
    EXPECT_EQ(tasks_.find(t), nullptr) << "task " << t;
    EXPECT_EQ(scheduler_.find(t), nullptr) << "task " << t;
  }
  EXPECT_EQ(task_refs(1), 0u);
  EXPECT_EQ(task_refs(2), 0u);
  EXPECT_EQ(task_refs(3), 0u);
  EXPECT_EQ(task_refs(50), 1u) << "only task 6 still needs object 50";
  EXPECT_EQ(state(6), ObjectState::kPending);
  ASSERT_NE(tasks_.find(6), nullptr);
  EXPECT_EQ(tasks_.size(), 1u);

  // Object 50 arrives: task 6 runs; the failed task 5 is not resurrected.
  const std::vector<TaskId> waiting =
      refs_.complete_inline(50, Format::kMsgpack, kTypeHash, ByteBuffer{});
  tasks_.dependencies_done(waiting);
  expect_next(6, 1);
  EXPECT_FALSE(scheduler_.next().has_value());
}

TEST_F(TaskManagerTest, RefusedTaskFailsAtOnceWithoutHoldingItsArguments) {
  auto refused = std::make_shared<ErrorInfo>();
  refused->kind = ErrorInfo::Kind::kShutdown;
  refused->what = "shoal is shutting down";
  ready_object(1, 4096);

  tasks_.add(spec(10, {1}), refused);
  EXPECT_EQ(state(10), ObjectState::kFailed);
  EXPECT_EQ(error(10), refused.get());
  EXPECT_EQ(refs_.find(10)->program_refs, 1u);  // the caller's ObjectRef still names it
  EXPECT_EQ(tasks_.find(10), nullptr);
  EXPECT_EQ(scheduler_.find(10), nullptr);
  EXPECT_EQ(task_refs(1), 0u);
  EXPECT_EQ(tasks_.size(), 0u);
}

TEST_F(TaskManagerTest, WorkerDeathRetriesAtTheBackThenKeepsTheTaskAsDying) {
  ready_object(1, 4096);
  tasks_.add(spec(10, {1}, /*max_retries=*/1));
  tasks_.add(spec(11));
  scheduler_.worker_up(1);
  expect_next(10, 1);

  // First death: one retry left, so it runs again, behind task 11.
  std::optional<SchedTask> running = first(scheduler_.worker_down(1));
  ASSERT_TRUE(running.has_value());
  EXPECT_EQ(running->attempts, 1);
  EXPECT_TRUE(tasks_.worker_died(1, *running));
  EXPECT_EQ(tasks_.dying(1), nullptr);
  ASSERT_NE(tasks_.find(10), nullptr);
  EXPECT_EQ(state(10), ObjectState::kPending);
  scheduler_.worker_up(2);
  expect_next(11, 2);
  scheduler_.worker_up(3);
  expect_next(10, 3);

  // Second death: out of retries. Kept, arguments and all, until it is known how worker 3 ended.
  running = first(scheduler_.worker_down(3));
  ASSERT_TRUE(running.has_value());
  EXPECT_EQ(running->attempts, 2);
  EXPECT_FALSE(tasks_.worker_died(3, *running));
  ASSERT_NE(tasks_.dying(3), nullptr);
  ASSERT_EQ(tasks_.dying(3)->size(), 1u);
  const TaskManager::Dying* dying = &tasks_.dying(3)->front();
  EXPECT_EQ(dying->spec.id, 10u);
  EXPECT_EQ(dying->spec.name, "task-10");
  EXPECT_EQ(dying->attempts, 2);
  EXPECT_EQ(tasks_.dying(2), nullptr);
  EXPECT_EQ(tasks_.find(10), nullptr);
  EXPECT_EQ(scheduler_.find(10), nullptr);
  EXPECT_EQ(state(10), ObjectState::kPending);
  EXPECT_EQ(task_refs(1), 1u);
  EXPECT_FALSE(scheduler_.next().has_value()) << "a task out of retries was queued again";

  auto crashed = std::make_shared<ErrorInfo>();
  crashed->kind = ErrorInfo::Kind::kWorkerCrashed;
  crashed->what = "killed by signal 9";
  const auto crash = [&](const TaskManager::Dying&) { return crashed; };
  tasks_.fail_dying(2, crash);  // nothing dying there: ignored
  EXPECT_EQ(state(10), ObjectState::kPending);
  tasks_.fail_dying(3, crash);
  EXPECT_EQ(state(10), ObjectState::kFailed);
  EXPECT_EQ(error(10), crashed.get());
  EXPECT_EQ(tasks_.dying(3), nullptr);
  EXPECT_EQ(task_refs(1), 0u);
  refs_.release(1, Holder::program());
  EXPECT_THAT(freer_.freed, ElementsAre(4096u));
}

TEST_F(TaskManagerTest, MaxRetriesMinusOneRetriesForever) {
  tasks_.add(spec(10, {}, /*max_retries=*/-1));
  for (WorkerId w = 1; w <= 25; ++w) {
    scheduler_.worker_up(w);
    expect_next(10, w);
    const std::optional<SchedTask> running = first(scheduler_.worker_down(w));
    ASSERT_TRUE(running.has_value());
    EXPECT_EQ(running->attempts, static_cast<int>(w));
    ASSERT_TRUE(tasks_.worker_died(w, *running)) << "gave up after " << w << " attempts";
  }
  EXPECT_EQ(state(10), ObjectState::kPending);
  EXPECT_NE(tasks_.find(10), nullptr);
}

TEST_F(TaskManagerTest, MaxRetriesZeroNeverRetries) {
  tasks_.add(spec(10, {}, /*max_retries=*/0));
  scheduler_.worker_up(1);
  expect_next(10, 1);
  const std::optional<SchedTask> running = first(scheduler_.worker_down(1));
  ASSERT_TRUE(running.has_value());
  EXPECT_FALSE(tasks_.worker_died(1, *running));
  ASSERT_NE(tasks_.dying(1), nullptr);
  EXPECT_EQ(tasks_.dying(1)->front().attempts, 1);
}

TEST_F(TaskManagerTest, FailAllFailsPendingAndDyingTasksAndClearsTheScheduler) {
  ready_object(1, 4096);
  ready_object(2, 8192);
  refs_.add_pending(50, 0);  // a put() still being written: not a task, left alone
  tasks_.add(spec(10, {1}, /*max_retries=*/0));  // will be dying
  tasks_.add(spec(11, {2}));                     // running
  tasks_.add(spec(12));                          // ready
  tasks_.add(spec(13, {50}));                    // waiting
  refs_.release(1, Holder::program());
  refs_.release(2, Holder::program());
  scheduler_.worker_up(1);
  scheduler_.worker_up(2);
  expect_next(10, 1);
  expect_next(11, 2);
  const std::optional<SchedTask> running = first(scheduler_.worker_down(1));
  ASSERT_TRUE(running.has_value());
  ASSERT_FALSE(tasks_.worker_died(1, *running));
  ASSERT_NE(tasks_.dying(1), nullptr);
  EXPECT_EQ(scheduler_.cpus_available(), kCpus - 1);

  auto shutdown = std::make_shared<ErrorInfo>();
  shutdown->kind = ErrorInfo::Kind::kShutdown;
  shutdown->what = "shoal was shut down";
  tasks_.fail_all(shutdown);

  for (const TaskId t : {10u, 11u, 12u, 13u}) {
    EXPECT_EQ(state(t), ObjectState::kFailed) << "task " << t;
    EXPECT_EQ(error(t), shutdown.get()) << "task " << t;
    EXPECT_EQ(tasks_.find(t), nullptr) << "task " << t;
  }
  EXPECT_EQ(tasks_.size(), 0u);
  EXPECT_EQ(tasks_.dying(1), nullptr);
  EXPECT_EQ(scheduler_.size(), 0u);
  EXPECT_EQ(scheduler_.cpus_available(), kCpus);
  EXPECT_EQ(scheduler_.running(2), 0u);
  EXPECT_FALSE(scheduler_.next().has_value());
  // Arguments released: the ones only tasks held are freed.
  EXPECT_EQ(refs_.find(1), nullptr);
  EXPECT_EQ(refs_.find(2), nullptr);
  EXPECT_THAT(freer_.freed, UnorderedElementsAre(4096u, 8192u));
  EXPECT_EQ(task_refs(50), 0u);
  EXPECT_EQ(state(50), ObjectState::kPending);
}

// ---- tasks that start tasks: results held by a worker, orphans of a dead worker, and a dead
// worker's whole stack of tasks

// A small value: three bytes.
ByteBuffer value_abc() {
  ByteBuffer b;
  b.write("abc", 3);
  return b;
}

TEST_F(TaskManagerTest, AddWithAWorkerOwnerMakesTheResultThatWorkersRef) {
  tasks_.add(spec(10), nullptr, Holder::of_worker(7));
  const ObjectEntry* result = refs_.find(10);
  ASSERT_NE(result, nullptr);
  EXPECT_EQ(result->state, ObjectState::kPending);
  EXPECT_EQ(result->program_refs, 0u);
  EXPECT_EQ(result->task_refs, 0u);
  EXPECT_THAT(result->worker_refs, ElementsAre(std::make_pair(WorkerId{7}, std::uint32_t{1})));
  EXPECT_EQ(result->producer, 10u);
  ASSERT_NE(tasks_.find(10), nullptr);

  tasks_.add(spec(11));                                 // the program's: not worker 7's to drop
  tasks_.add(spec(12), nullptr, Holder::of_worker(8));  // another worker's
  tasks_.add(spec(13), nullptr, Holder::of_worker(7));  // worker 7's, finished before it dies
  scheduler_.worker_up(1);
  expect_next(10, 1);
  ASSERT_TRUE(scheduler_.complete(1, 10, 1000).has_value());
  ASSERT_TRUE(tasks_.finish(10));
  EXPECT_THAT(refs_.complete_inline(10, Format::kMsgpack, kTypeHash, value_abc()), IsEmpty());
  EXPECT_NE(refs_.find(10), nullptr) << "worker 7 still holds the finished result";
  EXPECT_EQ(refs_.inline_bytes(), 3u);

  // Worker 7 dies: its pending result becomes an orphan; its finished one is freed.
  EXPECT_THAT(refs_.release_all(7), ElementsAre(13u));
  EXPECT_EQ(refs_.find(10), nullptr);
  EXPECT_EQ(refs_.inline_bytes(), 0u);
  EXPECT_EQ(state(13), ObjectState::kPending) << "an orphan is the task manager's to drop";
  EXPECT_EQ(state(11), ObjectState::kPending);
  EXPECT_EQ(state(12), ObjectState::kPending);
  EXPECT_THAT(refs_.release_all(7), IsEmpty());
}

TEST_F(TaskManagerTest, RefusedTaskOfAWorkerIsHeldByItAndFreedWithIt) {
  tasks_.add(spec(10), session_error(ErrorInfo::Kind::kShutdown, "shoal is shutting down"),
             Holder::of_worker(7));
  EXPECT_EQ(state(10), ObjectState::kFailed);
  EXPECT_EQ(tasks_.find(10), nullptr);
  EXPECT_THAT(refs_.release_all(7), IsEmpty()) << "a failed object is no orphan";
  EXPECT_EQ(refs_.find(10), nullptr);
}

TEST_F(TaskManagerTest, DropUnreferencedDropsAnUnstartedOrphanAndItsArgumentOnlyOrphans) {
  ready_object(1, 4096);  // the program's put(), passed to task 102, then dropped
  // Worker 7's task submitted 100 and 101 (101 takes 100), then 102 taking 101 and object 1; it
  // passed 100 and 101 on and dropped its own refs to them.
  tasks_.add(spec(100), nullptr, Holder::of_worker(7));
  tasks_.add(spec(101, {100}), nullptr, Holder::of_worker(7));
  tasks_.add(spec(102, {101, 1}), nullptr, Holder::of_worker(7));
  refs_.release(100, Holder::of_worker(7));
  refs_.release(101, Holder::of_worker(7));
  refs_.release(1, Holder::program());
  ASSERT_EQ(task_refs(100), 1u);
  ASSERT_EQ(task_refs(101), 1u);
  EXPECT_EQ(scheduler_.size(), 3u);

  const std::vector<ObjectId> orphans = refs_.release_all(7);
  EXPECT_THAT(orphans, ElementsAre(102u));
  EXPECT_EQ(tasks_.drop_unreferenced(orphans), 3u);

  // 102 went, so nobody held 101, then 100: each dropped, never run, its arguments released.
  for (const ObjectId id : {100u, 101u, 102u}) {
    EXPECT_EQ(refs_.find(id), nullptr) << "object " << id;
    EXPECT_EQ(tasks_.find(id), nullptr) << "task " << id;
    EXPECT_EQ(scheduler_.find(id), nullptr) << "task " << id;
  }
  EXPECT_EQ(refs_.find(1), nullptr);
  EXPECT_THAT(freer_.freed, ElementsAre(4096u));
  EXPECT_EQ(tasks_.size(), 0u);
  EXPECT_EQ(scheduler_.size(), 0u);
  scheduler_.worker_up(1);
  EXPECT_FALSE(scheduler_.next().has_value()) << "a dropped task ran";
}

TEST_F(TaskManagerTest, DropUnreferencedLeavesARunningOrphanAlone) {
  ready_object(1, 4096);
  tasks_.add(spec(100, {1}), nullptr, Holder::of_worker(7));
  refs_.release(1, Holder::program());
  scheduler_.worker_up(1);
  expect_next(100, 1);  // already running elsewhere when worker 7 dies

  const std::vector<ObjectId> orphans = refs_.release_all(7);
  EXPECT_THAT(orphans, ElementsAre(100u));
  EXPECT_EQ(tasks_.drop_unreferenced(orphans), 0u);
  EXPECT_EQ(state(100), ObjectState::kPending);
  ASSERT_NE(tasks_.find(100), nullptr);
  EXPECT_EQ(scheduler_.running(1), 100u);
  EXPECT_EQ(task_refs(1), 1u) << "a running task keeps its arguments";

  // It ends as usual; then nobody holds the result and everything goes.
  ASSERT_TRUE(scheduler_.complete(1, 100, 1000).has_value());
  ASSERT_TRUE(tasks_.finish(100));
  EXPECT_THAT(refs_.complete_inline(100, Format::kMsgpack, kTypeHash, value_abc()), IsEmpty());
  EXPECT_EQ(refs_.find(100), nullptr);
  EXPECT_EQ(refs_.find(1), nullptr);
  EXPECT_THAT(freer_.freed, ElementsAre(4096u));
}

TEST_F(TaskManagerTest, DropUnreferencedLeavesAHeldResultAlone) {
  ready_object(1, 4096);  // still held by the program
  // 100 is also held by worker 8 (its task got the ref); 101 only by worker 7, and takes 102,
  // which the program holds too.
  tasks_.add(spec(100), nullptr, Holder::of_worker(7));
  refs_.add_ref(100, Holder::of_worker(8));
  tasks_.add(spec(102));
  tasks_.add(spec(101, {102, 1}), nullptr, Holder::of_worker(7));

  const std::vector<ObjectId> orphans = refs_.release_all(7);
  EXPECT_THAT(orphans, ElementsAre(101u));
  EXPECT_EQ(tasks_.drop_unreferenced(orphans), 1u);
  EXPECT_EQ(refs_.find(101), nullptr);
  EXPECT_EQ(tasks_.find(101), nullptr);
  // Its arguments are released, not dropped: someone else holds them.
  EXPECT_EQ(task_refs(102), 0u);
  EXPECT_EQ(state(102), ObjectState::kPending);
  ASSERT_NE(tasks_.find(102), nullptr);
  EXPECT_EQ(task_refs(1), 0u);
  EXPECT_EQ(state(1), ObjectState::kReady);
  EXPECT_THAT(freer_.freed, IsEmpty());
  // Worker 8 holds 100.
  EXPECT_EQ(tasks_.drop_unreferenced({100}), 0u);
  ASSERT_NE(tasks_.find(100), nullptr);
  EXPECT_EQ(state(100), ObjectState::kPending);
  // Unknown, finished, and program-held objects are not tasks to drop.
  EXPECT_EQ(tasks_.drop_unreferenced({999, 1, 102}), 0u);
  EXPECT_EQ(tasks_.size(), 2u);
  scheduler_.worker_up(1);
  scheduler_.worker_up(2);
  expect_next(100, 1);
  expect_next(102, 2);
}

TEST_F(TaskManagerTest, EveryDyingTaskOfAStackFailsWithItsOwnError) {
  ready_object(1, 4096);
  ready_object(2, 8192);
  tasks_.add(spec(10, {1}, /*max_retries=*/0));  // the bottom of worker 1's stack
  tasks_.add(spec(11, {}, /*max_retries=*/1), nullptr, Holder::of_worker(1));  // retried
  tasks_.add(spec(12, {2}, /*max_retries=*/0), nullptr, Holder::of_worker(1));
  refs_.release(1, Holder::program());
  refs_.release(2, Holder::program());
  refs_.add_ref(11, Holder::program());  // the program holds them too: they are no orphans
  refs_.add_ref(12, Holder::program());
  scheduler_.worker_up(1);
  expect_next(10, 1);
  scheduler_.block(1);
  ASSERT_TRUE(scheduler_.assign_nested(1, 11).has_value());
  scheduler_.block(1);
  ASSERT_TRUE(scheduler_.assign_nested(1, 12).has_value());

  EXPECT_EQ(tasks_.drop_unreferenced(refs_.release_all(1)), 0u);
  const std::vector<SchedTask> stack = scheduler_.worker_down(1);
  ASSERT_EQ(stack.size(), 3u);
  EXPECT_FALSE(tasks_.worker_died(1, stack[0]));
  EXPECT_TRUE(tasks_.worker_died(1, stack[1]));
  EXPECT_FALSE(tasks_.worker_died(1, stack[2]));
  const std::vector<TaskManager::Dying>* dying = tasks_.dying(1);
  ASSERT_NE(dying, nullptr);
  ASSERT_EQ(dying->size(), 2u);
  EXPECT_EQ((*dying)[0].spec.id, 10u);
  EXPECT_EQ((*dying)[1].spec.id, 12u);
  EXPECT_EQ(task_refs(1), 1u);
  EXPECT_EQ(task_refs(2), 1u);

  std::vector<TaskId> asked;
  tasks_.fail_dying(1, [&](const TaskManager::Dying& d) {
    asked.push_back(d.spec.id);
    auto e = std::make_shared<ErrorInfo>();
    e->kind = ErrorInfo::Kind::kWorkerCrashed;
    e->function = d.spec.name;
    e->attempts = d.attempts;
    e->what = "the worker running " + d.spec.name + " died";
    return e;
  });
  EXPECT_THAT(asked, ElementsAre(10u, 12u));
  for (const TaskId t : {10u, 12u}) {
    ASSERT_EQ(state(t), ObjectState::kFailed) << "task " << t;
    EXPECT_EQ(error(t)->what, "the worker running task-" + std::to_string(t) + " died");
    EXPECT_EQ(error(t)->function, "task-" + std::to_string(t));
    EXPECT_EQ(error(t)->attempts, 1);
  }
  EXPECT_EQ(tasks_.dying(1), nullptr);
  EXPECT_EQ(refs_.find(1), nullptr) << "the dying tasks' arguments were not released";
  EXPECT_EQ(refs_.find(2), nullptr);
  EXPECT_THAT(freer_.freed, UnorderedElementsAre(4096u, 8192u));

  // The retried child runs again elsewhere.
  EXPECT_EQ(state(11), ObjectState::kPending);
  scheduler_.worker_up(2);
  expect_next(11, 2);
  EXPECT_EQ(scheduler_.find(11)->attempts, 2);
}

}  // namespace
}  // namespace shoal::internal
