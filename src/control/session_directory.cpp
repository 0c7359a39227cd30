// Sessions from /proc/net/unix, processes from /proc/<pid>/status.
//
// A /proc/net/unix line is "Num: RefCount Protocol Flags Type St Inode [Path]", all hex but the
// inode; Flags has __SO_ACCEPTCON (0x10000) on a listening socket. A session's name appears on
// its listening socket and on each connection the server accepted, so only listening ones count.
#include "src/control/session_directory.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <pwd.h>
#include <unistd.h>

#include "src/control/control_error.hpp"

namespace shoal::internal::control {
namespace {

constexpr unsigned long kListeningFlag = 0x10000;  // __SO_ACCEPTCON
constexpr unsigned long kStreamType = 1;           // SOCK_STREAM

// Parses one line of /proc/net/unix into a session address; false for any other line.
bool parse_line(const std::string& line, SessionAddress* out) {
  std::istringstream fields(line);
  std::string num, path;
  unsigned long refcount = 0, protocol = 0, flags = 0, type = 0, state = 0, inode = 0;
  fields >> num >> std::hex >> refcount >> protocol >> flags >> type >> state >> std::dec >> inode;
  if (!fields || num.empty() || num.back() != ':') return false;
  fields >> path;
  if (path.size() < 2 || path[0] != '@') return false;
  if ((flags & kListeningFlag) == 0 || type != kStreamType) return false;
  return parse_socket_name(std::string_view(path).substr(1), out);
}

std::string read_small_file(const std::string& path, bool* ok) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  *ok = static_cast<bool>(in);
  return text.str();
}

}  // namespace

ProcessInfo read_process(pid_t pid) {
  ProcessInfo info;
  if (pid <= 0) return info;
  const std::string dir = "/proc/" + std::to_string(pid);
  bool ok = false;
  const std::string status = read_small_file(dir + "/status", &ok);
  if (!ok || status.empty()) return info;
  info.exists = true;
  std::istringstream lines(status);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("State:", 0) == 0) {
      info.zombie = line.find('Z') != std::string::npos;
    } else if (line.rfind("Uid:", 0) == 0) {
      std::istringstream uids(line.substr(4));
      unsigned long real = 0, effective = 0;
      uids >> real >> effective;
      info.uid = static_cast<uid_t>(effective);
    }
  }
  info.program = read_small_file(dir + "/comm", &ok);
  while (!info.program.empty() && info.program.back() == '\n') info.program.pop_back();
  return info;
}

std::string describe_user(uid_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  char buffer[4096];
  if (getpwuid_r(uid, &entry, buffer, sizeof(buffer), &found) == 0 && found != nullptr) {
    return std::string(found->pw_name) + " (uid " + std::to_string(uid) + ")";
  }
  return "uid " + std::to_string(uid);
}

SessionDirectory SessionDirectory::scan() {
  std::ifstream in("/proc/net/unix");
  if (!in) {
    throw ControlError(ControlErrorKind::kSystem,
                       std::string("cannot read /proc/net/unix, where shoal finds sessions: ") +
                           std::strerror(errno) + " (is /proc mounted?)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return from_proc_net_unix(text.str());
}

SessionDirectory SessionDirectory::from_proc_net_unix(std::string_view proc_net_unix) {
  SessionDirectory directory;
  std::istringstream lines{std::string(proc_net_unix)};
  for (std::string line; std::getline(lines, line);) {
    SessionAddress address;
    if (parse_line(line, &address)) directory.sessions_.push_back(std::move(address));
  }
  auto& s = directory.sessions_;
  std::sort(s.begin(), s.end(), [](const SessionAddress& a, const SessionAddress& b) {
    return a.pid != b.pid ? a.pid < b.pid : a.name < b.name;
  });
  s.erase(std::unique(s.begin(), s.end()), s.end());
  return directory;
}

std::vector<SessionAddress> SessionDirectory::of_user(uid_t uid) const {
  std::vector<SessionAddress> mine;
  for (const SessionAddress& s : sessions_) {
    if (s.uid == uid) mine.push_back(s);
  }
  return mine;
}

SessionAddress SessionDirectory::find(pid_t pid, uid_t uid) const {
  return find(pid, uid, read_process(pid));
}

SessionAddress SessionDirectory::find(pid_t pid, uid_t uid, const ProcessInfo& process) const {
  const std::string who = process.program.empty()
                              ? "process " + std::to_string(pid)
                              : "process " + std::to_string(pid) + " (" + process.program + ")";
  if (!process.exists) {
    throw ControlError(ControlErrorKind::kNoSuchProcess,
                       "no process has pid " + std::to_string(pid) +
                           ": check the PID; `shoal list` shows your running sessions");
  }
  if (process.zombie) {
    throw ControlError(ControlErrorKind::kNoSuchProcess,
                       who + " has exited (its parent has not reaped it): its session is over");
  }
  const SessionAddress* other = nullptr;
  for (const SessionAddress& s : sessions_) {
    if (s.pid != pid) continue;
    if (s.uid == uid && process.uid == uid) return s;
    other = &s;
  }
  if (other != nullptr || process.uid != uid) {
    const uid_t owner = other != nullptr ? other->uid : process.uid;
    throw ControlError(ControlErrorKind::kOtherUser,
                       who + " belongs to " + describe_user(owner) + ", not to you (" +
                           describe_user(uid) +
                           "): shoal attaches only to your own sessions; run shoal as that user");
  }
  throw ControlError(ControlErrorKind::kNoSession,
                     who +
                         " has no running shoal session: it has not called shoal::init(), or "
                         "its session ended (shoal::shutdown()); `shoal list` shows the "
                         "running ones");
}

}  // namespace shoal::internal::control
