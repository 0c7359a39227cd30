// The one error type of the control socket's client side (session_directory, control_client):
// each failure to reach a session is a ControlError whose kind() says which, and whose what() is
// one line for the user that says what happened and what to do.
#pragma once

#include <string>

#include <shoal/errors.hpp>

namespace shoal::internal::control {

/// Why a session could not be reached or asked.
enum class ControlErrorKind {
  kNoSuchProcess,  // no process has that pid
  kNoSession,      // the process (or this user) has no running shoal session
  kSeveral,        // no pid was given and this user has more than one session
  kOtherUser,      // the session or process belongs to another user
  kEnded,          // the session's socket went away before or while connecting (shutdown())
  kTimeout,        // connecting or the reply took longer than allowed
  kWrongPeer,      // the socket is held by another process than the session's pid
  kRefused,        // the session answered {"error": ...} (credentials, busy, unknown command...)
  kBadReply,       // the reply is not a JSON document, is cut short, or is over the size limit
  kSystem,         // a system call failed (socket(), reading /proc/net/unix, ...)
};

/// A session could not be reached or did not answer. Immutable; thread safe to read.
class ControlError : public Error {
 public:
  ControlError(ControlErrorKind kind, const std::string& message) : Error(message), kind_(kind) {}
  ControlErrorKind kind() const noexcept { return kind_; }

 private:
  ControlErrorKind kind_;
};

}  // namespace shoal::internal::control
