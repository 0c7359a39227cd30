// The driver dies, or comes and goes a thousand times: nothing may outlive it or pile up.
//
// SIGKILL at chosen moments: a child process runs init()/work/shutdown() in a loop and publishes
// which phase it is in through a shared page; the test SIGKILLs it inside each phase in turn,
// at a random offset. The test process is a child subreaper (PR_SET_CHILD_SUBREAPER), so the
// driver's orphaned helper and workers become its children: "no child left" then means "every
// process the driver started is gone", with no pid guessing. The simple cases (idle workers,
// workers running long tasks) are in process_test.cpp.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using shoal::testing::SessionTest;
using namespace std::chrono_literals;

int square(int x) { return x * x; }
std::vector<char> block(int kb) {
  return std::vector<char>(static_cast<std::size_t>(kb) << 10, 'b');
}
SHOAL_REMOTE(square, block);

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;  // fork and exit are 10-50x slower: fewer rounds
#else
constexpr bool kSanitized = false;
#endif

std::set<std::string> list(const std::string& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) out.insert(e.path().string());
  return out;
}

// What a dead driver might leave in the filesystem: shared memory and socket files.
std::set<std::string> named_things() {
  std::set<std::string> out = list("/dev/shm");
  for (const std::string& s : list("/tmp")) {
    std::error_code ec;
    if (std::filesystem::is_socket(s, ec)) out.insert(s);
  }
  return out;
}

enum Phase : int { kIniting = 1, kWorking = 2, kShuttingDown = 3 };

// The driver child: sessions in a loop, publishing its phase, until it is killed.
[[noreturn]] void driver_loop(std::atomic<int>* phase) {
  for (int round = 0;; ++round) {
    phase->store(kIniting);
    shoal::init(SessionTest::test_config());
    phase->store(kWorking);
    std::vector<shoal::ObjectRef<int>> refs;
    for (int i = 0; i < 200; ++i) refs.push_back(shoal::task(square).remote(i));
    auto big = shoal::task(block).remote(512);  // a result in the shared store
    auto put = shoal::put(std::vector<char>(1 << 20, 'p'));
    for (int i = 0; i < 200; i += 50) (void)shoal::get(refs[static_cast<std::size_t>(i)]);
    (void)shoal::get(big);
    phase->store(kShuttingDown);
    shoal::shutdown();
  }
}

// Reaps every child until none is left; false if some process still lives at the deadline.
bool all_descendants_gone(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    int status;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == ECHILD) return true;
    if (pid > 0) continue;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
}

TEST(DriverDeath, SigkillInEveryPhaseLeavesNoProcessAndNoName) {
  // Without it the orphans go to init, out of the test's sight, and "no child left" proves
  // nothing. It needs no privilege, but a seccomp filter can refuse prctl().
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    const int err = errno;
    GTEST_SKIP() << "the machine refused prctl(PR_SET_CHILD_SUBREAPER), which lets the test see "
                    "the dead driver's orphans: "
                 << std::strerror(err);
  }
  auto* phase =
      static_cast<std::atomic<int>*>(mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                                          MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(phase, MAP_FAILED);
  const std::set<std::string> names_before = named_things();
  std::mt19937 rng(std::random_device{}());
  const int rounds = kSanitized ? 6 : 30;
  int killed_in[4] = {};
  std::chrono::milliseconds slowest{0};
  for (int round = 0; round < rounds; ++round) {
    const Phase target = static_cast<Phase>(1 + round % 3);
    new (phase) std::atomic<int>(0);
    const pid_t driver = fork();
    ASSERT_GE(driver, 0);
    if (driver == 0) driver_loop(phase);
    // Wait for the phase (bounded), then a random moment inside it: 0-2 ms.
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (phase->load() != target && std::chrono::steady_clock::now() < give_up) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 2000));
    const int seen = phase->load();
    ASSERT_EQ(kill(driver, SIGKILL), 0);
    const auto killed = std::chrono::steady_clock::now();
    ++killed_in[seen >= 0 && seen <= 3 ? seen : 0];
    ASSERT_TRUE(all_descendants_gone(killed + 1s))
        << "round " << round << ": a process of the dead driver lived on for over a second";
    slowest = std::max(slowest, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - killed));
    EXPECT_EQ(named_things(), names_before) << "round " << round << " left a name behind";
  }
  munmap(phase, sizeof(std::atomic<int>));
  std::printf(
      "killed %d drivers: %d during init, %d working, %d during shutdown; the slowest "
      "took %lld ms to leave nothing behind\n",
      rounds, killed_in[kIniting], killed_in[kWorking], killed_in[kShuttingDown],
      static_cast<long long>(slowest.count()));
  EXPECT_GT(killed_in[kIniting], 0);
  EXPECT_GT(killed_in[kWorking], 0);
  EXPECT_GT(killed_in[kShuttingDown], 0);
}

// ---- 1,000 sessions in one process

// Mappings of this process. Under a sanitizer its runtime maps memory lazily as the program runs
// (allocator regions, shadow), so there only the store's mappings are counted, which is the
// mapping a leak of shoal's would show.
int count_mappings() {
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) {
    n += !kSanitized || line.find("shoal-object-store") != std::string::npos;
  }
  return n;
}

struct Footprint {
  int fds = 0, mappings = 0, threads = 0, children = 0;
  std::set<std::string> names;
  bool operator==(const Footprint&) const = default;
};

Footprint footprint() {
  Footprint f;
  f.fds = shoal::testing::open_fd_count();
  f.mappings = count_mappings();
  f.threads = shoal::testing::thread_count(getpid());
  f.children = static_cast<int>(shoal::testing::children_of(getpid()).size());
  f.names = named_things();
  return f;
}

void PrintTo(const Footprint& f, std::ostream* os) {
  *os << f.fds << " fds, " << f.mappings << " mappings, " << f.threads << " threads, " << f.children
      << " children, " << f.names.size() << " names in /dev/shm and /tmp";
}

TEST(DriverDeath, AThousandSessionsLeakNoFdProcessMappingOrSharedMemory) {
  shoal::Config config = SessionTest::test_config();
  config.object_store_memory = 64ull << 20;
  auto session = [&](int i) {
    shoal::init(config);
    auto big = shoal::put(std::vector<char>(128 << 10, 'x'));  // an arena block
    ASSERT_EQ(shoal::get(shoal::task(square).remote(i)), i * i);
    ASSERT_EQ(shoal::get(big).size(), 128u << 10);
    shoal::shutdown();
  };
  session(0);  // warm-up: the allocator's and the logger's one-time mappings
  const Footprint before = footprint();
  const int cycles = kSanitized ? 100 : 1000;
  for (int i = 1; i <= cycles; ++i) {
    session(i);
    if (HasFatalFailure()) return;
  }
  const Footprint after = footprint();
  EXPECT_EQ(after, before) << "after " << cycles << " init()/shutdown() cycles";
  std::printf("%d cycles; before and after: %d fds, %d mappings, %d threads, %d children\n", cycles,
              after.fds, after.mappings, after.threads, after.children);
}

}  // namespace
