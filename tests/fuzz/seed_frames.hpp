// Valid frame streams of every message type: the starting points that the fuzzers mutate (the
// seeded fuzz in tests/unit and the libFuzzer corpus written by frame_fuzz_seeds).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>

#include "src/common/task_backtrace.hpp"
#include "src/transport/frame.hpp"
#include "src/transport/protocol.hpp"
#include "src/transport/task_calls.hpp"

namespace shoal::fuzz {

/// One stream per message type (a valid frame, or a few), and one stream with all of them. Each
/// starts with the chunking byte decode_stream() reads first.
inline std::vector<std::string> seed_streams() {
  using detail::ByteBuffer;
  using internal::MessageType;
  std::vector<ByteBuffer> streams(23);
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
  // The calls a running task makes (src/transport/task_calls.hpp), and the driver's answers.
  {
    internal::TaskSpec spec;
    spec.id = internal::worker_made_id(1, 1);
    spec.function_index = 3;
    spec.function_check = 0xFEEDFACEull;
    spec.name = "child";
    spec.num_cpus = 0.5;
    spec.memory = 4096;
    spec.max_retries = -1;
    spec.deps = {internal::worker_made_id(1, 2), 42};
    internal::put_inline_record(spec.args, detail::Format::kMsgpack, 0x1122, "\x2a", 1);
    internal::put_ref_record(spec.args, 1);
    internal::put_ref_record(spec.args, 0);
    spec.arg_count = 3;
    internal::encode_submit(streams[i++], spec);
  }
  internal::encode_put(streams[i++], internal::worker_made_id(1, 3), detail::Format::kRaw, 0x55,
                       "value", 5, "seed.cpp:1 (main)");
  internal::encode_create_object(streams[i], {1, internal::worker_made_id(1, 4),
                                              detail::Format::kRaw, 0x55, 1 << 20, "seed.cpp:2"});
  internal::encode_create_reply(streams[i++], {1, true, 8192});
  internal::encode_get(streams[i], {2, internal::kGetFailFast, 1'000'000, {42, 43}});
  {
    ByteBuffer records;
    internal::put_inline_record(records, detail::Format::kMsgpack, 0x1122, "\x2a", 1);
    internal::put_store_record(records, detail::Format::kRaw, 0x3344, 4096, 1 << 20);
    internal::ByteReader in(records.data(), records.size());
    internal::GetReply ok;
    ok.request = 2;
    for (int k = 0; k < 2; ++k) ok.values.push_back(internal::read_record(in));
    internal::encode_get_reply(streams[i++], ok);
  }
  {
    internal::GetReply failed;
    failed.request = 3;
    failed.status = internal::ReplyStatus::kFailed;
    failed.error.type_name = "std::runtime_error";
    failed.error.what = "boom";
    failed.error.function = "child";
    failed.error.pid = 99;
    failed.error.holders = {{42, 1 << 20, "put()"}};
    failed.error.backtrace = std::make_shared<const detail::TaskBacktrace>(
        internal::ModuleFrames{{"", "libx.so"}, {{0, 0x10}, {1, 0x20}}});
    internal::encode_get_reply(streams[i], failed);
    failed.request = 4;
    failed.error.holders.clear();
    failed.error.backtrace = std::make_shared<const detail::TaskBacktrace>(std::string("#0 f\n"));
    internal::encode_get_reply(streams[i], failed);
    internal::GetReply timeout;
    timeout.request = 5;
    timeout.status = internal::ReplyStatus::kTimeout;
    timeout.not_ready = 1;
    internal::encode_get_reply(streams[i], timeout);
    internal::GetReply refused;
    refused.request = 6;
    refused.status = internal::ReplyStatus::kRefused;
    refused.refusal = {internal::RefusalKind::kInvalidObjectRef, "unknown object"};
    internal::encode_get_reply(streams[i++], refused);
  }
  internal::encode_wait(streams[i], {7, 1, -1, {42, 43}});
  {
    internal::WaitReply ready;
    ready.request = 7;
    ready.ready = {true, false};
    internal::encode_wait_reply(streams[i++], ready);
  }
  internal::encode_id_list(streams[i], MessageType::kRelease, {42, 43});
  internal::encode_id_list(streams[i++], MessageType::kRevoke, {44});
  internal::encode_info(streams[i], 8, internal::InfoKind::kAvailableResources);
  {
    internal::InfoReply info;
    info.request = 8;
    info.values = {{"CPU", 2}, {"memory", 1e9}};
    internal::encode_info_reply(streams[i++], info);
  }
  internal::encode_session(streams[i++], internal::TaskLimits{2, 1 << 30, 3, 12, false});
  internal::encode_cancel(streams[i], internal::Cancel{45, true, false});
  internal::encode_cancel_task(streams[i++], 46);
  internal::encode_id_list(streams[i], MessageType::kAddRef, {47, 48});
  internal::encode_id_list(streams[i++], MessageType::kContain, {49}, 50);
  internal::encode_actor_start(streams[i++], internal::ActorStart{51, 4, true});
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
