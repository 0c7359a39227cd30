// Message bodies (src/transport/protocol.hpp): every encoder's output decodes to what went in, and
// the decoders, which read bytes from another process, reject anything malformed with DecodeError
// and never hand back a view outside the input. Ends with a bounded, seeded fuzz of every decoder
// and of the FrameParser. The cases work on bodies, as a receiver gets them after the header.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "src/transport/frame.hpp"
#include "src/transport/protocol.hpp"
#include "tests/fuzz/decode_stream.hpp"
#include "tests/fuzz/seed_frames.hpp"

namespace shoal::internal {
namespace {

using detail::ByteBuffer;
using detail::Format;

std::string bytes_of(const ByteBuffer& b) { return std::string(b.data(), b.size()); }

std::string inline_record(std::string_view value, Format format = Format::kMsgpack,
                          std::uint64_t hash = 0x1122334455667788ull) {
  ByteBuffer b;
  put_inline_record(b, format, hash, value.data(), value.size());
  return bytes_of(b);
}

std::string store_record() {
  ByteBuffer b;
  put_store_record(b, Format::kRaw, 0xABCDull, 1ull << 40, 123456789ull);
  return bytes_of(b);
}

std::string ref_record(std::uint32_t index = 7) {
  ByteBuffer b;
  put_ref_record(b, index);
  return bytes_of(b);
}

// The body of the frame `encode` writes: what a receiver decodes once the header is parsed.
template <class Encode>
std::string body_of(Encode&& encode) {
  ByteBuffer b;
  encode(b);
  return std::string(b.data() + kFrameHeaderSize, b.size() - kFrameHeaderSize);
}

// A received frame of `type` whose body is the `size` bytes at `body`.
Frame frame_of(MessageType type, const char* body, std::size_t size, std::uint64_t id = 0) {
  Frame f;
  f.header.type = type;
  f.header.body_size = static_cast<std::uint32_t>(size);
  f.header.id = id;
  f.body = body;
  return f;
}

TaskDone read_task_done(const char* body, std::size_t size) {
  return decode_task_done(frame_of(MessageType::kTaskDone, body, size));
}
AllocReply read_alloc_reply(const char* body, std::size_t size) {
  return decode_alloc_reply(frame_of(MessageType::kAllocReply, body, size));
}
Exited read_exited(const char* body, std::size_t size) {
  return decode_exited(frame_of(MessageType::kExited, body, size));
}
HelperReady read_helper_ready(const char* body, std::size_t size) {
  return decode_helper_ready(frame_of(MessageType::kHelperReady, body, size));
}

ValueRecord read_one_record(const std::string& bytes);

std::string task_done_ok(const std::string& record, std::uint64_t exec_ns = 1234) {
  TaskDone d;
  d.status = TaskStatus::kOk;
  d.exec_ns = exec_ns;
  d.start_ns = 1'000'000'007;  // the timeline's placement of the task
  d.store_ns = 11;
  d.value = read_one_record(record);
  return body_of([&](ByteBuffer& b) { encode_task_done(b, d); });
}

// Two frames in the program, one in a library, one outside any module.
ModuleFrames sample_frames() {
  ModuleFrames f;
  f.modules = {"", "/usr/lib/libfoo.so"};
  f.frames = {{0, 0x1234}, {1, 0x10}, {0, 0x2000}, {ModuleFrames::kNoModule, 0x7fff0000}};
  return f;
}

std::string task_done_error(std::string_view type_name = "std::invalid_argument",
                            std::string_view what = "bad angle",
                            const ModuleFrames& frames = sample_frames(),
                            std::uint64_t exec_ns = 99) {
  TaskDone d;
  d.status = TaskStatus::kError;
  d.exec_ns = exec_ns;
  d.type_name = type_name;
  d.what = what;
  d.frames = frames;
  return body_of([&](ByteBuffer& b) { encode_task_done(b, d); });
}

std::string task_done_store_full() {
  TaskDone d;
  d.status = TaskStatus::kStoreFull;
  d.exec_ns = 5;
  d.requested = 1ull << 33;
  d.capacity = 1ull << 30;
  return body_of([&](ByteBuffer& b) { encode_task_done(b, d); });
}

std::string task_message() {
  ByteBuffer b;
  put_task_header(b, TaskHeader{3, 0xFEEDFACECAFEBEEFull, 2});
  const std::string a = inline_record("abc");
  const std::string s = store_record();
  b.write(a.data(), a.size());
  b.write(s.data(), s.size());
  return bytes_of(b);
}

// An AllocReply body; `ok` is written as given, so that a bad status can be made too.
std::string alloc_reply(std::uint8_t ok, std::uint64_t value) {
  ByteBuffer b;
  b.put(std::uint64_t{1});  // request id
  b.put(ok);
  b.put(value);
  return bytes_of(b);
}

std::string exited(std::int64_t pid, std::int32_t status) {
  return body_of([&](ByteBuffer& b) { encode_exited(b, Exited{0, pid, status}); });
}

ValueRecord read_one_record(const std::string& bytes) {
  ByteReader in(bytes.data(), bytes.size());
  ValueRecord r = read_record(in);
  EXPECT_TRUE(in.done());
  return r;
}

// Decodes a kTask body the way a worker does: the header, then arg_count records.
void read_task_message(const std::string& bytes) {
  decode_task(frame_of(MessageType::kTask, bytes.data(), bytes.size()));
}

bool inside(const char* p, std::size_t n, const std::string& buffer) {
  return p >= buffer.data() && p + n <= buffer.data() + buffer.size();
}

TEST(Messages, InlineRecordRoundTrips) {
  const std::string value("hello\0world", 11);
  const std::string bytes = inline_record(value, Format::kMsgpack, 0x1122334455667788ull);
  EXPECT_EQ(bytes.size(), kInlineRecordOverhead + value.size());
  const ValueRecord r = read_one_record(bytes);
  EXPECT_EQ(r.kind, RecordKind::kInline);
  EXPECT_EQ(r.format, Format::kMsgpack);
  EXPECT_EQ(r.type_hash, 0x1122334455667788ull);
  ASSERT_EQ(r.size, value.size());
  EXPECT_TRUE(inside(r.data, r.size, bytes));
  EXPECT_EQ(std::string(r.data, r.size), value);
}

TEST(Messages, EmptyInlineRecordRoundTrips) {
  const std::string bytes = inline_record("", Format::kVoid, 0);
  const ValueRecord r = read_one_record(bytes);
  EXPECT_EQ(r.kind, RecordKind::kInline);
  EXPECT_EQ(r.format, Format::kVoid);
  EXPECT_EQ(r.size, 0u);
}

TEST(Messages, StoreRecordRoundTrips) {
  const ValueRecord r = read_one_record(store_record());
  EXPECT_EQ(r.kind, RecordKind::kStore);
  EXPECT_EQ(r.format, Format::kRaw);
  EXPECT_EQ(r.type_hash, 0xABCDull);
  EXPECT_EQ(r.offset, 1ull << 40);
  EXPECT_EQ(r.size, 123456789ull);
}

TEST(Messages, RefRecordRoundTrips) {
  const ValueRecord r = read_one_record(ref_record(0xDEADBEEFu));
  EXPECT_EQ(r.kind, RecordKind::kRef);
  EXPECT_EQ(r.ref_index, 0xDEADBEEFu);
}

TEST(Messages, TaskHeaderAndArgumentsRoundTrip) {
  const std::string bytes = task_message();
  ByteReader in(bytes.data(), bytes.size());
  const TaskHeader h = read_task_header(in);
  EXPECT_EQ(h.function_index, 3u);
  EXPECT_EQ(h.function_check, 0xFEEDFACECAFEBEEFull);
  ASSERT_EQ(h.arg_count, 2u);
  EXPECT_EQ(in.remaining(), bytes.size() - kTaskHeaderSize);
  const ValueRecord a = read_record(in);
  EXPECT_EQ(a.kind, RecordKind::kInline);
  EXPECT_EQ(std::string(a.data, a.size), "abc");
  const ValueRecord s = read_record(in);
  EXPECT_EQ(s.kind, RecordKind::kStore);
  EXPECT_EQ(s.offset, 1ull << 40);
  EXPECT_TRUE(in.done());
}

TEST(Messages, TaskDoneOkInlineRoundTrips) {
  const std::string body = task_done_ok(inline_record("result"), 987654321);
  const TaskDone d = read_task_done(body.data(), body.size());
  EXPECT_EQ(d.status, TaskStatus::kOk);
  EXPECT_EQ(d.exec_ns, 987654321u);
  EXPECT_EQ(d.start_ns, 1'000'000'007);
  EXPECT_EQ(d.store_ns, 11u);
  EXPECT_EQ(d.value.kind, RecordKind::kInline);
  EXPECT_EQ(d.value.type_hash, 0x1122334455667788ull);
  EXPECT_TRUE(inside(d.value.data, d.value.size, body));
  EXPECT_EQ(std::string(d.value.data, d.value.size), "result");
}

// The statuses tasks that start tasks, cancel(), retry_exceptions and num_returns<N>() added.
TEST(Messages, TaskDoneOkManyCancelledAndRetryableRoundTrip) {
  // The body of `d`'s frame, kept by the caller: what decoding returns points into it.
  std::vector<std::string> bodies;
  const auto whole = [&bodies](const TaskDone& d) {
    detail::ByteBuffer out;
    encode_task_done(out, d);
    bodies.emplace_back(out.data() + kFrameHeaderSize, out.size() - kFrameHeaderSize);
    return read_task_done(bodies.back().data(), bodies.back().size());
  };
  bodies.reserve(4);
  TaskDone many;
  many.task = 9;
  many.status = TaskStatus::kOkMany;
  const std::string rec = inline_record("abc");
  ByteReader in(rec.data(), rec.size());
  many.values.push_back(read_record(in));
  many.values.push_back(
      ValueRecord{RecordKind::kStore, detail::Format::kRaw, 5, nullptr, 64, 4096});
  const TaskDone got = whole(many);
  EXPECT_EQ(got.status, TaskStatus::kOkMany);
  ASSERT_EQ(got.values.size(), 2u);
  EXPECT_EQ(got.values[1].offset, 4096u);

  TaskDone cancelled;
  cancelled.status = TaskStatus::kCancelled;
  EXPECT_EQ(whole(cancelled).status, TaskStatus::kCancelled);

  TaskDone retryable;
  retryable.status = TaskStatus::kRetryableError;
  retryable.type_name = "std::runtime_error";
  retryable.what = "again";
  const TaskDone r = whole(retryable);
  EXPECT_EQ(r.status, TaskStatus::kRetryableError);
  EXPECT_EQ(r.what, "again");

  many.values.resize(1);  // kOkMany needs 2 or more
  detail::ByteBuffer out;
  encode_task_done(out, many);
  EXPECT_THROW(read_task_done(out.data() + kFrameHeaderSize, out.size() - kFrameHeaderSize),
               DecodeError);
}

TEST(Messages, TaskWithRetryTypesAndReturnsRoundTrips) {
  Task t;
  t.task = 12;
  t.header = {1, 2, 0, kTaskRetryExceptions | kTaskReturns};
  t.retry_types = {111, 222};
  t.num_returns = 3;
  detail::ByteBuffer out;
  encode_task(out, t);
  const Frame f = frame_of(MessageType::kTask, out.data() + kFrameHeaderSize,
                           out.size() - kFrameHeaderSize, 12);
  const Task got = decode_task(f);
  EXPECT_EQ(got.retry_types, (std::vector<std::uint64_t>{111, 222}));
  EXPECT_EQ(got.num_returns, 3u);
  t.num_returns = 1;  // a flagged task returns 2 or more
  detail::ByteBuffer bad;
  encode_task(bad, t);
  EXPECT_THROW(decode_task(frame_of(MessageType::kTask, bad.data() + kFrameHeaderSize,
                                    bad.size() - kFrameHeaderSize, 12)),
               DecodeError);
}

TEST(Messages, TaskDoneOkStoreRoundTrips) {
  const std::string body = task_done_ok(store_record());
  const TaskDone d = read_task_done(body.data(), body.size());
  EXPECT_EQ(d.status, TaskStatus::kOk);
  EXPECT_EQ(d.value.kind, RecordKind::kStore);
  EXPECT_EQ(d.value.offset, 1ull << 40);
  EXPECT_EQ(d.value.size, 123456789ull);
}

TEST(Messages, TaskDoneErrorRoundTrips) {
  const std::string body = task_done_error();
  const TaskDone d = read_task_done(body.data(), body.size());
  EXPECT_EQ(d.status, TaskStatus::kError);
  EXPECT_EQ(d.exec_ns, 99u);
  EXPECT_EQ(d.type_name, "std::invalid_argument");
  EXPECT_EQ(d.what, "bad angle");
  const ModuleFrames sent = sample_frames();
  EXPECT_EQ(d.frames.modules, sent.modules);
  ASSERT_EQ(d.frames.frames.size(), sent.frames.size());
  for (std::size_t i = 0; i < sent.frames.size(); ++i) {
    EXPECT_EQ(d.frames.frames[i].module, sent.frames[i].module);
    EXPECT_EQ(d.frames.frames[i].offset, sent.frames[i].offset);
  }
}

TEST(Messages, TaskDoneErrorFramesAreBounded) {
  ModuleFrames many;
  many.modules = {""};
  many.frames.assign(ModuleFrames::kMaxFrames + 10, ModuleFrames::Frame{0, 1});
  const std::string b = task_done_error("T", "w", many, 0);  // cut to the maximum when written
  EXPECT_EQ(read_task_done(b.data(), b.size()).frames.frames.size(), ModuleFrames::kMaxFrames);
  // A frame naming a module the message does not list is bad input.
  std::string bad = task_done_error("T", "w", ModuleFrames{{""}, {{0, 1}}}, 0);
  bad[bad.size() - 10] = 5;  // the frame's u16 module index
  EXPECT_THROW(read_task_done(bad.data(), bad.size()), DecodeError);
}

TEST(Messages, TaskDoneErrorWithEmptyStringsRoundTrips) {
  const std::string b = task_done_error("", "", ModuleFrames{}, 0);
  const TaskDone d = read_task_done(b.data(), b.size());
  EXPECT_EQ(d.status, TaskStatus::kError);
  EXPECT_TRUE(d.type_name.empty());
  EXPECT_TRUE(d.what.empty());
  EXPECT_TRUE(d.frames.empty());
}

TEST(Messages, TaskDoneStoreFullRoundTrips) {
  const std::string body = task_done_store_full();
  const TaskDone d = read_task_done(body.data(), body.size());
  EXPECT_EQ(d.status, TaskStatus::kStoreFull);
  EXPECT_EQ(d.exec_ns, 5u);
  EXPECT_EQ(d.requested, 1ull << 33);
  EXPECT_EQ(d.capacity, 1ull << 30);
}

TEST(Messages, TaskDoneRejectsARefResult) {
  // A ref record is driver-internal; a worker sending one is broken or hostile.
  const std::string body = task_done_ok(ref_record());
  EXPECT_THROW(read_task_done(body.data(), body.size()), DecodeError);
}

TEST(Messages, TrailingBytesAreADecodeError) {
  for (std::string body : {task_done_ok(inline_record("x")), task_done_ok(store_record()),
                           task_done_error(), task_done_store_full()}) {
    body.push_back('\0');
    EXPECT_THROW(read_task_done(body.data(), body.size()), DecodeError);
  }
  std::string reply = alloc_reply(1, 64) + '\0';
  EXPECT_THROW(read_alloc_reply(reply.data(), reply.size()), DecodeError);
  std::string ex = exited(12, 0) + '\0';
  EXPECT_THROW(read_exited(ex.data(), ex.size()), DecodeError);
}

TEST(Messages, AllocReplyAndExitedRoundTrip) {
  std::string b = alloc_reply(1, 4096);
  AllocReply r = read_alloc_reply(b.data(), b.size());
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.value, 4096u);
  b = alloc_reply(0, 1ull << 30);
  r = read_alloc_reply(b.data(), b.size());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.value, 1ull << 30);

