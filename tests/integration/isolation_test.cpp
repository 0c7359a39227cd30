// Isolation: a shoal session names nothing in the filesystem and keeps what it owns to its user.
// The store is an anonymous memfd with mode 0600, the sockets are unnamed socketpairs (no path,
// no abstract name, none listening), and the workers run as the driver's user. So another local
// user can neither connect to a worker nor map the store, and a crash leaves nothing behind.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

namespace fs = std::filesystem;
using shoal::testing::SessionTest;

std::vector<char> big_result(int kib) {
  return std::vector<char>(static_cast<std::size_t>(kib) << 10, 'x');
}
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int fails(int) { throw std::runtime_error("expected"); }
SHOAL_REMOTE(big_result, sleep_ms, fails);

// Some of everything: large results (through the store), a large put, small tasks, a failure.
// `during` runs while tasks are still in flight.
void run_workload(const std::function<void()>& during) {
  auto big_put = shoal::put(std::vector<char>(1 << 20, 'p'));
  std::vector<shoal::ObjectRef<std::vector<char>>> bigs;
  for (int i = 0; i < 8; ++i) bigs.push_back(shoal::task(big_result).remote(256));
  std::vector<shoal::ObjectRef<int>> sleeps;
  for (int i = 0; i < 4; ++i) sleeps.push_back(shoal::task(sleep_ms).remote(50));
  during();
  for (const auto& b : shoal::get(bigs)) EXPECT_EQ(b.size(), 256u << 10);
  EXPECT_EQ(shoal::get(big_put).size(), 1u << 20);
  EXPECT_EQ(shoal::get(sleeps), std::vector<int>(4, 50));
  EXPECT_THROW(shoal::get(shoal::task(fails).remote(0)), shoal::TaskError);
}

std::vector<pid_t> session_pids() {
  auto rt = shoal::testing::driver_runtime();
  std::vector<pid_t> pids = rt->TEST_worker_pids();
  pids.push_back(rt->TEST_fork_helper_pid());
  pids.push_back(getpid());
  return pids;
}

// fd number -> link target ("socket:[123]", "/memfd:x (deleted)", a path), of process pid.
std::vector<std::pair<int, std::string>> open_files(pid_t pid) {
  std::vector<std::pair<int, std::string>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code link_ec;
    const std::string target = fs::read_symlink(e.path(), link_ec).string();
    if (!link_ec) out.emplace_back(std::stoi(e.path().filename().string()), target);
  }
  return out;
}

std::set<std::string> socket_inodes(pid_t pid) {
  std::set<std::string> out;
  for (const auto& [fd, target] : open_files(pid)) {
    if (target.rfind("socket:[", 0) == 0) out.insert(target.substr(8, target.size() - 9));
  }
  return out;
}

struct UnixSocket {
  std::string flags;  // hex; 00010000 = listening
  std::string path;   // empty for an unnamed socket, "@..." for an abstract one
};

// /proc/net/unix: "Num RefCount Protocol Flags Type St Inode [Path]", by inode.
std::map<std::string, UnixSocket> unix_sockets() {
  std::map<std::string, UnixSocket> out;
  std::ifstream in("/proc/net/unix");
  std::string line;
  std::getline(in, line);  // the column names
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string num, refs, protocol, flags, type, state, inode, path;
    fields >> num >> refs >> protocol >> flags >> type >> state >> inode;
    std::getline(fields >> std::ws, path);
    out[inode] = UnixSocket{flags, path};
  }
  return out;
}

// "Uid:\treal\teffective\tsaved\tfs" -> the four ids.
std::vector<long> ids_of(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream fields(line.substr(key.size() + 1));
    std::vector<long> ids;
    long id;
    while (fields >> id) ids.push_back(id);
    return ids;
  }
  return {};
}

using IsolationTest = SessionTest;

