// Frames: the unit of every message between the driver, the fork helper and the workers, on a
// Unix stream socket. A frame is a fixed 16-byte header and a body of header.body_size bytes:
//
//   u32 body_size | u16 type | u8 version | u8 flags | u64 id | body...
//
// Little-endian (host order; every peer is the same binary on the same machine). docs/protocol.md
// has the grammar. Frames are parsed from an untrusted stream: a wrong version, an unknown type or
// a body over kMaxBodySize is a FrameError, after which the stream cannot be resynchronised and the
// connection is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>

#include <shoal/detail/byte_buffer.hpp>

namespace shoal::internal {

/// The message types and their bodies are in protocol.hpp; framing needs only the number.
enum class MessageType : std::uint16_t;

constexpr std::uint8_t kProtocolVersion = 1;
constexpr std::size_t kFrameHeaderSize = 16;
/// Bodies are small: values over the inline threshold travel through the store, not the socket.
/// The cap bounds what a corrupt length can make the reader allocate.
constexpr std::uint32_t kMaxBodySize = 16u << 20;

struct FrameHeader {
  std::uint32_t body_size = 0;
  MessageType type{};
  std::uint64_t id = 0;  // what it names depends on the type (protocol.hpp)
};

class FrameError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Appends a header; the caller appends exactly body_size bytes of body after it, or uses
/// begin_frame/end_frame when the size is not known in advance.
void put_header(detail::ByteBuffer& out, MessageType type, std::uint64_t id,
                std::uint32_t body_size);

/// Starts a frame whose body size is patched by end_frame(). Returns the frame's offset.
std::size_t begin_frame(detail::ByteBuffer& out, MessageType type, std::uint64_t id);
void end_frame(detail::ByteBuffer& out, std::size_t frame_offset);

/// Validates and decodes the header at data (kFrameHeaderSize bytes). Throws FrameError.
FrameHeader parse_header(const char* data);

/// A whole frame in a receive buffer: its header and a view of its body.
struct Frame {
  FrameHeader header;
  const char* body = nullptr;
};

/// Splits a byte stream into frames. Received bytes go in through writable() and commit(); next()
/// yields whole frames. The views returned by next() stay valid until the next writable() or
/// compact().
class FrameParser {
 public:
  using Frame = internal::Frame;

  /// Space to receive into: at least `min` bytes at writable().
  char* writable(std::size_t min);
  /// Keeps the first n of the bytes last made writable (what the read returned).
  void commit(std::size_t n) {
    buffer_.truncate(buffer_.size() - (reserved_ - n));
    reserved_ = 0;
  }

  /// The next complete frame, or false if more bytes are needed. Throws FrameError.
  bool next(Frame* frame);
  /// Like next() but leaves the frame in place; false also for a header that does not parse.
  bool peek(FrameHeader* header, const char** body) const;

  /// Calls `seen` with the header of each complete frame received since the last call, whether or
  /// not next() has taken it yet: a receiver can react to a message before its turn (a worker
  /// sees a CancelTask for a task it holds). Reads each header once; a header that does not parse
  /// stops the scan (next() reports it).
  void scan_new(const std::function<void(const FrameHeader&)>& seen);

  /// Drops consumed bytes so the buffer does not grow without bound.
  void compact();

  std::size_t buffered() const noexcept { return buffer_.size() - read_; }

 private:
  detail::ByteBuffer buffer_;
  std::size_t read_ = 0;
  std::size_t reserved_ = 0;
  std::size_t scanned_ = 0;  // bytes of buffer_ whose frames scan_new() has seen
};

}  // namespace shoal::internal
