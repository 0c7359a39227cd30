// What the more-than-one-machine API does on one machine (docs/cluster.md): runtime_context()
// in the program, in a task, in a task's task and in local mode; TaskOptions::node_rank accepts
// this machine (0) and refuses every other rank with a clear InvalidConfigError;
// Config::node_timeout_ms is checked at init() like every other option.
#include <cstdint>
#include <string>
#include <tuple>

#include <gtest/gtest.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"

namespace {

using Context = std::tuple<int, std::string, std::int64_t, std::uint64_t, std::int64_t>;

Context context_here(int) {
  const shoal::RuntimeContext c = shoal::runtime_context();
  return {c.node_rank, c.node_address, c.worker_id, c.task_id, c.pid};
}
// The context of a task this task starts, and this task's own id.
std::tuple<Context, std::uint64_t> context_of_child(int) {
  return {shoal::get(shoal::task(context_here).remote(0)), shoal::runtime_context().task_id};
}
int pinned_inside(int rank) {
  return shoal::get(shoal::task(context_here).options({.node_rank = rank}).remote(0)) == Context{}
             ? 0
             : 1;
}
SHOAL_REMOTE(context_here, context_of_child, pinned_inside);

using RuntimeContextTest = shoal::testing::SessionTest;
using shoal::testing::SessionTest;

TEST_F(RuntimeContextTest, TheProgramIsNodeZeroOutsideAnyWorkerOrTask) {
  const shoal::RuntimeContext c = shoal::runtime_context();
  EXPECT_EQ(c.node_rank, 0);
  EXPECT_FALSE(c.node_address.empty());
  EXPECT_EQ(c.worker_id, -1);
  EXPECT_EQ(c.task_id, 0u);
  EXPECT_FALSE(c.in_task());
  EXPECT_EQ(c.pid, getpid());
  // The address is the one cluster_resources() names.
  EXPECT_EQ(shoal::cluster_resources().count("node:" + c.node_address), 1u);
}

TEST_F(RuntimeContextTest, ATaskSeesItsWorkerItsIdAndItsPid) {
  auto ref = shoal::task(context_here).remote(0);
  const auto [rank, address, worker, task, pid] = shoal::get(ref);
  EXPECT_EQ(rank, 0);
  EXPECT_EQ(address, shoal::runtime_context().node_address);
  EXPECT_GE(worker, 0);
  EXPECT_EQ(task, ref.id());
  EXPECT_NE(pid, getpid());
  EXPECT_GT(pid, 0);
}

TEST_F(RuntimeContextTest, ATasksTaskHasItsOwnId) {
  const auto [child, parent_id] = shoal::get(shoal::task(context_of_child).remote(0));
  EXPECT_NE(std::get<3>(child), 0u);
  EXPECT_NE(std::get<3>(child), parent_id);
  EXPECT_GE(std::get<2>(child), 0);
}

TEST_F(RuntimeContextTest, NodeRankZeroRunsHereAndOtherRanksAreRefused) {
  EXPECT_EQ(std::get<0>(shoal::get(shoal::task(context_here).options({.node_rank = 0}).remote(0))),
            0);
  for (int bad : {1, 7}) {
    try {
      (void)shoal::task(context_here).options({.node_rank = bad}).remote(0);
      ADD_FAILURE() << "node_rank " << bad << " was accepted on one machine";
    } catch (const shoal::InvalidConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("mpirun"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW((void)shoal::task(context_here).options({.node_rank = -2}).remote(0),
               shoal::InvalidConfigError);
}

TEST_F(RuntimeContextTest, InsideATaskNodeRankMustBeLeftAlone) {
  try {
    shoal::get(shoal::task(pinned_inside).remote(0));
    ADD_FAILURE() << "a task's task pinned to rank 0 was accepted";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "shoal::InvalidConfigError");
    EXPECT_NE(e.original_what().find("node_rank"), std::string::npos) << e.original_what();
  }
}

TEST(RuntimeContextConfig, NodeTimeoutOutsideItsRangeIsRefusedAtInit) {
  for (std::int64_t bad : {std::int64_t{999}, std::int64_t{3'600'001}, std::int64_t{-1}}) {
    shoal::Config config = SessionTest::test_config();
    config.node_timeout_ms = bad;
    try {
      shoal::init(config);
      shoal::shutdown();
      ADD_FAILURE() << "node_timeout_ms " << bad << " was accepted";
    } catch (const shoal::InvalidConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("node_timeout_ms"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(shoal::is_initialized());
  }
}

TEST(RuntimeContextLocalMode, NodeZeroNoWorkerAndNodeRankRefused) {
  shoal::Config config = SessionTest::test_config();
  config.local_mode = true;
  shoal::init(config);
  const auto [rank, address, worker, task, pid] = shoal::get(shoal::task(context_here).remote(0));
  EXPECT_EQ(rank, 0);
  EXPECT_EQ(worker, -1);
  EXPECT_EQ(pid, getpid());
  EXPECT_THROW((void)shoal::task(context_here).options({.node_rank = 1}).remote(0),
               shoal::InvalidConfigError);
  shoal::shutdown();
}

}  // namespace