  b = exited(-5, 0x7F00);
  const Exited e = read_exited(b.data(), b.size());
  EXPECT_EQ(e.pid, -5);
  EXPECT_EQ(e.status, 0x7F00);
}

TEST(Messages, HelperReadyRoundTrips) {
  std::string b = body_of([](ByteBuffer& out) {
    encode_helper_ready(out, HelperReady{17, 0xfeedfacecafebeefull});
  });
  const HelperReady h = read_helper_ready(b.data(), b.size());
  EXPECT_EQ(h.functions, 17u);
  EXPECT_EQ(h.hash, 0xfeedfacecafebeefull);
  b.push_back('\0');
  EXPECT_THROW(read_helper_ready(b.data(), b.size()), DecodeError);
}

// Every message with a fixed body: exactly its size decodes, a byte less or more does not.
TEST(Messages, FixedBodiesMustBeExactlyTheirSize) {
  const std::uint64_t size = 1ull << 35;
  std::string b = body_of([&](ByteBuffer& out) {
    encode_alloc_request(out, AllocRequest{9, 4, size});
  });
  const auto request = [](const std::string& body) {
    return decode_alloc_request(frame_of(MessageType::kAllocRequest, body.data(), body.size(), 9));
  };
  EXPECT_EQ(request(b).size, size);
  EXPECT_EQ(request(b).request, 4u);
  EXPECT_EQ(request(b).task, 9u);
  EXPECT_THROW(request(b.substr(0, b.size() - 1)), DecodeError);
  EXPECT_THROW(request(b + '\0'), DecodeError);
  for (const auto& [type, body] : std::vector<std::pair<MessageType, std::string>>{
           {MessageType::kReady, body_of([](ByteBuffer& o) {
              encode_ready(o, Ready{1, 42});
            })},
           {MessageType::kSpawned, body_of([](ByteBuffer& o) {
              encode_spawned(o, Spawned{1, 42});
            })},
           {MessageType::kSpawnFailed, body_of([](ByteBuffer& o) {
              encode_spawn_failed(o, SpawnFailed{1, 11});
            })},
           {MessageType::kSpawn, body_of([](ByteBuffer& o) {
              encode_spawn(o, Spawn{1, true});
            })},
           {MessageType::kKill, body_of([](ByteBuffer& o) { encode_kill(o, Kill{1}); })}}) {
    const auto decode = [type = type](const std::string& s) {
      const Frame f = frame_of(type, s.data(), s.size(), 1);
      switch (type) {
        case MessageType::kReady:
          EXPECT_EQ(decode_ready(f).pid, 42);
          break;
        case MessageType::kSpawned:
          EXPECT_EQ(decode_spawned(f).pid, 42);
          break;
        case MessageType::kSpawnFailed:
          EXPECT_EQ(decode_spawn_failed(f).error, 11);
          break;
        case MessageType::kSpawn:
          EXPECT_TRUE(decode_spawn(f).piped);
          break;
        default:
          EXPECT_EQ(decode_kill(f).worker, 1u);
          break;
      }
    };
    EXPECT_NO_THROW(decode(body)) << message_type_name(type);
    if (!body.empty()) {
      EXPECT_THROW(decode(body.substr(0, body.size() - 1)), DecodeError) << message_type_name(type);
    }
    EXPECT_THROW(decode(body + '\0'), DecodeError) << message_type_name(type);
  }
}

// Every strict prefix of a valid message must be rejected, not read past its end.
TEST(Messages, EveryTruncationIsADecodeError) {
  struct Case {
    const char* name;
    std::string bytes;
    std::function<void(const std::string&)> decode;
  };
  const auto task_done = [](const std::string& s) { read_task_done(s.data(), s.size()); };
  const auto record = [](const std::string& s) {
    ByteReader in(s.data(), s.size());
    read_record(in);
  };
  const auto header = [](const std::string& s) {
    ByteReader in(s.data(), s.size());
    read_task_header(in);
  };
  const std::vector<Case> cases = {
      {"task done ok inline", task_done_ok(inline_record("some result bytes")), task_done},
      {"task done ok store", task_done_ok(store_record()), task_done},
      {"task done error", task_done_error(), task_done},
      {"task done store full", task_done_store_full(), task_done},
      {"inline record", inline_record("value"), record},
      {"store record", store_record(), record},
      {"ref record", ref_record(), record},
      {"task header", task_message().substr(0, kTaskHeaderSize), header},
      {"task message", task_message(), read_task_message},
      {"alloc reply", alloc_reply(1, 64),
       [](const std::string& s) { read_alloc_reply(s.data(), s.size()); }},
      {"exited", exited(77, 9), [](const std::string& s) { read_exited(s.data(), s.size()); }},
      {"helper ready", body_of([](ByteBuffer& b) {
         encode_helper_ready(b, HelperReady{3, 99});
       }),
       [](const std::string& s) { read_helper_ready(s.data(), s.size()); }},
  };
  for (const Case& c : cases) {
    ASSERT_NO_THROW(c.decode(c.bytes)) << c.name;
    for (std::size_t n = 0; n < c.bytes.size(); ++n) {
      // A fresh copy of exactly n bytes, so a read past the end is caught by ASan too.
      const std::string prefix = c.bytes.substr(0, n);
      EXPECT_THROW(c.decode(prefix), DecodeError) << c.name << " cut to " << n << " bytes";
    }
  }
}

TEST(Messages, UnknownRecordKindIsADecodeError) {
  for (std::uint8_t kind : {0, 4, 0xFF}) {
    std::string bytes = inline_record("abc");
    bytes[0] = static_cast<char>(kind);
    ByteReader in(bytes.data(), bytes.size());
    EXPECT_THROW(read_record(in), DecodeError) << "kind " << int{kind};
  }
}

TEST(Messages, UnknownRecordFormatIsADecodeError) {
  for (std::uint8_t format : {3, 0x80, 0xFF}) {
    std::string bytes = store_record();
    bytes[1] = static_cast<char>(format);
    ByteReader in(bytes.data(), bytes.size());
    EXPECT_THROW(read_record(in), DecodeError) << "format " << int{format};
  }
}

TEST(Messages, UnknownTaskStatusIsADecodeError) {
  for (std::uint8_t status : {6, 0xFF}) {
    std::string body = task_done_store_full();
    body[0] = static_cast<char>(status);
    EXPECT_THROW(read_task_done(body.data(), body.size()), DecodeError) << int{status};
  }
}

TEST(Messages, UnknownAllocReplyStatusIsADecodeError) {
  const std::string b = alloc_reply(2, 0);
  EXPECT_THROW(read_alloc_reply(b.data(), b.size()), DecodeError);
}

TEST(Messages, InlineSizeLargerThanTheMessageIsADecodeError) {
  std::string bytes = inline_record("abc");
  const std::uint32_t huge = 0xFFFFFFFFu;
  std::memcpy(bytes.data() + kRecordPrefixSize, &huge, sizeof huge);
  ByteReader in(bytes.data(), bytes.size());
  EXPECT_THROW(read_record(in), DecodeError);
}

TEST(Messages, ErrorStringLongerThanTheMessageIsADecodeError) {
  std::string body = task_done_error();
  const std::uint32_t huge = 0x7FFFFFFFu;
  std::memcpy(body.data() + 1 + 8 + 8 + 8, &huge,
              sizeof huge);  // after status and 3 times: the type name's length
  EXPECT_THROW(read_task_done(body.data(), body.size()), DecodeError);
}

// ---- Fuzz: random bytes and random mutations of valid messages. Only DecodeError (messages) and
// FrameError (frames) may come out; whatever decodes must point inside its input.

class Mutator {
 public:
  explicit Mutator(std::uint32_t seed) : rng_(seed) {}

