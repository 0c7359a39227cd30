// Reads /proc and /sys/fs/cgroup. Every reader tolerates a missing or odd file by falling back to
// the less specific answer: a container without cgroup files still gets the affinity count.
#include "src/common/system_info.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace shoal::internal {
namespace {

std::optional<std::string> read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return line;
}

// The process's cgroup v2 directory ("0::/path" in /proc/self/cgroup), or nullopt on v1 / none.
std::optional<std::string> cgroup_v2_dir() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return "/sys/fs/cgroup" + line.substr(3);
  }
  return std::nullopt;
}

std::optional<double> cgroup_cpu_limit() {
  if (auto dir = cgroup_v2_dir()) {
    if (auto line = read_first_line(*dir + "/cpu.max")) {  // "max 100000" or "200000 100000"
      std::istringstream in(*line);
      std::string quota;
      double period = 0;
      if (in >> quota >> period && quota != "max" && period > 0) return std::stod(quota) / period;
    }
  }
  auto quota = read_first_line("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  auto period = read_first_line("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  if (quota && period) {
    const double q = std::stod(*quota), p = std::stod(*period);
    if (q > 0 && p > 0) return q / p;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> read_u64(const std::string& path) {
  auto line = read_first_line(path);
  if (!line || line->empty() || !std::isdigit(static_cast<unsigned char>((*line)[0])))
    return std::nullopt;
  return std::stoull(*line);
}

}  // namespace

int usable_cpus() {
  int count = 0;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) count = CPU_COUNT(&set);
  if (count <= 0) count = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  try {
    if (auto limit = cgroup_cpu_limit())
      count = std::min(count, static_cast<int>(std::ceil(*limit)));
  } catch (const std::exception&) {  // unparsable cgroup file: keep the affinity count
  }
  return std::max(count, 1);
}

std::uint64_t available_memory() {
  // Free pages as the fallback (no file needed); MemAvailable, which also counts reclaimable
  // cache, when /proc/meminfo can be read.
  std::uint64_t available = static_cast<std::uint64_t>(sysconf(_SC_AVPHYS_PAGES)) *
                            static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") {
      available = kib * 1024;
      break;
    }
  }
  try {
    std::optional<std::uint64_t> max, current;
    if (auto dir = cgroup_v2_dir()) {
      max = read_u64(*dir + "/memory.max");  // "max" (no limit) does not parse as a number
      current = read_u64(*dir + "/memory.current");
    } else {
      max = read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes");
      current = read_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    }
    if (max && *max < (std::uint64_t{1} << 60)) {
      const std::uint64_t headroom = (current && *current < *max) ? *max - *current : 0;
      available = available == 0 ? headroom : std::min(available, headroom);
    }
  } catch (const std::exception&) {  // unparsable cgroup file: keep MemAvailable
  }
  return available;
}

std::string node_address() {
  std::string address = "127.0.0.1";
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return address;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
    if ((a->ifa_flags & IFF_LOOPBACK) != 0 || (a->ifa_flags & IFF_UP) == 0) continue;
    char text[INET_ADDRSTRLEN];
    const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) != nullptr) {
      address = text;
      break;
    }
  }
  freeifaddrs(list);
  return address;
}

std::vector<std::string> other_threads() {
  std::vector<std::string> out;
  const auto self = static_cast<long>(syscall(SYS_gettid));
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.' || std::atol(e->d_name) == self) continue;
      std::string name;
      std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
      std::getline(comm, name);
      out.push_back((name.empty() ? std::string("?") : name) + " (tid " + e->d_name + ")");
    }
    closedir(d);
  }
  return out;
}

}  // namespace shoal::internal
