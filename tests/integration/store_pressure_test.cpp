// The object store under pressure (issue 4): objects larger than the store, a store full of
// referenced objects (writers wait, then fail naming the biggest holders), space of dropped
// objects reused at once, fragmentation, shutdown and worker death while a writer waits, and a
// small /dev/shm that does not limit the store (an anonymous memfd).
//
// No test sleeps to synchronise: a test that needs a writer to be blocked waits until the runtime
// reports it waiting (TEST_space_waiters), then acts. The store-full timeouts used are either long
// (a writer that is never woken fails the test with ObjectStoreFullError) or short where the test
// wants the failure; nothing asserts how long anything took.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/driver.hpp"
#include "tests/support/test_support.hpp"

namespace {

using shoal::testing::eventually;

constexpr std::uint64_t kMiB = 1 << 20;
constexpr std::uint64_t kStore = 32 * kMiB;
constexpr std::int64_t kWaitLong = 60'000;    // a waiter that is never woken fails the test
constexpr std::int64_t kWaitShort = 100;      // for tests that want the failure
constexpr std::int64_t kOneDay = 86'400'000;  // longer than the ctest TIMEOUT: waiting = failing
constexpr auto kObserve = std::chrono::seconds(30);

std::vector<std::uint8_t> make_bytes(std::uint64_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::uint64_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i * 31 + 7);
  return v;
}
std::uint64_t byte_sum(const std::vector<std::uint8_t>& v) {
  std::uint64_t s = 0;
  for (std::uint8_t b : v) s += b;
  return s;
}
int identity(int x) { return x; }
SHOAL_REMOTE(make_bytes, byte_sum, identity);

bool has_pattern(const std::vector<std::uint8_t>& v, std::uint64_t n) {
  if (v.size() != n) return false;
  for (std::uint64_t i = 0; i < n; i += 4093) {
    if (v[i] != static_cast<std::uint8_t>(i * 31 + 7)) return false;
  }
  return n == 0 || v[n - 1] == static_cast<std::uint8_t>((n - 1) * 31 + 7);
}

std::size_t space_waiters() { return shoal::testing::driver_runtime()->TEST_space_waiters(); }

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

using Refs = std::vector<shoal::ObjectRef<std::vector<std::uint8_t>>>;

class StorePressureTest : public ::testing::Test {
 protected:
  void start(std::int64_t timeout_ms, std::uint64_t store = kStore) {
    shoal::Config c;
    c.num_cpus = 2;
    c.object_store_memory = store;
    c.object_store_full_timeout_ms = timeout_ms;
    shoal::init(c);
  }
  void TearDown() override { shoal::shutdown(); }

  // Three 10 MiB objects: 30 of the 32 MiB, so no fourth fits.
  static Refs fill_with_three() {
    Refs refs;
    for (int i = 0; i < 3; ++i) refs.push_back(shoal::put(make_bytes(10 * kMiB)));
    return refs;
  }
};

// ---- larger than the whole store: fails at once, both paths

TEST_F(StorePressureTest, ObjectLargerThanTheStoreFailsAtOnceAtPut) {
  start(kOneDay);  // if put() waited, the test would run into its ctest TIMEOUT
  for (std::uint64_t size : {40 * kMiB, kStore}) {
    try {
      shoal::put(std::vector<std::uint8_t>(size));
      ADD_FAILURE() << "a value of " << size << " bytes fit in a store of " << kStore;
    } catch (const shoal::ObjectStoreFullError& e) {
      EXPECT_EQ(e.requested_bytes(), size);
      EXPECT_EQ(e.capacity_bytes(), kStore);
      EXPECT_TRUE(e.holders().empty());
      EXPECT_TRUE(contains(e.what(), "larger than the whole object store")) << e.what();
      EXPECT_TRUE(contains(e.what(), std::to_string(size))) << e.what();
      EXPECT_TRUE(contains(e.what(), std::to_string(kStore))) << e.what();
      EXPECT_TRUE(contains(e.what(), "Config::object_store_memory")) << e.what();
    }
  }
  EXPECT_EQ(space_waiters(), 0u);
  EXPECT_EQ(shoal::object_store_stats().used_bytes, 0u);
}

