#include "tests/support/test_support.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <dirent.h>
#include <signal.h>

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

}  // namespace shoal::testing
