// Stress for actors: 20 runs in a row, in one session. Each run creates 4 actors that restart
// forever (max_restarts = -1, half a CPU each: they fill the 2-CPU session), makes 10,000 calls to
// them from 3 driver threads, while a bounded loop SIGKILLs the process of a random actor (its pid
// comes from a method that returns getpid()). Checked in every run:
//  - every call gives the right value, or ActorDiedError; on the two actors with
//    max_task_retries = -1 (a caught call runs again on the next instance) every call succeeds;
//  - per-caller order: each call records (thread, seq) in its instance's state and returns the
//    seq of that thread's previous call on the same instance. Instances are told apart by a
//    random token drawn in the constructor (a restart starts from empty state). Calls run one at
//    a time in submission order, and an instance dies once: of the calls of one thread that ran
//    on one instance, only the last may have failed (the death caught it after it ran); calls
//    caught before they ran fail without touching the state. So, sorted by seq, the successful
//    calls of a thread on an instance form an exact chain: the first saw -1, each next one saw
//    the one before it;
//  - nothing hangs: every get() has a 60 s limit, and a thread stops at its first timeout;
//  - at the end (actors dropped in even runs, destructor path; shoal::kill() in odd runs), every
//    actor process seen is gone (only the 2 pool workers are left under the fork helper), the
//    CPUs are back, and the store is back to its baseline (bounded waits).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kRuns = 3;  // a sanitized fork and start-up take 10-50x longer
constexpr int kCallsPerRun = 2000;
constexpr int kMaxKillsPerRun = 4;
#else
constexpr int kRuns = 20;
constexpr int kCallsPerRun = 10000;
constexpr int kMaxKillsPerRun = 10;
#endif
constexpr int kActors = 4;
constexpr int kThreads = 3;
constexpr int kBatch = 40;  // calls a thread submits before it gets them: many in flight at a kill
constexpr auto kGetLimit = 60s;
constexpr int kSpin = 20000;  // steps of work in a call

// What a call returns.
struct Reply {
  std::uint64_t instance = 0;  // the token of the instance that ran it
  std::int64_t pid = 0;        // its process
  std::int64_t prev = -2;      // the seq of this thread's previous call on this instance, or -1
  std::int64_t value = 0;      // f(thread, seq, x)
  MSGPACK_DEFINE(instance, pid, prev, value)
};

std::int64_t expected_value(int thread, std::int64_t seq, std::int64_t x) {
  return x * 3 + seq * 7 + thread;
}

class Sequencer {
 public:
  Sequencer() : instance_(std::random_device{}() * 0x100000001ull ^ std::random_device{}()) {}

  Reply call(int thread, std::int64_t seq, std::int64_t x) {
    // Some work (tens of microseconds), so that kills land inside calls too.
    auto spin = static_cast<std::uint64_t>(x);
    for (int k = 0; k < kSpin; ++k) spin = spin * 6364136223846793005ULL + 1442695040888963407ULL;
    sink_ ^= spin;
    std::int64_t& last = last_.try_emplace(thread, -1).first->second;
    const Reply r{instance_, getpid(), last, expected_value(thread, seq, x)};
    last = seq;
    return r;
  }
  std::int64_t pid() const { return getpid(); }

 private:
  std::uint64_t instance_;
  std::map<int, std::int64_t> last_;  // thread -> seq of its last call here
  std::uint64_t sink_ = 0;            // keeps the spin from being optimized away
};
SHOAL_ACTOR(Sequencer, &Sequencer::call, &Sequencer::pid);

// One call as its caller saw it.
struct Record {
  int actor = 0;
  std::int64_t seq = 0;
  bool ok = false;
  Reply reply;
};

// The actors with max_task_retries = -1: their calls must all succeed.
bool retries_forever(int actor) { return actor >= 2; }

struct RunResult {
  int kills = 0;
  int calls = 0;      // calls checked
  int died = 0;       // of them, calls that failed with ActorDiedError
  int instances = 0;  // actor instances that answered a call
  double seconds = 0;
};

