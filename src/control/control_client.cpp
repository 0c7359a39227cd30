// One request on the control socket, every step under a deadline.
//
// Connecting: a non-blocking connect() to a Unix socket either succeeds at once, fails with
// ECONNREFUSED when nothing listens on the name, or fails with EAGAIN when the listener's backlog
// is full (a blocking connect() would then wait without limit); EAGAIN is retried until the
// connect deadline. The peer's credentials (SO_PEERCRED) are those of the process that called
// listen(), so they say who really owns the name, whatever the name claims.
#include "src/control/control_client.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <thread>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "src/control/control_error.hpp"

namespace shoal::internal::control {
namespace {

using Clock = std::chrono::steady_clock;

std::string seconds_text(std::chrono::milliseconds ms) {
  const auto count = ms.count();
  if (count % 1000 == 0) return std::to_string(count / 1000) + " s";
  return std::to_string(count) + " ms";
}

class Socket {
 public:
  Socket() : fd_(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) {
      throw ControlError(ControlErrorKind::kSystem,
                         std::string("cannot create a Unix socket: ") + std::strerror(errno));
    }
  }
  ~Socket() { close(fd_); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

int ms_until(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>(left.count(), 60'000));
}

std::string session_text(const SessionAddress& address) {
  return "session " + std::to_string(address.pid);
}

void connect_to(const Socket& socket, const SessionAddress& address,
                std::chrono::milliseconds timeout) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (address.name.size() + 1 > sizeof(sa.sun_path)) {
    throw ControlError(ControlErrorKind::kSystem, "socket name too long: " + address.name);
  }
  std::memcpy(sa.sun_path + 1, address.name.data(), address.name.size());
  const auto length =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + address.name.size());
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (connect(socket.fd(), reinterpret_cast<const sockaddr*>(&sa), length) == 0) return;
    const int err = errno;
    if (err == EINTR) continue;
    if (err == ECONNREFUSED || err == ENOENT) {
      throw ControlError(ControlErrorKind::kEnded,
                         session_text(address) +
                             " is gone: nothing listens on its control socket "
                             "any more (the session ended)");
    }
    if (err != EAGAIN) {
      throw ControlError(ControlErrorKind::kSystem,
                         "cannot connect to " + session_text(address) + ": " + std::strerror(err));
    }
    if (Clock::now() >= deadline) {
      throw ControlError(ControlErrorKind::kTimeout,
                         "could not connect to " + session_text(address) + " within " +
                             seconds_text(timeout) +
                             " (connect timeout): its control socket's queue stays full; try "
                             "again later");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void check_peer(const Socket& socket, const SessionAddress& address) {
  ucred peer{};
  socklen_t size = sizeof(peer);
  if (getsockopt(socket.fd(), SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0) {
    throw ControlError(ControlErrorKind::kSystem, "cannot read the credentials of " +
                                                      session_text(address) +
                                                      "'s socket: " + std::strerror(errno));
  }
  if (peer.pid != address.pid || peer.uid != address.uid) {
    throw ControlError(ControlErrorKind::kWrongPeer,
                       "the control socket @" + address.name + " is held by process " +
                           std::to_string(peer.pid) + " of uid " + std::to_string(peer.uid) +
                           ", not by process " + std::to_string(address.pid) + " of uid " +
                           std::to_string(address.uid) + " as its name says: not talking to it");
  }
}

void send_request(const Socket& socket, const SessionAddress& address, std::string_view request,
                  Clock::time_point deadline, std::chrono::milliseconds timeout) {
  while (!request.empty()) {
    const ssize_t n = send(socket.fd(), request.data(), request.size(), MSG_NOSIGNAL);
    if (n > 0) {
      request.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{socket.fd(), POLLOUT, 0};
      if (poll(&p, 1, ms_until(deadline)) == 0) {
        throw ControlError(ControlErrorKind::kTimeout,
                           session_text(address) + " did not take the request within " +
                               seconds_text(timeout) + " (reply timeout)");
      }
      continue;
    }
    // The server closed before taking the whole request: it may have answered without reading
    // it (a refusal), so the caller reads what it sent.
    return;
  }
}

std::string read_reply(const Socket& socket, const SessionAddress& address,
                       std::string_view command, const ClientOptions& options,
                       Clock::time_point deadline) {
  std::string reply;
  std::array<char, 64 * 1024> buffer;
  for (;;) {
    pollfd p{socket.fd(), POLLIN, 0};
    const int ready = poll(&p, 1, ms_until(deadline));
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      throw ControlError(
          ControlErrorKind::kTimeout,
          session_text(address) + " did not answer '" + std::string(command) + "' within " +
              seconds_text(options.reply_timeout) + " (reply timeout)" +
              (reply.empty() ? "" : "; " + std::to_string(reply.size()) + " bytes had arrived"));
    }
    const ssize_t n = recv(socket.fd(), buffer.data(), buffer.size(), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    // A server that closes with our bytes unread makes the kernel report ECONNRESET after the
    // data it sent, which has all arrived by then (Unix sockets queue it straight to us).
    if (n < 0 && errno == ECONNRESET && !reply.empty()) break;
    if (n < 0) {
      throw ControlError(ControlErrorKind::kEnded,
                         session_text(address) + " broke the connection (" + std::strerror(errno) +
                             "): the session may have ended");
    }
    if (n == 0) break;
    if (reply.size() + static_cast<std::size_t>(n) > options.max_reply_bytes) {
      throw ControlError(ControlErrorKind::kBadReply,
                         session_text(address) + "'s reply to '" + std::string(command) +
                             "' is larger than the limit of " +
                             std::to_string(options.max_reply_bytes) + " bytes");
    }
    reply.append(buffer.data(), static_cast<std::size_t>(n));
  }
  if (reply.empty()) {
    throw ControlError(ControlErrorKind::kEnded,
                       session_text(address) + " closed the connection without answering '" +
                           std::string(command) + "': the session is ending (or ended)");
  }
  return reply;
}

std::string exchange(const SessionAddress& address, std::string_view command,
                     std::string_view request, const ClientOptions& options) {
  Socket socket;
  connect_to(socket, address, options.connect_timeout);
  check_peer(socket, address);
  const auto deadline = Clock::now() + options.reply_timeout;
  send_request(socket, address, request, deadline, options.reply_timeout);
  return read_reply(socket, address, command, options, deadline);
}

}  // namespace

std::string ask_raw(const SessionAddress& address, std::string_view request,
                    const ClientOptions& options) {
  return exchange(address, "request", request, options);
}

Reply ask(const SessionAddress& address, std::string_view command, const ClientOptions& options) {
  Reply reply;
  reply.text = exchange(address, command, std::string(command) + "\n", options);
  reply.document = nlohmann::json::parse(reply.text, nullptr, /*allow_exceptions=*/false);
  if (reply.document.is_discarded()) {
    throw ControlError(ControlErrorKind::kBadReply,
                       session_text(address) + "'s reply to '" + std::string(command) +
                           "' is not a JSON document (" + std::to_string(reply.text.size()) +
                           " bytes)");
  }
  if (reply.document.is_object() && reply.document.contains("error")) {
    const auto& error = reply.document["error"];
    throw ControlError(ControlErrorKind::kRefused,
                       session_text(address) + " answered: " +
                           (error.is_string() ? error.get<std::string>() : error.dump()));
  }
  return reply;
}

}  // namespace shoal::internal::control
