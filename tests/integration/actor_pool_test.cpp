// shoal::ActorPool (shoal/actor_pool.hpp, Ray's ActorPool): results in input order (map) and in
// completion order (map_unordered), work spread over the actors with a slow one holding back only
// its own value, actors killed before or during map() skipped and their values computed by the
// others, every actor dead -> ActorDiedError, a method that throws -> TaskError once the calls in
// flight have finished, ObjectRef values, and restartable actors that the pool keeps.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <shoal/actor_pool.hpp>
#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

// Appends one byte to `path` (O_APPEND: concurrent writers from several processes do not lose
// bytes), so that the test can count events from the outside.
void append_byte(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (fd < 0) return;
  (void)!::write(fd, "x", 1);
  ::close(fd);
}

long file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<long>(st.st_size) : 0;
}

class Worker {
 public:
  // Every call sleeps delay_ms first. `log` (if not empty) is a path prefix for the event files
  // of logged().
  Worker(int delay_ms, std::string log) : delay_ms_(delay_ms), log_(std::move(log)) {}

  int square(int v) {
    pause();
    if (v < 0) throw std::domain_error("negative: " + std::to_string(v));
    return v * v;
  }
  // The square and the pid of the process that computed it.
  std::pair<int, std::int64_t> square_pid(int v) { return {square(v), getpid()}; }
  std::int64_t pid() const { return getpid(); }
  // Sleeps ms, returns ms.
  int sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return ms;
  }
  // Records its start and its end in files (<log>.start, <log>.end); 3 throws.
  int logged(int v) {
    append_byte(log_ + ".start");
    std::this_thread::sleep_for(std::chrono::milliseconds(v == 3 ? 0 : delay_ms_));
    append_byte(log_ + ".end");
    if (v == 3) throw std::runtime_error("three");
    return v;
  }
  // The process dies on 13, whichever actor runs it.
  int crash_on_13(int v) {
    if (v == 13) ::kill(getpid(), SIGKILL);
    return v;
  }

 private:
  void pause() const {
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
  }

  int delay_ms_;
  std::string log_;
};
SHOAL_ACTOR(Worker, &Worker::square, &Worker::square_pid, &Worker::pid, &Worker::sleep_ms,
            &Worker::logged, &Worker::crash_on_13);

// n actors that hold no CPU (so that they all fit in the 2-CPU session).
std::vector<shoal::ActorHandle<Worker>> workers(int n, int delay_ms = 0, std::string log = "",
                                                shoal::ActorOptions options = {}) {
  options.num_cpus = 0;
  std::vector<shoal::ActorHandle<Worker>> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(shoal::actor<Worker>().options(options).remote(delay_ms, log));
  }
  return out;
}

std::vector<int> iota(int n) {
  std::vector<int> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = i;
  return v;
}

std::vector<int> squares(int n) {
  std::vector<int> v;
  for (int i = 0; i < n; ++i) v.push_back(i * i);
  return v;
}

std::int64_t pid_of(const shoal::ActorHandle<Worker>& w) {
  return shoal::get(w.task(&Worker::pid).remote(), 30s);
}

class ActorPoolTest : public shoal::testing::SessionTest {};

TEST_F(ActorPoolTest, MapReturnsResultsInInputOrder) {
  shoal::ActorPool<Worker> pool(workers(3));
  EXPECT_EQ(pool.size(), 3u);
  EXPECT_EQ(pool.map(&Worker::square, iota(200)), squares(200));
  // Again, on the same pool; and no values, no calls.
  EXPECT_EQ(pool.map(&Worker::square, iota(7)), squares(7));
  EXPECT_TRUE(pool.map(&Worker::square, std::vector<int>{}).empty());
  std::vector<int> unordered = pool.map_unordered(&Worker::square, iota(100));
  std::sort(unordered.begin(), unordered.end());
  EXPECT_EQ(unordered, squares(100));
}

TEST_F(ActorPoolTest, MapUnorderedReturnsResultsAsTheyFinish) {
  shoal::ActorPool<Worker> pool(workers(2));
  // The first actor sleeps 1 s on the first value; the other runs the three short ones meanwhile.
  const std::vector<int> ms = {1000, 10, 20, 30};
  EXPECT_EQ(pool.map_unordered(&Worker::sleep_ms, ms), (std::vector<int>{10, 20, 30, 1000}));
  EXPECT_EQ(pool.map(&Worker::sleep_ms, ms), ms);
}

