// The control socket's server: one thread, one poll() over the listening socket, a wake-up
// eventfd and up to kMaxClients connections, all non-blocking.
//
// Why not one blocking connection at a time: a client that connects and then sends nothing (or
// never reads its reply) would hold every other client for the length of its timeout. Here each
// connection is a small state machine (reading its request line, then writing its reply) with its
// own deadline, and poll() moves whichever is ready, so a stuck client costs the others nothing.
// Only the handlers, which build the replies, run one at a time on this thread.
//
// Why the peer check at accept(): anyone on the machine can connect to an abstract socket; the
// kernel's SO_PEERCRED tells who did. A peer of another uid gets one error document written
// without blocking (it fits in an empty socket buffer) and is closed at once; no handler runs.
//
// The thread never throws: a failed accept() or poll() is logged and retried after a pause, and
// a handler's exception becomes the reply {"error": ...}.
#include "src/control/control_server.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <exception>
#include <random>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/logging.hpp"
#include "src/control/control_protocol.hpp"
#include "src/control/json_quote.hpp"

namespace shoal::internal {
namespace {

using Clock = std::chrono::steady_clock;

std::string errno_text(int err) { return std::strerror(err); }

// 16 lowercase hex digits from the kernel's random source (std::random_device if getrandom fails,
// which only happens on kernels older than 3.17).
std::string random_hex() {
  std::uint64_t value = 0;
  if (getrandom(&value, sizeof(value), GRND_NONBLOCK) != static_cast<ssize_t>(sizeof(value))) {
    std::random_device device;
    value = (std::uint64_t{device()} << 32) ^ device();
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(control::kRandomHexDigits, '0');
  for (std::size_t i = 0; i < hex.size(); ++i) hex[i] = kHex[(value >> (4 * i)) & 0xf];
  return hex;
}

std::string error_document(std::string_view message) {
  return "{\"error\":" + control::json_quoted(message) + "}\n";
}

// A descriptor closed when it goes out of scope.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// One accepted connection.
struct Client {
  Fd fd;
  bool replying = false;    // false: reading the request line; true: writing `reply`
  std::string request;      // bytes of the request line read so far
  std::string reply;        // the whole reply, once known
  std::size_t written = 0;  // bytes of `reply` sent
  Clock::time_point deadline;
};

}  // namespace

class ControlServer::Impl {
 public:
  explicit Impl(Handlers handlers) : handlers_(std::move(handlers)), euid_(geteuid()) {
    listener_ = Fd(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (listener_.get() < 0) {
      throw SystemError("shoal: cannot create the control socket: socket(): " + errno_text(errno));
    }
    bind_abstract_name();
    if (listen(listener_.get(), 16) != 0) {
      throw SystemError("shoal: cannot listen on the control socket @" + name_ + ": " +
                        errno_text(errno));
    }
    wakeup_ = Fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (wakeup_.get() < 0) {
      throw SystemError("shoal: cannot create the control socket's eventfd: " + errno_text(errno));
    }
    try {
      thread_ = std::thread([this] { run(); });
    } catch (const std::system_error& e) {
      throw SystemError(std::string("shoal: cannot start the control socket's thread: ") +
                        e.what());
    }
  }

  ~Impl() {
    const std::uint64_t one = 1;
    // An eventfd write of 1 cannot block or fail short of a counter overflow.
    [[maybe_unused]] ssize_t n = write(wakeup_.get(), &one, sizeof(one));
    if (thread_.joinable()) thread_.join();
    // A child forked while the socket existed still holds it, and its name stays listed. Shut
    // down, the shared socket refuses connections (ECONNREFUSED) instead of queueing them for a
    // session that no longer answers.
    shutdown(listener_.get(), SHUT_RDWR);
  }

  const std::string& name() const noexcept { return name_; }

 private:
  // Binds a fresh random name; tries again (a few times) if the name is taken.
  void bind_abstract_name() {
    for (int attempt = 0;; ++attempt) {
      name_ = control::socket_name(euid_, getpid(), random_hex());
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      // sun_path[0] stays '\0': an abstract name. The length counts the NUL and the name only.
      std::memcpy(address.sun_path + 1, name_.data(), name_.size());
      const auto length =
          static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name_.size());
      if (bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address), length) == 0) return;
      const int err = errno;
      if (err != EADDRINUSE || attempt == 3) {
        throw SystemError("shoal: cannot bind the control socket @" + name_ + ": " +
                          errno_text(err));
      }
    }
  }

