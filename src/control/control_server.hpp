// The driver's control socket: how the `shoal` command (src/cli/) asks a running program what it
// is doing. One ControlServer per session, owned by the driver. The wire protocol is
// docs/protocol.md, "The control socket"; the names and limits are control_protocol.hpp.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace shoal::internal {

/// Serves the session's control socket on a thread of its own, never the driver's I/O thread, so
/// that building a large reply (a long timeline) does not hold up task dispatch.
///
/// The socket is the abstract Unix socket "\0shoal/<euid>/<pid>/<16 random hex digits>". Each
/// connection sends one request line ("hello\n", "status\n", "memory\n" or "timeline\n") and gets
/// one JSON document, then the server closes it. A peer whose uid (SO_PEERCRED) is not this
/// process's effective uid gets {"error": "..."} and is closed without any handler running.
///
/// Every socket operation is bounded: a connection has kRequestTimeout to send its request line
/// (at most kMaxRequestBytes) and kReplyWriteTimeout to read its reply. Up to kMaxClients
/// connections are served at once without waiting on one another (non-blocking I/O, one poll());
/// only the handlers run one at a time.
///
/// Thread safety: constructing and destroying are not thread safe against each other (one owner);
/// name() may be called from any thread.
class ControlServer {
 public:
  /// What the server answers with. Each handler returns one JSON document and is called on the
  /// server's own thread, one call at a time, so the handlers must be safe to call from that
  /// thread (take the driver's locks as needed). A handler that throws makes the reply
  /// {"error": "<what()>"}; an empty handler makes it {"error": "... not available"}.
  struct Handlers {
    /// {"pid":..,"program":..,"started_unix_s":..,"workers":..,"shoal_version":..}
    std::function<std::string()> hello;
    /// Has a "text" member: the printable summary (`shoal status`).
    std::function<std::string()> status;
    /// Has a "text" member: the printable memory summary (`shoal memory`).
    std::function<std::string()> memory;
    /// A Chrome trace (JSON object format) of the session so far (`shoal timeline`).
    std::function<std::string()> timeline;
  };

  /// Binds "\0shoal/<euid>/<pid>/<16 random hex>" (this process's geteuid() and getpid()),
  /// listens, and starts the thread serving it. The socket is close-on-exec; a child forked while
  /// it exists shares it (the name stays listed while the child lives, but after the destructor
  /// connecting fails at once). Does not block beyond the socket calls. Throws shoal::SystemError
  /// (with the call and errno text) if the socket, its name, the wake-up descriptor or the thread
  /// cannot be made.
  explicit ControlServer(Handlers handlers);

  /// Stops accepting, closes every connection (a reply still being written is cut short) and the
  /// socket, and joins the thread. Bounded: it waits for at most the handler call in progress, so
  /// destroy it without holding a lock that the handlers take (or the two wait for each other).
  /// Clients that connect afterwards find no one listening (ECONNREFUSED).
  ~ControlServer();

  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  /// The abstract name without the leading NUL, e.g. "shoal/1000/4242/9f86d081884c7d65". Thread
  /// safe (it never changes).
  const std::string& name() const noexcept;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::internal