TEST_F(ActorPoolTest, WorkSpreadsOverEveryActorAndASlowOneHoldsBackOnlyItsValue) {
  std::vector<shoal::ActorHandle<Worker>> actors = workers(2, 5);
  actors.push_back(workers(1, 1500).front());  // slow: 1.5 s a call
  std::set<std::int64_t> fast = {pid_of(actors[0]), pid_of(actors[1])};
  const std::int64_t slow = pid_of(actors[2]);
  shoal::ActorPool<Worker> pool(actors);
  const auto started = std::chrono::steady_clock::now();
  const std::vector<std::pair<int, std::int64_t>> got = pool.map(&Worker::square_pid, iota(60));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::map<std::int64_t, int> per_pid;
  ASSERT_EQ(got.size(), 60u);
  for (int i = 0; i < 60; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)].first, i * i);
    ++per_pid[got[static_cast<std::size_t>(i)].second];
  }
  for (const auto& [pid, n] : per_pid) {
    EXPECT_TRUE(fast.count(pid) == 1 || pid == slow) << "pid " << pid << " is no pool actor";
  }
  // Every actor got work; the slow one only its first value: the two fast ones ran the 59 others
  // (5 ms each, about 150 ms) while it slept.
  EXPECT_EQ(per_pid.size(), 3u);
  EXPECT_EQ(per_pid[slow], 1) << "took " << seconds << " s";
  EXPECT_GE(per_pid[*fast.begin()], 10);
  EXPECT_GE(per_pid[*fast.rbegin()], 10);
}

TEST_F(ActorPoolTest, AnActorKilledBeforeMapIsSkipped) {
  std::vector<shoal::ActorHandle<Worker>> actors = workers(3);
  const std::int64_t dead = pid_of(actors[1]);
  shoal::kill(actors[1]);
  shoal::ActorPool<Worker> pool(actors);
  const std::vector<std::pair<int, std::int64_t>> got = pool.map(&Worker::square_pid, iota(50));
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(got[static_cast<std::size_t>(i)].first, i * i);
    EXPECT_NE(got[static_cast<std::size_t>(i)].second, dead);
  }
  EXPECT_EQ(pool.size(), 2u);
}

TEST_F(ActorPoolTest, ActorsKilledDuringMapAreSkippedAndTheirValuesComputedByTheOthers) {
  // 3 actors, 20 ms a call, 90 values: about 600 ms of work. After 150 ms one is killed with
  // shoal::kill() and another one's process gets SIGKILL (it has no restarts: it dies for good).
  std::vector<shoal::ActorHandle<Worker>> actors = workers(3, 20);
  const auto crashed = static_cast<pid_t>(pid_of(actors[2]));
  shoal::ActorPool<Worker> pool(actors);
  std::thread killer([&] {
    std::this_thread::sleep_for(150ms);
    shoal::kill(actors[0]);
    ::kill(crashed, SIGKILL);
  });
  const std::vector<int> got = pool.map(&Worker::square, iota(90));
  killer.join();
  EXPECT_EQ(got, squares(90));
  EXPECT_EQ(pool.size(), 1u);
  // The pool remembers: the next map uses only the survivor.
  const std::int64_t survivor = pid_of(actors[1]);
  for (const auto& [sq, pid] : pool.map(&Worker::square_pid, iota(10))) EXPECT_EQ(pid, survivor);
}

