// Seeing inside a running session (<shoal/observe.hpp>): the timeline holds one complete event per
// task attempt on the row of the process that ran it, status() counts tasks by state as they
// are, memory_summary() names who made each object and who holds it; in local mode too.
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

int square(int x) { return x * x; }
int fails(int) { throw std::runtime_error("no good"); }
// Dies (SIGKILL) the first time, when `marker` does not exist yet; returns 7 the second time.
int dies_once(const std::string& marker) {
  if (!std::filesystem::exists(marker)) {
    std::ofstream(marker) << "x";
    raise(SIGKILL);
  }
  return 7;
}
// Waits until `gate` exists (at most 60 s), then returns x.
int waits_for(const std::string& gate, int x) {
  for (int i = 0; i < 6000 && !std::filesystem::exists(gate); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  return x;
}
int after(int x, int y) { return x + y; }
std::vector<char> block(int n) { return std::vector<char>(static_cast<std::size_t>(n), 'b'); }
std::string status_inside(int) {
  try {
    (void)shoal::status();
  } catch (const shoal::Error& e) {
    return e.what();
  }
  return "no error";
}
constexpr int kPutInsideLine = __LINE__ + 1;
shoal::ObjectRef<int> puts_inside(int x) { return shoal::put(x); }
SHOAL_REMOTE(square, fails, dies_once, waits_for, after, block, status_inside, puts_inside);

struct Tally {
  int n = 0;
  int add(int x) { return n += x; }
};
SHOAL_ACTOR(Tally, &Tally::add);

// A temporary directory, removed with its files.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/shoal-observe-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const char* name) const { return (path / name).string(); }
};

json read_trace(const std::string& path) {
  std::ifstream in(path);
  return json::parse(in);
}

// The trace's complete events of category `cat`.
std::vector<json> events(const json& trace, const std::string& cat) {
  std::vector<json> out;
  for (const json& e : trace.at("traceEvents")) {
    if (e.value("ph", "") == "X" && e.value("cat", "") == cat) out.push_back(e);
  }
  return out;
}

// pid -> the row's name.
std::map<int, std::string> rows(const json& trace) {
  std::map<int, std::string> out;
  for (const json& e : trace.at("traceEvents")) {
    if (e.value("ph", "") == "M" && e.value("name", "") == "process_name") {
      out[e.at("pid").get<int>()] = e.at("args").at("name").get<std::string>();
    }
  }
  return out;
}

class ObserveTest : public shoal::testing::SessionTest {};

TEST_F(ObserveTest, TheTimelineHoldsOneCompleteEventPerTaskAttemptOnItsWorkersRow) {
  TempDir dir;
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 20; ++i) refs.push_back(shoal::task(square).remote(i));
  EXPECT_EQ(shoal::get(refs).size(), 20u);
  auto bad = shoal::task(fails).options({.max_retries = 0}).remote(1);
  EXPECT_THROW(shoal::get(bad), shoal::TaskError);
  // Two attempts: the first kills its worker.
  EXPECT_EQ(shoal::get(shoal::task(dies_once).remote(dir.file("died"))), 7);
  shoal::timeline(dir.file("trace.json"));

  const json trace = read_trace(dir.file("trace.json"));
  const std::map<int, std::string> names = rows(trace);
  std::map<std::string, int> count;
  for (const json& e : events(trace, "task")) {
    const std::string name = e.at("name");
    ++count[name];
    const int pid = e.at("pid");
    ASSERT_TRUE(names.count(pid)) << "every task is on a named row";
    EXPECT_EQ(names.at(pid).rfind("worker ", 0), 0u) << names.at(pid);
    EXPECT_GE(e.at("dur").get<double>(), 0.0);
    EXPECT_TRUE(e.at("args").contains("task_id"));
    if (name == "fails") {
      EXPECT_NE(e.at("args").at("error").get<std::string>().find("no good"), std::string::npos);
    }
    if (name == "dies_once") {
      const int attempt = e.at("args").at("attempt");
      if (attempt == 1) {
        EXPECT_NE(e.at("args").at("error").get<std::string>().find("worker died"),
                  std::string::npos);
      } else {
        EXPECT_EQ(attempt, 2);
        EXPECT_FALSE(e.at("args").contains("error"));
      }
    }
  }
  EXPECT_EQ(count["square"], 20);
  EXPECT_EQ(count["fails"], 1);
  EXPECT_EQ(count["dies_once"], 2) << "one event per attempt";
  // The first attempt's worker died: the retry ran in another process, on a row of its own.
  std::set<int> dies_once_rows;
  for (const json& e : events(trace, "task")) {
    if (e.at("name") == "dies_once") dies_once_rows.insert(e.at("pid").get<int>());
  }
  EXPECT_EQ(dies_once_rows.size(), 2u);
  // The program's get() of 20 refs is on the driver's row.
  const int me = static_cast<int>(getpid());
  ASSERT_TRUE(names.count(me));
  EXPECT_EQ(names.at(me).rfind("driver", 0), 0u);
  bool saw_get = false;
  for (const json& e : events(trace, "driver")) {
    EXPECT_EQ(e.at("pid").get<int>(), me);
    if (e.at("name") == "get" && e.at("args").at("objects") == 20) saw_get = true;
  }
  EXPECT_TRUE(saw_get);
  EXPECT_EQ(trace.at("otherData").at("dropped_task_attempts"), 0);
}

