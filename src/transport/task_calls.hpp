// The messages of tasks that start tasks: the calls a running task makes to the driver (remote(),
// put(), get(), wait(), dropping refs, resources) and the driver's answers, with one encoder and
// one decoder each, as in protocol.hpp (whose table lists their numbers; docs/protocol.md has the
// grammar and the conversations). Decoders check every length: bodies come from another process.
//
// The driver owns every object (Ray's ownership model with the driver as the only owner): a worker
// names new tasks and objects itself (worker_made_id(), src/common/ids.hpp), so Submit and Put
// need no answer; requests that do (CreateObject, Get, Wait, Info) carry a request id the answer
// echoes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>

#include "src/common/byte_reader.hpp"
#include "src/common/error_info.hpp"
#include "src/common/ids.hpp"
#include "src/common/task_spec.hpp"
#include "src/transport/frame.hpp"
#include "src/transport/protocol.hpp"

namespace shoal::internal {

// ---- Submit: task header | f64 num_cpus | u64 memory | i32 max_retries | u64 actor (0: a task;
//      else a call to that actor, whose object id it is) | string name |
//      u8 retry_exceptions | u32 type_count | type_count x u64 exception type hash |
//      string call_site (the remote() call: "file:line (function)", "" if unknown) |
//      u32 dep_count | dep_count x u64 object id | u32 return_count | return_count x u64 object
//      id (none: one return, the task's id; else 2 or more, the first the task's id) |
//      u32 held_count | held_count x u64 object id (refs inside by-value arguments) |
//      arg_count value records (kind 1 or 3; a ref record's index is below dep_count)
/// Encodes `spec` (its id set) as a Submit frame; its call site is spec.call_site.
void encode_submit(detail::ByteBuffer& out, const TaskSpec& spec);
/// The spec, with its args copied from the frame. The function is not looked up here. The call
/// site's text goes to `call_site` (a view into the frame).
TaskSpec decode_submit(const Frame& f, std::string_view* call_site = nullptr);

/// The text a message carries for `site` (format_call_site()), cached for the calling thread's
/// last site: a loop of remote() calls formats it once.
const std::string& call_site_text(const detail::CallSite& site);

// ---- Put: string call_site | one inline value record. The object is ready at once.
struct PutValue {
  ObjectId object = 0;
  std::string_view call_site;  // the put() call; a view into the frame
  ValueRecord value;           // kind 1; a view into the frame
};
void encode_put(detail::ByteBuffer& out, ObjectId object, detail::Format format,
                std::uint64_t type_hash, const char* data, std::size_t size,
                const std::string& call_site);
PutValue decode_put(const Frame& f);

// ---- CreateObject: u64 object id | u8 format | u64 type_hash | u64 size | string call_site
struct CreateObject {
  std::uint64_t request = 0;
  ObjectId object = 0;
  detail::Format format = detail::Format::kVoid;
  std::uint64_t type_hash = 0;
  std::uint64_t size = 0;
  std::string call_site;  // the put() or remote() that made it
};
void encode_create_object(detail::ByteBuffer& out, const CreateObject& m);
CreateObject decode_create_object(const Frame& f);

// ---- CreateReply: u8 ok | u64 offset (ok) or capacity (not ok)
struct CreateReply {
  std::uint64_t request = 0;
  bool ok = false;
  std::uint64_t value = 0;
};
void encode_create_reply(detail::ByteBuffer& out, const CreateReply& m);
CreateReply decode_create_reply(const Frame& f);

// ---- Get: u8 flags | i64 timeout_ns | u32 count | count x u64 object id
/// get() of a list: answer as soon as one object has failed (Ray's rule).
constexpr std::uint8_t kGetFailFast = 1;
struct Get {
  std::uint64_t request = 0;
  std::uint8_t flags = 0;
  std::int64_t timeout_ns = -1;  // < 0: no limit
  std::vector<ObjectId> ids;
};
void encode_get(detail::ByteBuffer& out, const Get& m);
Get decode_get(const Frame& f);

/// How a request ended, when it did not end with what was asked for.
enum class ReplyStatus : std::uint8_t {
  kOk = 0,       // the answer follows
  kFailed = 1,   // get(): an object failed; an error record follows
  kTimeout = 2,  // get(): u32 count of objects not ready
  kRefused = 3,  // u8 RefusalKind | string message
};
/// Which exception a refusal is thrown as.
enum class RefusalKind : std::uint8_t {
  kError = 0,             // shoal::Error (the session broke or is shutting down, ...)
  kInvalidObjectRef = 1,  // InvalidObjectRefError (an object the driver does not know)
  kInvalidConfig = 2,     // InvalidConfigError (bad arguments)
  kCancelled = 3,         // TaskCancelledError (the calling task was cancelled)
  kDeadlock = 4,          // DeadlockError (an actor's call waits for a call queued behind it)
  kTypeMismatch = 5,      // TypeMismatchError (get_actor() of another class)
};
struct Refusal {
  RefusalKind kind = RefusalKind::kError;
  std::string message;
};

// ---- GetReply: u8 status | by status: kOk: u32 count | count x value record (kind 1 or 2);
//      kFailed: error record; kTimeout: u32 not_ready; kRefused: refusal
struct GetReply {
  std::uint64_t request = 0;
  ReplyStatus status = ReplyStatus::kOk;
  std::vector<ValueRecord> values;  // kOk; views into the frame when decoded
  ErrorInfo error;                  // kFailed
  std::uint32_t not_ready = 0;      // kTimeout
  Refusal refusal;                  // kRefused
};
void encode_get_reply(detail::ByteBuffer& out, const GetReply& m);
GetReply decode_get_reply(const Frame& f);

// ---- Wait: u32 num_returns | i64 timeout_ns | u32 count | count x u64 object id
struct Wait {
  std::uint64_t request = 0;
  std::uint32_t num_returns = 1;
  std::int64_t timeout_ns = -1;
  std::vector<ObjectId> ids;
};
void encode_wait(detail::ByteBuffer& out, const Wait& m);
Wait decode_wait(const Frame& f);

// ---- WaitReply: u8 status | kOk: u32 count | count x u8 ready; kRefused: refusal
struct WaitReply {
  std::uint64_t request = 0;
  ReplyStatus status = ReplyStatus::kOk;
  std::vector<bool> ready;
  Refusal refusal;
};
void encode_wait_reply(detail::ByteBuffer& out, const WaitReply& m);
WaitReply decode_wait_reply(const Frame& f);

// ---- Release, Revoke, AddRef, Contain: u32 count | count x u64 id (objects; tasks). Contain's
//      header id is the object that holds them.
void encode_id_list(detail::ByteBuffer& out, MessageType type, const std::vector<ObjectId>& ids,
                    std::uint64_t header_id = 0);
std::vector<ObjectId> decode_id_list(const Frame& f);

// ---- Info: u8 InfoKind
enum class InfoKind : std::uint8_t { kClusterResources = 0, kAvailableResources = 1, kStats = 2 };
void encode_info(detail::ByteBuffer& out, std::uint64_t request, InfoKind kind);
InfoKind decode_info(const Frame& f);

// ---- InfoReply: u8 status | kOk: u32 count | count x (string key | f64 value); kRefused:
//      refusal. Store statistics use the keys of ObjectStoreStats' fields.
struct InfoReply {
  std::uint64_t request = 0;
  ReplyStatus status = ReplyStatus::kOk;
  std::map<std::string, double> values;
  Refusal refusal;
};
void encode_info_reply(detail::ByteBuffer& out, const InfoReply& m);
InfoReply decode_info_reply(const Frame& f);

// ---- Cancel: u8 force | u8 recursive
struct Cancel {
  TaskId task = 0;
  bool force = false;
  bool recursive = true;
};
void encode_cancel(detail::ByteBuffer& out, const Cancel& m);
Cancel decode_cancel(const Frame& f);

// ---- CancelTask: no body
void encode_cancel_task(detail::ByteBuffer& out, TaskId task);
TaskId decode_cancel_task(const Frame& f);

// ---- Session: f64 cpus | u64 memory | i32 default_max_retries | u32 known_functions |
//      u8 functions_from_fresh_start. Sent once, after the worker's Ready, before any task.
void encode_session(detail::ByteBuffer& out, const TaskLimits& limits);
TaskLimits decode_session(const Frame& f);

// ---- ActorStart: u32 max_concurrency | u8 restarted. Sent after Session, before the actor's
//      constructor call.
struct ActorStart {
  ObjectId actor = 0;
  std::uint32_t max_concurrency = 1;
  bool restarted = false;  // a fresh process replacing one that died
};
void encode_actor_start(detail::ByteBuffer& out, const ActorStart& m);
ActorStart decode_actor_start(const Frame& f);

// ---- The error record (GetReply kFailed): u8 kind | string type_name | string what |
//      string function | i64 pid | u8 in_process | i32 attempts | i32 signal | i32 exit_code |
//      u64 requested | u64 capacity | u32 holder_count | holder_count x (u64 id | u64 size |
//      string created_by) | u8 backtrace (0 none, 1 frames, 2 text) | frames or string |
//      u8 actor death cause | string constructor error | i32 node rank (NodeDied)
void put_error_record(detail::ByteBuffer& out, const ErrorInfo& e);
ErrorInfo read_error_record(ByteReader& in);

}  // namespace shoal::internal
