#include "src/transport/connection.hpp"

#include <cstring>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <sys/socket.h>

#include "src/common/byte_reader.hpp"

namespace shoal::internal {

namespace asio = boost::asio;
namespace {
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;
}

Connection::Connection(asio::io_context& io, int fd, Listener* listener, std::int64_t tag)
    : socket_(io, asio::local::stream_protocol(), fd), listener_(listener), tag_(tag) {}

Connection::~Connection() = default;

int Connection::native_handle() { return socket_.native_handle(); }

void Connection::start() { read_some(); }

void Connection::read_some() {
  char* at = parser_.writable(kReadChunk);
  socket_.async_read_some(
      asio::buffer(at, kReadChunk),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
        self->parser_.commit(ec ? 0 : n);
        if (self->closed()) return;
        if (ec) {
          self->close(self->end_reason(ec), false);
          return;
        }
        try {
          self->listener_->on_frames(*self, self->parser_);
        } catch (const FrameError& e) {
          self->close(std::string("bad frame: ") + e.what(), true);
          return;
        } catch (const DecodeError& e) {
          self->close(std::string("bad message: ") + e.what(), true);
          return;
        }
        if (self->closed()) return;
        self->parser_.compact();
        self->read_some();
      });
}

// Why reading stopped. A peer that dies in the middle of a frame leaves part of it behind: say so,
// since that is the only trace of a truncated frame.
std::string Connection::end_reason(const boost::system::error_code& ec) const {
  std::string reason =
      ec == asio::error::eof ? "its socket closed" : "read failed: " + ec.message();
  if (const std::size_t partial = parser_.buffered(); partial != 0) {
    reason += " in the middle of a frame (" + std::to_string(partial) + " bytes of it received)";
  }
  return reason;
}

void Connection::schedule_write_locked() {
  if (writing_ || write_posted_) return;
  write_posted_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->write_pending(); });
}

// Writes what it can of pending_ without blocking; the rest (if any) stays for the I/O thread.
// Errors are left for the I/O thread's write to meet and report, since only it may close.
void Connection::write_now_locked() {
  const ssize_t n = ::send(socket_.native_handle(), pending_.data(), pending_.size(),
                           MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n <= 0) return;
  const auto written = static_cast<std::size_t>(n);
  const std::size_t rest = pending_.size() - written;
  if (rest != 0) std::memmove(pending_.data(), pending_.data() + written, rest);
  pending_.truncate(rest);
}

void Connection::write_pending() {
  {
    MutexLock lock(mu_);
    write_posted_ = false;
    if (writing_ || pending_.empty() || closed()) return;
    std::swap(pending_, in_flight_);
    pending_.clear();
    writing_ = true;
  }
  asio::async_write(socket_, asio::buffer(in_flight_.data(), in_flight_.size()),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      bool more = false;
                      {
                        MutexLock lock(self->mu_);
                        self->writing_ = false;
                        self->in_flight_.clear();
                        more = !self->pending_.empty();
                      }
                      if (self->closed()) return;
                      if (ec) {
                        self->close("write failed: " + ec.message(), false);
                        return;
                      }
                      if (more) self->write_pending();
                    });
}

void Connection::close(const std::string& reason, bool peer_alive) {
  if (!close_socket()) return;
  listener_->on_closed(*this, reason, peer_alive);
}

void Connection::close_quietly() { close_socket(); }

// Under mu_: send() may be writing to the descriptor directly (write_now_locked) on another
// thread, and a descriptor closed under it could be reused by the kernel for another file.
bool Connection::close_socket() {
  MutexLock lock(mu_);
  if (closed_.exchange(true)) return false;
  boost::system::error_code ignored;
  socket_.close(ignored);
  return true;
}

}  // namespace shoal::internal
