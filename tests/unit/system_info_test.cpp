// What the machine gives this process (src/common/system_info.hpp): the numbers init() sizes the
// worker pool and the object store from must be sane on the machine the tests run on.
#include "src/common/system_info.hpp"

#include <cstdint>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

namespace shoal::internal {
namespace {

TEST(SystemInfo, UsableCpusIsBetweenOneAndTheAffinityCount) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  const int affinity = CPU_COUNT(&set);
  const int cpus = usable_cpus();
  EXPECT_GE(cpus, 1);
  EXPECT_LE(cpus, affinity);
  const unsigned hardware = std::thread::hardware_concurrency();
  if (hardware != 0) {
    EXPECT_LE(static_cast<unsigned>(cpus), hardware);
  }
}

TEST(SystemInfo, UsableCpusFollowsTheAffinityMask) {
  // Pinned to one CPU, the process may use one CPU, whatever the machine has.
  cpu_set_t saved;
  CPU_ZERO(&saved);
  ASSERT_EQ(sched_getaffinity(0, sizeof saved, &saved), 0);
  int first = -1;
  for (int c = 0; c < CPU_SETSIZE && first < 0; ++c) {
    if (CPU_ISSET(c, &saved)) first = c;
  }
  ASSERT_GE(first, 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  const int cpus = usable_cpus();
  ASSERT_EQ(sched_setaffinity(0, sizeof saved, &saved), 0);
  EXPECT_EQ(cpus, 1);
}

TEST(SystemInfo, AvailableMemoryIsPositiveAndAtMostPhysicalMemory) {
  const std::uint64_t available = available_memory();
  EXPECT_GT(available, 0u);
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  ASSERT_GT(pages, 0);
  ASSERT_GT(page_size, 0);
  EXPECT_LE(available, static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size));
}

TEST(SystemInfo, NodeAddressIsANonLoopbackIpv4AddressOrTheFallback) {
  const std::string address = node_address();
  in_addr parsed{};
  ASSERT_EQ(inet_pton(AF_INET, address.c_str(), &parsed), 1) << address;
  const std::uint32_t host = ntohl(parsed.s_addr);
  if (address != "127.0.0.1") {
    EXPECT_NE(host >> 24, 127u) << address << " is a loopback address";
    EXPECT_NE(host, 0u);
  }
}

}  // namespace
}  // namespace shoal::internal
