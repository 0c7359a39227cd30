// init()'s defaults and logging, each checked in a child process so the test can change the
// child's affinity, environment and stderr without touching the test runner.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "src/common/system_info.hpp"

namespace {

int identity(int x) { return x; }
SHOAL_REMOTE(identity);

// Runs body in a forked child with stderr captured; returns {exit code, stderr text}.
std::pair<int, std::string> in_child(const std::function<int()>& body) {
  int fds[2];
  if (pipe(fds) != 0) return {-1, ""};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    int code = 99;
    try {
      code = body();
    } catch (const std::exception& e) {
      fprintf(stderr, "exception: %s\n", e.what());
    }
    shoal::shutdown();
    fflush(stderr);
    _exit(code);
  }
  close(fds[1]);
  std::string err;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, err};
}

TEST(Config, DefaultCpuCountFollowsTheAffinityMask) {
  auto [code, err] = in_child([] {
    // One of the CPUs the process may already use: CPU 0 may be outside its cpuset (taskset, a
    // container pinned to other CPUs), and the kernel would refuse it.
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return 3;
    int first = 0;
    while (first < CPU_SETSIZE && !CPU_ISSET(first, &allowed)) ++first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) return 3;
    shoal::init();  // num_cpus = 0: detect
    if (shoal::cluster_resources().at("CPU") != 1.0) return 4;
    return shoal::get(shoal::task(identity).remote(5)) == 5 ? 0 : 5;
  });
  EXPECT_EQ(code, 0) << err;
}

TEST(Config, DefaultStoreIsAShareOfAvailableMemory) {
  auto [code, err] = in_child([] {
    const double available = static_cast<double>(shoal::internal::available_memory());
    shoal::init();
    const double store = shoal::cluster_resources().at("object_store_memory");
    if (store < 0.2 * available || store > 0.4 * available) return 3;
    return shoal::cluster_resources().at("CPU") == shoal::internal::usable_cpus() ? 0 : 4;
  });
  EXPECT_EQ(code, 0) << err;
}

TEST(Config, InitFailingOnAnOsErrorThrowsSystemErrorAndLeavesNothing) {
  auto [code, err] = in_child([] {
    // No descriptor left for the store's memfd: init() must fail cleanly, not crash.
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    const int open_now = 3 + 1;  // stdin, stdout, stderr (a pipe) and one spare below the limit
    limit.rlim_cur = open_now;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return 3;
    try {
      shoal::init();
      return 4;
    } catch (const shoal::SystemError& e) {
      fprintf(stderr, "%s\n", e.what());
    }
    if (shoal::is_initialized()) return 5;
    if (wait(nullptr) != -1 || errno != ECHILD) return 6;  // no child process was left behind
    return 0;
  });
  EXPECT_EQ(code, 0) << err;
  EXPECT_NE(err.find("shoal:"), std::string::npos) << err;
}

TEST(Config, LogLevelComesFromTheEnvironment) {
  auto [code, err] = in_child([] {
    setenv("SHOAL_LOG_LEVEL", "debug", 1);
    shoal::Config c;
    c.num_cpus = 1;
    c.object_store_memory = 16u << 20;
    shoal::init(c);
    return 0;
  });
  EXPECT_EQ(code, 0) << err;
  EXPECT_NE(err.find("started 1 workers"), std::string::npos) << err;
}

TEST(Config, ConfigLogLevelWinsOverTheEnvironment) {
  auto [code, err] = in_child([] {
    setenv("SHOAL_LOG_LEVEL", "debug", 1);
    shoal::Config c;
    c.num_cpus = 1;
    c.object_store_memory = 16u << 20;
    c.log_level = "error";
    shoal::init(c);
    return 0;
  });
  EXPECT_EQ(code, 0) << err;
  EXPECT_EQ(err.find("started"), std::string::npos) << err;
}

}  // namespace