TEST_F(ObserveTest, TheTimelineShowsATaskWaitingForItsArgumentsAndQueued) {
  TempDir dir;
  auto slow = shoal::task(waits_for).remote(dir.file("gate"), 1);
  auto next = shoal::task(after).remote(slow, 1);  // waits for slow's result
  std::this_thread::sleep_for(50ms);
  std::ofstream(dir.file("gate")) << "open";
  EXPECT_EQ(shoal::get(next), 2);
  shoal::timeline(dir.file("trace.json"));
  const json trace = read_trace(dir.file("trace.json"));
  std::map<std::string, double> begin, end;
  for (const json& e : trace.at("traceEvents")) {
    if (e.value("cat", "") != "phase" || e.value("name", "") != "waiting for arguments") continue;
    (e.at("ph") == "b" ? begin : end)[e.at("id")] = e.at("ts");
  }
  ASSERT_EQ(begin.size(), 1u) << "only `after` waited for an argument";
  const double waited_us = end.begin()->second - begin.begin()->second;
  EXPECT_GE(waited_us, 40'000.0) << "it waited while the gate was closed";
  // The attempt starts after it stopped waiting.
  for (const json& e : events(trace, "task")) {
    if (e.at("name") == "after") EXPECT_GE(e.at("ts").get<double>(), end.begin()->second);
  }
}

TEST_F(ObserveTest, StatusCountsTasksByTheStateTheyAreIn) {
  TempDir dir;
  const std::string gate = dir.file("gate");
  std::vector<shoal::ObjectRef<int>> running, queued, waiting;
  for (int i = 0; i < 2; ++i) running.push_back(shoal::task(waits_for).remote(gate, i));
  ASSERT_TRUE(shoal::testing::eventually([] { return shoal::status().tasks.running == 2; }, 10s));
  for (int i = 0; i < 2; ++i) queued.push_back(shoal::task(waits_for).remote(gate, i));
  for (int i = 0; i < 3; ++i) waiting.push_back(shoal::task(after).remote(running[0], i));

  const shoal::Status s = shoal::status();
  EXPECT_EQ(s.tasks.running, 2u);
  EXPECT_EQ(s.tasks.queued, 2u);
  EXPECT_EQ(s.tasks.waiting_for_arguments, 3u);
  EXPECT_EQ(s.tasks.failed, 0u);
  EXPECT_EQ(s.total.at("CPU"), 2.0);
  EXPECT_EQ(s.available.at("CPU"), 0.0) << "both CPUs are held by the running tasks";
  ASSERT_EQ(s.workers.size(), 2u);
  for (const shoal::WorkerStatus& w : s.workers) {
    EXPECT_EQ(w.state, "running");
    EXPECT_EQ(w.current_task, "waits_for");
    EXPECT_GT(w.pid, 0);
  }
  const std::string text = s.to_string();
  EXPECT_NE(text.find("3 waiting for arguments, 2 queued, 2 running"), std::string::npos) << text;
  EXPECT_NE(text.find("GiB"), std::string::npos) << text;

  std::ofstream(gate) << "open";
  EXPECT_EQ(shoal::get(running).size(), 2u);
  EXPECT_EQ(shoal::get(waiting).size(), 3u);
  EXPECT_EQ(shoal::get(queued).size(), 2u);
  EXPECT_THROW(shoal::get(shoal::task(fails).options({.max_retries = 0}).remote(0)),
               shoal::TaskError);
  const shoal::Status after_all = shoal::status();
  EXPECT_EQ(
      after_all.tasks.running + after_all.tasks.queued + after_all.tasks.waiting_for_arguments, 0u);
  EXPECT_EQ(after_all.tasks.finished, 7u);
  EXPECT_EQ(after_all.tasks.failed, 1u);
  std::uint64_t done = 0;
  for (const shoal::WorkerStatus& w : after_all.workers) {
    EXPECT_EQ(w.state, "idle");
    done += w.tasks_done;
  }
  EXPECT_EQ(done, 8u) << "7 finished and 1 failed attempt";
}

TEST_F(ObserveTest, MemorySummaryNamesTheCallSiteAndTheHoldersBiggestFirst) {
  const auto big = shoal::put(std::vector<char>(1 << 20, 'x'));
  const int put_line = __LINE__ - 1;
  const auto result = shoal::task(block).remote(4096);
  const int remote_line = __LINE__ - 1;
  shoal::get(result);
  const auto small = shoal::put(42);

  const shoal::MemorySummary m = shoal::memory_summary();
  ASSERT_EQ(m.objects.size(), 3u);
  const shoal::ObjectSummary& first = m.objects[0];
  EXPECT_EQ(first.id, big.id());
  EXPECT_EQ(first.kind, "put");
  EXPECT_TRUE(first.in_store);
  EXPECT_GE(first.size_bytes, 1u << 20);
  EXPECT_EQ(first.program_refs, 1u);
  EXPECT_NE(first.call_site.find("observe_test.cpp:" + std::to_string(put_line)), std::string::npos)
      << first.call_site;
  EXPECT_EQ(m.objects[1].id, result.id());
  EXPECT_EQ(m.objects[1].kind, "task result");
  EXPECT_NE(m.objects[1].call_site.find("observe_test.cpp:" + std::to_string(remote_line)),
            std::string::npos)
      << m.objects[1].call_site;
  EXPECT_EQ(m.objects[2].id, small.id());
  EXPECT_GT(m.total_bytes, (1u << 20) + 4096u);
  const std::string text = m.to_string();
  EXPECT_NE(text.find("observe_test.cpp:" + std::to_string(put_line)), std::string::npos) << text;
  EXPECT_NE(text.find("program 1"), std::string::npos) << text;
}

TEST_F(ObserveTest, APendingTaskHoldsItsArgument) {
  TempDir dir;
  auto slow = shoal::task(waits_for).remote(dir.file("gate"), 1);
  auto dependent = shoal::task(after).remote(slow, 2);
  bool held_by_task = false;
  for (const shoal::ObjectSummary& o : shoal::memory_summary().objects) {
    if (o.id == slow.id()) {
      held_by_task = o.task_refs == 1 && o.program_refs == 1 && o.state == "pending";
    }
  }
  EXPECT_TRUE(held_by_task);
  std::ofstream(dir.file("gate")) << "open";
  EXPECT_EQ(shoal::get(dependent), 3);
}

TEST_F(ObserveTest, AnObjectATaskMadeNamesTheCallInsideTheTask) {
  const shoal::ObjectRef<int> inner = shoal::get(shoal::task(puts_inside).remote(5));
  bool named = false;
  for (const shoal::ObjectSummary& o : shoal::memory_summary().objects) {
    if (o.id == inner.id()) {
      named = o.call_site.find("observe_test.cpp:" + std::to_string(kPutInsideLine)) !=
              std::string::npos;
      EXPECT_TRUE(named) << o.call_site;
    }
  }
  EXPECT_TRUE(named);
  EXPECT_EQ(shoal::get(inner), 5);
}

TEST_F(ObserveTest, AnActorNamesTheLineThatMadeItAndHasARowOfItsOwn) {
  const auto tally = shoal::actor<Tally>().remote();
  const int line = __LINE__ - 1;
  EXPECT_EQ(shoal::get(tally.task(&Tally::add).remote(2)), 2);
  bool found = false;
  for (const shoal::ObjectSummary& o : shoal::memory_summary().objects) {
    if (o.id != tally.id()) continue;
    found = true;
    EXPECT_EQ(o.kind, "actor");
    EXPECT_NE(o.call_site.find("observe_test.cpp:" + std::to_string(line)), std::string::npos)
        << o.call_site;
  }
  EXPECT_TRUE(found);
  TempDir dir;
  shoal::timeline(dir.file("trace.json"));
  const json trace = read_trace(dir.file("trace.json"));
  const std::map<int, std::string> names = rows(trace);
  bool on_actor_row = false;
  for (const json& e : events(trace, "task")) {
    if (e.at("name") != "Tally::add") continue;
    on_actor_row = names.at(e.at("pid").get<int>()).rfind("actor Tally", 0) == 0;
  }
  EXPECT_TRUE(on_actor_row);
}

TEST_F(ObserveTest, TheCallsRefuseInsideATask) {
  const std::string what = shoal::get(shoal::task(status_inside).remote(0));
  EXPECT_NE(what.find("not available inside a task"), std::string::npos) << what;
}

TEST(ObserveConfigTest, TheTimelineKeepsTheNewestAttemptsAndCountsTheRest) {
  shoal::Config c = shoal::testing::SessionTest::test_config();
  c.timeline_max_tasks = 3;
  shoal::init(c);
  TempDir dir;
  for (int i = 0; i < 10; ++i) EXPECT_EQ(shoal::get(shoal::task(square).remote(i)), i * i);
  shoal::timeline(dir.file("trace.json"));
  const json trace = read_trace(dir.file("trace.json"));
  EXPECT_EQ(events(trace, "task").size(), 3u);
  EXPECT_EQ(trace.at("otherData").at("dropped_task_attempts"), 7);
  shoal::shutdown();
}

TEST(ObserveConfigTest, ZeroTurnsRecordingOffAndOutOfRangeIsRefused) {
  shoal::Config c = shoal::testing::SessionTest::test_config();
  c.timeline_max_tasks = -1;
  EXPECT_THROW(shoal::init(c), shoal::InvalidConfigError);
  c.timeline_max_tasks = 0;
  shoal::init(c);
  TempDir dir;
  EXPECT_EQ(shoal::get(shoal::task(square).remote(3)), 9);
  shoal::timeline(dir.file("trace.json"));
  const json trace = read_trace(dir.file("trace.json"));
  EXPECT_TRUE(events(trace, "task").empty());
  EXPECT_EQ(trace.at("otherData").at("recording"), false);
  shoal::shutdown();
}

TEST(ObserveConfigTest, ShoalTimelineInTheEnvironmentWritesTheTraceAtShutdown) {
  TempDir dir;
  const std::string path = dir.file("at_exit.json");
  ASSERT_EQ(setenv("SHOAL_TIMELINE", path.c_str(), 1), 0);
  shoal::init(shoal::testing::SessionTest::test_config());
  EXPECT_EQ(shoal::get(shoal::task(square).remote(5)), 25);
  shoal::shutdown();
  unsetenv("SHOAL_TIMELINE");
  ASSERT_TRUE(std::filesystem::exists(path));
  EXPECT_EQ(events(read_trace(path), "task").size(), 1u);
}

TEST(ObserveConfigTest, AnUnwritablePathIsASystemErrorThatNamesIt) {
  shoal::init(shoal::testing::SessionTest::test_config());
  try {
    shoal::timeline("/nonexistent-dir/trace.json");
    ADD_FAILURE() << "no error";
  } catch (const shoal::SystemError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/trace.json"), std::string::npos);
  }
  shoal::shutdown();
  EXPECT_THROW(shoal::status(), shoal::NotInitializedError);
}

TEST(ObserveLocalModeTest, StatusMemoryAndTimelineWorkInLocalMode) {
  shoal::Config c = shoal::testing::SessionTest::test_config();
  c.local_mode = true;
  shoal::init(c);
  TempDir dir;
  const auto kept = shoal::put(std::vector<int>(100, 1));
  const int line = __LINE__ - 1;
  EXPECT_EQ(shoal::get(shoal::task(square).remote(4)), 16);
  EXPECT_THROW(shoal::get(shoal::task(fails).options({.max_retries = 0}).remote(1)),
               shoal::TaskError);
  const shoal::Status s = shoal::status();
  EXPECT_TRUE(s.local_mode);
  EXPECT_TRUE(s.workers.empty());
  EXPECT_EQ(s.tasks.finished, 1u);
  EXPECT_EQ(s.tasks.failed, 1u);
  bool named = false;
  for (const shoal::ObjectSummary& o : shoal::memory_summary().objects) {
    if (o.id == kept.id()) {
      named = o.call_site.find("observe_test.cpp:" + std::to_string(line)) != std::string::npos;
    }
  }
  EXPECT_TRUE(named);
  shoal::timeline(dir.file("trace.json"));
  const json trace = read_trace(dir.file("trace.json"));
  const std::vector<json> tasks = events(trace, "task");
  ASSERT_EQ(tasks.size(), 2u);
  for (const json& e : tasks) EXPECT_EQ(e.at("pid").get<int>(), static_cast<int>(getpid()));
  shoal::shutdown();
}

}  // namespace
