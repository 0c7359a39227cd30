// The IoLoop (src/node/io_loop.hpp): where posted work runs, what finish() waits for, and that its
// waiting policy (set_may_poll, Spinning) changes when the thread polls, never whether work runs.
#include "src/node/io_loop.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

namespace shoal::internal {
namespace {

// Posts `fn` and waits until it has run; returns the id of the thread it ran on.
std::thread::id run_on(
    IoLoop& loop, std::function<void()> fn = [] {}) {
  std::promise<std::thread::id> ran;
  std::future<std::thread::id> id = ran.get_future();
  loop.post([&ran, fn = std::move(fn)] {
    fn();
    ran.set_value(std::this_thread::get_id());
  });
  return id.get();
}

TEST(IoLoop, PostRunsOnTheIoThread) {
  IoLoop loop;
  loop.start();
  const std::thread::id io_thread = run_on(loop);
  EXPECT_NE(io_thread, std::this_thread::get_id());
  EXPECT_EQ(run_on(loop), io_thread) << "one I/O thread runs everything";
  loop.finish();
}

TEST(IoLoop, FinishReturnsOnceEveryPostedHandlerAndTimerHasRun) {
  IoLoop loop;
  loop.start();
  int count = 0;  // only the I/O thread touches it until finish() has joined
  bool chained = false;
  for (int i = 0; i < 1000; ++i) loop.post([&count] { ++count; });
  loop.post([&] { loop.post([&] { chained = true; }); });  // work posted by work
  bool timer_fired = false;
  boost::asio::steady_timer timer(loop.context(), std::chrono::milliseconds(20));
  timer.async_wait([&](const boost::system::error_code& ec) { timer_fired = !ec; });

  loop.finish();
  EXPECT_EQ(count, 1000);
  EXPECT_TRUE(chained);
  EXPECT_TRUE(timer_fired) << "finish() returned before a pending timer was done";
  EXPECT_TRUE(loop.context().stopped());
  loop.finish();  // again: nothing left, returns at once
}

TEST(IoLoop, FinishWithoutStartRunsThePendingHandlersOnTheCaller) {
  IoLoop loop;
  std::vector<std::thread::id> ran_on;
  for (int i = 0; i < 3; ++i) loop.post([&] { ran_on.push_back(std::this_thread::get_id()); });
  EXPECT_TRUE(ran_on.empty()) << "ran before any thread ran the loop";
  loop.finish();
  ASSERT_EQ(ran_on.size(), 3u);
  for (const std::thread::id& id : ran_on) EXPECT_EQ(id, std::this_thread::get_id());
}

TEST(IoLoop, DestructorFinishesAStartedLoop) {
  std::atomic<int> count{0};
  {
    IoLoop loop;
    loop.start();
    for (int i = 0; i < 100; ++i) loop.post([&count] { count.fetch_add(1); });
  }
  EXPECT_EQ(count.load(), 100);
}

TEST(IoLoop, WorkPostedFromManyThreadsRunsOnceEach) {
  IoLoop loop;
  loop.start();
  const std::thread::id io_thread = run_on(loop);
  std::atomic<int> count{0}, elsewhere{0};
  std::vector<std::thread> posters;
  for (int t = 0; t < 4; ++t) {
    posters.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        loop.post([&] {
          count.fetch_add(1);
          if (std::this_thread::get_id() != io_thread) elsewhere.fetch_add(1);
        });
      }
    });
  }
  for (std::thread& t : posters) t.join();
  loop.finish();
  EXPECT_EQ(count.load(), 2000);
  EXPECT_EQ(elsewhere.load(), 0);
}

// While a program thread spins (Spinning) or no worker is idle (set_may_poll(false)), the I/O
// thread does not poll: it must still run what is posted, from any thread.
TEST(IoLoop, WaitingPolicyNeverStopsWorkFromRunning) {
  IoLoop loop;
  loop.start();
  const std::thread::id io_thread = run_on(loop);
  int runs = 0;  // touched on the I/O thread; read here after each run_on() returned
  {
    const IoLoop::Spinning spinning(loop);
    EXPECT_EQ(run_on(loop, [&] { ++runs; }), io_thread);
    {
      const IoLoop::Spinning second(loop);  // two program threads spin
      EXPECT_EQ(run_on(loop, [&] { ++runs; }), io_thread);
    }
    std::thread other([&] { EXPECT_EQ(run_on(loop, [&] { ++runs; }), io_thread); });
    other.join();
  }
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(run_on(loop, [&] { ++runs; }), io_thread);  // just after the last spinner ended

  loop.set_may_poll(false);
  EXPECT_EQ(run_on(loop, [&] { ++runs; }), io_thread);
  loop.set_may_poll(true);
  EXPECT_EQ(run_on(loop, [&] { ++runs; }), io_thread);
  EXPECT_EQ(runs, 6);

  // A Spinning alive when the loop finishes does not keep it from finishing.
  const IoLoop::Spinning spinning(loop);
  loop.post([&] { ++runs; });
  loop.finish();
  EXPECT_EQ(runs, 7);
}

}  // namespace
}  // namespace shoal::internal