TEST_F(StorePressureTest, TaskResultLargerThanTheStoreFailsAtItsGet) {
  start(kOneDay);
  auto r = shoal::task(make_bytes).remote(40 * kMiB);  // remote() itself does not fail
  try {
    shoal::get(r);
    FAIL() << "a 40 MiB result fit in a 32 MiB store";
  } catch (const shoal::ObjectStoreFullError& e) {
    EXPECT_EQ(e.requested_bytes(), 40 * kMiB);
    EXPECT_EQ(e.capacity_bytes(), kStore);
    EXPECT_TRUE(contains(e.what(), "the result of make_bytes")) << e.what();
    EXPECT_TRUE(contains(e.what(), "larger than the whole object store")) << e.what();
  }
  // The worker and the session go on, and nothing of the refused result is left.
  EXPECT_EQ(shoal::get(shoal::task(identity).remote(7)), 7);
  EXPECT_TRUE(has_pattern(shoal::get(shoal::task(make_bytes).remote(20 * kMiB)), 20 * kMiB));
  EXPECT_EQ(shoal::object_store_stats().used_bytes, 0u);
}

// ---- "evict unreferenced first": an object is freed as soon as nothing refers to it

TEST_F(StorePressureTest, SpaceOfDroppedObjectsIsReusedAtOnce) {
  start(0);  // no waiting: any write that does not fit at once throws
  for (int round = 0; round < 5; ++round) {
    Refs refs = fill_with_three();
    refs.push_back(shoal::task(make_bytes).remote(std::uint64_t{1} * kMiB));
    shoal::get(refs.back());
  }  // each round's refs are dropped before the next round fills the store again
  {
    // A View pins its object even after its refs are gone...
    auto ref = shoal::put(make_bytes(20 * kMiB));
    shoal::View<std::vector<std::uint8_t>> view = shoal::get_view(ref);
    ref = {};
    EXPECT_THROW(shoal::put(make_bytes(20 * kMiB)), shoal::ObjectStoreFullError);
    EXPECT_EQ(view.size(), 20 * kMiB);
  }  // ...and frees it when it goes
  auto again = shoal::put(make_bytes(20 * kMiB));
  EXPECT_TRUE(has_pattern(shoal::get(again), 20 * kMiB));
}

TEST_F(StorePressureTest, FullStoreFailsAfterTheTimeoutNamingTheBiggestHolders) {
  start(kWaitShort);
  auto a = shoal::put(make_bytes(9 * kMiB));
  auto b = shoal::task(make_bytes).remote(7 * kMiB);
  shoal::get(b);
  auto c = shoal::put(make_bytes(6 * kMiB));
  auto d = shoal::put(make_bytes(4 * kMiB));
  auto e = shoal::put(make_bytes(3 * kMiB));
  auto f = shoal::put(make_bytes(1 * kMiB));  // 30 MiB in all: the sixth largest is not named
  const auto check = [&](const shoal::ObjectStoreFullError& err, const std::string& what_for) {
    EXPECT_EQ(err.requested_bytes(), 5 * kMiB);
    EXPECT_EQ(err.capacity_bytes(), kStore);
    const std::string msg = err.what();
    EXPECT_TRUE(contains(msg, what_for)) << msg;
    EXPECT_TRUE(contains(msg, "stayed full for 100 ms")) << msg;
    EXPECT_TRUE(contains(msg, "object_store_full_timeout_ms")) << msg;
    const std::vector<std::uint64_t> ids{a.id(), b.id(), c.id(), d.id(), e.id()};
    const std::vector<std::uint64_t> sizes{9 * kMiB, 7 * kMiB, 6 * kMiB, 4 * kMiB, 3 * kMiB};
    ASSERT_EQ(err.holders().size(), 5u) << msg;
    for (std::size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(err.holders()[i].object_id, ids[i]) << i;
      EXPECT_EQ(err.holders()[i].size_bytes, sizes[i]) << i;
      EXPECT_EQ(err.holders()[i].created_by, i == 1 ? "make_bytes" : "put()") << i;
      EXPECT_TRUE(contains(
          msg, "object " + std::to_string(ids[i]) + " (" + std::to_string(sizes[i]) + " bytes"))
          << msg;
    }
    EXPECT_FALSE(contains(msg, "object " + std::to_string(f.id()))) << msg;
  };
  try {
    shoal::put(make_bytes(5 * kMiB));
    FAIL() << "a 5 MiB value fit next to 30 MiB in a 32 MiB store";
  } catch (const shoal::ObjectStoreFullError& err) {
    check(err, "a value of 5242880 bytes given to put()");
  }
  try {
    shoal::get(shoal::task(make_bytes).remote(5 * kMiB));
    FAIL() << "a 5 MiB result fit next to 30 MiB in a 32 MiB store";
  } catch (const shoal::ObjectStoreFullError& err) {
    check(err, "the result of make_bytes (5242880 bytes)");
  }
  try {
    shoal::task(byte_sum).remote(make_bytes(5 * kMiB));  // a large argument passed by value
    FAIL() << "a 5 MiB argument fit next to 30 MiB in a 32 MiB store";
  } catch (const shoal::ObjectStoreFullError& err) {
    check(err, "an argument of 5242880 bytes passed to remote()");
  }
  EXPECT_EQ(space_waiters(), 0u);
  b = {};  // and once space is freed, writes go through again
  EXPECT_TRUE(has_pattern(shoal::get(shoal::task(make_bytes).remote(5 * kMiB)), 5 * kMiB));
}