RunResult run_once(int run, pid_t helper, std::set<pid_t>& pids_seen) {
  std::vector<shoal::ActorHandle<Sequencer>> actors;
  for (int i = 0; i < kActors; ++i) {
    actors.push_back(shoal::actor<Sequencer>()
                         .options({.num_cpus = 0.5,
                                   .max_restarts = -1,
                                   .max_task_retries = retries_forever(i) ? -1 : 0})
                         .remote());
  }
  std::mutex seen_mu;
  auto see = [&](std::int64_t pid) {
    std::lock_guard<std::mutex> lock(seen_mu);
    pids_seen.insert(static_cast<pid_t>(pid));
  };

  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  std::thread killer([&] {
    std::mt19937 rng(static_cast<unsigned>(run) * 7919u + 3u);
    while (!stop.load() && kills.load() < kMaxKillsPerRun) {
      std::this_thread::sleep_for(std::chrono::microseconds(5000 + rng() % 20000));
      if (stop.load()) break;
      const auto& victim = actors[rng() % actors.size()];
      pid_t pid = 0;
      try {
        pid = static_cast<pid_t>(shoal::get(victim.task(&Sequencer::pid).remote(), kGetLimit));
      } catch (const shoal::ActorDiedError&) {
        continue;  // caught by a death: ask again next time
      } catch (const std::exception& e) {
        ADD_FAILURE() << "run " << run << ": pid(): " << e.what();
        return;
      }
      see(pid);
      // Only a process of this session (a child of our fork helper): a pid that has just died
      // may have been given to someone else's process already.
      if (shoal::testing::parent_of(pid) == helper && ::kill(pid, SIGKILL) == 0) ++kills;
    }
  });

  std::vector<std::vector<Record>> records(kThreads);
  std::vector<std::string> errors(kThreads);
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> callers;
  for (int t = 0; t < kThreads; ++t) {
    callers.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(run * kThreads + t) * 104729u + 1u);
      const int n = kCallsPerRun / kThreads + (t < kCallsPerRun % kThreads ? 1 : 0);
      std::vector<Record>& mine = records[static_cast<std::size_t>(t)];
      mine.reserve(static_cast<std::size_t>(n));
      for (int begin = 0; begin < n && errors[static_cast<std::size_t>(t)].empty();
           begin += kBatch) {
        const int end = std::min(n, begin + kBatch);
        std::vector<shoal::ObjectRef<Reply>> refs;
        std::vector<std::int64_t> xs;
        for (int seq = begin; seq < end; ++seq) {
          Record r;
          r.actor = static_cast<int>(rng() % kActors);
          r.seq = seq;
          xs.push_back(static_cast<std::int64_t>(rng() % 1000000));
          refs.push_back(actors[static_cast<std::size_t>(r.actor)]
                             .task(&Sequencer::call)
                             .remote(t, static_cast<std::int64_t>(seq), xs.back()));
          mine.push_back(r);
        }
        for (int i = 0; i < end - begin; ++i) {
          Record& r = mine[static_cast<std::size_t>(begin + i)];
          try {
            r.reply = shoal::get(refs[static_cast<std::size_t>(i)], kGetLimit);
            r.ok = true;
            if (r.reply.value != expected_value(t, r.seq, xs[static_cast<std::size_t>(i)])) {
              errors[static_cast<std::size_t>(t)] = "wrong value for seq " + std::to_string(r.seq);
            }
            see(r.reply.pid);
          } catch (const shoal::ActorDiedError& e) {
            if (retries_forever(r.actor)) {
              errors[static_cast<std::size_t>(t)] = "seq " + std::to_string(r.seq) + " on actor " +
                                                    std::to_string(r.actor) +
                                                    " (max_task_retries = -1) failed: " + e.what();
            }
          } catch (const std::exception& e) {  // GetTimeoutError included: stop, do not hang
            errors[static_cast<std::size_t>(t)] = "seq " + std::to_string(r.seq) + " on actor " +
                                                  std::to_string(r.actor) + ": " + e.what();
            mine.resize(static_cast<std::size_t>(begin + i));  // the rest were not checked
            break;
          }
        }
      }
    });
  }
  for (std::thread& c : callers) c.join();
  RunResult result;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  stop = true;
  killer.join();
  result.kills = kills.load();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[static_cast<std::size_t>(t)], "") << "run " << run << ", thread " << t;
  }

  // Per-caller order, exactly: (thread, actor, instance) -> the successful calls' (seq, prev).
  std::map<std::tuple<int, int, std::uint64_t>, std::vector<std::pair<std::int64_t, std::int64_t>>>
      chains;
  std::set<std::uint64_t> instances;
  for (int t = 0; t < kThreads; ++t) {
    for (const Record& r : records[static_cast<std::size_t>(t)]) {
      ++result.calls;
      if (r.ok) instances.insert(r.reply.instance);
      if (!r.ok) {
        ++result.died;
        continue;
      }
      chains[{t, r.actor, r.reply.instance}].emplace_back(r.seq, r.reply.prev);
    }
  }
  result.instances = static_cast<int>(instances.size());
  EXPECT_EQ(result.calls, kCallsPerRun) << "run " << run;
  int broken = 0;
  for (auto& [key, calls] : chains) {
    std::sort(calls.begin(), calls.end());  // by seq: the order the thread submitted them
    std::int64_t before = -1;
    for (const auto& [seq, prev] : calls) {
      if (prev != before && broken++ < 5) {
        ADD_FAILURE() << "run " << run << ": thread " << std::get<0>(key) << ", actor "
                      << std::get<1>(key) << ": call " << seq << " saw " << prev
                      << " as the previous call on its instance, expected " << before;
      }
      before = seq;
    }
  }

  // The end of the actors: dropped (their destructors run) or killed.
  if (run % 2 == 1) {
    for (const auto& a : actors) shoal::kill(a);
  }
  actors.clear();
  return result;
}

