// available_resources() and cluster_resources(): Ray's keys and units, exact at each call.
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
SHOAL_REMOTE(sleep_ms);

using ResourcesTest = shoal::testing::SessionTest;
using shoal::testing::eventually;

bool has_node_key(const std::map<std::string, double>& r) {
  for (const auto& [k, v] : r) {
    if (k.rfind("node:", 0) == 0 && v == 1.0 && k.size() > 5) return true;
  }
  return false;
}

TEST_F(ResourcesTest, ClusterResourcesUseRaysKeysAndUnits) {
  const auto r = shoal::cluster_resources();
  EXPECT_EQ(r.at("CPU"), 2.0);
  EXPECT_EQ(r.at("object_store_memory"), static_cast<double>(256u << 20));
  EXPECT_GT(r.at("memory"), 0.0);
  EXPECT_TRUE(has_node_key(r));
  EXPECT_EQ(r.size(), 4u);
}

TEST_F(ResourcesTest, AvailableEqualsClusterWhenIdle) {
  EXPECT_EQ(shoal::available_resources(), shoal::cluster_resources());
}

TEST_F(ResourcesTest, RunningTasksHoldCpusUntilTheyFinish) {
  auto one = shoal::task(sleep_ms).remote(1500);
  ASSERT_TRUE(eventually([] { return shoal::available_resources().at("CPU") == 1.0; },
                         std::chrono::seconds(2)));
  auto two = shoal::task(sleep_ms).remote(1500);
  ASSERT_TRUE(eventually([] { return shoal::available_resources().count("CPU") == 0; },
                         std::chrono::seconds(2)))
      << "with both CPUs held, CPU must be left out of available_resources(), as Ray does";
  EXPECT_EQ(shoal::available_resources().at("object_store_memory"),
            static_cast<double>(256u << 20));
  shoal::get(one);
  shoal::get(two);
  // Exact right after the results are in: no staleness window.
  EXPECT_EQ(shoal::available_resources().at("CPU"), 2.0);
}

TEST_F(ResourcesTest, TaskMemoryIsHeldWhileRunning) {
  const double total = shoal::cluster_resources().at("memory");
  auto r = shoal::task(sleep_ms).options({.memory = 1u << 30}).remote(1000);
  ASSERT_TRUE(eventually(
      [&] {
        return shoal::available_resources().at("memory") == total - static_cast<double>(1u << 30);
      },
      std::chrono::seconds(2)));
  shoal::get(r);
  EXPECT_EQ(shoal::available_resources().at("memory"), total);
}

}  // namespace
