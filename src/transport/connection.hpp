// One Unix-socket connection of the driver (to a worker, or to the fork helper), driven by
// Boost.Asio on the driver's I/O thread.
//
// Reading: the connection reads as much as is available, then hands the parser to its listener,
// which takes every complete frame out in one go (one lock for the whole batch). A FrameError or
// DecodeError from the listener closes the connection with that reason.
//
// Writing: send() appends frames to a pending buffer and, if no write is in flight, posts one to
// the I/O thread. Everything appended until the write starts goes out in that one write, so a
// burst of tasks costs one system call, not one each. While a write is in flight, new frames
// collect in the pending buffer and follow as the next write. The two buffers are reused, so
// steady traffic does not allocate.
//
// Thread safety: send() and closed() may be called from any thread; start(), close() and the
// listener callbacks run on the I/O thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include <shoal/detail/byte_buffer.hpp>

#include "src/common/mutex.hpp"
#include "src/common/thread_annotations.hpp"
#include "src/transport/frame.hpp"

namespace shoal::internal {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  class Listener {
   public:
    /// Takes the complete frames out of parser (parser.next()). May call send() on any connection.
    virtual void on_frames(Connection& connection, FrameParser& parser) = 0;
    /// Called once when the connection ends. `peer_alive` is true when we closed it because of a
    /// bad frame (the peer may still run); false on EOF or an I/O error (the peer is gone).
    virtual void on_closed(Connection& connection, const std::string& reason, bool peer_alive) = 0;

   protected:
    ~Listener() = default;
  };

  /// Takes ownership of fd (a connected Unix stream socket). `tag` identifies it to the listener.
  Connection(boost::asio::io_context& io, int fd, Listener* listener, std::int64_t tag);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Starts reading.
  void start();

  /// Appends frames with append(detail::ByteBuffer&) and schedules a write. Frames sent to a
  /// closed connection are dropped (its peer is gone; the listener has been told).
  ///
  /// `direct`: if no write is in flight or scheduled, try to write now from the calling thread
  /// (non-blocking) instead of waking the I/O thread: one context switch less on the path of a
  /// synchronous call. Meant for a peer that is idle; a busy peer's frames are better left to
  /// collect and leave together in one write.
  template <class Append>
  void send(Append&& append, bool direct = false) SHOAL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (closed_.load(std::memory_order_relaxed)) return;
    append(pending_);
    if (direct && !writing_ && !write_posted_) write_now_locked();
    if (!pending_.empty()) schedule_write_locked();
  }

  /// Closes the socket and tells the listener (once). I/O thread only.
  void close(const std::string& reason, bool peer_alive);
  /// Closes the socket without telling the listener (shutdown). I/O thread only.
  void close_quietly();

  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  std::int64_t tag() const noexcept { return tag_; }
  int native_handle();

 private:
  void read_some();
  std::string end_reason(const boost::system::error_code& ec) const;
  void schedule_write_locked() SHOAL_REQUIRES(mu_);
  void write_now_locked() SHOAL_REQUIRES(mu_);
  bool close_socket() SHOAL_EXCLUDES(mu_);  // false if it was closed already
  void write_pending() SHOAL_EXCLUDES(mu_);

  boost::asio::local::stream_protocol::socket socket_;
  Listener* listener_;
  const std::int64_t tag_;
  FrameParser parser_;

  // Also held while the socket's descriptor is used from another thread (write_now_locked) or
  // closed (close_socket), which the annotations do not express: socket_ is used without it on
  // the I/O thread.
  Mutex mu_;
  detail::ByteBuffer pending_ SHOAL_GUARDED_BY(mu_);  // frames not yet handed to a write
  detail::ByteBuffer in_flight_;  // the frames of the current write (I/O thread)
  bool writing_ SHOAL_GUARDED_BY(mu_) = false;
  bool write_posted_ SHOAL_GUARDED_BY(mu_) = false;
  std::atomic<bool> closed_{false};
};

}  // namespace shoal::internal