// ---- writers wait, without the runtime lock, and wake when space is freed

TEST_F(StorePressureTest, PutWaitsForSpaceAndResumesWhenARefIsDropped) {
  start(kWaitLong);
  Refs refs = fill_with_three();
  auto blocked = std::async(std::launch::async, [] { return shoal::put(make_bytes(10 * kMiB)); });
  ASSERT_TRUE(eventually([] { return space_waiters() == 1; }, kObserve));
  // The waiting put() holds no lock: this thread reads objects, runs tasks and checks stats.
  EXPECT_TRUE(has_pattern(shoal::get(refs[1]), 10 * kMiB));
  EXPECT_EQ(shoal::get(shoal::task(identity).remote(3)), 3);
  EXPECT_EQ(shoal::object_store_stats().used_bytes, 30 * kMiB);
  refs[0] = {};  // frees 10 MiB: the waiting put() gets it
  shoal::ObjectRef<std::vector<std::uint8_t>> put_ref = blocked.get();
  EXPECT_TRUE(has_pattern(shoal::get(put_ref), 10 * kMiB));
  EXPECT_EQ(space_waiters(), 0u);
}

// The space a waiting put() needs is freed by a reference drop deferred to the waiter's own
// unlock (another thread dropped it while the waiter held the runtime lock): the grant then
// happens inside the waiter's own release of the lock, on its way to sleep. It must get the
// space, not deadlock (it once notified a condition variable whose internal mutex its own wait
// held).
TEST_F(StorePressureTest, PutGrantedByADropDeferredToItsOwnUnlockResumes) {
  start(kWaitLong);
  Refs refs = fill_with_three();
  shoal::testing::driver_runtime()->TEST_before_space_wait([&refs] {
    // This thread holds the runtime lock: the drop below is queued for it, not run.
    std::thread dropper([&refs] { refs[0] = {}; });
    dropper.join();
  });
  auto blocked = std::async(std::launch::async, [] { return shoal::put(make_bytes(10 * kMiB)); });
  if (blocked.wait_for(kObserve) != std::future_status::ready) {
    // The future's destructor would wait for ever: report, and end here (the workers end with
    // the driver).
    std::fprintf(stderr,
                 "FAILED: put() did not resume: a deadlock on the grant made by its own "
                 "unlock\n");
    std::_Exit(1);
  }
  EXPECT_TRUE(has_pattern(shoal::get(blocked.get()), 10 * kMiB));
  EXPECT_EQ(space_waiters(), 0u);
}

TEST_F(StorePressureTest, TaskResultWaitsForSpaceAndResumesWhenARefIsDropped) {
  start(kWaitLong);
  Refs refs = fill_with_three();
  auto result = shoal::task(make_bytes).remote(10 * kMiB);
  ASSERT_TRUE(eventually([] { return space_waiters() == 1; }, kObserve));
  // Its worker waits for the driver's answer; the other worker keeps running tasks.
  EXPECT_EQ(shoal::get(shoal::task(identity).remote(5)), 5);
  refs[2] = {};
  EXPECT_TRUE(has_pattern(shoal::get(result), 10 * kMiB));
  EXPECT_EQ(shoal::get(shoal::task(byte_sum).remote(result)), byte_sum(make_bytes(10 * kMiB)));
}

