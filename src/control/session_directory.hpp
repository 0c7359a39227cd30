// Finding the running shoal sessions on this machine, for the `shoal` command.
//
// A session is a driver's listening control socket, whose abstract name
// "shoal/<uid>/<pid>/<random hex>" says whose it is (control_protocol.hpp). The kernel lists every
// Unix socket of this network namespace in /proc/net/unix, abstract names with a leading '@', so
// finding sessions needs no registry and no files that a crashed program would leave behind. The
// names are only claims (anyone can bind any abstract name): the client checks the server's real
// pid and uid when it connects (control_client.hpp), and the server checks the client's.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "src/control/control_protocol.hpp"

namespace shoal::internal::control {

/// What /proc/<pid>/status says about a process, as far as this user may know.
struct ProcessInfo {
  bool exists = false;  // a process (or zombie) has this pid
  bool zombie = false;  // it has exited and its parent has not reaped it yet
  uid_t uid = 0;        // its effective uid (meaningful if exists)
  std::string program;  // its command name (/proc/<pid>/comm, at most 15 characters)
};

/// Reads /proc/<pid>/status and /proc/<pid>/comm. A pid with no process gives exists = false.
/// Does not block beyond reading two small /proc files. Thread safe.
ProcessInfo read_process(pid_t pid);

/// "name (uid N)" when the user database knows N, else "uid N". Thread safe.
std::string describe_user(uid_t uid);

/// The shoal sessions seen in one reading of /proc/net/unix. An immutable value; thread safe.
class SessionDirectory {
 public:
  /// Reads /proc/net/unix now. Throws ControlError (kSystem) if it cannot be read.
  static SessionDirectory scan();

  /// The sessions in `proc_net_unix`, text in the format of /proc/net/unix: listening stream
  /// sockets whose name parses as a session's (parse_socket_name()). Other sockets, connected
  /// sockets carrying a session's name (a server's accepted connections show it too), malformed
  /// lines and duplicates are skipped. Order: by pid, then name.
  static SessionDirectory from_proc_net_unix(std::string_view proc_net_unix);

  /// Every session, whoever's.
  const std::vector<SessionAddress>& all() const noexcept { return sessions_; }

  /// The sessions whose name says they belong to `uid`.
  std::vector<SessionAddress> of_user(uid_t uid) const;

  /// The session of process `pid`, for user `uid`, reading the process's state from /proc.
  /// Throws ControlError whose message says what to do: kNoSuchProcess (no such pid, or a
  /// zombie), kOtherUser (the session, or the process, belongs to another uid), kNoSession (the
  /// process has no session: it never called shoal::init(), or called shoal::shutdown()).
  SessionAddress find(pid_t pid, uid_t uid) const;

  /// As find(pid, uid), with the process's state given (for tests).
  SessionAddress find(pid_t pid, uid_t uid, const ProcessInfo& process) const;

 private:
  std::vector<SessionAddress> sessions_;
};

}  // namespace shoal::internal::control