TEST(ActorStress, TenThousandCallsFromThreeThreadsWhileActorsAreKilledAtRandom) {
  shoal::init(shoal::testing::SessionTest::test_config());
  auto runtime = shoal::testing::driver_runtime();
  const pid_t helper = runtime->TEST_fork_helper_pid();
  const shoal::ObjectStoreStats baseline = shoal::object_store_stats();
  const std::size_t pool_processes = shoal::testing::children_of(helper).size();
  std::printf("%d runs of %d calls from %d threads to %d actors, up to %d kills a run\n", kRuns,
              kCallsPerRun, kThreads, kActors, kMaxKillsPerRun);

  int total_kills = 0;
  for (int run = 0; run < kRuns; ++run) {
    std::set<pid_t> pids;
    const RunResult r = run_once(run, helper, pids);
    // No actor process left: every pid seen is gone (or, reused, no child of our helper), and
    // only the pool's workers are left under the helper.
    EXPECT_TRUE(shoal::testing::eventually(
        [&] {
          for (pid_t pid : pids) {
            if (shoal::testing::process_alive(pid) && shoal::testing::parent_of(pid) == helper) {
              return false;
            }
          }
          return shoal::testing::children_of(helper).size() == pool_processes;
        },
        20s))
        << "run " << run << ": " << shoal::testing::children_of(helper).size()
        << " processes under the fork helper, " << pool_processes << " expected";
    EXPECT_TRUE(
        shoal::testing::eventually([] { return shoal::available_resources()["CPU"] == 2.0; }, 20s))
        << "run " << run << ": " << shoal::available_resources()["CPU"] << " CPUs available";
    EXPECT_TRUE(shoal::testing::eventually(
        [&] {
          const shoal::ObjectStoreStats now = shoal::object_store_stats();
          return now.num_objects == baseline.num_objects && now.used_bytes == baseline.used_bytes &&
                 now.inline_bytes == baseline.inline_bytes;
        },
        20s))
        << "run " << run << ": " << shoal::object_store_stats().num_objects << " objects, "
        << baseline.num_objects << " at the start";
    total_kills += r.kills;
    std::printf(
        "run %d: %d calls in %.2f s, %d kills, %d calls failed with ActorDiedError, "
        "%d instances answered, %zu pids seen\n",
        run, r.calls, r.seconds, r.kills, r.died, r.instances, pids.size());
    std::fflush(stdout);
    if (::testing::Test::HasFailure()) break;
  }
  EXPECT_GT(total_kills, 0) << "the killer never killed: the test checked nothing";
  shoal::shutdown();
}

}  // namespace
