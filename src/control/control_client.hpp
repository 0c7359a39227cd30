// The client side of the control socket (docs/protocol.md, "The control socket"), used by the
// `shoal` command: connect to a session, check that the process at the other end is the session's
// driver, send one command, read one JSON document. Every step has a deadline, so a stuck or
// malicious server costs at most the timeouts in ClientOptions.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "src/control/control_protocol.hpp"

namespace shoal::internal::control {

/// Limits of one request.
struct ClientOptions {
  /// How long connecting may take; it only waits when the server's backlog of connections is full.
  std::chrono::milliseconds connect_timeout{2000};
  /// How long, from sending the command, until the whole reply has arrived (the server builds it
  /// first: a long timeline takes longest).
  std::chrono::milliseconds reply_timeout{10000};
  /// Replies longer than this are refused (kBadReply).
  std::size_t max_reply_bytes = kMaxReplyBytes;
};

/// One reply: the document as the server sent it, and parsed.
struct Reply {
  std::string text;
  nlohmann::json document;
};

/// Sends `command` ("hello", "status", "memory", "timeline") to the session at `address` and
/// returns its reply. Blocks for at most options.connect_timeout + options.reply_timeout.
/// Checks with SO_PEERCRED that the socket's owner is the process address.pid of uid
/// address.uid. Thread safe (no shared state).
///
/// Throws ControlError: kEnded (no one listens on the name any more, or the server closed without
/// a reply), kTimeout (connect or reply too slow; the message names which and the limit),
/// kWrongPeer (another process holds the socket), kRefused (the server answered {"error": ...};
/// the message is the server's), kBadReply (not JSON, or over max_reply_bytes), kSystem.
Reply ask(const SessionAddress& address, std::string_view command,
          const ClientOptions& options = {});

/// Sends `request` as is (no newline added) and returns the raw reply text, with the same
/// connection, peer and deadline checks as ask() but without parsing it. For tests of the
/// server's handling of malformed requests; throws ControlError as ask().
std::string ask_raw(const SessionAddress& address, std::string_view request,
                    const ClientOptions& options = {});

}  // namespace shoal::internal::control