  std::size_t below(std::size_t n) { return n == 0 ? 0 : rng_() % n; }
  char byte() { return static_cast<char>(rng_() & 0xFF); }

  std::string random_bytes(std::size_t max_len) {
    std::string s(below(max_len + 1), '\0');
    for (char& c : s) c = byte();
    return s;
  }

  std::string mutate(std::string s) {
    const std::size_t edits = 1 + below(4);
    for (std::size_t e = 0; e < edits; ++e) {
      switch (below(5)) {
        case 0:  // overwrite a byte
          if (!s.empty()) s[below(s.size())] = byte();
          break;
        case 1:  // flip one bit
          if (!s.empty()) s[below(s.size())] ^= static_cast<char>(1u << below(8));
          break;
        case 2:  // truncate
          s.resize(below(s.size() + 1));
          break;
        case 3:  // insert random bytes
          s.insert(below(s.size() + 1), random_bytes(8));
          break;
        default:  // write an extreme length-like value somewhere
          if (s.size() >= 4) {
            const std::uint32_t v =
                below(2) != 0 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(rng_());
            std::memcpy(s.data() + below(s.size() - 3), &v, 4);
          }
          break;
      }
    }
    return s;
  }

 private:
  std::mt19937 rng_;
};

void fuzz_task_done(const std::string& s) {
  const TaskDone d = read_task_done(s.data(), s.size());
  if (d.status == TaskStatus::kOk && d.value.kind == RecordKind::kInline) {
    ASSERT_TRUE(inside(d.value.data, d.value.size, s));
  }
  if (d.status == TaskStatus::kError) {
    ASSERT_TRUE(inside(d.type_name.data(), d.type_name.size(), s));
    ASSERT_TRUE(inside(d.what.data(), d.what.size(), s));
    ASSERT_LE(d.frames.frames.size(), ModuleFrames::kMaxFrames);
    for (const ModuleFrames::Frame& f : d.frames.frames) {
      ASSERT_TRUE(f.module < d.frames.modules.size() || f.module == ModuleFrames::kNoModule);
    }
  }
  ASSERT_NE(d.value.kind, RecordKind::kRef);
}

void fuzz_records(const std::string& s) {
  ByteReader in(s.data(), s.size());
  while (!in.done()) {
    const ValueRecord r = read_record(in);
    ASSERT_LE(static_cast<int>(r.format), static_cast<int>(Format::kRaw));
    if (r.kind == RecordKind::kInline) {
      ASSERT_TRUE(inside(r.data, r.size, s));
    }
  }
}

void fuzz_frames(const std::string& s, Mutator& m) {
  FrameParser parser;
  std::size_t at = 0;
  FrameParser::Frame frame;
  while (at < s.size()) {
    const std::size_t n = std::min(s.size() - at, 1 + m.below(32));
    char* dst = parser.writable(n + m.below(16));
    std::memcpy(dst, s.data() + at, n);
    parser.commit(n);
    at += n;
    while (parser.next(&frame)) {
      ASSERT_LE(frame.header.body_size, kMaxBodySize);
      ASSERT_STRNE(message_type_name(frame.header.type), "unknown");
    }
    if (m.below(2) != 0) parser.compact();
  }
}

TEST(MessagesFuzz, OnlyDecodeErrorsEscapeTheDecoders) {
  std::vector<std::string> task_dones = {task_done_ok(inline_record("result")),
                                         task_done_ok(store_record()), task_done_error(),
                                         task_done_store_full()};
  std::vector<std::string> records = {inline_record("v"), store_record(), ref_record(),
                                      inline_record("a") + store_record() + ref_record(3)};
  ByteBuffer frames;
  for (std::uint64_t id = 1; id <= 3; ++id) {
    const std::size_t at = begin_frame(frames, MessageType::kTaskDone, id);
    const std::string body = task_done_ok(inline_record(std::string(id * 5, 'q')));
    frames.write(body.data(), body.size());
    end_frame(frames, at);
  }
  const std::string frame_stream = bytes_of(frames);

  Mutator m(0x5EED1234u);
  constexpr int kIterations = 20000;
  for (int i = 0; i < kIterations; ++i) {
    const bool random = m.below(4) == 0;
    const std::size_t target = m.below(6);
    try {
      switch (target) {
        case 0: {
          const std::string s =
              random ? m.random_bytes(64) : m.mutate(task_dones[m.below(task_dones.size())]);
          fuzz_task_done(s);
          break;
        }
        case 1: {
          const std::string s =
              random ? m.random_bytes(64) : m.mutate(records[m.below(records.size())]);
          fuzz_records(s);
          break;
        }
        case 2: {
          const std::string s = random ? m.random_bytes(64) : m.mutate(task_message());
          read_task_message(s);
          break;
        }
        case 3: {
          const std::string s = random ? m.random_bytes(16) : m.mutate(alloc_reply(1, 4096));
          read_alloc_reply(s.data(), s.size());
          break;
        }
        case 4: {
          const std::string s = random ? m.random_bytes(16) : m.mutate(exited(1234, 0));
          read_exited(s.data(), s.size());
          break;
        }
        default: {
          const std::string s = random ? m.random_bytes(96) : m.mutate(frame_stream);
          fuzz_frames(s, m);
          break;
        }
      }
    } catch (const DecodeError&) {
    } catch (const FrameError&) {
      if (target != 5) {
        ADD_FAILURE() << "iteration " << i << ": a message decoder threw FrameError";
        return;
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << "iteration " << i << " (target " << target
                    << "): unexpected exception: " << e.what();
      return;
    }
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << "iteration " << i << " (target " << target << ")";
      return;
    }
  }
}

// ---- The whole receive path (tests/fuzz/decode_stream.hpp, the libFuzzer target's harness):
// streams of valid frames of every message type, truncated, given oversized or absurd lengths, or
// mutated, are split into frames and every body is decoded by its receiver's decoder. Only
// FrameError and DecodeError may occur (decode_stream handles those); any other exception fails
// the test and a broken invariant (a view outside the input) traps.

std::size_t decode(const std::string& s) {
  return fuzz::decode_stream(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

// Overwrites the body size of the frame at `frame_offset` (stream offsets count the chunk byte).
std::string with_body_size(std::string s, std::size_t frame_offset, std::uint32_t size) {
  if (frame_offset + 4 <= s.size()) std::memcpy(s.data() + frame_offset, &size, 4);
  return s;
}

TEST(MessagesFuzz, EveryMessageTypeDecodesFromItsSeedStream) {
  std::size_t frames = 0;
  for (const std::string& s : fuzz::seed_streams()) {
    const std::size_t n = decode(s);
    EXPECT_GE(n, 1u);
    frames += n;
  }
  EXPECT_EQ(frames, 2 * 36u);  // each of the 36 frames alone, then all of them in one stream
}

// A new message type needs a seed, or the fuzzers never build a valid frame of it.
TEST(MessagesFuzz, EveryMessageTypeHasASeedFrame) {
  std::vector<MessageType> seeded;
  for (const std::string& s : fuzz::seed_streams()) {
    FrameParser parser;
    const std::string frames = s.substr(1);  // after the chunking byte
    std::memcpy(parser.writable(frames.size()), frames.data(), frames.size());
    parser.commit(frames.size());
    FrameParser::Frame f;
    while (parser.next(&f)) seeded.push_back(f.header.type);
    EXPECT_EQ(parser.buffered(), 0u) << "a seed stream ends inside a frame";
  }
  for (const MessageInfo& m : kMessages) {
    EXPECT_NE(std::find(seeded.begin(), seeded.end(), m.type), seeded.end())
        << m.name << " has no seed frame in tests/fuzz/seed_frames.hpp";
  }
}

TEST(MessagesFuzz, TruncatedStreamsDecodeOnlyTheirWholeFrames) {
  for (const std::string& s : fuzz::seed_streams()) {
    const std::size_t whole = decode(s);
    for (std::size_t n = 0; n < s.size(); ++n) {
      // A fresh copy of exactly n bytes, so a read past the end is caught by ASan too.
      const std::string prefix = s.substr(0, n);
      EXPECT_LE(decode(prefix), whole) << "cut to " << n;
    }
  }
}

TEST(MessagesFuzz, OversizedAndAbsurdBodySizesStopTheStream) {
  for (const std::string& s : fuzz::seed_streams()) {
    for (const std::uint32_t size : {kMaxBodySize + 1, 0x80000000u, 0xFFFFFFFFu}) {
      EXPECT_EQ(decode(with_body_size(s, 1, size)), 0u) << size;
    }
    // At the limit the header is valid: the parser waits for 16 MiB that never come.
    EXPECT_EQ(decode(with_body_size(s, 1, kMaxBodySize)), 0u);
    FrameParser parser;
    const std::string bad = with_body_size(s.substr(1), 0, 0xFFFFFFFFu);
    std::memcpy(parser.writable(bad.size()), bad.data(), bad.size());
    parser.commit(bad.size());
    FrameParser::Frame f;
    EXPECT_THROW(parser.next(&f), FrameError);
  }
}

// Seeded and bounded: kSeeds x kIterations mutated streams, and no more than kBudget of time (a
// slow sanitizer build stops early rather than time out; it still covers thousands of inputs).
TEST(MessagesFuzz, MutatedStreamsOfEveryMessageTypeOnlyFailCleanly) {
  constexpr std::uint32_t kSeeds[] = {1, 0xC0FFEE, 0x5EED5EED, 424242};
  constexpr int kIterations = 6000;
  constexpr auto kBudget = std::chrono::seconds(10);
  const auto deadline = std::chrono::steady_clock::now() + kBudget;
  const std::vector<std::string> seeds = fuzz::seed_streams();
  std::size_t inputs = 0, frames = 0;
  for (const std::uint32_t seed : kSeeds) {
    Mutator m(seed);
    for (int i = 0; i < kIterations && std::chrono::steady_clock::now() < deadline; ++i) {
      std::string s = seeds[m.below(seeds.size())];
      switch (m.below(4)) {
        case 0:  // an absurd or oversized length in the first header
          s = with_body_size(std::move(s), 1,
                             static_cast<std::uint32_t>(
                                 m.below(2) != 0 ? 0xFFFFFFF0u : kMaxBodySize + 1 + m.below(1000)));
          break;
        case 1:  // garbage after a valid prefix
          s = s.substr(0, m.below(s.size() + 1)) + m.random_bytes(64);
          break;
        default:
          s = m.mutate(std::move(s));
          break;
      }
      try {
        frames += decode(s);
      } catch (const std::exception& e) {
        FAIL() << "seed " << seed << " iteration " << i << ": " << e.what();
      }
      ++inputs;
    }
  }
  EXPECT_GT(inputs, 1000u);
  EXPECT_GT(frames, 0u) << "no mutated input decoded: the fuzz only exercised the error paths";
  RecordProperty("inputs", static_cast<int>(inputs));
}

}  // namespace
}  // namespace shoal::internal
