// Valid frame streams of every message type: the starting points that the fuzzers mutate (the
// seeded fuzz in tests/unit and the libFuzzer corpus written by frame_fuzz_seeds).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>

#include "src/transport/frame.hpp"
#include "src/transport/messages.hpp"

namespace shoal::fuzz {

template <class Body>
void append_frame(detail::ByteBuffer& out, internal::MessageType type, std::uint64_t id,
                  Body&& body) {
  const std::size_t at = internal::begin_frame(out, type, id);
  body(out);
  internal::end_frame(out, at);
}

/// One stream per message type (a valid frame, or two), and one stream with all of them. Each
/// starts with the chunking byte decode_stream() reads first.
inline std::vector<std::string> seed_streams() {
  using detail::ByteBuffer;
  using internal::MessageType;
  std::vector<ByteBuffer> streams(11);
  int i = 0;
  append_frame(streams[i++], MessageType::kReady, 0,
               [](ByteBuffer& b) { b.put(std::int64_t{1234}); });
  append_frame(streams[i++], MessageType::kTask, 7, [](ByteBuffer& b) {
    internal::put_task_header(b, {3, 0xFEEDFACEull, 3, internal::kTaskExpectedShort});
    internal::put_inline_record(b, detail::Format::kMsgpack, 0x1122, "\x2a", 1);
    internal::put_store_record(b, detail::Format::kRaw, 0x3344, 4096, 1 << 20);
    internal::put_inline_record(b, detail::Format::kVoid, 0, nullptr, 0);
  });
  append_frame(streams[i], MessageType::kTaskDone, 7, [](ByteBuffer& b) {
    internal::put_task_done_prefix(b, internal::TaskStatus::kOk, 99);
    internal::put_inline_record(b, detail::Format::kRaw, 0x55, "result", 6);
  });
  append_frame(streams[i++], MessageType::kTaskDone, 8, [](ByteBuffer& b) {
    internal::put_task_done_prefix(b, internal::TaskStatus::kOk, 99);
    internal::put_store_record(b, detail::Format::kRaw, 0x55, 8192, 70000);
  });
  append_frame(streams[i], MessageType::kTaskDone, 9, [](ByteBuffer& b) {
    internal::put_task_done_prefix(b, internal::TaskStatus::kError, 5);
    internal::put_task_error(b, "std::runtime_error", "boom",
                             internal::ModuleFrames{{"", "libx.so"}, {{0, 0x10}, {1, 0x20}}});
  });
  append_frame(streams[i++], MessageType::kTaskDone, 10, [](ByteBuffer& b) {
    internal::put_task_done_prefix(b, internal::TaskStatus::kStoreFull, 5);
    internal::put_store_full(b, 1ull << 33, 1ull << 28);
  });
  append_frame(streams[i++], MessageType::kAllocRequest, 7,
               [](ByteBuffer& b) { b.put(std::uint64_t{1} << 20); });
  append_frame(streams[i++], MessageType::kAllocReply, 7, [](ByteBuffer& b) {
    b.put(std::uint8_t{1});
    b.put(std::uint64_t{4096});
  });
  append_frame(streams[i], MessageType::kSpawn, 1, [](ByteBuffer&) {});
  append_frame(streams[i++], MessageType::kKill, 1, [](ByteBuffer&) {});
  append_frame(streams[i++], MessageType::kSpawned, 1,
               [](ByteBuffer& b) { b.put(std::int64_t{99}); });
  append_frame(streams[i++], MessageType::kExited, 1, [](ByteBuffer& b) {
    b.put(std::int64_t{99});
    b.put(std::int32_t{9});
  });
  append_frame(streams[i++], MessageType::kSpawnFailed, 1,
               [](ByteBuffer& b) { b.put(std::int32_t{11}); });
  append_frame(streams[i++], MessageType::kHelperReady, 0, [](ByteBuffer& b) {
    internal::put_helper_ready(b, internal::HelperReady{4, 0x1234});
  });
  std::vector<std::string> out;
  std::string all(1, '\x05');  // small chunks
  for (int k = 0; k < i; ++k) {
    const std::string frames(streams[static_cast<std::size_t>(k)].data(),
                             streams[static_cast<std::size_t>(k)].size());
    out.push_back(std::string(1, static_cast<char>(k % 2 == 0 ? 0x80 : k)) + frames);
    all += frames;
  }
  out.push_back(all);
  return out;
}

}  // namespace shoal::fuzz
