// Actors (shoal/actor.hpp, Ray's actors): state kept between calls in a process of its own,
// calls in submission order, errors, constructor failures, names, kill(), restarts, handles in
// tasks and in other actors, CPUs held for life, the destructor when the last handle goes, and the
// direct deadlock check.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

class Counter {
 public:
  explicit Counter(int start) : total_(start) {}
  int add(int x) {
    total_ += x;
    return total_;
  }
  int value() const { return total_; }
  std::int64_t pid() const { return getpid(); }
  bool restarted() const { return shoal::was_restarted(); }
  int fail(const std::string& why) { throw std::invalid_argument(why); }
  std::vector<int> log_of(int n) {
    log_.push_back(n);
    return log_;
  }
  // Sleeps, then adds: a call that is still running when the test acts.
  int slow_add(int x) {
    std::this_thread::sleep_for(200ms);
    return add(x);
  }

 private:
  int total_;
  std::vector<int> log_;
};
SHOAL_ACTOR(Counter, &Counter::add, &Counter::value, &Counter::pid, &Counter::restarted,
            &Counter::fail, &Counter::log_of, &Counter::slow_add);

class Broken {
 public:
  explicit Broken(const std::string& why) { throw std::runtime_error(why); }
  int get() const { return 1; }
};
SHOAL_ACTOR(Broken, &Broken::get);

// Writes a file named after its argument when destroyed: the test sees that the destructor ran.
class Marker {
 public:
  explicit Marker(std::string path) : path_(std::move(path)) {}
  ~Marker() { std::ofstream(path_) << "destroyed\n"; }
  int ping() const { return 7; }

 private:
  std::string path_;
};
SHOAL_ACTOR(Marker, &Marker::ping);

// Handles passed to tasks and to other actors.
int add_through(shoal::ActorHandle<Counter> c, int x) {
  return shoal::get(c.task(&Counter::add).remote(x));
}
// Inside a task, actors cannot be found or created (pass handles instead): a clear error.
std::string find_inside(int) {
  try {
    shoal::get_actor<Counter>("totals");
  } catch (const shoal::Error& e) {
    return e.what();
  }
  return "no error";
}
int sum_through(std::vector<shoal::ActorHandle<Counter>> counters) {
  int total = 0;
  for (const auto& c : counters) total += shoal::get(c.task(&Counter::value).remote());
  return total;
}
SHOAL_REMOTE(add_through, find_inside, sum_through);

class Forwarder {
 public:
  explicit Forwarder(shoal::ActorHandle<Counter> target) : target_(std::move(target)) {}
  int forward(int x) { return shoal::get(target_.task(&Counter::add).remote(x)); }
  // Waits for a call of its own, queued behind this one: a deadlock, reported.
  int self_wait(shoal::ActorHandle<Forwarder> self) {
    return shoal::get(self.task(&Forwarder::forward).remote(1));
  }

 private:
  shoal::ActorHandle<Counter> target_;
};
SHOAL_ACTOR(Forwarder, &Forwarder::forward, &Forwarder::self_wait);

// max_concurrency: calls that only finish once `n` of them run at the same time.
int twice(int x) { return 2 * x; }
SHOAL_REMOTE(twice);

class Meeting {
 public:
  Meeting() = default;
  // Returns the most calls inside at once so far, once that reached `n` (or after 10 s).
  int meet(int n) {
    const int here = ++inside_;
    int peak = peak_.load();
    while (here > peak && !peak_.compare_exchange_weak(peak, here)) {
    }
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (peak_.load() < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    --inside_;
    return peak_.load();
  }
  // A call that waits for a task: its reply reaches the right thread.
  int doubled(int x) { return shoal::get(shoal::task(twice).remote(x)); }

 private:
  std::atomic<int> inside_{0};
  std::atomic<int> peak_{0};
};
SHOAL_ACTOR(Meeting, &Meeting::meet, &Meeting::doubled);

// Two actors calling each other: A.ping(2) -> B.ping(1) -> A.ping(0), which queues behind
// A.ping(2).
class Peer {
 public:
  Peer() = default;
  int set_peer(shoal::ActorHandle<Peer> other) {
    other_ = std::move(other);
    return 0;
  }
  int ping(int depth) {
    if (depth == 0) return 1;
    return 1 + shoal::get(other_.task(&Peer::ping).remote(depth - 1));
  }