TEST_F(IsolationTest, TheStoreIsAnOwnerOnlyMemfd) {
  int memfds = 0;
  for (const auto& [fd, target] : open_files(getpid())) {
    if (target.rfind("/memfd:shoal-object-store", 0) != 0) continue;
    ++memfds;
    struct stat st {};
    ASSERT_EQ(stat(("/proc/self/fd/" + std::to_string(fd)).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << std::oct << (st.st_mode & 07777);
    EXPECT_EQ(st.st_uid, getuid());
    EXPECT_EQ(st.st_nlink, 0u) << "the store must have no name in any filesystem";
  }
  EXPECT_EQ(memfds, 1) << "the driver holds the store's memfd";
  // The workers map that same anonymous file and hold no descriptor of it.
  for (pid_t w : shoal::testing::driver_runtime()->TEST_worker_pids()) {
    std::ifstream maps("/proc/" + std::to_string(w) + "/maps");
    const std::string text((std::istreambuf_iterator<char>(maps)), {});
    EXPECT_NE(text.find("/memfd:shoal-object-store (deleted)"), std::string::npos) << w;
    for (const auto& [fd, target] : open_files(w)) {
      EXPECT_EQ(target.find("memfd:"), std::string::npos) << "worker " << w << " fd " << fd;
    }
  }
}

TEST_F(IsolationTest, EverySocketIsAnUnnamedConnectedPair) {
  run_workload([] {
    const std::map<std::string, UnixSocket> all = unix_sockets();
    // The one exception: the driver's control socket, which the shoal command attaches to (an
    // abstract name; its peers' credentials are checked: cli_test, control_test).
    const std::string control =
        "@shoal/" + std::to_string(geteuid()) + "/" + std::to_string(getpid()) + "/";
    int control_sockets = 0;
    for (pid_t pid : session_pids()) {
      const std::set<std::string> inodes = socket_inodes(pid);
      EXPECT_FALSE(inodes.empty()) << "pid " << pid << " has no socket: nothing was checked";
      for (const std::string& inode : inodes) {
        const auto it = all.find(inode);
        ASSERT_NE(it, all.end()) << "pid " << pid << ": socket " << inode << " is not AF_UNIX";
        if (pid == getpid() && it->second.path.rfind(control, 0) == 0) {
          ++control_sockets;
          continue;
        }
        EXPECT_EQ(it->second.path, "") << "pid " << pid << ": socket " << inode << " is named";
        EXPECT_EQ(std::stoul(it->second.flags, nullptr, 16) & 0x10000, 0u)
            << "pid " << pid << ": socket " << inode << " is listening";
      }
    }
    EXPECT_EQ(control_sockets, 1) << "one control socket, in the driver only";
  });
}

TEST_F(IsolationTest, WorkersAndHelperRunAsTheDriversUser) {
  const std::vector<long> uid = ids_of(getpid(), "Uid");
  const std::vector<long> gid = ids_of(getpid(), "Gid");
  ASSERT_EQ(uid.size(), 4u);
  for (pid_t pid : session_pids()) {
    EXPECT_EQ(ids_of(pid, "Uid"), uid) << pid;
    EXPECT_EQ(ids_of(pid, "Gid"), gid) << pid;
  }
}

// Every descriptor a session process holds that the program did not have open before init() is
// anonymous: a socket, a pipe, the memfd, or an anonymous inode (epoll, eventfd, signalfd). A file
// with a path would be a name another user might find.
TEST(IsolationFiles, SessionProcessesOpenNoNamedFiles) {
  std::set<std::string> before;  // what the program had open (from its parent: a log, /dev/null)
  for (const auto& [fd, target] : open_files(getpid())) before.insert(target);
  shoal::init(SessionTest::test_config());
  int checked = 0;
  run_workload([&] {
    for (pid_t pid : session_pids()) {
      for (const auto& [fd, target] : open_files(pid)) {
        ++checked;
        const bool anonymous = target.rfind("socket:", 0) == 0 || target.rfind("pipe:", 0) == 0 ||
                               target.rfind("anon_inode:", 0) == 0 ||
                               target.rfind("/memfd:shoal-object-store", 0) == 0;
        // The directory open_files() itself is reading.
        const bool listing = target.rfind("/proc/", 0) == 0 && pid == getpid();
        if (anonymous || listing || before.count(target) != 0) continue;
        ADD_FAILURE() << "pid " << pid << " fd " << fd << " is a named file: " << target;
      }
    }
  });
  shoal::shutdown();
  EXPECT_GT(checked, 4);
}

// ---- Nothing named in /dev/shm, /tmp, /run/user/<uid> or the working directory.
//
// Other programs on the machine create files in /tmp at any moment (compilers, other tests), so a
// plain before/after listing would blame shoal for them. The check runs in a child process with a
// private mount namespace: fresh, empty tmpfs mounts on those directories, which only the child
// and its session can see. Creating the namespace needs CAP_SYS_ADMIN, and the mounts need "/" to
// be a mount point (not so under chroot); without them the test skips, naming what was refused
// (SessionProcessesOpenNoNamedFiles and the socket test still cover held files and sockets).

std::vector<std::string> watched_dirs() {
  std::vector<std::string> dirs = {"/dev/shm", "/tmp"};
  const std::string run_user = "/run/user/" + std::to_string(getuid());
  if (fs::is_directory(run_user)) dirs.push_back(run_user);
  return dirs;
}

std::set<std::string> entries(const std::vector<std::string>& dirs) {
  std::set<std::string> out;
  for (const std::string& d : dirs) {
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(d, ec)) out.insert(e.path().string());
  }
  return out;
}

// Exit codes of the child: 0 passed, kRefusedExitCode the machine refused the private mounts
// (skip), others failed (reason on stderr).
int check_in_private_namespace() {
  using shoal::testing::refused;
  if (unshare(CLONE_NEWNS) != 0) {
    return refused(
        "a mount namespace of the test's own to mount empty directories in "
        "(unshare(CLONE_NEWNS))",
        errno);
  }
  // The tmpfs mounts must not reach the rest of the machine. Under chroot "/" is usually not a
  // mount point and this fails (EINVAL): then there is no mount to make private that holds all
  // the watched directories, and the test cannot run.
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return refused(
        "making / a private mount, so that the test's tmpfs mounts stay in its own "
        "mount namespace",
        errno);
  }
  std::vector<std::string> dirs = watched_dirs();
  for (const std::string& d : dirs) {
    if (mount("isolation-test", d.c_str(), "tmpfs", 0, "mode=1777") != 0) {
      return refused("mounting an empty tmpfs over " + d, errno);
    }
  }
  const std::string cwd = "/tmp/cwd";
  if (!fs::create_directory(cwd) || chdir(cwd.c_str()) != 0) return 11;
  dirs.push_back(cwd);
  const std::set<std::string> before = entries(dirs);

  std::set<std::string> during;
  shoal::init(SessionTest::test_config());
  run_workload([&] { during = entries(dirs); });
  shoal::shutdown();
  std::set<std::string> after = entries(dirs);

  int code = 0;
  for (const std::set<std::string>* snapshot : {&during, &after}) {
    for (const std::string& e : *snapshot) {
      if (before.count(e) != 0) continue;
      std::fprintf(stderr, "new entry %s: %s\n",
                   snapshot == &during ? "during the session" : "after shutdown", e.c_str());
      code = 12;
    }
  }
  if (::testing::Test::HasFailure()) code = 13;
  return code;
}

TEST(IsolationNamespace, ASessionCreatesNothingInShmTmpRunUserOrTheWorkingDirectory) {
  const auto child =
      shoal::testing::run_in_child(check_in_private_namespace, std::chrono::seconds(100));
  ASSERT_FALSE(child.timed_out) << "the child did not finish within 100 s\n" << child.err;
  ASSERT_TRUE(WIFEXITED(child.status)) << "the child died: " << child.status << "\n" << child.err;
  if (child.refused()) GTEST_SKIP() << "the machine refused " << child.refusal();
  EXPECT_EQ(WEXITSTATUS(child.status), 0) << child.err;
}

}  // namespace