TEST_F(ActorPoolTest, EveryActorDeadThrowsActorDiedError) {
  std::vector<shoal::ActorHandle<Worker>> actors = workers(2);
  for (const auto& a : actors) shoal::kill(a);
  shoal::ActorPool<Worker> pool(actors);
  try {
    pool.map(&Worker::square, iota(5));
    FAIL() << "expected ActorDiedError";
  } catch (const shoal::ActorDiedError& e) {
    EXPECT_EQ(e.cause(), shoal::ActorDiedError::Cause::kKilled);
    EXPECT_NE(std::string(e.what()).find("every actor of the pool is dead"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(pool.size(), 0u);
  // Known dead now: thrown at once, without a call; no values, no error.
  EXPECT_THROW(pool.map_unordered(&Worker::square, iota(5)), shoal::ActorDiedError);
  EXPECT_TRUE(pool.map(&Worker::square, std::vector<int>{}).empty());
}

TEST_F(ActorPoolTest, AValueThatKillsEveryActorItIsGivenToEndsInActorDiedError) {
  // 13 kills the process that runs it; the pool gives it to the next actor, which dies too.
  shoal::ActorPool<Worker> pool(workers(3));
  try {
    pool.map(&Worker::crash_on_13, iota(30));
    FAIL() << "expected ActorDiedError";
  } catch (const shoal::ActorDiedError& e) {
    EXPECT_EQ(e.cause(), shoal::ActorDiedError::Cause::kProcessDied) << e.what();
    EXPECT_EQ(e.signal(), SIGKILL) << e.what();
  }
  EXPECT_EQ(pool.size(), 0u);
}

TEST_F(ActorPoolTest, AMethodThatThrowsGivesTaskErrorOnceTheCallsInFlightHaveFinished) {
  const std::string log = "/tmp/shoal_actor_pool_test_" + std::to_string(getpid());
  std::remove((log + ".start").c_str());
  std::remove((log + ".end").c_str());
  // 200 ms a call, except 3 which throws at once.
  shoal::ActorPool<Worker> pool(workers(3, 200, log));
  try {
    pool.map(&Worker::logged, iota(40));
    FAIL() << "expected TaskError";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "std::runtime_error");
    EXPECT_EQ(e.original_what(), "three");
  }
  // Every call that started had ended when map() threw, and no value was given out after the
  // failure: far fewer than 40 calls ran.
  const long started = file_size(log + ".start");
  EXPECT_EQ(file_size(log + ".end"), started);
  EXPECT_LE(started, 10);
  // The actors live on; the pool is usable at once.
  EXPECT_EQ(pool.size(), 3u);
  EXPECT_EQ(pool.map(&Worker::square, iota(10)), squares(10));
  // A negative value makes square() throw.
  EXPECT_THROW(pool.map(&Worker::square, std::vector<int>{1, -1, 2}), shoal::TaskError);
  std::remove((log + ".start").c_str());
  std::remove((log + ".end").c_str());
}

TEST_F(ActorPoolTest, ObjectRefValuesAndAValueWhoseProducerDied) {
  shoal::ActorPool<Worker> pool(workers(2));
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 10; ++i) refs.push_back(shoal::put(i));
  EXPECT_EQ(pool.map(&Worker::square, refs), squares(10));
  // An argument made by an actor that was killed fails its call with ActorDiedError: that is the
  // value's failure, not the pool actor's; map() throws it and keeps its actors.
  shoal::ActorHandle<Worker> gone = workers(1, 200).front();
  shoal::ObjectRef<int> lost = gone.task(&Worker::square).remote(7);
  shoal::kill(gone);
  refs[4] = lost;
  EXPECT_THROW(pool.map(&Worker::square, refs), shoal::ActorDiedError);
  EXPECT_EQ(pool.size(), 2u);
}

TEST_F(ActorPoolTest, ARestartableActorWithTaskRetriesIsKept) {
  // max_task_retries = -1: a call caught by the death runs again on the new instance, so the
  // pool never sees the death.
  std::vector<shoal::ActorHandle<Worker>> actors =
      workers(2, 20, "", {.max_restarts = -1, .max_task_retries = -1});
  const auto pid = static_cast<pid_t>(pid_of(actors[0]));
  shoal::ActorPool<Worker> pool(actors);
  std::thread killer([&] {
    std::this_thread::sleep_for(100ms);
    ::kill(pid, SIGKILL);
  });
  const std::vector<int> got = pool.map(&Worker::square, iota(40));
  killer.join();
  EXPECT_EQ(got, squares(40));
  EXPECT_EQ(pool.size(), 2u);
  EXPECT_NE(pid_of(actors[0]), pid);
}

TEST_F(ActorPoolTest, ABadPoolIsRefused) {
  EXPECT_THROW(shoal::ActorPool<Worker>({}), shoal::InvalidConfigError);
  EXPECT_THROW(shoal::ActorPool<Worker>({shoal::ActorHandle<Worker>()}),
               shoal::InvalidObjectRefError);
}

}  // namespace
