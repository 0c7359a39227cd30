// init() from the constructor of a global object, before main() has started: the order in which
// globals are constructed is unspecified, so shoal's own may not exist yet. A clear Error that
// says where to call it, not a crash (a new user's trial: it crashed in shoal's logging).
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"

namespace {

int twice(int x) { return 2 * x; }

// Defined before the global that writes them: within one file, globals are constructed in order.
std::string g_error;
bool g_init_returned = false;

struct InitBeforeMain {
  InitBeforeMain() {
    try {
      shoal::init();
      g_init_returned = true;
    } catch (const shoal::Error& e) {
      g_error = e.what();
    }
  }
} g_init_before_main;

}  // namespace

SHOAL_REMOTE(twice);

namespace {

using ::testing::HasSubstr;

TEST(InitBeforeMain, IsRefusedWithWhereToCallItAndInitFromMainWorks) {
  EXPECT_FALSE(g_init_returned);
  EXPECT_THAT(g_error, HasSubstr("before main() started"));
  EXPECT_THAT(g_error, HasSubstr("Call init() from main()"));
  EXPECT_FALSE(shoal::is_initialized());

  shoal::init(shoal::testing::SessionTest::test_config());
  EXPECT_EQ(shoal::get(shoal::task(twice).remote(21)), 42);
  shoal::shutdown();
}

}  // namespace
