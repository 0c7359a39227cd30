// Frame header encoding and the incremental stream parser. See frame.hpp for the layout.
#include "src/transport/frame.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "src/transport/protocol.hpp"

namespace shoal::internal {

void put_header(detail::ByteBuffer& out, MessageType type, std::uint64_t id,
                std::uint32_t body_size) {
  char* h = out.grow(kFrameHeaderSize);
  const auto t = static_cast<std::uint16_t>(type);
  const std::uint8_t version = kProtocolVersion, flags = 0;
  std::memcpy(h, &body_size, 4);
  std::memcpy(h + 4, &t, 2);
  std::memcpy(h + 6, &version, 1);
  std::memcpy(h + 7, &flags, 1);
  std::memcpy(h + 8, &id, 8);
}

std::size_t begin_frame(detail::ByteBuffer& out, MessageType type, std::uint64_t id) {
  const std::size_t at = out.size();
  put_header(out, type, id, 0);
  return at;
}

void end_frame(detail::ByteBuffer& out, std::size_t frame_offset) {
  const std::size_t body = out.size() - frame_offset - kFrameHeaderSize;
  if (body > kMaxBodySize) {
    throw FrameError("frame body of " + std::to_string(body) + " bytes exceeds the limit");
  }
  const auto size = static_cast<std::uint32_t>(body);
  std::memcpy(out.data() + frame_offset, &size, 4);
}

FrameHeader parse_header(const char* data) {
  FrameHeader h;
  std::uint16_t type = 0;
  std::uint8_t version = 0, flags = 0;
  std::memcpy(&h.body_size, data, 4);
  std::memcpy(&type, data + 4, 2);
  std::memcpy(&version, data + 6, 1);
  std::memcpy(&flags, data + 7, 1);
  std::memcpy(&h.id, data + 8, 8);
  if (version != kProtocolVersion) {
    throw FrameError("frame has protocol version " + std::to_string(version) + ", expected " +
                     std::to_string(kProtocolVersion));
  }
  if (flags != 0) throw FrameError("frame has unknown flags " + std::to_string(flags));
  h.type = static_cast<MessageType>(type);
  if (!is_message_type(type)) {
    throw FrameError("frame has unknown message type " + std::to_string(type));
  }
  if (h.body_size > kMaxBodySize) {
    throw FrameError("frame body of " + std::to_string(h.body_size) +
                     " bytes exceeds the limit of " + std::to_string(kMaxBodySize));
  }
  return h;
}

char* FrameParser::writable(std::size_t min) {
  reserved_ = min;
  return buffer_.grow(min);
}

bool FrameParser::next(Frame* frame) {
  const std::size_t available = buffer_.size() - read_;
  if (available < kFrameHeaderSize) return false;
  const FrameHeader h = parse_header(buffer_.data() + read_);
  if (available < kFrameHeaderSize + h.body_size) return false;
  frame->header = h;
  frame->body = buffer_.data() + read_ + kFrameHeaderSize;
  read_ += kFrameHeaderSize + h.body_size;
  return true;
}

bool FrameParser::peek(FrameHeader* header, const char** body) const {
  const std::size_t available = buffer_.size() - read_;
  if (available < kFrameHeaderSize) return false;
  try {
    *header = parse_header(buffer_.data() + read_);
  } catch (const FrameError&) {
    return false;
  }
  if (available < kFrameHeaderSize + header->body_size) return false;
  *body = buffer_.data() + read_ + kFrameHeaderSize;
  return true;
}

void FrameParser::scan_new(const std::function<void(const FrameHeader&)>& seen) {
  std::size_t at = std::max(scanned_, read_);
  while (buffer_.size() - at >= kFrameHeaderSize) {
    FrameHeader h;
    try {
      h = parse_header(buffer_.data() + at);
    } catch (const FrameError&) {
      break;  // next() reports it
    }
    if (buffer_.size() - at - kFrameHeaderSize < h.body_size) break;
    seen(h);
    at += kFrameHeaderSize + h.body_size;
  }
  scanned_ = at;
}

void FrameParser::compact() {
  if (read_ == 0) return;
  scanned_ = scanned_ > read_ ? scanned_ - read_ : 0;
  const std::size_t rest = buffer_.size() - read_;
  if (rest != 0) std::memmove(buffer_.data(), buffer_.data() + read_, rest);
  buffer_.truncate(rest);
  read_ = 0;
}

}  // namespace shoal::internal
