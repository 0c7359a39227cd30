// The calls a running task makes to the driver and the driver's answers
// (src/transport/task_calls.hpp): every encoder's frame decodes to what went in, header id
// included, and the decoders, which read bytes from another process, refuse anything malformed
// with DecodeError: every truncation, trailing bytes, unknown statuses and kinds, counts larger
// than the body, a Submit naming a dependency it does not list or carrying a store record.
// tests/unit/messages_test.cpp does the same for protocol.hpp's messages, and fuzzes them all.
#include "src/transport/task_calls.hpp"

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "src/common/call_site.hpp"
#include "src/common/task_backtrace.hpp"

namespace shoal::internal {
namespace {

using detail::ByteBuffer;
using detail::Format;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string bytes_of(const ByteBuffer& b) { return std::string(b.data(), b.size()); }

// A whole frame (header and body) as `encode` writes it.
template <class Encode>
std::string frame_bytes(Encode&& encode) {
  ByteBuffer b;
  encode(b);
  return bytes_of(b);
}

// The frame a receiver gets for the bytes of one whole frame (which must outlive it).
Frame parsed(const std::string& whole) {
  Frame f;
  f.header = parse_header(whole.data());
  f.body = whole.data() + kFrameHeaderSize;
  EXPECT_EQ(whole.size(), kFrameHeaderSize + f.header.body_size) << "not exactly one frame";
  return f;
}

// The body of one whole frame.
std::string body_of(const std::string& whole) { return whole.substr(kFrameHeaderSize); }

// A received frame of `type` whose body is `body` (which must outlive it).
Frame frame_of(MessageType type, const std::string& body, std::uint64_t id = 0) {
  Frame f;
  f.header.type = type;
  f.header.body_size = static_cast<std::uint32_t>(body.size());
  f.header.id = id;
  f.body = body.data();
  return f;
}

bool inside(const char* p, std::size_t n, const std::string& buffer) {
  return p >= buffer.data() && p + n <= buffer.data() + buffer.size();
}

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
std::string ref_record(std::uint32_t index) {
  ByteBuffer b;
  put_ref_record(b, index);
  return bytes_of(b);
}
ValueRecord record_of(const std::string& bytes) {
  ByteReader in(bytes.data(), bytes.size());
  ValueRecord r = read_record(in);
  EXPECT_TRUE(in.done());
  return r;
}

// ---- Submit

// A task a worker's task submits: an inline argument, two ObjectRef arguments (in the other order
// than its dependencies), and a void-like empty inline one.
TaskSpec child_spec() {
  TaskSpec s;
  s.id = worker_made_id(3, 42);
  s.function_index = 5;
  s.function_check = 0xFEEDFACECAFEBEEFull;
  s.name = "child-7";
  s.num_cpus = 0.5;
  s.memory = 1ull << 20;
  s.max_retries = -1;
  s.deps = {11, worker_made_id(3, 41)};
  put_inline_record(s.args, Format::kMsgpack, 0x1122, "\x2a", 1);
  put_ref_record(s.args, 1);
  put_ref_record(s.args, 0);
  put_inline_record(s.args, Format::kVoid, 0, nullptr, 0);
  s.arg_count = 4;
  s.call_site = detail::CallSite::current();
  return s;
}

// A Submit body written by hand, so that it can be wrong.
std::string submit_body(const std::string& records, std::uint32_t arg_count,
                        const std::vector<ObjectId>& deps, std::uint32_t flags = 0) {
  ByteBuffer b;
  put_task_header(b, TaskHeader{5, 0xFEEDull, arg_count, flags});
  b.put(0.5);
  b.put(std::uint64_t{0});
  b.put(std::int32_t{3});
  b.put(std::uint64_t{0});  // not an actor's call
  put_string(b, "t");
  put_string(b, "");        // call site unknown
  b.put(std::uint8_t{0});   // retry_exceptions
  b.put(std::uint32_t{0});  // no exception types
  b.put(static_cast<std::uint32_t>(deps.size()));
  for (ObjectId id : deps) b.put(id);
  b.put(std::uint32_t{0});  // one return: no list
  b.put(std::uint32_t{0});  // no refs inside the arguments
  b.write(records.data(), records.size());
  return bytes_of(b);
}

TaskSpec read_submit(const std::string& body) {
  return decode_submit(frame_of(MessageType::kSubmit, body, 77));
}

TEST(TaskCalls, SubmitRoundTrips) {
  const TaskSpec sent = child_spec();
  const std::string whole = frame_bytes([&](ByteBuffer& b) { encode_submit(b, sent); });
  const Frame f = parsed(whole);
  EXPECT_EQ(f.header.type, MessageType::kSubmit);
  EXPECT_EQ(f.header.id, sent.id);

  std::string_view site;
  const TaskSpec got = decode_submit(f, &site);
  EXPECT_EQ(site, format_call_site(sent.call_site)) << "the remote() call's place, as text";
  EXPECT_THAT(std::string(site), HasSubstr("task_calls_test.cpp:"));
  EXPECT_EQ(got.id, sent.id);
  EXPECT_EQ(got.function_index, 5u);
  EXPECT_EQ(got.function_check, 0xFEEDFACECAFEBEEFull);
  EXPECT_EQ(got.name, "child-7");
  EXPECT_EQ(got.num_cpus, 0.5);
  EXPECT_EQ(got.memory, 1ull << 20);
  EXPECT_EQ(got.max_retries, -1);
  EXPECT_EQ(got.deps, sent.deps);
  EXPECT_EQ(got.arg_count, 4u);
  EXPECT_EQ(bytes_of(got.args), bytes_of(sent.args)) << "the records are copied as they are";

  // The records read back as they were written, refs unresolved.
  ByteReader in(got.args.data(), got.args.size());
  const ValueRecord a = read_record(in);
  EXPECT_EQ(a.kind, RecordKind::kInline);
  EXPECT_EQ(std::string(a.data, a.size), "\x2a");
  EXPECT_EQ(read_record(in).ref_index, 1u);
  EXPECT_EQ(read_record(in).ref_index, 0u);
  EXPECT_EQ(read_record(in).size, 0u);
  EXPECT_TRUE(in.done());
}

TEST(TaskCalls, SubmitWithoutArgumentsOrOptionsRoundTrips) {
  TaskSpec sent;
  sent.id = worker_made_id(0, 1);
  const std::string whole = frame_bytes([&](ByteBuffer& b) { encode_submit(b, sent); });
  const TaskSpec got = decode_submit(parsed(whole));
  EXPECT_EQ(got.id, sent.id);
  EXPECT_EQ(got.arg_count, 0u);
  EXPECT_EQ(got.args.size(), 0u);
  EXPECT_THAT(got.deps, IsEmpty());
  EXPECT_TRUE(got.name.empty());
  EXPECT_EQ(got.max_retries, 3);
  EXPECT_EQ(got.num_cpus, 1.0);
}

TEST(TaskCalls, SubmitRefIndexMustNameAListedDependency) {
  EXPECT_NO_THROW(read_submit(submit_body(ref_record(1), 1, {10, 20})));
  EXPECT_THROW(read_submit(submit_body(ref_record(2), 1, {10, 20})), DecodeError);
  EXPECT_THROW(read_submit(submit_body(ref_record(0), 1, {})), DecodeError);
  EXPECT_THROW(read_submit(submit_body(ref_record(0xFFFFFFFFu), 1, {10})), DecodeError);
  // The bad one after a good one.
  EXPECT_THROW(read_submit(submit_body(ref_record(0) + ref_record(1), 2, {10})), DecodeError);
}

TEST(TaskCalls, SubmitWithAStoreRecordIsRefused) {
  // A worker's arguments travel inline or as refs; a store offset it names would be read blindly.
  EXPECT_THROW(read_submit(submit_body(store_record(), 1, {})), DecodeError);
  EXPECT_THROW(read_submit(submit_body(inline_record("a") + store_record(), 2, {})), DecodeError);
}

TEST(TaskCalls, SubmitWithFlagsOrAWrongArgumentCountIsRefused) {
  const std::string records = inline_record("a") + ref_record(0);
  EXPECT_NO_THROW(read_submit(submit_body(records, 2, {10})));
  EXPECT_THROW(read_submit(submit_body(records, 2, {10}, kTaskNested)), DecodeError);
  EXPECT_THROW(read_submit(submit_body(records, 2, {10}, kTaskExpectedShort)), DecodeError);
  EXPECT_THROW(read_submit(submit_body(records, 3, {10})), DecodeError) << "a record missing";
  EXPECT_THROW(read_submit(submit_body(records, 1, {10})), DecodeError) << "a record too many";
  EXPECT_THROW(read_submit(submit_body(records, 0xFFFFFFFFu, {10})), DecodeError);
}

TEST(TaskCalls, SubmitWithMoreDependenciesThanItsBodyHoldsIsRefused) {
  std::string body = submit_body("", 0, {1, 2});
  // The dependency count sits right before the two ids, before the (empty) lists of returns and
  // held refs at the end of the body.
  const std::uint32_t huge = 0xFFFFFFFFu;
  std::memcpy(body.data() + body.size() - 4 - 4 - 2 * sizeof(ObjectId) - 4, &huge, 4);
  EXPECT_THROW(read_submit(body), DecodeError);
}

// ---- Put

TEST(TaskCalls, PutRoundTrips) {
  const ObjectId id = worker_made_id(2, 9);
  const std::string whole = frame_bytes(
      [&](ByteBuffer& b) { encode_put(b, id, Format::kRaw, 0x55, "hello\0world", 11, "f.cpp:3"); });
  const Frame f = parsed(whole);
  EXPECT_EQ(f.header.type, MessageType::kPut);
  EXPECT_EQ(f.header.id, id);
  const PutValue p = decode_put(f);
  EXPECT_EQ(p.object, id);
  EXPECT_EQ(p.call_site, "f.cpp:3");
  EXPECT_EQ(p.value.kind, RecordKind::kInline);
  EXPECT_EQ(p.value.format, Format::kRaw);
  EXPECT_EQ(p.value.type_hash, 0x55u);
  ASSERT_EQ(p.value.size, 11u);
  EXPECT_TRUE(inside(p.value.data, p.value.size, whole)) << "a view into the frame";
  EXPECT_EQ(std::string(p.value.data, p.value.size), std::string("hello\0world", 11));
}

TEST(TaskCalls, PutOfAnythingButAnInlineRecordIsRefused) {
  const std::string no_site(4, '\0');  // an empty call site string
  for (const std::string& body : {no_site + store_record(), no_site + ref_record(0)}) {
    EXPECT_THROW(decode_put(frame_of(MessageType::kPut, body, 1)), DecodeError);
  }
}

// ---- CreateObject, CreateReply

TEST(TaskCalls, CreateObjectAndItsReplyRoundTrip) {
  const CreateObject sent{31, worker_made_id(1, 5), Format::kRaw, 0x77, 1ull << 33, "g.cpp:9"};
  std::string whole = frame_bytes([&](ByteBuffer& b) { encode_create_object(b, sent); });
  Frame f = parsed(whole);
  EXPECT_EQ(f.header.type, MessageType::kCreateObject);
  EXPECT_EQ(f.header.id, 31u);
  const CreateObject got = decode_create_object(f);
  EXPECT_EQ(got.request, 31u);
  EXPECT_EQ(got.object, sent.object);
  EXPECT_EQ(got.call_site, "g.cpp:9");
  EXPECT_EQ(got.format, Format::kRaw);
  EXPECT_EQ(got.type_hash, 0x77u);
  EXPECT_EQ(got.size, 1ull << 33);

  for (const CreateReply& reply :
       {CreateReply{31, true, 4096}, CreateReply{32, false, 1ull << 30}}) {
    whole = frame_bytes([&](ByteBuffer& b) { encode_create_reply(b, reply); });
    f = parsed(whole);
    EXPECT_EQ(f.header.type, MessageType::kCreateReply);
    const CreateReply r = decode_create_reply(f);
    EXPECT_EQ(r.request, reply.request);
    EXPECT_EQ(r.ok, reply.ok);
    EXPECT_EQ(r.value, reply.value);
  }
}

TEST(TaskCalls, UnknownFormatOrCreateStatusIsRefused) {
  std::string body = body_of(frame_bytes([](ByteBuffer& b) {
    encode_create_object(b, CreateObject{1, 2, Format::kMsgpack, 3, 4});
  }));
  body[sizeof(ObjectId)] = 3;  // the format, after the object id
  EXPECT_THROW(decode_create_object(frame_of(MessageType::kCreateObject, body)), DecodeError);

  body = body_of(frame_bytes([](ByteBuffer& b) { encode_create_reply(b, {1, true, 64}); }));
  body[0] = 2;
  EXPECT_THROW(decode_create_reply(frame_of(MessageType::kCreateReply, body)), DecodeError);
}

// ---- Get, GetReply

TEST(TaskCalls, GetRoundTrips) {
  Get sent;
  sent.request = 8;
  sent.flags = kGetFailFast;
  sent.timeout_ns = 5'000'000'000;
  sent.ids = {1, worker_made_id(4, 2), 3};
  std::string whole = frame_bytes([&](ByteBuffer& b) { encode_get(b, sent); });
  Frame f = parsed(whole);
  EXPECT_EQ(f.header.type, MessageType::kGet);
  EXPECT_EQ(f.header.id, 8u);
  Get got = decode_get(f);
  EXPECT_EQ(got.request, 8u);
  EXPECT_EQ(got.flags, kGetFailFast);
  EXPECT_EQ(got.timeout_ns, 5'000'000'000);
  EXPECT_EQ(got.ids, sent.ids);

  whole = frame_bytes([](ByteBuffer& b) { encode_get(b, Get{9, 0, -1, {}}); });
  got = decode_get(parsed(whole));
  EXPECT_EQ(got.flags, 0);
  EXPECT_EQ(got.timeout_ns, -1);
  EXPECT_THAT(got.ids, IsEmpty());
}

TEST(TaskCalls, GetWithUnknownFlagsOrTooManyIdsIsRefused) {
  std::string body = body_of(frame_bytes([](ByteBuffer& b) { encode_get(b, Get{1, 0, -1, {5}}); }));
  for (const std::uint8_t flags : {2, 3, 0x80}) {
    body[0] = static_cast<char>(flags);
    EXPECT_THROW(decode_get(frame_of(MessageType::kGet, body)), DecodeError) << int{flags};
  }
  body[0] = 0;
  const std::uint32_t count = 2;  // one id in the body
  std::memcpy(body.data() + 1 + 8, &count, 4);
  EXPECT_THROW(decode_get(frame_of(MessageType::kGet, body)), DecodeError);
}

GetReply read_get_reply(const std::string& whole) {
  const Frame f = parsed(whole);
  EXPECT_EQ(f.header.type, MessageType::kGetReply);
  return decode_get_reply(f);
}

TEST(TaskCalls, GetReplyOkRoundTripsWithInlineAndStoreValues) {
  const std::string a = inline_record("value a", Format::kMsgpack, 0xA);
  const std::string s = store_record();
  const std::string v = inline_record("", Format::kVoid, 0);
  GetReply sent;
  sent.request = 12;
  sent.values = {record_of(a), record_of(s), record_of(v)};
  const std::string whole = frame_bytes([&](ByteBuffer& b) { encode_get_reply(b, sent); });
  const GetReply got = read_get_reply(whole);
  EXPECT_EQ(got.request, 12u);
  EXPECT_EQ(got.status, ReplyStatus::kOk);
  ASSERT_EQ(got.values.size(), 3u);
  EXPECT_EQ(got.values[0].kind, RecordKind::kInline);
  EXPECT_EQ(got.values[0].type_hash, 0xAu);
  EXPECT_TRUE(inside(got.values[0].data, got.values[0].size, whole));
  EXPECT_EQ(std::string(got.values[0].data, got.values[0].size), "value a");
  EXPECT_EQ(got.values[1].kind, RecordKind::kStore);
  EXPECT_EQ(got.values[1].format, Format::kRaw);
  EXPECT_EQ(got.values[1].offset, 1ull << 40);
  EXPECT_EQ(got.values[1].size, 123456789ull);
  EXPECT_EQ(got.values[2].format, Format::kVoid);
  EXPECT_EQ(got.values[2].size, 0u);

  GetReply empty;
  empty.request = 13;
  EXPECT_THAT(
      read_get_reply(frame_bytes([&](ByteBuffer& b) { encode_get_reply(b, empty); })).values,
      IsEmpty());
}

TEST(TaskCalls, GetReplyHoldingARefIsRefused) {
  const std::string r = ref_record(0);
  const std::string x = inline_record("x");  // the records are views: their bytes must live
  GetReply sent;
  sent.values = {record_of(x), record_of(r)};
  const std::string whole = frame_bytes([&](ByteBuffer& b) { encode_get_reply(b, sent); });
  EXPECT_THROW(read_get_reply(whole), DecodeError);
}

// Every field of the error record set, three holders, and the frames form of a backtrace.
ErrorInfo full_error() {
  ErrorInfo e;
  e.kind = ErrorInfo::Kind::kStoreFull;
  e.type_name = "shoal::ObjectStoreFullError";
  e.what = "the store is full";
  e.function = "make_image";
  e.pid = -4242;
  e.in_process = true;
  e.attempts = 3;
  e.signal = 9;
  e.exit_code = -1;
  e.requested = 1ull << 33;
  e.capacity = 1ull << 30;
  e.holders = {{7, 1ull << 29, "put()"}, {worker_made_id(1, 2), 64, ""}, {9, 0, "rotate"}};
  e.backtrace = std::make_shared<const detail::TaskBacktrace>(
      ModuleFrames{{"", "/usr/lib/libx.so"}, {{0, 0x10}, {1, 0x20}, {ModuleFrames::kNoModule, 7}}});
  return e;
}

ErrorInfo error_round_trip(const ErrorInfo& sent) {
  ByteBuffer b;
  put_error_record(b, sent);
  ByteReader in(b.data(), b.size());
  ErrorInfo got = read_error_record(in);
  EXPECT_TRUE(in.done());
  return got;
}

TEST(TaskCalls, ErrorRecordRoundTripsEveryField) {
  const ErrorInfo sent = full_error();
  const ErrorInfo got = error_round_trip(sent);
  EXPECT_EQ(got.kind, ErrorInfo::Kind::kStoreFull);
  EXPECT_EQ(got.type_name, sent.type_name);
  EXPECT_EQ(got.what, sent.what);
  EXPECT_EQ(got.function, sent.function);
  EXPECT_EQ(got.pid, -4242);
  EXPECT_TRUE(got.in_process);
  EXPECT_EQ(got.attempts, 3);
  EXPECT_EQ(got.signal, 9);
  EXPECT_EQ(got.exit_code, -1);
  EXPECT_EQ(got.requested, 1ull << 33);
  EXPECT_EQ(got.capacity, 1ull << 30);
  ASSERT_EQ(got.holders.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got.holders[i].object_id, sent.holders[i].object_id) << i;
    EXPECT_EQ(got.holders[i].size_bytes, sent.holders[i].size_bytes) << i;
    EXPECT_EQ(got.holders[i].created_by, sent.holders[i].created_by) << i;
  }
  // The frames travel as frames: the receiver names them in its own address space.
  ASSERT_NE(got.backtrace, nullptr);
  const ModuleFrames& frames = got.backtrace->frames();
  EXPECT_EQ(frames.modules, sent.backtrace->frames().modules);
  ASSERT_EQ(frames.frames.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(frames.frames[i].module, sent.backtrace->frames().frames[i].module) << i;
    EXPECT_EQ(frames.frames[i].offset, sent.backtrace->frames().frames[i].offset) << i;
  }
}

TEST(TaskCalls, ErrorRecordRoundTripsEachKindAndBacktraceForm) {
  for (const ErrorInfo::Kind kind :
       {ErrorInfo::Kind::kTaskError, ErrorInfo::Kind::kWorkerCrashed, ErrorInfo::Kind::kStoreFull,
        ErrorInfo::Kind::kShutdown, ErrorInfo::Kind::kCancelled}) {
    ErrorInfo e;
    e.kind = kind;
    e.what = "w";
    const ErrorInfo got = error_round_trip(e);
    EXPECT_EQ(got.kind, kind);
    EXPECT_EQ(got.backtrace, nullptr) << "no backtrace sent, none received";
    EXPECT_THAT(got.holders, IsEmpty());
    EXPECT_EQ(got.exit_code, -1);
  }

  // A backtrace made from a text (TaskError's public constructor) travels as its text.
  ErrorInfo text;
  text.backtrace = std::make_shared<const detail::TaskBacktrace>(std::string("#0 f()\n#1 main\n"));
  ErrorInfo got = error_round_trip(text);
  ASSERT_NE(got.backtrace, nullptr);
  EXPECT_TRUE(got.backtrace->frames().empty());
  EXPECT_EQ(got.backtrace->text(), "#0 f()\n#1 main\n");

  // An empty text is no backtrace at all.
  text.backtrace = std::make_shared<const detail::TaskBacktrace>(std::string());
  EXPECT_EQ(error_round_trip(text).backtrace, nullptr);
}

TEST(TaskCalls, GetReplyFailedCarriesTheErrorRecord) {
  GetReply sent;
  sent.request = 14;
  sent.status = ReplyStatus::kFailed;
  sent.error = full_error();
  const GetReply got =
      read_get_reply(frame_bytes([&](ByteBuffer& b) { encode_get_reply(b, sent); }));
  EXPECT_EQ(got.request, 14u);
  EXPECT_EQ(got.status, ReplyStatus::kFailed);
  EXPECT_EQ(got.error.kind, ErrorInfo::Kind::kStoreFull);
  EXPECT_EQ(got.error.what, "the store is full");
  EXPECT_EQ(got.error.holders.size(), 3u);
  ASSERT_NE(got.error.backtrace, nullptr);
  EXPECT_EQ(got.error.backtrace->frames().frames.size(), 3u);
  EXPECT_THAT(got.values, IsEmpty());
}

TEST(TaskCalls, GetReplyTimeoutAndRefusalsRoundTrip) {
  GetReply timeout;
  timeout.request = 15;
  timeout.status = ReplyStatus::kTimeout;
  timeout.not_ready = 3;
  GetReply got = read_get_reply(frame_bytes([&](ByteBuffer& b) { encode_get_reply(b, timeout); }));
  EXPECT_EQ(got.status, ReplyStatus::kTimeout);
  EXPECT_EQ(got.not_ready, 3u);

  for (const RefusalKind kind :
       {RefusalKind::kError, RefusalKind::kInvalidObjectRef, RefusalKind::kInvalidConfig}) {
    GetReply refused;
    refused.request = 16;
    refused.status = ReplyStatus::kRefused;
    refused.refusal = {kind, "shoal: refused, kind " + std::to_string(static_cast<int>(kind))};
    got = read_get_reply(frame_bytes([&](ByteBuffer& b) { encode_get_reply(b, refused); }));
    EXPECT_EQ(got.request, 16u);
    EXPECT_EQ(got.status, ReplyStatus::kRefused);
    EXPECT_EQ(got.refusal.kind, kind);
    EXPECT_EQ(got.refusal.message, refused.refusal.message);
  }
}

TEST(TaskCalls, UnknownStatusesKindsAndBacktraceFormsAreRefused) {
  const auto get_reply = [](const std::string& body) {
    decode_get_reply(frame_of(MessageType::kGetReply, body));
  };
  GetReply refused;
  refused.status = ReplyStatus::kRefused;
  refused.refusal = {RefusalKind::kError, "no"};
  std::string body = body_of(frame_bytes([&](ByteBuffer& b) { encode_get_reply(b, refused); }));
  EXPECT_NO_THROW(get_reply(body));
  for (const std::uint8_t status : {4, 0xFF}) {
    body[0] = static_cast<char>(status);
    EXPECT_THROW(get_reply(body), DecodeError) << "status " << int{status};
  }
  body[0] = static_cast<char>(ReplyStatus::kRefused);
  body[1] = 6;  // the refusal's kind (5 is kTypeMismatch, the last)
  EXPECT_THROW(get_reply(body), DecodeError);

  // The error record: its kind is its first byte, its backtrace form its last but the text.
  ErrorInfo text;
  text.backtrace = std::make_shared<const detail::TaskBacktrace>(std::string("bt"));
  ByteBuffer record;
  put_error_record(record, text);
  std::string bytes = bytes_of(record);
  const auto read = [](const std::string& s) {
    ByteReader in(s.data(), s.size());
    read_error_record(in);
  };
  EXPECT_NO_THROW(read(bytes));
  bytes[0] = 7;  // 6 is kNodeDied, the last
  EXPECT_THROW(read(bytes), DecodeError) << "unknown error kind";
  bytes[0] = 0;
  // u8 form | u32 length | "bt" | u8 actor cause | u32 length of "" (the constructor error) |
  // i32 node rank
  const std::size_t cause = bytes.size() - 4 - 4 - 1;
  const std::size_t form = cause - 2 - 4 - 1;
  ASSERT_EQ(bytes[cause], 0);
  bytes[cause] = 5;
  EXPECT_THROW(read(bytes), DecodeError) << "unknown actor death cause";
  bytes[cause] = 0;
  ASSERT_EQ(bytes[form], 2);
  bytes[form] = 3;
  EXPECT_THROW(read(bytes), DecodeError) << "unknown backtrace form";
}

TEST(TaskCalls, ErrorRecordWithMoreHoldersThanItsBodyHoldsIsRefused) {
  ErrorInfo e;
  e.holders = {{1, 2, "x"}};
  ByteBuffer record;
  put_error_record(record, e);
  std::string bytes = bytes_of(record);
  // u32 holder_count | u64 id | u64 size | u32 + "x" | u8 backtrace form | u8 actor cause |
  // u32 + "" | i32 node rank: the count is 35 from the end.
  const std::size_t at = bytes.size() - 4 - 4 - 1 - 1 - (4 + 1) - 8 - 8 - 4;
  std::uint32_t count = 0;
  std::memcpy(&count, bytes.data() + at, 4);
  ASSERT_EQ(count, 1u);
  for (const std::uint32_t bad : {2u, 0x10000000u, 0xFFFFFFFFu}) {
    std::memcpy(bytes.data() + at, &bad, 4);
    ByteReader in(bytes.data(), bytes.size());
    EXPECT_THROW(read_error_record(in), DecodeError) << bad;
  }
}

// ---- Wait, WaitReply

TEST(TaskCalls, WaitRoundTrips) {
  const Wait sent{21, 2, 1'000'000, {4, 5, 6}};
  const std::string whole = frame_bytes([&](ByteBuffer& b) { encode_wait(b, sent); });
  const Frame f = parsed(whole);
  EXPECT_EQ(f.header.type, MessageType::kWait);
  EXPECT_EQ(f.header.id, 21u);
  const Wait got = decode_wait(f);
  EXPECT_EQ(got.request, 21u);
  EXPECT_EQ(got.num_returns, 2u);
  EXPECT_EQ(got.timeout_ns, 1'000'000);
  EXPECT_EQ(got.ids, sent.ids);
}

TEST(TaskCalls, WaitForMoreObjectsThanItNamesIsRefused) {
  const auto wait = [](const Wait& m) {
    const std::string whole = frame_bytes([&](ByteBuffer& b) { encode_wait(b, m); });
    return decode_wait(parsed(whole));
  };
  EXPECT_EQ(wait(Wait{1, 3, -1, {4, 5, 6}}).num_returns, 3u);
  EXPECT_EQ(wait(Wait{1, 0, -1, {}}).num_returns, 0u);
  EXPECT_THROW(wait(Wait{1, 4, -1, {4, 5, 6}}), DecodeError);
  EXPECT_THROW(wait(Wait{1, 1, -1, {}}), DecodeError);
  EXPECT_THROW(wait(Wait{1, 0xFFFFFFFFu, -1, {4}}), DecodeError);
}

WaitReply read_wait_reply(const std::string& whole) {
  const Frame f = parsed(whole);
  EXPECT_EQ(f.header.type, MessageType::kWaitReply);
  return decode_wait_reply(f);
}

TEST(TaskCalls, WaitReplyRoundTrips) {
  WaitReply sent;
  sent.request = 22;
  sent.ready = {true, false, true, false};
  WaitReply got = read_wait_reply(frame_bytes([&](ByteBuffer& b) { encode_wait_reply(b, sent); }));
  EXPECT_EQ(got.request, 22u);
  EXPECT_EQ(got.status, ReplyStatus::kOk);
  EXPECT_EQ(got.ready, sent.ready);

  sent.ready.clear();
  got = read_wait_reply(frame_bytes([&](ByteBuffer& b) { encode_wait_reply(b, sent); }));
  EXPECT_THAT(got.ready, IsEmpty());

  WaitReply refused;
  refused.request = 23;
  refused.status = ReplyStatus::kRefused;
  refused.refusal = {RefusalKind::kInvalidObjectRef, "shoal: unknown object 5"};
  got = read_wait_reply(frame_bytes([&](ByteBuffer& b) { encode_wait_reply(b, refused); }));
  EXPECT_EQ(got.status, ReplyStatus::kRefused);
  EXPECT_EQ(got.refusal.kind, RefusalKind::kInvalidObjectRef);
  EXPECT_EQ(got.refusal.message, "shoal: unknown object 5");
}

TEST(TaskCalls, WaitReplyWithAGetOnlyOrUnknownStatusIsRefused) {
  WaitReply refused;
  refused.status = ReplyStatus::kRefused;
  refused.refusal = {RefusalKind::kError, "x"};
  std::string body = body_of(frame_bytes([&](ByteBuffer& b) { encode_wait_reply(b, refused); }));
  for (const ReplyStatus status : {ReplyStatus::kFailed, ReplyStatus::kTimeout}) {
    body[0] = static_cast<char>(status);
    EXPECT_THROW(decode_wait_reply(frame_of(MessageType::kWaitReply, body)), DecodeError);
  }
  body[0] = 4;
  EXPECT_THROW(decode_wait_reply(frame_of(MessageType::kWaitReply, body)), DecodeError);

  // More ready flags than bytes.
  WaitReply ok;
  ok.ready = {true};
  body = body_of(frame_bytes([&](ByteBuffer& b) { encode_wait_reply(b, ok); }));
  const std::uint32_t count = 2;
  std::memcpy(body.data() + 1, &count, 4);
  EXPECT_THROW(decode_wait_reply(frame_of(MessageType::kWaitReply, body)), DecodeError);
}

// ---- Release, Revoke

TEST(TaskCalls, IdListsRoundTrip) {
  for (const MessageType type : {MessageType::kRelease, MessageType::kRevoke}) {
    for (const std::vector<ObjectId>& ids :
         {std::vector<ObjectId>{}, std::vector<ObjectId>{1, worker_made_id(5, 6), ~0ull}}) {
      const std::string whole = frame_bytes([&](ByteBuffer& b) { encode_id_list(b, type, ids); });
      const Frame f = parsed(whole);
      EXPECT_EQ(f.header.type, type);
      EXPECT_EQ(f.header.id, 0u);
      EXPECT_EQ(decode_id_list(f), ids) << message_type_name(type);
    }
  }
}

// ---- Info, InfoReply

TEST(TaskCalls, InfoRoundTripsEachKind) {
  for (const InfoKind kind :
       {InfoKind::kClusterResources, InfoKind::kAvailableResources, InfoKind::kStats}) {
    const std::string whole = frame_bytes([&](ByteBuffer& b) { encode_info(b, 41, kind); });
    const Frame f = parsed(whole);
    EXPECT_EQ(f.header.type, MessageType::kInfo);
    EXPECT_EQ(f.header.id, 41u);
    EXPECT_EQ(decode_info(f), kind);
  }
  const std::string body(1, '\x03');
  EXPECT_THROW(decode_info(frame_of(MessageType::kInfo, body)), DecodeError);
}

InfoReply read_info_reply(const std::string& whole) {
  const Frame f = parsed(whole);
  EXPECT_EQ(f.header.type, MessageType::kInfoReply);
  return decode_info_reply(f);
}

TEST(TaskCalls, InfoReplyRoundTrips) {
  InfoReply sent;
  sent.request = 42;
  sent.values = {{"CPU", 2}, {"memory", 1.5e9}, {"node:127.0.0.1", 1}, {"", -0.25}};
  InfoReply got = read_info_reply(frame_bytes([&](ByteBuffer& b) { encode_info_reply(b, sent); }));
  EXPECT_EQ(got.request, 42u);
  EXPECT_EQ(got.status, ReplyStatus::kOk);
  EXPECT_EQ(got.values, sent.values);

  InfoReply refused;
  refused.request = 43;
  refused.status = ReplyStatus::kRefused;
  refused.refusal = {RefusalKind::kError, "shoal: the session is shutting down"};
  got = read_info_reply(frame_bytes([&](ByteBuffer& b) { encode_info_reply(b, refused); }));
  EXPECT_EQ(got.status, ReplyStatus::kRefused);
  EXPECT_THAT(got.values, IsEmpty());
  EXPECT_EQ(got.refusal.message, refused.refusal.message);
}

TEST(TaskCalls, InfoReplyWithAGetOnlyStatusOrTooManyValuesIsRefused) {
  InfoReply ok;
  ok.values = {{"CPU", 2}};
  std::string body = body_of(frame_bytes([&](ByteBuffer& b) { encode_info_reply(b, ok); }));
  EXPECT_NO_THROW(decode_info_reply(frame_of(MessageType::kInfoReply, body)));
  for (const std::uint8_t status : {1, 2, 4}) {
    std::string bad = body;
    bad[0] = static_cast<char>(status);
    EXPECT_THROW(decode_info_reply(frame_of(MessageType::kInfoReply, bad)), DecodeError)
        << int{status};
  }
  const std::uint32_t count = 0xFFFFFFFFu;
  std::memcpy(body.data() + 1, &count, 4);
  EXPECT_THROW(decode_info_reply(frame_of(MessageType::kInfoReply, body)), DecodeError);
}

// ---- Session

TEST(TaskCalls, SessionRoundTrips) {
  for (const bool fresh : {false, true}) {
    TaskLimits sent;
    sent.cpus = 1.5;
    sent.memory = 1ull << 34;
    sent.default_max_retries = -1;
    sent.known_functions = 17;
    sent.functions_from_fresh_start = fresh;
    const std::string whole = frame_bytes([&](ByteBuffer& b) { encode_session(b, sent); });
    const Frame f = parsed(whole);
    EXPECT_EQ(f.header.type, MessageType::kSession);
    EXPECT_EQ(f.header.id, 0u);
    const TaskLimits got = decode_session(f);
    EXPECT_EQ(got.cpus, 1.5);
    EXPECT_EQ(got.memory, 1ull << 34);
    EXPECT_EQ(got.default_max_retries, -1);
    EXPECT_EQ(got.known_functions, 17u);
    EXPECT_EQ(got.functions_from_fresh_start, fresh);
  }
}

// ---- ActorStart, and an actor's call in Submit

TEST(TaskCalls, ActorStartRoundTripsAndChecksItsConcurrency) {
  const std::string whole = frame_bytes([](ByteBuffer& b) {
    encode_actor_start(b, ActorStart{77, 8, true});
  });
  const ActorStart got = decode_actor_start(parsed(whole));
  EXPECT_EQ(got.actor, 77u);
  EXPECT_EQ(got.max_concurrency, 8u);
  EXPECT_TRUE(got.restarted);
  for (const std::uint32_t bad : {0u, 1025u}) {
    const std::string frame = frame_bytes([&](ByteBuffer& b) {
      encode_actor_start(b, ActorStart{77, bad, false});
    });
    EXPECT_THROW(decode_actor_start(parsed(frame)), DecodeError) << bad;
  }
}

TEST(TaskCalls, SubmitCarriesTheActorItCalls) {
  TaskSpec sent = child_spec();
  sent.actor = 0x1234;
  const std::string whole = frame_bytes([&](ByteBuffer& b) { encode_submit(b, sent); });
  EXPECT_EQ(decode_submit(parsed(whole)).actor, 0x1234u);
}

// ---- every message: no truncation decodes, and no trailing byte is accepted

struct Case {
  const char* name;
  std::string whole;  // a valid frame
  std::function<void(const Frame&)> decode;
};

std::vector<Case> every_message() {
  std::vector<Case> cases;
  const auto add = [&](const char* name, std::string whole, std::function<void(const Frame&)> d) {
    cases.push_back(Case{name, std::move(whole), std::move(d)});
  };
  add("submit", frame_bytes([](ByteBuffer& b) { encode_submit(b, child_spec()); }),
      [](const Frame& f) { decode_submit(f); });
  add("put", frame_bytes([](ByteBuffer& b) { encode_put(b, 1, Format::kRaw, 2, "abc", 3, ""); }),
      [](const Frame& f) { decode_put(f); });
  add("create object", frame_bytes([](ByteBuffer& b) {
        encode_create_object(b, CreateObject{1, 2, Format::kRaw, 3, 4});
      }),
      [](const Frame& f) { decode_create_object(f); });
  add("create reply", frame_bytes([](ByteBuffer& b) {
        encode_create_reply(b, {1, true, 64});
      }),
      [](const Frame& f) { decode_create_reply(f); });
  add("get", frame_bytes([](ByteBuffer& b) {
        encode_get(b, Get{1, kGetFailFast, 9, {4, 5}});
      }),
      [](const Frame& f) { decode_get(f); });
  const std::string inline_a = inline_record("abc");
  const std::string store = store_record();
  add("get reply ok", frame_bytes([&](ByteBuffer& b) {
        GetReply r;
        r.values = {record_of(inline_a), record_of(store)};
        encode_get_reply(b, r);
      }),
      [](const Frame& f) { decode_get_reply(f); });
  add("get reply failed", frame_bytes([](ByteBuffer& b) {
        GetReply r;
        r.status = ReplyStatus::kFailed;
        r.error = full_error();
        encode_get_reply(b, r);
      }),
      [](const Frame& f) { decode_get_reply(f); });
  add("get reply failed, text backtrace", frame_bytes([](ByteBuffer& b) {
        GetReply r;
        r.status = ReplyStatus::kFailed;
        r.error.what = "boom";
        r.error.backtrace = std::make_shared<const detail::TaskBacktrace>(std::string("#0 f\n"));
        encode_get_reply(b, r);
      }),
      [](const Frame& f) { decode_get_reply(f); });
  add("get reply timeout", frame_bytes([](ByteBuffer& b) {
        GetReply r;
        r.status = ReplyStatus::kTimeout;
        r.not_ready = 2;
        encode_get_reply(b, r);
      }),
      [](const Frame& f) { decode_get_reply(f); });
  add("get reply refused", frame_bytes([](ByteBuffer& b) {
        GetReply r;
        r.status = ReplyStatus::kRefused;
        r.refusal = {RefusalKind::kInvalidConfig, "bad"};
        encode_get_reply(b, r);
      }),
      [](const Frame& f) { decode_get_reply(f); });
  add("wait", frame_bytes([](ByteBuffer& b) {
        encode_wait(b, Wait{1, 1, -1, {4, 5}});
      }),
      [](const Frame& f) { decode_wait(f); });
  add("wait reply", frame_bytes([](ByteBuffer& b) {
        WaitReply r;
        r.ready = {true, false};
        encode_wait_reply(b, r);
      }),
      [](const Frame& f) { decode_wait_reply(f); });
  add("wait reply refused", frame_bytes([](ByteBuffer& b) {
        WaitReply r;
        r.status = ReplyStatus::kRefused;
        r.refusal = {RefusalKind::kError, "no"};
        encode_wait_reply(b, r);
      }),
      [](const Frame& f) { decode_wait_reply(f); });
  add("release", frame_bytes([](ByteBuffer& b) {
        encode_id_list(b, MessageType::kRelease, {1, 2});
      }),
      [](const Frame& f) { decode_id_list(f); });
  add("revoke", frame_bytes([](ByteBuffer& b) { encode_id_list(b, MessageType::kRevoke, {3}); }),
      [](const Frame& f) { decode_id_list(f); });
  add("info", frame_bytes([](ByteBuffer& b) { encode_info(b, 1, InfoKind::kStats); }),
      [](const Frame& f) { decode_info(f); });
  add("info reply", frame_bytes([](ByteBuffer& b) {
        InfoReply r;
        r.values = {{"CPU", 2}, {"memory", 3}};
        encode_info_reply(b, r);
      }),
      [](const Frame& f) { decode_info_reply(f); });
  add("info reply refused", frame_bytes([](ByteBuffer& b) {
        InfoReply r;
        r.status = ReplyStatus::kRefused;
        r.refusal = {RefusalKind::kError, "no"};
        encode_info_reply(b, r);
      }),
      [](const Frame& f) { decode_info_reply(f); });
  add("session", frame_bytes([](ByteBuffer& b) {
        encode_session(b, TaskLimits{2, 1 << 20});
      }),
      [](const Frame& f) { decode_session(f); });
  add("cancel", frame_bytes([](ByteBuffer& b) {
        encode_cancel(b, Cancel{3, true, false});
      }),
      [](const Frame& f) { decode_cancel(f); });
  add("actor start", frame_bytes([](ByteBuffer& b) {
        encode_actor_start(b, ActorStart{9, 3, true});
      }),
      [](const Frame& f) { decode_actor_start(f); });
  return cases;
}

TEST(TaskCalls, CancelAndCancelTaskRoundTrip) {
  for (const bool force : {false, true}) {
    for (const bool recursive : {false, true}) {
      const std::string whole = frame_bytes([&](ByteBuffer& b) {
        encode_cancel(b, Cancel{77, force, recursive});
      });
      const Frame f = parsed(whole);
      EXPECT_EQ(f.header.type, MessageType::kCancel);
      const Cancel got = decode_cancel(f);
      EXPECT_EQ(got.task, 77u);
      EXPECT_EQ(got.force, force);
      EXPECT_EQ(got.recursive, recursive);
    }
  }
  const std::string whole = frame_bytes([](ByteBuffer& b) { encode_cancel_task(b, 78); });
  const Frame f = parsed(whole);
  EXPECT_EQ(f.header.type, MessageType::kCancelTask);
  EXPECT_EQ(decode_cancel_task(f), 78u);
}

TEST(TaskCalls, EveryTruncationIsADecodeError) {
  for (const Case& c : every_message()) {
    const Frame whole = parsed(c.whole);
    ASSERT_NO_THROW(c.decode(whole)) << c.name;
    const std::string body = body_of(c.whole);
    for (std::size_t n = 0; n < body.size(); ++n) {
      // A fresh copy of exactly n bytes, so a read past the end is caught by ASan too.
      const std::string prefix = body.substr(0, n);
      EXPECT_THROW(c.decode(frame_of(whole.header.type, prefix, whole.header.id)), DecodeError)
          << c.name << " cut to " << n << " bytes";
    }
  }
}

TEST(TaskCalls, TrailingBytesAreADecodeError) {
  for (const Case& c : every_message()) {
    const Frame whole = parsed(c.whole);
    for (const std::string& extra : {std::string(1, '\0'), std::string(8, 'x')}) {
      const std::string body = body_of(c.whole) + extra;
      EXPECT_THROW(c.decode(frame_of(whole.header.type, body, whole.header.id)), DecodeError)
          << c.name << " with " << extra.size() << " extra bytes";
    }
  }
}

// ---- the ids a worker makes for what its tasks create (src/common/ids.hpp)

TEST(WorkerMadeIds, NameTheirWorkerAndNeverADriverId) {
  const ObjectId id = worker_made_id(3, 42);
  EXPECT_NE(id & kWorkerMadeBit, 0u);
  EXPECT_TRUE(made_by_worker(id, 3));
  EXPECT_FALSE(made_by_worker(id, 2));
  EXPECT_FALSE(made_by_worker(id, 4));
  EXPECT_NE(worker_made_id(3, 43), id);
  EXPECT_NE(worker_made_id(4, 42), id);
  // The driver's own ids (new_object_id(): a counter from 1) belong to no worker.
  for (const ObjectId driver_id : {ObjectId{1}, ObjectId{42}, kWorkerMadeBit - 1}) {
    EXPECT_FALSE(made_by_worker(driver_id, 0)) << driver_id;
    EXPECT_FALSE(made_by_worker(driver_id, 3)) << driver_id;
  }
  // The count stays in its 40 bits: it never spills into the worker's.
  const std::uint64_t last = (std::uint64_t{1} << kWorkerMadeCountBits) - 1;
  EXPECT_TRUE(made_by_worker(worker_made_id(3, last), 3));
  EXPECT_TRUE(made_by_worker(worker_made_id(3, last + 1), 3));
  EXPECT_TRUE(made_by_worker(worker_made_id(kMaxWorkerMadeWorker, 7), kMaxWorkerMadeWorker));
  EXPECT_FALSE(made_by_worker(worker_made_id(kMaxWorkerMadeWorker, 7), 0));
  EXPECT_FALSE(made_by_worker(worker_made_id(0, 7), kMaxWorkerMadeWorker));
}

}  // namespace
}  // namespace shoal::internal
