// The same program on several machines (docs/cluster.md), run by ctest under
// `mpirun --oversubscribe -np 3`: rank 0 runs these cases as the driver, ranks 1 and 2 are nodes,
// each with its own fork helper, workers and store, so every object that crosses ranks really
// travels over MPI. Each case is its own mpirun job (gtest_discover_tests), so each starts one
// session: main() calls init() once (MPI can start once per process) and shutdown() at the end.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

namespace {

constexpr int kRanks = 3;
constexpr double kCpusPerNode = 2;

int rank_of_task(int) { return shoal::runtime_context().node_rank; }
// (node rank, node address, worker id, task id, pid) of the task, as runtime_context() says.
std::tuple<int, std::string, std::int64_t, std::uint64_t, std::int64_t> context_of_task() {
  const shoal::RuntimeContext c = shoal::runtime_context();
  return {c.node_rank, c.node_address, c.worker_id, c.task_id, c.pid};
}
int slow_rank(int ms) {
  usleep(static_cast<useconds_t>(ms) * 1000);
  return shoal::runtime_context().node_rank;
}
std::int64_t sum_bytes(const std::vector<std::uint8_t>& v) {
  return std::accumulate(v.begin(), v.end(), std::int64_t{0});
}
std::vector<std::uint8_t> make_bytes(std::size_t n, int seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>((i * 31 + seed) & 0xff);
  return v;
}
int add_one(int x) { return x + 1; }
int throws_on_node(int x) {
  if (x > 0) throw std::invalid_argument("bad input " + std::to_string(x));
  return x;
}
// Dies (SIGKILL) on its first attempt on each node, then succeeds: a marker file per node says
// it has died once.
int dies_once(const std::string& dir) {
  const std::string marker =
      dir + "/died-on-rank-" + std::to_string(shoal::runtime_context().node_rank);
  if (access(marker.c_str(), F_OK) != 0) {
    std::ofstream(marker) << "x";
    kill(getpid(), SIGKILL);
  }
  return shoal::runtime_context().node_rank;
}
int always_dies(int) {
  kill(getpid(), SIGKILL);
  return 0;
}
// The pid of this task's node process: the parent of the worker's fork helper.
std::tuple<int, std::int64_t> node_pid() {
  const auto parent_of = [](pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string skip;
    pid_t ppid = 0;
    stat >> skip >> skip >> skip >> ppid;  // pid (comm) state ppid: comm has no spaces here
    return ppid;
  };
  return {shoal::runtime_context().node_rank, parent_of(getppid())};
}
// Prints a line on the worker's stdout (tests/CMakeLists.txt checks that mpirun's output shows it
// named with its node: cluster_output).
int print_marker(int x) {
  std::printf("shoal-cluster-marker %d\n", x);
  std::fflush(stdout);
  return shoal::runtime_context().node_rank;
}
int rank_reading(const std::vector<std::uint8_t>& v) {
  return v.empty() ? -1 : shoal::runtime_context().node_rank;
}
SHOAL_REMOTE(rank_of_task, context_of_task, slow_rank, sum_bytes, make_bytes, add_one,
             throws_on_node, dies_once, always_dies, node_pid, print_marker, rank_reading);

// Runs `n` tasks of at least `ms` each at once and returns the ranks they ran on.
std::set<int> ranks_of(int n, int ms) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(shoal::task(slow_rank).remote(ms));
  const std::vector<int> ranks = shoal::get(refs);
  return std::set<int>(ranks.begin(), ranks.end());
}

TEST(ClusterTest, ClusterResourcesSumEveryNode) {
  const std::map<std::string, double> total = shoal::cluster_resources();
  EXPECT_DOUBLE_EQ(total.at("CPU"), kRanks * kCpusPerNode);
  int nodes = 0;
  for (const auto& [key, value] : total) {
    if (key.rfind("node:", 0) == 0) {
      ++nodes;
      EXPECT_DOUBLE_EQ(value, 1.0) << key;
    }
  }
  EXPECT_EQ(nodes, kRanks) << "one distinct node:<address> entry per rank, even on one host";
  EXPECT_GT(total.at("object_store_memory"), 0);
  const std::map<std::string, double> available = shoal::available_resources();
  EXPECT_DOUBLE_EQ(available.at("CPU"), kRanks * kCpusPerNode);
}

TEST(ClusterTest, TasksSpreadOverEveryNode) {
  EXPECT_EQ(ranks_of(3 * kRanks * static_cast<int>(kCpusPerNode), 200), (std::set<int>{0, 1, 2}));
}