TEST_F(StorePressureTest, LargeArgumentWaitsForSpaceLikePut) {
  start(kWaitLong);
  Refs refs = fill_with_three();
  auto blocked = std::async(std::launch::async, [] {
    return shoal::get(shoal::task(byte_sum).remote(make_bytes(10 * kMiB)));
  });
  ASSERT_TRUE(eventually([] { return space_waiters() == 1; }, kObserve));
  refs[1] = {};
  EXPECT_EQ(blocked.get(), byte_sum(make_bytes(10 * kMiB)));
}

TEST_F(StorePressureTest, WaitingWritersAreServedAsSpaceIsFreed) {
  start(kWaitLong);
  Refs refs = fill_with_three();
  auto first = std::async(std::launch::async, [] { return shoal::put(make_bytes(10 * kMiB)); });
  ASSERT_TRUE(eventually([] { return space_waiters() == 1; }, kObserve));
  auto second = shoal::task(make_bytes).remote(10 * kMiB);
  ASSERT_TRUE(eventually([] { return space_waiters() == 2; }, kObserve));
  refs[0] = {};  // room for one: the first to ask gets it
  auto first_ref = first.get();
  EXPECT_EQ(space_waiters(), 1u);
  refs[1] = {};
  EXPECT_TRUE(has_pattern(shoal::get(second), 10 * kMiB));
  EXPECT_TRUE(has_pattern(shoal::get(first_ref), 10 * kMiB));
}

// ---- fragmentation: enough free bytes, but no block large enough

// Fills the store with 1 MiB objects and drops every other one: about half the store is free, in
// holes of 1 MiB, each between two objects still held. Returns the refs (dropped ones empty).
Refs fragment_the_store() {
  Refs refs;
  for (std::uint64_t i = 0; i < kStore / (kMiB + 4096); ++i) {
    refs.push_back(shoal::put(make_bytes(kMiB)));
  }
  for (std::size_t i = 0; i < refs.size(); i += 2) refs[i] = {};
  return refs;
}

TEST_F(StorePressureTest, FragmentedStoreFailsCleanlyAfterTheTimeout) {
  start(kWaitShort);
  Refs refs = fragment_the_store();
  ASSERT_GE(kStore - shoal::object_store_stats().used_bytes, 12 * kMiB);
  try {
    shoal::put(make_bytes(2 * kMiB));
    FAIL() << "no 2 MiB block should be free";
  } catch (const shoal::ObjectStoreFullError& e) {
    EXPECT_TRUE(contains(e.what(), "not in one piece")) << e.what();
    EXPECT_EQ(e.holders().size(), 5u);
  }
  refs[1] = {};  // joins the holes on either side into one 3 MiB block
  EXPECT_TRUE(has_pattern(shoal::get(shoal::put(make_bytes(2 * kMiB))), 2 * kMiB));
}

TEST_F(StorePressureTest, FragmentedStoreWaitsUntilNeighboursAreFreed) {
  start(kWaitLong);
  Refs refs = fragment_the_store();
  auto blocked = std::async(std::launch::async, [] { return shoal::put(make_bytes(2 * kMiB)); });
  ASSERT_TRUE(eventually([] { return space_waiters() == 1; }, kObserve));
  refs[3] = {};
  EXPECT_TRUE(has_pattern(shoal::get(blocked.get()), 2 * kMiB));
}

// ---- shutdown and worker death while a writer waits

TEST_F(StorePressureTest, ShutdownWakesAWaitingPutWithAClearError) {
  start(kOneDay);
  Refs refs = fill_with_three();
  auto blocked = std::async(std::launch::async, [] { shoal::put(make_bytes(10 * kMiB)); });
  ASSERT_TRUE(eventually([] { return space_waiters() == 1; }, kObserve));
  const pid_t helper = shoal::testing::driver_runtime()->TEST_fork_helper_pid();
  shoal::shutdown();
  try {
    blocked.get();
    FAIL() << "put() returned after shutdown()";
  } catch (const shoal::ObjectStoreFullError& e) {
    FAIL() << "expected the shutdown error, got " << e.what();
  } catch (const shoal::Error& e) {
    EXPECT_TRUE(contains(e.what(), "shutdown() ran while")) << e.what();
    EXPECT_TRUE(contains(e.what(), "waiting for object store space")) << e.what();
  }
  EXPECT_FALSE(shoal::testing::process_alive(helper));
}