  void run() {
    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      fds.push_back({wakeup_.get(), POLLIN, 0});
      fds.push_back({listener_.get(), POLLIN, 0});  // past kMaxClients: answered "busy"
      for (const Client& c : clients_) {
        fds.push_back({c.fd.get(), static_cast<short>(c.replying ? POLLOUT : POLLIN), 0});
      }
      const int ready = poll(fds.data(), fds.size(), poll_timeout_ms());
      if (ready < 0 && errno != EINTR) {
        SHOAL_LOG(kWarn, "shoal: control socket: poll() failed: {}", errno_text(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      if (ready > 0 && fds[0].revents != 0) return;  // ~ControlServer
      if (ready > 0) {
        // Connections first (their indices match fds[2...]), then new ones, which append.
        for (std::size_t i = 0; i < clients_.size(); ++i) {
          if (fds[i + 2].revents != 0) step(&clients_[i]);
        }
      }
      drop_finished_and_late();
      if (ready > 0 && fds[1].revents != 0) accept_all();
    }
  }

  int poll_timeout_ms() const {
    if (clients_.empty()) return -1;
    auto next = clients_.front().deadline;
    for (const Client& c : clients_) next = std::min(next, c.deadline);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(next - Clock::now());
    return static_cast<int>(std::clamp<std::int64_t>(left.count() + 1, 0, 60'000));
  }

  void accept_all() {
    for (;;) {
      Fd fd(accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (fd.get() < 0) {
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK || err == EINTR || err == ECONNABORTED) return;
        // EMFILE and the like: leave the connection queued and try again shortly.
        SHOAL_LOG(kWarn, "shoal: control socket: accept() failed: {}", errno_text(err));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        return;
      }
      ucred peer{};
      socklen_t size = sizeof(peer);
      if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &size) != 0) {
        send_and_close(std::move(fd), error_document("the server cannot read your credentials"));
        continue;
      }
      if (peer.uid != euid_) {
        SHOAL_LOG(kDebug, "shoal: control socket: refused pid {} of uid {}", peer.pid, peer.uid);
        send_and_close(std::move(fd),
                       error_document("refused: this shoal session belongs to uid " +
                                      std::to_string(euid_) + "; you are uid " +
                                      std::to_string(peer.uid) + ". Run shoal as that user."));
        continue;
      }
      if (clients_.size() >= control::kMaxClients) {
        send_and_close(std::move(fd), error_document("busy: too many control connections; try "
                                                     "again in a few seconds"));
        continue;
      }
      Client client;
      client.fd = std::move(fd);
      client.deadline = Clock::now() + control::kRequestTimeout;
      clients_.push_back(std::move(client));
    }
  }

  // A short reply to a connection that is not served: one non-blocking send (an empty socket
  // buffer holds it), then close.
  static void send_and_close(Fd fd, const std::string& text) {
    [[maybe_unused]] ssize_t n = send(fd.get(), text.data(), text.size(), MSG_NOSIGNAL);
    discard_input(fd.get());
  }

  // Reads and drops what the client sent and the server did not read (a request over the limit,
  // a refused client's request): closing a Unix socket with unread input makes the client's next
  // read fail with ECONNRESET instead of seeing the end of the reply. Bounded: non-blocking, at
  // most 64 KiB.
  static void discard_input(int fd) {
    std::array<char, 4096> buffer;
    for (int i = 0; i < 16; ++i) {
      if (recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT) <= 0) return;
    }
  }

  // Moves one connection along: reads what its request line has, or writes what its reply can.
  void step(Client* c) {
    if (!c->replying) {
      std::array<char, control::kMaxRequestBytes> buffer;
      const ssize_t n = recv(c->fd.get(), buffer.data(), buffer.size(), 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
      if (n <= 0) {
        // EOF (or an error) before the newline: a request without one is still answered, if
        // there is one; the client may have shut down its side after writing.
        if (n < 0 || c->request.empty()) {
          c->fd.reset();
          return;
        }
        answer(c, c->request);
        return;
      }
      c->request.append(buffer.data(), static_cast<std::size_t>(n));
      const auto newline = c->request.find('\n');
      if (newline != std::string::npos) {
        answer(c, c->request.substr(0, newline));
      } else if (c->request.size() >= control::kMaxRequestBytes) {
        set_reply(c, error_document("request line longer than " +
                                    std::to_string(control::kMaxRequestBytes) + " bytes"));
      }
      return;
    }
    while (c->written < c->reply.size()) {
      const ssize_t n = send(c->fd.get(), c->reply.data() + c->written,
                             c->reply.size() - c->written, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n <= 0) break;  // the client went away
      c->written += static_cast<std::size_t>(n);
    }
    discard_input(c->fd.get());
    c->fd.reset();  // sent (or the client is gone): the close ends the document
  }

  void answer(Client* c, std::string command) {
    if (!command.empty() && command.back() == '\r') command.pop_back();
    set_reply(c, reply_to(command));
  }

  void set_reply(Client* c, std::string reply) {
    c->reply = std::move(reply);
    c->replying = true;
    c->request.clear();
    c->deadline = Clock::now() + control::kReplyWriteTimeout;
    // A client whose socket buffer has room gets the reply now; poll() handles the rest.
    step(c);
  }

  std::string reply_to(std::string_view command) {
    const std::function<std::string()>* handler = nullptr;
    if (command == control::kHello) handler = &handlers_.hello;
    if (command == control::kStatus) handler = &handlers_.status;
    if (command == control::kMemory) handler = &handlers_.memory;
    if (command == control::kTimeline) handler = &handlers_.timeline;
    if (handler == nullptr) {
      return error_document("unknown command '" + std::string(command.substr(0, 64)) +
                            "'; the commands are hello, status, memory and timeline");
    }
    if (!*handler) return error_document(std::string(command) + " is not available");
    try {
      std::string reply = (*handler)();
      if (reply.empty() || reply.back() != '\n') reply.push_back('\n');
      return reply;
    } catch (const std::exception& e) {
      return error_document(std::string(command) + " failed: " + e.what());
    } catch (...) {
      return error_document(std::string(command) +
                            " failed with an exception that is not a "
                            "std::exception");
    }
  }

  // Forgets closed connections and closes those past their deadline.
  void drop_finished_and_late() {
    const auto now = Clock::now();
    std::erase_if(clients_, [now](const Client& c) { return c.fd.get() < 0 || now >= c.deadline; });
  }

  Handlers handlers_;
  const uid_t euid_;
  std::string name_;
  Fd listener_;
  Fd wakeup_;
  std::vector<Client> clients_;  // only the thread touches it after the constructor
  std::thread thread_;
};

ControlServer::ControlServer(Handlers handlers)
    : impl_(std::make_unique<Impl>(std::move(handlers))) {}

ControlServer::~ControlServer() = default;

const std::string& ControlServer::name() const noexcept { return impl_->name(); }

}  // namespace shoal::internal
