// A GoogleTest fixture that runs each test in its own shoal session: two workers (the size of
// the project's machines, and enough to show parallelism) and a 256 MiB store.
#pragma once

#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include "tests/support/test_support.hpp"

namespace shoal::testing {

class SessionTest : public ::testing::Test {
 public:
  static Config test_config() {
    Config c;
    c.num_cpus = 2;
    c.object_store_memory = 256ull << 20;
    return c;
  }

 protected:
  void SetUp() override { shoal::init(test_config()); }
  void TearDown() override { shoal::shutdown(); }
};

}  // namespace shoal::testing
