#include "tests/support/test_support.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

namespace shoal::testing {
namespace {

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  if (DIR* d = opendir(path.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') out.emplace_back(e->d_name);
    }
    closedir(d);
  }
  return out;
}

bool contains_shoal(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name.find("shoal") != std::string::npos;
}

}  // namespace

bool process_alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return false;
  const char state = line[close + 2];
  return state != 'Z' && state != 'X';
}

pid_t parent_of(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return -1;
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  char state;
  pid_t ppid = -1;
  rest >> state >> ppid;
  return ppid;
}

int thread_count(pid_t pid) {
  return static_cast<int>(list_dir("/proc/" + std::to_string(pid) + "/task").size());
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  const std::string base = "/proc/" + std::to_string(pid) + "/task/";
  for (const std::string& tid : list_dir(base)) {
    std::ifstream in(base + tid + "/children");
    pid_t child;
    while (in >> child) out.push_back(child);
  }
  return out;
}

int open_fd_count() { return static_cast<int>(list_dir("/proc/self/fd").size()); }

std::vector<std::string> shoal_shm_entries() {
  std::vector<std::string> out;
  for (const std::string& name : list_dir("/dev/shm")) {
    if (contains_shoal(name)) out.push_back(name);
  }
  return out;
}

std::vector<std::string> shoal_socket_files() {
  std::vector<std::string> out;
  for (const char* root : {"/tmp", "/run"}) {
    std::error_code ec;
    for (auto it = std::filesystem::recursive_directory_iterator(
             root, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it.depth() > 2) it.disable_recursion_pending();
      std::error_code sec;
      if (it->is_socket(sec) && contains_shoal(it->path().filename().string())) {
        out.push_back(it->path().string());
      }
    }
  }
  return out;
}

bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= deadline) return cond();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

int refused(const std::string& what, int err) {
  if (err != 0) {
    std::fprintf(stderr, "refused: %s: %s\n", what.c_str(), std::strerror(err));
  } else {
    std::fprintf(stderr, "refused: %s\n", what.c_str());
  }
  std::fflush(stderr);
  return kRefusedExitCode;
}

std::string ChildOutcome::refusal() const {
  const auto at = err.rfind("refused: ");
  if (at == std::string::npos) return "the child exited with the refused code but gave no reason";
  const auto end = err.find('\n', at);
  return err.substr(at + 9, end == std::string::npos ? std::string::npos : end - at - 9);
}

ChildOutcome run_in_child(const std::function<int()>& body, std::chrono::milliseconds limit) {
  ChildOutcome out;
  int fds[2];
  if (pipe(fds) != 0) {
    out.status = -1;
    out.err = std::string("pipe: ") + std::strerror(errno);
    return out;
  }
  const pid_t child = fork();
  if (child < 0) {
    out.status = -1;
    out.err = std::string("fork: ") + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return out;
  }
  if (child == 0) {
    close(fds[0]);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    int code = 99;
    try {
      code = body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "exception: %s\n", e.what());
    }
    std::fflush(stderr);
    _exit(code);
  }
  close(fds[1]);
  // Read until every writer has closed the pipe (the child and anything it started that kept
  // stderr), or until the limit: then stop the child, our own, rather than leave it behind.
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      out.timed_out = true;
      kill(child, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int ready = poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 100)));
    if (ready < 0 && errno != EINTR) break;
    if (ready <= 0) continue;
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.err.append(buf, static_cast<std::size_t>(n));
  }
  close(fds[0]);
  while (waitpid(child, &out.status, 0) < 0 && errno == EINTR) {
  }
  return out;
}

ScopedEnv::ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
  if (const char* old = std::getenv(name_.c_str())) saved_ = old;
  if (value != nullptr) {
    setenv(name_.c_str(), value, 1);
  } else {
    unsetenv(name_.c_str());
  }
}

ScopedEnv::~ScopedEnv() {
  if (saved_) {
    setenv(name_.c_str(), saved_->c_str(), 1);
  } else {
    unsetenv(name_.c_str());
  }
}

}  // namespace shoal::testing