 private:
  shoal::ActorHandle<Peer> other_;
};
SHOAL_ACTOR(Peer, &Peer::set_peer, &Peer::ping);

// Appends a line to a file, then crashes: a constructor that always fails.
class CrashAtStart {
 public:
  explicit CrashAtStart(const std::string& path) {
    std::ofstream(path, std::ios::app) << "started\n";
    std::abort();
  }
  int get() const { return 0; }
};
SHOAL_ACTOR(CrashAtStart, &CrashAtStart::get);

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

std::string temp_path(const char* tag) {
  return "/tmp/shoal_actor_test_" + std::string(tag) + "_" + std::to_string(getpid());
}

class ActorTest : public shoal::testing::SessionTest {};

TEST_F(ActorTest, KeepsStateBetweenCalls) {
  shoal::ActorHandle<Counter> c = shoal::actor<Counter>().remote(5);
  shoal::ObjectRef<int> r = c.task(&Counter::add).remote(1);
  EXPECT_EQ(shoal::get(r), 6);
  EXPECT_EQ(shoal::get(c.task(&Counter::add).remote(10)), 16);
  EXPECT_EQ(shoal::get(c.task(&Counter::value).remote()), 16);
}

TEST_F(ActorTest, CallsRunInSubmissionOrder) {
  shoal::ActorHandle<Counter> c = shoal::actor<Counter>().remote(0);
  std::vector<shoal::ObjectRef<std::vector<int>>> refs;
  for (int i = 0; i < 500; ++i) refs.push_back(c.task(&Counter::log_of).remote(i));
  const std::vector<int> log = shoal::get(refs.back());
  ASSERT_EQ(log.size(), 500u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(log[static_cast<std::size_t>(i)], i);
}

TEST_F(ActorTest, ACallWaitsForItsArgumentAndTheCallsBehindItWaitForIt) {
  shoal::ActorHandle<Counter> c = shoal::actor<Counter>().remote(0);
  shoal::ActorHandle<Counter> slow = shoal::actor<Counter>().options({.num_cpus = 0}).remote(0);
  shoal::ObjectRef<int> later = slow.task(&Counter::slow_add).remote(100);
  shoal::ObjectRef<std::vector<int>> first = c.task(&Counter::log_of).remote(later);
  shoal::ObjectRef<std::vector<int>> second = c.task(&Counter::log_of).remote(1);
  EXPECT_EQ(shoal::get(second), (std::vector<int>{100, 1}));
  EXPECT_EQ(shoal::get(first), (std::vector<int>{100}));
}

TEST_F(ActorTest, AMethodThatThrowsFailsThatCallOnly) {
  shoal::ActorHandle<Counter> c = shoal::actor<Counter>().remote(1);
  shoal::ObjectRef<int> bad = c.task(&Counter::fail).remote(std::string("no"));
  try {
    shoal::get(bad);
    FAIL() << "expected TaskError";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "std::invalid_argument");
    EXPECT_EQ(e.original_what(), "no");
  }
  EXPECT_EQ(shoal::get(c.task(&Counter::add).remote(1)), 2);  // it lives on
}

TEST_F(ActorTest, AConstructorThatThrowsFailsEveryCall) {
  shoal::ActorHandle<Broken> b = shoal::actor<Broken>().remote("bad config");
  for (int i = 0; i < 2; ++i) {
    try {
      shoal::get(b.task(&Broken::get).remote());
      FAIL() << "expected ActorDiedError";
    } catch (const shoal::ActorDiedError& e) {
      EXPECT_EQ(e.cause(), shoal::ActorDiedError::Cause::kConstructorFailed);
      EXPECT_NE(e.constructor_error().find("bad config"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("Broken"), std::string::npos) << e.what();
    }
  }
  // Its CPU is back.
  EXPECT_DOUBLE_EQ(shoal::available_resources().at("CPU"), 2.0);
}

TEST_F(ActorTest, HoldsItsCpusForItsWholeLife) {
  EXPECT_DOUBLE_EQ(shoal::available_resources().at("CPU"), 2.0);
  shoal::ActorHandle<Counter> c = shoal::actor<Counter>().remote(0);
  ASSERT_EQ(shoal::get(c.task(&Counter::value).remote()), 0);
  EXPECT_DOUBLE_EQ(shoal::available_resources().at("CPU"), 1.0);
  auto half = shoal::actor<Counter>().options({.num_cpus = 0.5}).remote(0);
  ASSERT_EQ(shoal::get(half.task(&Counter::value).remote()), 0);
  EXPECT_DOUBLE_EQ(shoal::available_resources().at("CPU"), 0.5);
  shoal::kill(c);
  shoal::kill(half);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (shoal::available_resources().at("CPU") < 2.0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_DOUBLE_EQ(shoal::available_resources().at("CPU"), 2.0);
}

TEST_F(ActorTest, NamedActorsAreFoundByName) {
  auto named = shoal::actor<Counter>().options({.name = "totals", .max_restarts = 2}).remote(0);
  std::optional<shoal::ActorHandle<Counter>> h = shoal::get_actor<Counter>("totals");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->id(), named.id());
  EXPECT_EQ(shoal::get(h->task(&Counter::add).remote(3)), 3);
  EXPECT_EQ(shoal::get(named.task(&Counter::value).remote()), 3);
  EXPECT_FALSE(shoal::get_actor<Counter>("nobody").has_value());
  EXPECT_THROW(shoal::get_actor<Broken>("totals"), shoal::TypeMismatchError);
  EXPECT_THROW(shoal::actor<Counter>().options({.name = "totals"}).remote(0),
               shoal::InvalidConfigError);
}

TEST_F(ActorTest, ANamedActorOutlivesItsHandles) {
  {
    auto named = shoal::actor<Counter>().options({.name = "kept"}).remote(40);
    ASSERT_EQ(shoal::get(named.task(&Counter::add).remote(2)), 42);
  }
  std::optional<shoal::ActorHandle<Counter>> h = shoal::get_actor<Counter>("kept");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(shoal::get(h->task(&Counter::value).remote()), 42);
  shoal::kill(*h);
  EXPECT_FALSE(shoal::get_actor<Counter>("kept").has_value());
}

TEST_F(ActorTest, KillFailsRunningQueuedAndLaterCalls) {
  shoal::ActorHandle<Counter> c = shoal::actor<Counter>().remote(0);
  ASSERT_EQ(shoal::get(c.task(&Counter::value).remote()), 0);
  shoal::ObjectRef<int> running = c.task(&Counter::slow_add).remote(1);
  shoal::ObjectRef<int> queued = c.task(&Counter::add).remote(1);
  shoal::kill(c);
  for (const auto& r : {running, queued, c.task(&Counter::add).remote(1)}) {
    try {
      shoal::get(r);
      FAIL() << "expected ActorDiedError";
    } catch (const shoal::ActorDiedError& e) {
      EXPECT_EQ(e.cause(), shoal::ActorDiedError::Cause::kKilled);
      EXPECT_NE(std::string(e.what()).find("shoal::kill()"), std::string::npos) << e.what();
    }
  }
}

TEST_F(ActorTest, KillDoesNotRunTheDestructor) {
  for (int round = 0; round < 5; ++round) {
    const std::string path = temp_path("killed") + "_" + std::to_string(round);
    std::remove(path.c_str());
    auto m = shoal::actor<Marker>().options({.num_cpus = 1}).remote(path);
    ASSERT_EQ(shoal::get(m.task(&Marker::ping).remote()), 7);
    shoal::kill(m);
    // Its CPU comes back once its process has been reaped.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (shoal::available_resources().at("CPU") < 2.0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(2ms);
    }
    std::this_thread::sleep_for(20ms);
    EXPECT_FALSE(file_exists(path)) << "round " << round << ": the destructor ran after kill()";
    std::remove(path.c_str());
  }
}

TEST_F(ActorTest, AnActorThatAlwaysCrashesIsRestartedWithBackoffNotInATightLoop) {
  const std::string path = temp_path("crashloop");
  std::remove(path.c_str());
  auto c = shoal::actor<CrashAtStart>().options({.num_cpus = 0, .max_restarts = -1}).remote(path);
  std::this_thread::sleep_for(1500ms);
  shoal::kill(c);
  std::ifstream in(path);
  int starts = 0;
  for (std::string line; std::getline(in, line);) ++starts;
  // Delays of 10, 20, 40, ... ms between quick deaths: about 8 starts in 1.5 s (hundreds without).
  EXPECT_GE(starts, 2);
  EXPECT_LE(starts, 15);
  EXPECT_THROW(shoal::get(c.task(&CrashAtStart::get).remote()), shoal::ActorDiedError);
  std::remove(path.c_str());
}

TEST_F(ActorTest, ACrashFailsItsCallsAndNamesTheSignal) {
  shoal::ActorHandle<Counter> c = shoal::actor<Counter>().remote(0);
  const auto pid = static_cast<pid_t>(shoal::get(c.task(&Counter::pid).remote()));
  shoal::ObjectRef<int> running = c.task(&Counter::slow_add).remote(1);
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  try {
    shoal::get(running);
    FAIL() << "expected ActorDiedError";
  } catch (const shoal::ActorDiedError& e) {
    EXPECT_EQ(e.cause(), shoal::ActorDiedError::Cause::kProcessDied);
    EXPECT_EQ(e.signal(), SIGKILL);
    EXPECT_EQ(e.pid(), pid);
  }
  EXPECT_THROW(shoal::get(c.task(&Counter::value).remote()), shoal::ActorDiedError);
}

TEST_F(ActorTest, RestartsRunTheConstructorAgainAndRetryCaughtCalls) {
  auto c = shoal::actor<Counter>().options({.max_restarts = 1, .max_task_retries = 1}).remote(100);
  ASSERT_EQ(shoal::get(c.task(&Counter::add).remote(5)), 105);
  EXPECT_FALSE(shoal::get(c.task(&Counter::restarted).remote()));
  const auto pid = static_cast<pid_t>(shoal::get(c.task(&Counter::pid).remote()));
  shoal::ObjectRef<int> caught = c.task(&Counter::slow_add).remote(1);
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_EQ(shoal::get(caught), 101);  // retried on the new instance, built from 100 again
  EXPECT_TRUE(shoal::get(c.task(&Counter::restarted).remote()));
  EXPECT_NE(shoal::get(c.task(&Counter::pid).remote()), pid);
  // Its one restart is used: the next death is final.
  const auto pid2 = static_cast<pid_t>(shoal::get(c.task(&Counter::pid).remote()));
  ASSERT_EQ(::kill(pid2, SIGKILL), 0);
  EXPECT_THROW(shoal::get(c.task(&Counter::slow_add).remote(1)), shoal::ActorDiedError);
}

TEST_F(ActorTest, CaughtCallsWithoutRetriesFail) {
  auto c = shoal::actor<Counter>().options({.max_restarts = 1}).remote(0);
  const auto pid = static_cast<pid_t>(shoal::get(c.task(&Counter::pid).remote()));
  shoal::ObjectRef<int> caught = c.task(&Counter::slow_add).remote(1);
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  try {
    shoal::get(caught);
    FAIL() << "expected ActorDiedError";
  } catch (const shoal::ActorDiedError& e) {
    EXPECT_EQ(e.cause(), shoal::ActorDiedError::Cause::kRestarting) << e.what();
    EXPECT_EQ(e.signal(), SIGKILL);
  }
  EXPECT_EQ(shoal::get(c.task(&Counter::add).remote(2)), 2);  // the new instance
}

TEST_F(ActorTest, HandlesWorkInTasksAndInOtherActors) {
  shoal::ActorHandle<Counter> c = shoal::actor<Counter>().options({.num_cpus = 0}).remote(0);
  EXPECT_EQ(shoal::get(shoal::task(add_through).remote(c, 5)), 5);
  auto f = shoal::actor<Forwarder>().options({.num_cpus = 0}).remote(c);
  EXPECT_EQ(shoal::get(f.task(&Forwarder::forward).remote(2)), 7);
  EXPECT_EQ(shoal::get(c.task(&Counter::value).remote()), 7);
}

TEST_F(ActorTest, ConstructorArgumentsMayBeObjectRefs) {
  shoal::ObjectRef<int> start = shoal::put(41);
  auto c = shoal::actor<Counter>().options({.num_cpus = 0}).remote(start);
  EXPECT_EQ(shoal::get(c.task(&Counter::add).remote(1)), 42);
}

TEST_F(ActorTest, HandlesInsideStoredValuesKeepTheirActorsAlive) {
  const std::string path = temp_path("inside");
  std::remove(path.c_str());
  shoal::ObjectRef<std::vector<shoal::ActorHandle<Counter>>> stored;
  {
    auto a = shoal::actor<Counter>().options({.num_cpus = 0}).remote(1);
    auto b = shoal::actor<Counter>().options({.num_cpus = 0}).remote(2);
    stored = shoal::put(std::vector<shoal::ActorHandle<Counter>>{a, b});
  }  // the program's handles are gone; the stored value still holds both actors
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(shoal::get(shoal::task(sum_through).remote(stored)), 3);
  const std::vector<shoal::ActorHandle<Counter>> back = shoal::get(stored);
  EXPECT_EQ(shoal::get(back[1].task(&Counter::add).remote(5)), 7);
}

TEST_F(ActorTest, CallsFromSeveralThreadsAllRun) {
  auto c = shoal::actor<Counter>().options({.num_cpus = 0}).remote(0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      std::vector<shoal::ObjectRef<int>> refs;
      for (int i = 0; i < 250; ++i) refs.push_back(c.task(&Counter::add).remote(1));
      shoal::get(refs);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(shoal::get(c.task(&Counter::value).remote()), 1000);
}

TEST_F(ActorTest, ActorsCannotBeFoundInsideATask) {
  const std::string error = shoal::get(shoal::task(find_inside).remote(0));
  EXPECT_NE(error.find("pass their handles"), std::string::npos) << error;
}

TEST_F(ActorTest, TheDestructorRunsWhenTheLastHandleGoes) {
  const std::string path = temp_path("scope");
  std::remove(path.c_str());
  {
    auto m = shoal::actor<Marker>().options({.num_cpus = 0}).remote(path);
    EXPECT_EQ(shoal::get(m.task(&Marker::ping).remote()), 7);
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!file_exists(path) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(file_exists(path));
  std::remove(path.c_str());
}

TEST_F(ActorTest, CallsPendingWhenTheLastHandleGoesStillRun) {
  const std::string path = temp_path("pending");
  std::remove(path.c_str());
  std::vector<shoal::ObjectRef<int>> refs;
  {
    auto c = shoal::actor<Counter>().options({.num_cpus = 0}).remote(0);
    for (int i = 0; i < 100; ++i) refs.push_back(c.task(&Counter::add).remote(1));
    auto m = shoal::actor<Marker>().options({.num_cpus = 0}).remote(path);
    refs.push_back(m.task(&Marker::ping).remote());
  }  // both handles go before the constructors have run
  const std::vector<int> values = shoal::get(refs);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(values[static_cast<std::size_t>(i)], i + 1);
  EXPECT_EQ(values.back(), 7);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!file_exists(path) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(file_exists(path));  // then it ended: its destructor ran
  std::remove(path.c_str());
}

TEST_F(ActorTest, ShutdownRunsEveryDestructor) {
  const std::string path = temp_path("shutdown");
  std::remove(path.c_str());
  auto m = shoal::actor<Marker>().options({.name = "marker", .num_cpus = 0}).remote(path);
  EXPECT_EQ(shoal::get(m.task(&Marker::ping).remote()), 7);
  shoal::shutdown();
  EXPECT_TRUE(file_exists(path));
  std::remove(path.c_str());
}

TEST_F(ActorTest, WaitingForItsOwnQueuedCallIsADeadlockError) {
  shoal::ActorHandle<Counter> c = shoal::actor<Counter>().options({.num_cpus = 0}).remote(0);
  auto f = shoal::actor<Forwarder>().options({.num_cpus = 0}).remote(c);
  try {
    shoal::get(f.task(&Forwarder::self_wait).remote(f));
    FAIL() << "expected an error";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "shoal::DeadlockError") << e.what();
  }
  // It lives on; the call self_wait submitted ran after it (the counter is at 1), this one too.
  EXPECT_EQ(shoal::get(f.task(&Forwarder::forward).remote(1)), 2);
}

TEST_F(ActorTest, MaxConcurrencyRunsThatManyCallsAtOnce) {
  auto m = shoal::actor<Meeting>().options({.num_cpus = 0, .max_concurrency = 3}).remote();
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 3; ++i) refs.push_back(m.task(&Meeting::meet).remote(3));
  for (int seen : shoal::get(refs)) EXPECT_EQ(seen, 3);
  // Calls that wait for tasks, from several threads at once, each get their own reply.
  std::vector<shoal::ObjectRef<int>> doubled;
  for (int i = 0; i < 200; ++i) doubled.push_back(m.task(&Meeting::doubled).remote(i));
  const std::vector<int> values = shoal::get(doubled);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(values[static_cast<std::size_t>(i)], 2 * i);
}

TEST_F(ActorTest, OneCallAtATimeByDefault) {
  auto m = shoal::actor<Meeting>().options({.num_cpus = 0}).remote();
  auto a = m.task(&Meeting::meet).remote(1);
  auto b = m.task(&Meeting::meet).remote(1);
  EXPECT_EQ(shoal::get(a), 1);
  EXPECT_EQ(shoal::get(b), 1);
}

TEST_F(ActorTest, TwoActorsWaitingForEachOtherIsADeadlockError) {
  auto a = shoal::actor<Peer>().options({.num_cpus = 0}).remote();
  auto b = shoal::actor<Peer>().options({.num_cpus = 0}).remote();
  ASSERT_EQ(shoal::get(a.task(&Peer::set_peer).remote(b)), 0);
  ASSERT_EQ(shoal::get(b.task(&Peer::set_peer).remote(a)), 0);
  EXPECT_EQ(shoal::get(a.task(&Peer::ping).remote(1)), 2);  // no cycle: A -> B
  try {
    shoal::get(a.task(&Peer::ping).remote(2), 60s);  // A -> B -> A (queued behind A's call)
    FAIL() << "expected an error";
  } catch (const shoal::TaskError& e) {
    // B's get() threw DeadlockError; A's call failed with B's TaskError.
    EXPECT_NE(std::string(e.what()).find("DeadlockError"), std::string::npos) << e.what();
  }
  EXPECT_EQ(shoal::get(a.task(&Peer::ping).remote(1)), 2);  // both live on
}

TEST_F(ActorTest, AHandleFromAnEarlierSessionIsRefusedAsSuch) {
  auto c = shoal::actor<Counter>().options({.num_cpus = 0}).remote(0);
  shoal::shutdown();
  shoal::init(test_config());
  for (const auto& use : std::vector<std::function<void()>>{
           [&] { shoal::kill(c); }, [&] { c.task(&Counter::add).remote(1); }}) {
    try {
      use();
      FAIL() << "expected InvalidObjectRefError";
    } catch (const shoal::InvalidObjectRefError& e) {
      EXPECT_NE(std::string(e.what()).find("ActorHandle"), std::string::npos) << e.what();
    }
  }
}

TEST_F(ActorTest, BadOptionsAreRefused) {
  EXPECT_THROW(shoal::actor<Counter>().options({.num_cpus = 3}).remote(0),
               shoal::InvalidConfigError);
  EXPECT_THROW(shoal::actor<Counter>().options({.max_restarts = -2}).remote(0),
               shoal::InvalidConfigError);
  EXPECT_THROW(shoal::actor<Counter>().options({.max_concurrency = 0}).remote(0),
               shoal::InvalidConfigError);
  shoal::ActorHandle<Counter> empty;
  EXPECT_THROW(empty.task(&Counter::value).remote(), shoal::InvalidObjectRefError);
}

}  // namespace
