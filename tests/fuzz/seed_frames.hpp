// Valid frame streams of every message type: the starting points that the fuzzers mutate (the
// seeded fuzz in tests/unit and the libFuzzer corpus written by frame_fuzz_seeds).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>

#include "src/transport/frame.hpp"
#include "src/transport/protocol.hpp"

namespace shoal::fuzz {

/// One stream per message type (a valid frame, or two), and one stream with all of them. Each
/// starts with the chunking byte decode_stream() reads first.
inline std::vector<std::string> seed_streams() {
  using detail::ByteBuffer;
  using internal::MessageType;
  std::vector<ByteBuffer> streams(11);
  int i = 0;
  internal::encode_ready(streams[i++], {0, 1234});
  {
    internal::Task task;
    task.task = 7;
    task.header = {3, 0xFEEDFACEull, 3, internal::kTaskExpectedShort};
    ByteBuffer records;
    internal::put_inline_record(records, detail::Format::kMsgpack, 0x1122, "\x2a", 1);
    internal::put_store_record(records, detail::Format::kRaw, 0x3344, 4096, 1 << 20);
    internal::put_inline_record(records, detail::Format::kVoid, 0, nullptr, 0);
    internal::ByteReader in(records.data(), records.size());
    for (int k = 0; k < 3; ++k) task.args.push_back(internal::read_record(in));
    internal::encode_task(streams[i++], task);
  }
  {
    ByteBuffer record;
    internal::put_inline_record(record, detail::Format::kRaw, 0x55, "result", 6);
    internal::ByteReader in(record.data(), record.size());
    internal::TaskDone ok;
    ok.task = 7;
    ok.exec_ns = 99;
    ok.value = internal::read_record(in);
    internal::encode_task_done(streams[i], ok);
    ok.task = 8;
    ok.value = internal::ValueRecord{
        internal::RecordKind::kStore, detail::Format::kRaw, 0x55, nullptr, 70000, 8192, 0};
    internal::encode_task_done(streams[i++], ok);
  }
  {
    internal::TaskDone error;
    error.task = 9;
    error.status = internal::TaskStatus::kError;
    error.exec_ns = 5;
    error.type_name = "std::runtime_error";
    error.what = "boom";
    error.frames = internal::ModuleFrames{{"", "libx.so"}, {{0, 0x10}, {1, 0x20}}};
    internal::encode_task_done(streams[i], error);
    internal::TaskDone full;
    full.task = 10;
    full.status = internal::TaskStatus::kStoreFull;
    full.exec_ns = 5;
    full.requested = 1ull << 33;
    full.capacity = 1ull << 28;
    internal::encode_task_done(streams[i++], full);
  }
  internal::encode_alloc_request(streams[i++], {7, 1, std::uint64_t{1} << 20});
  internal::encode_alloc_reply(streams[i++], {7, 1, true, 4096});
  internal::encode_spawn(streams[i], {1, false});
  internal::encode_kill(streams[i++], {1});
  internal::encode_spawned(streams[i++], {1, 99});
  internal::encode_exited(streams[i++], {1, 99, 9});
  internal::encode_spawn_failed(streams[i++], {1, 11});
  internal::encode_helper_ready(streams[i++], {4, 0x1234});
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