TEST(ClusterTest, RuntimeContextNamesTheNodeWorkerAndTask) {
  std::vector<
      shoal::ObjectRef<std::tuple<int, std::string, std::int64_t, std::uint64_t, std::int64_t>>>
      refs;
  for (int i = 0; i < 12; ++i) refs.push_back(shoal::task(context_of_task).remote());
  std::set<int> ranks;
  for (auto& ref : refs) {
    const auto [rank, address, worker, task, pid] = shoal::get(ref);
    ranks.insert(rank);
    EXPECT_NE(task, 0u);
    EXPECT_GE(worker, 0);
    EXPECT_NE(pid, getpid());
    EXPECT_FALSE(address.empty());
  }
  EXPECT_GE(ranks.size(), 2u) << "12 tasks at once ran on one rank only";
  const shoal::RuntimeContext here = shoal::runtime_context();
  EXPECT_EQ(here.node_rank, 0);
  EXPECT_EQ(here.worker_id, -1);
  EXPECT_FALSE(here.in_task());
}

TEST(ClusterTest, NodeRankPinsATaskAndRefusesRanksThatAreNotNodes) {
  for (int rank = 0; rank < kRanks; ++rank) {
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(shoal::get(shoal::task(rank_of_task).options({.node_rank = rank}).remote(i)), rank);
    }
  }
  for (int bad : {kRanks, 99, -2}) {
    try {
      (void)shoal::task(rank_of_task).options({.node_rank = bad}).remote(0);
      ADD_FAILURE() << "node_rank " << bad << " was accepted";
    } catch (const shoal::InvalidConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("node_rank"), std::string::npos) << e.what();
    }
  }
}

TEST(ClusterTest, ATaskGoesWhereItsLargestArgumentIs) {
  for (int rank = 1; rank < kRanks; ++rank) {
    // A megabyte made on `rank`; the driver also gets it (results come back at once), but the
    // node keeps its copy, so a task reading it goes there.
    auto made =
        shoal::task(make_bytes).options({.node_rank = rank}).remote(std::size_t{1} << 20, rank);
    shoal::wait(std::vector<shoal::ObjectRef<std::vector<std::uint8_t>>>{made}, 1);
    EXPECT_EQ(shoal::get(shoal::task(rank_reading).remote(made)), rank);
  }
}

