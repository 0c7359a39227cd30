// Frame headers and the incremental FrameParser (src/transport/frame.hpp): what goes out comes
// back, a stream split anywhere still yields whole frames, and a malformed header is a FrameError.
#include "src/transport/frame.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "src/transport/protocol.hpp"

namespace shoal::internal {
namespace {

using detail::ByteBuffer;

struct Expected {
  MessageType type;
  std::uint64_t id;
  std::string body;
};

// Appends one frame with begin_frame/end_frame, as the senders do.
void append_frame(ByteBuffer& out, const Expected& f) {
  const std::size_t at = begin_frame(out, f.type, f.id);
  out.write(f.body.data(), f.body.size());
  end_frame(out, at);
}

std::string to_string(const ByteBuffer& b) { return std::string(b.data(), b.size()); }

// Receives `n` bytes into the parser the way a socket read does.
void feed(FrameParser& parser, const char* data, std::size_t n) {
  char* dst = parser.writable(n);
  std::memcpy(dst, data, n);
  parser.commit(n);
}

// Drains every complete frame, copying bodies out (the views die at the next feed).
std::vector<Expected> drain(FrameParser& parser) {
  std::vector<Expected> got;
  FrameParser::Frame frame;
  while (parser.next(&frame)) {
    got.push_back(
        {frame.header.type, frame.header.id, std::string(frame.body, frame.header.body_size)});
  }
  return got;
}

std::vector<Expected> sample_frames() {
  return {
      {MessageType::kTask, 7, "first body"},
      {MessageType::kReady, 0, ""},  // an empty body is a valid frame
      {MessageType::kTaskDone, 0xFFFFFFFFFFFFFFFFull, std::string(300, 'x')},
      {MessageType::kExited, 42, std::string("\0\1\2\3", 4)},
  };
}

void expect_same(const std::vector<Expected>& got, const std::vector<Expected>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].type, want[i].type) << "frame " << i;
    EXPECT_EQ(got[i].id, want[i].id) << "frame " << i;
    EXPECT_EQ(got[i].body, want[i].body) << "frame " << i;
  }
}

// A valid 16-byte header to corrupt field by field.
std::string valid_header(std::uint32_t body_size = 0) {
  ByteBuffer b;
  put_header(b, MessageType::kTask, 1, body_size);
  return to_string(b);
}

TEST(Frame, HeaderRoundTripsEveryMessageType) {
  const MessageType types[] = {
      MessageType::kReady,        MessageType::kTask,       MessageType::kTaskDone,
      MessageType::kAllocRequest, MessageType::kAllocReply, MessageType::kSpawn,
      MessageType::kSpawned,      MessageType::kExited,     MessageType::kSpawnFailed,
  };
  for (MessageType type : types) {
    ByteBuffer b;
    put_header(b, type, 0x0123456789ABCDEFull, 4242);
    ASSERT_EQ(b.size(), kFrameHeaderSize);
    const FrameHeader h = parse_header(b.data());
    EXPECT_EQ(h.type, type) << message_type_name(type);
    EXPECT_EQ(h.id, 0x0123456789ABCDEFull);
    EXPECT_EQ(h.body_size, 4242u);
    EXPECT_STRNE(message_type_name(type), "unknown");
  }
}

TEST(Frame, EndFramePatchesTheBodySize) {
  ByteBuffer b;
  const std::vector<Expected> frames = sample_frames();
  std::vector<std::size_t> offsets;
  for (const Expected& f : frames) {
    offsets.push_back(b.size());
    append_frame(b, f);
  }
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const FrameHeader h = parse_header(b.data() + offsets[i]);
    EXPECT_EQ(h.type, frames[i].type);
    EXPECT_EQ(h.id, frames[i].id);
    EXPECT_EQ(h.body_size, frames[i].body.size());
    EXPECT_EQ(std::string(b.data() + offsets[i] + kFrameHeaderSize, h.body_size), frames[i].body);
  }
}

TEST(Frame, EndFrameRejectsABodyOverTheLimit) {
  ByteBuffer b;
  const std::size_t at = begin_frame(b, MessageType::kTask, 1);
  b.grow(kMaxBodySize + 1);
  EXPECT_THROW(end_frame(b, at), FrameError);
}

TEST(FrameParser, YieldsWholeFramesFedOneByteAtATime) {
  ByteBuffer stream;
  const std::vector<Expected> frames = sample_frames();
  for (const Expected& f : frames) append_frame(stream, f);

  FrameParser parser;
  std::vector<Expected> got;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    feed(parser, stream.data() + i, 1);
    for (Expected& e : drain(parser)) got.push_back(std::move(e));
  }
  expect_same(got, frames);
  EXPECT_EQ(parser.buffered(), 0u);
}

TEST(FrameParser, YieldsTheSameFramesForEveryChunkSize) {
  ByteBuffer stream;
  const std::vector<Expected> frames = sample_frames();
  for (const Expected& f : frames) append_frame(stream, f);

  for (std::size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    SCOPED_TRACE("chunk size " + std::to_string(chunk));
    FrameParser parser;
    std::vector<Expected> got;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      feed(parser, stream.data() + at, std::min(chunk, stream.size() - at));
      for (Expected& e : drain(parser)) got.push_back(std::move(e));
      parser.compact();
    }
    expect_same(got, frames);
    EXPECT_EQ(parser.buffered(), 0u);
  }
}

