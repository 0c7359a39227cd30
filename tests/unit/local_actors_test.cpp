// Actors in local mode (Config::local_mode): the instance lives in this process, the constructor
// runs inside actor<C>().remote() and each call inside its remote(); state, order, errors, names,
// kill(), the destructor at the last handle and at shutdown(), and CPUs held, as with workers.
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

namespace {

int g_destroyed = 0;  // local mode: the instances live in this process

class Tally {
 public:
  explicit Tally(int start) : total_(start) {}
  ~Tally() { ++g_destroyed; }
  int add(int x) { return total_ += x; }
  std::int64_t pid() const { return getpid(); }
  int fail(int) { throw std::out_of_range("nope"); }
  bool restarted() const { return shoal::was_restarted(); }

 private:
  int total_;
};
SHOAL_ACTOR(Tally, &Tally::add, &Tally::pid, &Tally::fail, &Tally::restarted);

class Refuses {
 public:
  explicit Refuses(int) { throw std::runtime_error("no thanks"); }
  int get() const { return 0; }
};
SHOAL_ACTOR(Refuses, &Refuses::get);

// Calls itself back, directly or through another actor.
class Echo {
 public:
  Echo() = default;
  int set_peer(shoal::ActorHandle<Echo> peer) {
    peer_ = std::move(peer);
    return 0;
  }
  int ping(int depth) {
    if (depth == 0) return 1;
    return 1 + shoal::get(peer_.task(&Echo::ping).remote(depth - 1));
  }

 private:
  shoal::ActorHandle<Echo> peer_;
};
SHOAL_ACTOR(Echo, &Echo::set_peer, &Echo::ping);

class LocalActors : public ::testing::Test {
 protected:
  void SetUp() override {
    g_destroyed = 0;
    shoal::Config c;
    c.local_mode = true;
    c.num_cpus = 2;
    shoal::init(c);
  }
  void TearDown() override { shoal::shutdown(); }
};

TEST_F(LocalActors, KeepStateAndRunInThisProcess) {
  auto t = shoal::actor<Tally>().remote(1);
  EXPECT_EQ(shoal::get(t.task(&Tally::add).remote(2)), 3);
  EXPECT_EQ(shoal::get(t.task(&Tally::add).remote(3)), 6);
  EXPECT_EQ(shoal::get(t.task(&Tally::pid).remote()), getpid());
  EXPECT_FALSE(shoal::get(t.task(&Tally::restarted).remote()));
  EXPECT_DOUBLE_EQ(shoal::available_resources().at("CPU"), 1.0);  // it holds its CPU
}

TEST_F(LocalActors, ErrorsAreThoseOfASessionWithWorkers) {
  auto t = shoal::actor<Tally>().remote(0);
  EXPECT_THROW(shoal::get(t.task(&Tally::fail).remote(1)), shoal::TaskError);
  EXPECT_EQ(shoal::get(t.task(&Tally::add).remote(1)), 1);  // it lives on
  auto r = shoal::actor<Refuses>().remote(1);
  try {
    shoal::get(r.task(&Refuses::get).remote());
    FAIL() << "expected ActorDiedError";
  } catch (const shoal::ActorDiedError& e) {
    EXPECT_EQ(e.cause(), shoal::ActorDiedError::Cause::kConstructorFailed);
    EXPECT_NE(e.constructor_error().find("no thanks"), std::string::npos);
  }
}

TEST_F(LocalActors, NamesKillAndTheDestructor) {
  { auto named = shoal::actor<Tally>().options({.name = "n"}).remote(5); }
  EXPECT_EQ(g_destroyed, 0);  // named: lives on without handles
  auto found = shoal::get_actor<Tally>("n");
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(shoal::get(found->task(&Tally::add).remote(1)), 6);
  shoal::kill(*found);
  EXPECT_EQ(g_destroyed, 1);  // no process to SIGKILL here: the destructor runs
  EXPECT_FALSE(shoal::get_actor<Tally>("n").has_value());
  EXPECT_THROW(shoal::get(found->task(&Tally::add).remote(1)), shoal::ActorDiedError);
  {
    auto scoped = shoal::actor<Tally>().remote(0);
    shoal::get(scoped.task(&Tally::add).remote(1));
  }
  EXPECT_EQ(g_destroyed, 2);  // its last handle went
  auto kept = shoal::actor<Tally>().remote(0);
  shoal::shutdown();
  EXPECT_EQ(g_destroyed, 3);  // shutdown() runs every destructor
}

TEST_F(LocalActors, CallingAnActorBackFromItsOwnCallIsADeadlockErrorNotAHang) {
  auto self = shoal::actor<Echo>().options({.num_cpus = 0}).remote();
  shoal::get(self.task(&Echo::set_peer).remote(self));
  try {
    shoal::get(self.task(&Echo::ping).remote(1));
    FAIL() << "expected an error";
  } catch (const shoal::TaskError& e) {
    EXPECT_EQ(e.type_name(), "shoal::DeadlockError") << e.what();
  }
  auto a = shoal::actor<Echo>().options({.num_cpus = 0}).remote();
  auto b = shoal::actor<Echo>().options({.num_cpus = 0}).remote();
  shoal::get(a.task(&Echo::set_peer).remote(b));
  shoal::get(b.task(&Echo::set_peer).remote(a));
  EXPECT_EQ(shoal::get(a.task(&Echo::ping).remote(1)), 2);                    // A -> B: fine
  EXPECT_THROW(shoal::get(a.task(&Echo::ping).remote(2)), shoal::TaskError);  // A -> B -> A
  EXPECT_EQ(shoal::get(a.task(&Echo::ping).remote(1)), 2);                    // both live on
}

TEST_F(LocalActors, CallsFromSeveralThreadsRunOneAtATime) {
  auto t = shoal::actor<Tally>().options({.num_cpus = 0}).remote(0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) shoal::get(t.task(&Tally::add).remote(1));
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(shoal::get(t.task(&Tally::add).remote(0)), 800);
}

}  // namespace