TEST(ClusterTest, CancelReachesTasksOnOtherNodes) {
  // Running on rank 1 (it does not check is_cancelled()): get() throws at once, not in 5 s.
  auto running = shoal::task(slow_rank).options({.node_rank = 1}).remote(5000);
  usleep(300 * 1000);
  const auto start = std::chrono::steady_clock::now();
  shoal::cancel(running);
  EXPECT_THROW(shoal::get(running), shoal::TaskCancelledError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  // Sent to rank 2 but waiting for its argument there: it never runs.
  auto argument = shoal::task(slow_rank).options({.node_rank = 1}).remote(500);
  auto waiting = shoal::task(add_one).options({.node_rank = 2}).remote(argument);
  shoal::cancel(waiting);
  EXPECT_THROW(shoal::get(waiting), shoal::TaskCancelledError);
  EXPECT_EQ(shoal::get(argument), 1);
  // With force, the worker running it on rank 2 is killed; the node goes on.
  auto forced = shoal::task(slow_rank).options({.node_rank = 2}).remote(5000);
  usleep(300 * 1000);
  shoal::cancel(forced, {.force = true});
  EXPECT_THROW(shoal::get(forced), shoal::TaskCancelledError);
  for (int rank = 1; rank < kRanks; ++rank) {
    EXPECT_EQ(shoal::get(shoal::task(rank_of_task).options({.node_rank = rank}).remote(0)), rank);
  }
  // The first task, still running on rank 1 (it never looks at is_cancelled()), holds its CPU
  // until it ends, as on one machine; then every CPU is free again.
  const auto cpus_free = [] {
    const auto available = shoal::available_resources();
    const auto it = available.find("CPU");
    return it == available.end() ? 0.0 : it->second;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (cpus_free() < kRanks * kCpusPerNode && std::chrono::steady_clock::now() < deadline) {
    usleep(50 * 1000);
  }
  EXPECT_DOUBLE_EQ(cpus_free(), kRanks * kCpusPerNode);
}

TEST(ClusterTest, WorkerOutputReachesMpirunNamingTheNode) {
  EXPECT_EQ(shoal::get(shoal::task(print_marker).options({.node_rank = 1}).remote(42)), 1);
}

TEST(ClusterTest, LargeArgumentsAndResultsCrossRanksIntact) {
  constexpr std::size_t kBytes = std::size_t{24} << 20;
  // Made on whichever node the scheduler picks; summed elsewhere; read back on the driver.
  std::vector<shoal::ObjectRef<std::vector<std::uint8_t>>> made;
  for (int i = 0; i < 6; ++i) made.push_back(shoal::task(make_bytes).remote(kBytes, i));
  std::vector<shoal::ObjectRef<std::int64_t>> sums;
  for (auto& m : made) sums.push_back(shoal::task(sum_bytes).remote(m));
  for (int i = 0; i < 6; ++i) {
    const std::vector<std::uint8_t> expected = make_bytes(kBytes, i);
    const std::int64_t want = std::accumulate(expected.begin(), expected.end(), std::int64_t{0});
    EXPECT_EQ(shoal::get(sums[static_cast<std::size_t>(i)]), want) << i;
    EXPECT_EQ(shoal::get(made[static_cast<std::size_t>(i)]), expected) << i;
    const shoal::View<std::vector<std::uint8_t>> view =
        shoal::get_view(made[static_cast<std::size_t>(i)]);
    ASSERT_EQ(view.size(), kBytes);
    EXPECT_EQ(view.data()[kBytes - 1], expected[kBytes - 1]);
  }
  // A large value put() on the driver, read by tasks on every node.
  const auto big = shoal::put(make_bytes(kBytes, 7));
  const std::vector<std::uint8_t> expected = make_bytes(kBytes, 7);
  const std::int64_t want = std::accumulate(expected.begin(), expected.end(), std::int64_t{0});
  std::vector<shoal::ObjectRef<std::int64_t>> reads;
  for (int i = 0; i < 12; ++i) reads.push_back(shoal::task(sum_bytes).remote(big));
  for (auto& r : reads) EXPECT_EQ(shoal::get(r), want);
}

TEST(ClusterTest, ChainsOfDependenciesCrossRanks) {
  std::vector<shoal::ObjectRef<int>> chains;
  for (int c = 0; c < 6; ++c) {
    shoal::ObjectRef<int> r = shoal::task(add_one).remote(c * 1000);
    for (int i = 0; i < 30; ++i) r = shoal::task(add_one).remote(r);
    chains.push_back(r);
  }
  for (int c = 0; c < 6; ++c)
    EXPECT_EQ(shoal::get(chains[static_cast<std::size_t>(c)]), c * 1000 + 31);
}

TEST(ClusterTest, ErrorsComeBackTypedWithTheirBacktrace) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 1; i <= 9; ++i) refs.push_back(shoal::task(throws_on_node).remote(i));
  int seen = 0;
  for (int i = 1; i <= 9; ++i) {
    try {
      shoal::get(refs[static_cast<std::size_t>(i - 1)]);
      ADD_FAILURE() << "no error";
    } catch (const shoal::TaskError& e) {
      ++seen;
      EXPECT_EQ(e.type_name(), "std::invalid_argument");
      EXPECT_EQ(e.original_what(), "bad input " + std::to_string(i));
      EXPECT_EQ(e.function_name(), "throws_on_node");
      EXPECT_NE(e.pid(), getpid());
      EXPECT_NE(e.backtrace().find("throws_on_node"), std::string::npos) << e.backtrace();
    }
  }
  EXPECT_EQ(seen, 9);
  // A task that takes a failed result fails with the same error, wherever it was placed.
  auto failed = shoal::task(throws_on_node).remote(5);
  auto after = shoal::task(add_one).remote(failed);
  EXPECT_THROW(shoal::get(after), shoal::TaskError);
}

TEST(ClusterTest, AWorkerThatDiesOnANodeIsRetriedThere) {
  char dir[] = "/tmp/shoal-cluster-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 6; ++i) refs.push_back(shoal::task(dies_once).remote(std::string(dir)));
  for (auto& r : refs) EXPECT_GE(shoal::get(r), 0);
  // Out of retries: WorkerCrashedError, from whichever node ran it.
  std::vector<shoal::ObjectRef<int>> doomed;
  for (int i = 0; i < 6; ++i) {
    doomed.push_back(shoal::task(always_dies).options({.max_retries = 0}).remote(i));
  }
  for (auto& r : doomed) EXPECT_THROW(shoal::get(r), shoal::WorkerCrashedError);
  for (int r = 0; r < kRanks; ++r)
    unlink((std::string(dir) + "/died-on-rank-" + std::to_string(r)).c_str());
  rmdir(dir);
}

TEST(ClusterTest, WaitSeesResultsFromEveryNode) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 12; ++i) refs.push_back(shoal::task(slow_rank).remote(i < 6 ? 10 : 3000));
  const auto [ready, not_ready] = shoal::wait(refs, 6, std::chrono::seconds(20));
  EXPECT_EQ(ready.size(), 6u);
  EXPECT_EQ(not_ready.size(), 6u);
  for (auto& r : refs) shoal::get(r);
}