TEST_F(StorePressureTest, BrokenSessionWakesAWaitingPutWithItsError) {
  start(kOneDay);
  Refs refs = fill_with_three();
  auto blocked = std::async(std::launch::async, [] { shoal::put(make_bytes(10 * kMiB)); });
  ASSERT_TRUE(eventually([] { return space_waiters() == 1; }, kObserve));
  // Without the fork helper no worker can be replaced: the session breaks (runtime.cpp).
  kill(shoal::testing::driver_runtime()->TEST_fork_helper_pid(), SIGKILL);
  try {
    blocked.get();
    FAIL() << "put() returned in a broken session";
  } catch (const shoal::ObjectStoreFullError& e) {
    FAIL() << "expected the broken-session error, got " << e.what();
  } catch (const shoal::Error& e) {
    EXPECT_TRUE(contains(e.what(), "broken")) << e.what();
  }
}

TEST_F(StorePressureTest, ShutdownWhileATaskResultWaitsDoesNotHang) {
  start(kOneDay);
  Refs refs = fill_with_three();
  auto result = shoal::task(make_bytes).remote(10 * kMiB);
  ASSERT_TRUE(eventually([] { return space_waiters() == 1; }, kObserve));
  std::vector<pid_t> pids = shoal::testing::driver_runtime()->TEST_worker_pids();
  pids.push_back(shoal::testing::driver_runtime()->TEST_fork_helper_pid());
  auto getter = std::async(std::launch::async, [&] { shoal::get(result); });
  shoal::shutdown();  // the waiting worker is killed with the rest; nothing waits for the timer
  EXPECT_THROW(getter.get(), shoal::Error);
  for (pid_t p : pids) EXPECT_FALSE(shoal::testing::process_alive(p)) << p;
}

TEST_F(StorePressureTest, WorkerDyingWhileItsResultWaitsLeavesNothingBehind) {
  start(kOneDay);
  const shoal::ObjectStoreStats baseline = shoal::object_store_stats();
  Refs refs = fill_with_three();
  auto result = shoal::task(make_bytes).options({.max_retries = 0}).remote(10 * kMiB);
  ASSERT_TRUE(eventually([] { return space_waiters() == 1; }, kObserve));
  // Which worker runs it does not matter: kill both (the pool replaces them).
  for (pid_t p : shoal::testing::driver_runtime()->TEST_worker_pids()) kill(p, SIGKILL);
  EXPECT_THROW(shoal::get(result), shoal::WorkerCrashedError);
  EXPECT_EQ(space_waiters(), 0u);  // its request went with it
  ASSERT_TRUE(eventually(
      [] { return shoal::testing::driver_runtime()->TEST_worker_pids().size() == 2; }, kObserve));
  refs.clear();
  result = {};
  const shoal::ObjectStoreStats after = shoal::object_store_stats();
  EXPECT_EQ(after.used_bytes, baseline.used_bytes);
  EXPECT_EQ(after.num_objects, baseline.num_objects);
  // The whole store is usable again: nothing was granted to the dead worker behind our back.
  Refs again = fill_with_three();
  EXPECT_TRUE(
      has_pattern(shoal::get(shoal::task(make_bytes).remote(std::uint64_t{1} * kMiB)), kMiB));
}

// ---- configuration

