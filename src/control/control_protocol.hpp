// The control socket's conventions, shared by the server in the driver (control_server.cpp) and
// the `shoal` command's client (control_client.cpp, session_directory.cpp): the socket's name, the
// commands, and the limits both sides enforce. The grammar for people is docs/protocol.md, "The
// control socket".
//
// The socket is an *abstract* Unix socket: its name lives in the kernel only (no file to create,
// to protect with permissions or to clean up after a crash) and disappears with the last
// descriptor. Anyone on the machine can see the name (/proc/net/unix lists it) and connect to it,
// so the name is not a secret that protects anything: the server checks each peer's credentials
// (SO_PEERCRED) and answers only its own user. The random part only keeps one session's name from
// being taken in advance by another process that guessed it.
//
// Header only: the `shoal` command does not link the library.
#pragma once

#include <charconv>
#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include <sys/types.h>

namespace shoal::internal::control {

/// Every session's socket name starts with this: "shoal/<euid>/<pid>/<16 hex digits>" (without
/// the leading NUL byte that makes a Unix socket name abstract; /proc/net/unix shows it as '@').
inline constexpr std::string_view kNamePrefix = "shoal/";

/// Hex digits of the random part of a name (64 bits).
inline constexpr std::size_t kRandomHexDigits = 16;

/// The commands, each sent as one line ending in '\n'.
inline constexpr std::string_view kHello = "hello";
inline constexpr std::string_view kStatus = "status";
inline constexpr std::string_view kMemory = "memory";
inline constexpr std::string_view kTimeline = "timeline";

/// The longest request line the server reads, newline included; a longer one is answered with an
/// error.
inline constexpr std::size_t kMaxRequestBytes = 256;

/// How long the server waits, from accepting a connection, for its request line.
inline constexpr std::chrono::milliseconds kRequestTimeout{3000};

/// How long the server keeps trying to write a reply, from the moment it is ready, to a client
/// that does not read it; then it closes the connection.
inline constexpr std::chrono::milliseconds kReplyWriteTimeout{30000};

/// Connections the server serves at once; one more is answered "busy" and closed.
inline constexpr std::size_t kMaxClients = 8;

/// The largest reply the client accepts by default (a long session's timeline is the big one).
inline constexpr std::size_t kMaxReplyBytes = std::size_t{1} << 30;

/// One session's address, as its socket name spells it.
struct SessionAddress {
  uid_t uid = 0;     // the driver's effective uid when it made the socket
  pid_t pid = 0;     // the driver's pid
  std::string name;  // the full abstract name, without the leading NUL: "shoal/0/1234/0123..."

  friend bool operator==(const SessionAddress&, const SessionAddress&) = default;
};

/// "shoal/<uid>/<pid>/<random_hex>".
inline std::string socket_name(uid_t uid, pid_t pid, std::string_view random_hex) {
  std::string name(kNamePrefix);
  name += std::to_string(uid);
  name += '/';
  name += std::to_string(pid);
  name += '/';
  name += random_hex;
  return name;
}

namespace detail {
// Reads a decimal number up to the next '/' of `text`, advancing it; false if there is none.
template <typename Int>
bool take_number(std::string_view* text, Int* out) {
  const char* begin = text->data();
  const char* end = begin + text->size();
  auto [ptr, ec] = std::from_chars(begin, end, *out);
  if (ec != std::errc() || ptr == begin || ptr == end || *ptr != '/') return false;
  text->remove_prefix(static_cast<std::size_t>(ptr - begin) + 1);
  return true;
}
}  // namespace detail

/// Parses a name made by socket_name() (without the leading NUL or '@'). False for any other
/// name, including ones whose random part is not exactly kRandomHexDigits lowercase hex digits.
inline bool parse_socket_name(std::string_view name, SessionAddress* out) {
  if (name.substr(0, kNamePrefix.size()) != kNamePrefix) return false;
  std::string_view rest = name.substr(kNamePrefix.size());
  SessionAddress address;
  if (!detail::take_number(&rest, &address.uid) || !detail::take_number(&rest, &address.pid)) {
    return false;
  }
  if (address.pid <= 0 || rest.size() != kRandomHexDigits) return false;
  for (char c : rest) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  address.name = std::string(name);
  *out = std::move(address);
  return true;
}

}  // namespace shoal::internal::control