TEST(ClusterTest, AvailableResourcesCountTasksRunningOnNodes) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < kRanks * static_cast<int>(kCpusPerNode); ++i) {
    refs.push_back(shoal::task(slow_rank).remote(1500));
  }
  usleep(500 * 1000);
  const auto available = shoal::available_resources();
  const auto it = available.find("CPU");
  EXPECT_TRUE(it == available.end() || it->second < kRanks * kCpusPerNode) << it->second;
  for (auto& r : refs) shoal::get(r);
  EXPECT_DOUBLE_EQ(shoal::available_resources().at("CPU"), kRanks * kCpusPerNode);
}

// Kills rank 2 (defined last: when all cases run in one job, the others come first). ctest runs
// each case as its own job of `mpirun --enable-recovery`, so the job outlives the rank.
TEST(ClusterTest, ZNodeThatDiesHasItsTasksRetriedElsewhereOrFailedWithNodeDiedError) {
  // Find rank 2's process.
  std::int64_t victim = 0;
  for (int round = 0; round < 20 && victim == 0; ++round) {
    std::vector<shoal::ObjectRef<std::tuple<int, std::int64_t>>> refs;
    for (int i = 0; i < 6; ++i) refs.push_back(shoal::task(node_pid).remote());
    for (auto& r : refs) {
      const auto [rank, pid] = shoal::get(r);
      if (rank == 2) victim = pid;
    }
  }
  ASSERT_GT(victim, 0) << "no task ran on rank 2";
  std::vector<shoal::ObjectRef<int>> retried, doomed;
  for (int i = 0; i < 6; ++i) retried.push_back(shoal::task(slow_rank).remote(1500));
  for (int i = 0; i < 6; ++i) {
    doomed.push_back(shoal::task(slow_rank).options({.max_retries = 0}).remote(1500));
  }
  usleep(300 * 1000);
  ASSERT_EQ(kill(static_cast<pid_t>(victim), SIGKILL), 0);
  for (auto& r : retried) EXPECT_NE(shoal::get(r), 2);
  int died = 0;
  for (auto& r : doomed) {
    try {
      EXPECT_NE(shoal::get(r), 2);
    } catch (const shoal::NodeDiedError& e) {
      ++died;
      EXPECT_EQ(e.node_rank(), 2);
      EXPECT_EQ(e.function_name(), "slow_rank");
      EXPECT_NE(std::string(e.what()).find("max_retries"), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(died, 0) << "no task without retries was on rank 2";
  EXPECT_DOUBLE_EQ(shoal::cluster_resources().at("CPU"), (kRanks - 1) * kCpusPerNode);
  EXPECT_EQ(ranks_of(12, 50).count(2), 0u) << "a task went to the dead node";
}

// Runs after the case above in a whole-binary run (gtest keeps the order of declaration), where
// rank 2 is dead already; alone, it kills both nodes.
TEST(ClusterTest, ZZWithEveryNodeDeadTheirTasksRunOnTheDriversMachine) {
  std::vector<pid_t> victims;
  for (int rank = 1; rank < kRanks; ++rank) {
    try {
      const auto [where, pid] =
          shoal::get(shoal::task(node_pid).options({.node_rank = rank}).remote());
      EXPECT_EQ(where, rank);
      victims.push_back(static_cast<pid_t>(pid));
    } catch (const shoal::InvalidConfigError&) {  // dead already
    }
  }
  ASSERT_FALSE(victims.empty());
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 3 * kRanks; ++i) refs.push_back(shoal::task(slow_rank).remote(1500));
  usleep(300 * 1000);
  for (pid_t victim : victims) ASSERT_EQ(kill(victim, SIGKILL), 0);
  for (auto& r : refs) EXPECT_EQ(shoal::get(r), 0);  // retried here, none lost
  EXPECT_DOUBLE_EQ(shoal::cluster_resources().at("CPU"), kCpusPerNode);
  EXPECT_EQ(ranks_of(4, 10), (std::set<int>{0}));
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const char* rank = std::getenv("OMPI_COMM_WORLD_RANK");
  if (::testing::GTEST_FLAG(list_tests)) {
    // ctest lists the cases through mpirun too: one list, from rank 0.
    return rank == nullptr || std::string(rank) == "0" ? RUN_ALL_TESTS() : 0;
  }
  shoal::Config config;
  config.num_cpus = kCpusPerNode;
  // 3 s: the cases that kill a node wait that long. Sanitizer builds run slower and set more
  // (tests/CMakeLists.txt), or a busy node would be taken for dead.
  const char* timeout = std::getenv("SHOAL_TEST_NODE_TIMEOUT_MS");
  config.node_timeout_ms = timeout != nullptr ? std::atoll(timeout) : 3000;
  shoal::init(config);  // on ranks 1 and 2 this never returns: they are nodes
  const int status = RUN_ALL_TESTS();
  shoal::shutdown();
  return status;
}