TEST(StorePressureConfig, TimeoutMustBeZeroOrMoreAndAtMostADay) {
  for (std::int64_t bad : {std::int64_t{-1}, std::int64_t{-1000}, kOneDay + 1}) {
    shoal::Config c;
    c.num_cpus = 1;
    c.object_store_full_timeout_ms = bad;
    try {
      shoal::init(c);
      shoal::shutdown();
      ADD_FAILURE() << bad << " was accepted";
    } catch (const shoal::InvalidConfigError& e) {
      EXPECT_TRUE(contains(e.what(), "object_store_full_timeout_ms")) << e.what();
      EXPECT_TRUE(contains(e.what(), std::to_string(bad))) << e.what();
    }
  }
  EXPECT_FALSE(shoal::is_initialized());
  EXPECT_EQ(shoal::Config{}.object_store_full_timeout_ms, 10'000);
}

TEST(StorePressureConfig, StoreTheMachineCannotGiveIsRejectedAtInit) {
  shoal::Config c;
  c.num_cpus = 1;
  c.object_store_memory = std::uint64_t{1} << 50;  // a petabyte
  try {
    shoal::init(c);
    shoal::shutdown();
    FAIL() << "a petabyte store was accepted";
  } catch (const shoal::InvalidConfigError& e) {
    EXPECT_TRUE(contains(e.what(), "Config::object_store_memory")) << e.what();
    EXPECT_TRUE(contains(e.what(), "pass at most")) << e.what();
  }
  EXPECT_FALSE(shoal::is_initialized());
}

// ---- a small /dev/shm (Docker's 64 MB) does not limit the store: it is an anonymous memfd

// Exit codes of the child below; 0 is success, shoal::testing::kRefusedExitCode a refusal.
enum ShmChild : int {
  kPutWrong = 13,
  kTaskWrong = 14,
  kThrew = 15,
};

// In its own mount namespace: a 64 MB tmpfs over /dev/shm, then a 256 MiB store that holds a
// 200 MB put() and a 50 MB task result at once. A store backed by /dev/shm would die of SIGBUS.
// Everything before init() is the machine's to refuse (no CAP_SYS_ADMIN, a chroot, a read-only
// /dev): the child reports it as refused, and the test skips; only what shoal does can fail it.
int run_with_small_dev_shm() {
  using shoal::testing::refused;
  if (unshare(CLONE_NEWNS) != 0) {
    return refused(
        "a mount namespace of the test's own to mount a small /dev/shm in "
        "(unshare(CLONE_NEWNS))",
        errno);
  }
  // Private first, so that the tmpfs mount stays in this namespace and never reaches the host.
  // Under chroot, "/" is usually not a mount point (EINVAL); then /dev/shm itself must be one:
  // making it private is enough for a mount on top of it.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    const int root_errno = errno;
    if (mount(nullptr, "/dev/shm", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return refused(std::string("a private mount under the tmpfs, so that it cannot reach the "
                                 "rest of the machine: making / private: ") +
                     std::strerror(root_errno) +
                     "; making /dev/shm private: " + std::strerror(errno));
    }
  }
  if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m") != 0) {
    return refused("mounting a 64 MB tmpfs over /dev/shm", errno);
  }
  struct statvfs fs {};
  if (statvfs("/dev/shm", &fs) != 0) return refused("statvfs(/dev/shm)", errno);
  const std::uint64_t size = static_cast<std::uint64_t>(fs.f_blocks) * fs.f_frsize;
  if (size != 64 * kMiB) {
    return refused("a 64 MB /dev/shm: the tmpfs mounted has " + std::to_string(size) + " bytes");
  }
  try {
    shoal::Config c;
    c.num_cpus = 2;
    c.object_store_memory = 256 * kMiB;
    shoal::init(c);
    constexpr std::uint64_t kPut = 200'000'000, kResult = 50'000'000;
    auto big = shoal::put(make_bytes(kPut));
    if (!has_pattern(shoal::get(big), kPut)) return kPutWrong;
    auto result = shoal::task(make_bytes).remote(kResult);
    if (!has_pattern(shoal::get(result), kResult)) return kTaskWrong;
    if (shoal::get(shoal::task(byte_sum).remote(big)) != byte_sum(make_bytes(kPut))) {
      return kTaskWrong;
    }
    shoal::shutdown();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child: %s\n", e.what());
    return kThrew;
  }
  return 0;
}

TEST(StorePressureShm, SmallDevShmDoesNotLimitTheStore) {
#if defined(__SANITIZE_THREAD__)
  // Writing and checking 250 MB byte by byte under ThreadSanitizer takes minutes; the normal and
  // the ASan builds run it.
  GTEST_SKIP() << "too slow under ThreadSanitizer";
#endif
  const auto child =
      shoal::testing::run_in_child(run_with_small_dev_shm, std::chrono::seconds(100));
  ASSERT_FALSE(child.timed_out) << "the child did not finish within 100 s\n" << child.err;
  ASSERT_FALSE(WIFSIGNALED(child.status))
      << "the child died of signal " << WTERMSIG(child.status)
      << (WTERMSIG(child.status) == SIGBUS ? " (SIGBUS)" : "") << "\n"
      << child.err;
  ASSERT_TRUE(WIFEXITED(child.status)) << child.err;
  if (child.refused()) GTEST_SKIP() << "the machine refused " << child.refusal();
  EXPECT_EQ(WEXITSTATUS(child.status), 0) << "13 put/get wrong, 14 task result wrong, 15 threw\n"
                                          << child.err;
}

}  // namespace