TEST(FrameParser, CommitKeepsOnlyTheBytesReceived) {
  ByteBuffer stream;
  append_frame(stream, {MessageType::kTask, 5, "payload"});

  FrameParser parser;
  // A read into a large reservation that returns only part of it, then the rest.
  char* dst = parser.writable(4096);
  std::memcpy(dst, stream.data(), 10);
  parser.commit(10);
  EXPECT_EQ(parser.buffered(), 10u);
  dst = parser.writable(4096);
  std::memcpy(dst, stream.data() + 10, stream.size() - 10);
  parser.commit(stream.size() - 10);
  EXPECT_EQ(parser.buffered(), stream.size());

  expect_same(drain(parser), {{MessageType::kTask, 5, "payload"}});
}

TEST(FrameParser, CompactKeepsAPartialFrame) {
  ByteBuffer stream;
  const Expected first{MessageType::kTask, 1, "one"};
  const Expected second{MessageType::kTaskDone, 2, std::string(100, 'z')};
  append_frame(stream, first);
  const std::size_t second_at = stream.size();
  append_frame(stream, second);
  const std::size_t cut = second_at + kFrameHeaderSize + 40;  // inside the second body

  FrameParser parser;
  feed(parser, stream.data(), cut);
  expect_same(drain(parser), {first});
  parser.compact();
  EXPECT_EQ(parser.buffered(), cut - second_at);

  feed(parser, stream.data() + cut, stream.size() - cut);
  expect_same(drain(parser), {second});
  parser.compact();
  EXPECT_EQ(parser.buffered(), 0u);
}

TEST(FrameParser, CompactKeepsAPartialHeader) {
  ByteBuffer stream;
  const Expected first{MessageType::kSpawn, 3, "a"};
  const Expected second{MessageType::kSpawned, 4, "bb"};
  append_frame(stream, first);
  const std::size_t cut = stream.size() + 5;  // five bytes into the second header
  append_frame(stream, second);

  FrameParser parser;
  feed(parser, stream.data(), cut);
  expect_same(drain(parser), {first});
  parser.compact();
  EXPECT_EQ(parser.buffered(), 5u);
  feed(parser, stream.data() + cut, stream.size() - cut);
  expect_same(drain(parser), {second});
}

TEST(FrameParser, WaitsForTheWholeBody) {
  ByteBuffer stream;
  append_frame(stream, {MessageType::kTask, 9, "0123456789"});
  FrameParser parser;
  feed(parser, stream.data(), stream.size() - 1);
  FrameParser::Frame frame;
  EXPECT_FALSE(parser.next(&frame));
  EXPECT_EQ(parser.buffered(), stream.size() - 1);
  feed(parser, stream.data() + stream.size() - 1, 1);
  ASSERT_TRUE(parser.next(&frame));
  EXPECT_EQ(std::string(frame.body, frame.header.body_size), "0123456789");
}

TEST(Frame, BadVersionIsAFrameError) {
  std::string h = valid_header();
  h[6] = static_cast<char>(kProtocolVersion + 1);
  EXPECT_THROW(parse_header(h.data()), FrameError);
  h[6] = 0;
  EXPECT_THROW(parse_header(h.data()), FrameError);
}

TEST(Frame, UnknownTypeIsAFrameError) {
  for (std::uint16_t type : {0, 6, 9, 16, 0xFFFF}) {
    std::string h = valid_header();
    std::memcpy(h.data() + 4, &type, 2);
    EXPECT_THROW(parse_header(h.data()), FrameError) << "type " << type;
  }
}

TEST(Frame, NonzeroFlagsAreAFrameError) {
  for (unsigned flags : {1u, 0x80u, 0xFFu}) {
    std::string h = valid_header();
    h[7] = static_cast<char>(flags);
    EXPECT_THROW(parse_header(h.data()), FrameError) << "flags " << flags;
  }
}

TEST(Frame, BodyOverTheLimitIsAFrameError) {
  EXPECT_NO_THROW(parse_header(valid_header(kMaxBodySize).data()));
  EXPECT_THROW(parse_header(valid_header(kMaxBodySize + 1).data()), FrameError);
  EXPECT_THROW(parse_header(valid_header(0xFFFFFFFFu).data()), FrameError);
}

TEST(FrameParser, ThrowsOnABadHeaderBeforeItsBodyArrives) {
  // A corrupt length must be rejected from the header alone, without waiting for (or buffering)
  // the 4 GB it claims.
  const std::string h = valid_header(0xFFFFFFFFu);
  FrameParser parser;
  feed(parser, h.data(), h.size());
  FrameParser::Frame frame;
  EXPECT_THROW(parser.next(&frame), FrameError);
}

TEST(FrameParser, ThrowsOnACorruptHeaderAfterAGoodFrame) {
  ByteBuffer stream;
  append_frame(stream, {MessageType::kTask, 1, "ok"});
  std::string bad = valid_header();
  bad[7] = 1;  // flags
  stream.write(bad.data(), bad.size());

  FrameParser parser;
  feed(parser, stream.data(), stream.size());
  FrameParser::Frame frame;
  ASSERT_TRUE(parser.next(&frame));
  EXPECT_EQ(std::string(frame.body, frame.header.body_size), "ok");
  EXPECT_THROW(parser.next(&frame), FrameError);
}

}  // namespace
}  // namespace shoal::internal
