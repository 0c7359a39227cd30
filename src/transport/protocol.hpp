// The wire protocol between the driver, the fork helper and the workers: every message type, what
// its header id means, its body, and one encoder and one decoder for each (Plasma's protocol.h is
// the model). docs/protocol.md is the grammar, and a unit test checks it against the table below.
//
// Framing (src/transport/frame.hpp): a fixed 16-byte header, then the body. encode_*() appends a
// whole frame, header included; decode_*() takes a frame a FrameParser produced and checks every
// length against the body: bodies come from another process and are untrusted, so a malformed one
// is a DecodeError (the connection is then closed), never a read past the end.
//
// Requests that expect a reply carry a request id, chosen by the requester and echoed in the
// reply, so that a requester may have several outstanding (AllocRequest/AllocReply today).
//
// The value record is shared by task arguments and task results:
//   u8 kind | u8 format | u64 type_hash | then
//     kind 1 (inline): u32 size, size bytes       -- small values travel in the message
//     kind 2 (store):  u64 offset, u64 size       -- large values live in the shared arena
//     kind 3 (ref):    u32 index                  -- driver-internal: an ObjectRef argument not
//                                                    yet resolved; never sent to a worker
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>
#include <shoal/detail/value.hpp>

#include "src/common/byte_reader.hpp"
#include "src/common/module_frames.hpp"
#include "src/transport/frame.hpp"

namespace shoal::internal {

// ---------------------------------------------------------------------------------------------
// Message types

enum class MessageType : std::uint16_t {
  // driver <-> worker
  kReady = 1,         // W->D  a worker is up; id = worker id
  kTask = 2,          // D->W  run a task; id = task id
  kTaskDone = 3,      // W->D  a task finished; id = task id
  kAllocRequest = 4,  // W->D  the running task needs store space for its result; id = task id
  kAllocReply = 5,    // D->W  answer to AllocRequest: an offset in the arena, or "store full"
  // driver <-> fork helper
  kSpawn = 10,        // D->Z  fork a worker; id = worker id; its socket travels as SCM_RIGHTS
  kSpawned = 11,      // Z->D  the worker has a pid; id = worker id
  kExited = 12,       // Z->D  the worker exited and was reaped; id = worker id
  kSpawnFailed = 13,  // Z->D  fork() failed; id = worker id
  kKill = 14,         // D->Z  SIGKILL the worker if it is still running; id = worker id
  kHelperReady = 15,  // Z->D  the helper's first message: the functions its workers know; id = 0
  // calls a running task makes (tasks that start tasks; src/transport/task_calls.hpp)
  kSubmit = 20,        // W->D  submit a task; id = its id (made by the worker)
  kPut = 21,           // W->D  a small value becomes an object; id = its id (made by the worker)
  kCreateObject = 22,  // W->D  store space for a large object; id = request id
  kCreateReply = 23,   // D->W  answer to CreateObject; id = request id
  kGet = 24,           // W->D  the values of objects, when they are ready; id = request id
  kGetReply = 25,      // D->W  answer to Get; id = request id
  kWait = 26,          // W->D  wait until some objects are ready; id = request id
  kWaitReply = 27,     // D->W  answer to Wait; id = request id
  kRelease = 28,       // W->D  the worker dropped references; id = 0
  kRevoke = 29,        // D->W  tasks sent but not started go back to the driver; id = 0
  kInfo = 30,          // W->D  resources or store statistics; id = request id
  kInfoReply = 31,     // D->W  answer to Info; id = request id
  kSession = 32,       // D->W  what the session allows a task to ask for; id = 0
  kCancel = 33,        // W->D  shoal::cancel() inside a task; id = the task to cancel
  kCancelTask = 34,    // D->W  stop this task: skip it if not started, else flag it; id = task id
  kAddRef = 35,        // W->D  the worker holds refs it read from inside values; id = 0
  kContain = 36,       // W->D  an object the worker made holds refs inside its value; id = it
  kActorStart = 37,    // D->W  this worker is an actor's process; id = the actor's id
};

/// Who sends and who receives a message type.
enum class Peer : std::uint8_t { kDriver, kWorker, kHelper };

struct MessageInfo {
  MessageType type;
  const char* name;  // as docs/protocol.md names it
  Peer from;
  Peer to;
  const char* id;  // what the header's id holds
};

/// Every message type, in the order docs/protocol.md lists them.
inline constexpr MessageInfo kMessages[] = {
    {MessageType::kReady, "Ready", Peer::kWorker, Peer::kDriver, "worker id"},
    {MessageType::kTask, "Task", Peer::kDriver, Peer::kWorker, "task id"},
    {MessageType::kTaskDone, "TaskDone", Peer::kWorker, Peer::kDriver, "task id"},
    {MessageType::kAllocRequest, "AllocRequest", Peer::kWorker, Peer::kDriver, "task id"},
    {MessageType::kAllocReply, "AllocReply", Peer::kDriver, Peer::kWorker, "task id"},
    {MessageType::kSpawn, "Spawn", Peer::kDriver, Peer::kHelper, "worker id"},
    {MessageType::kSpawned, "Spawned", Peer::kHelper, Peer::kDriver, "worker id"},
    {MessageType::kExited, "Exited", Peer::kHelper, Peer::kDriver, "worker id"},
    {MessageType::kSpawnFailed, "SpawnFailed", Peer::kHelper, Peer::kDriver, "worker id"},
    {MessageType::kKill, "Kill", Peer::kDriver, Peer::kHelper, "worker id"},
    {MessageType::kHelperReady, "HelperReady", Peer::kHelper, Peer::kDriver, "0"},
    {MessageType::kSubmit, "Submit", Peer::kWorker, Peer::kDriver, "task id"},
    {MessageType::kPut, "Put", Peer::kWorker, Peer::kDriver, "object id"},
    {MessageType::kCreateObject, "CreateObject", Peer::kWorker, Peer::kDriver, "request id"},
    {MessageType::kCreateReply, "CreateReply", Peer::kDriver, Peer::kWorker, "request id"},
    {MessageType::kGet, "Get", Peer::kWorker, Peer::kDriver, "request id"},
    {MessageType::kGetReply, "GetReply", Peer::kDriver, Peer::kWorker, "request id"},
    {MessageType::kWait, "Wait", Peer::kWorker, Peer::kDriver, "request id"},
    {MessageType::kWaitReply, "WaitReply", Peer::kDriver, Peer::kWorker, "request id"},
    {MessageType::kRelease, "Release", Peer::kWorker, Peer::kDriver, "0"},
    {MessageType::kRevoke, "Revoke", Peer::kDriver, Peer::kWorker, "0"},
    {MessageType::kInfo, "Info", Peer::kWorker, Peer::kDriver, "request id"},
    {MessageType::kInfoReply, "InfoReply", Peer::kDriver, Peer::kWorker, "request id"},
    {MessageType::kSession, "Session", Peer::kDriver, Peer::kWorker, "0"},
    {MessageType::kCancel, "Cancel", Peer::kWorker, Peer::kDriver, "task id"},
    {MessageType::kCancelTask, "CancelTask", Peer::kDriver, Peer::kWorker, "task id"},
    {MessageType::kAddRef, "AddRef", Peer::kWorker, Peer::kDriver, "0"},
    {MessageType::kContain, "Contain", Peer::kWorker, Peer::kDriver, "object id"},
    {MessageType::kActorStart, "ActorStart", Peer::kDriver, Peer::kWorker, "actor id"},
};

/// The message's name, or "unknown" for a number that names no message type.
const char* message_type_name(MessageType type) noexcept;
/// True if `type` is one of kMessages.
bool is_message_type(std::uint16_t type) noexcept;

// ---------------------------------------------------------------------------------------------
// Value records

enum class RecordKind : std::uint8_t { kInline = 1, kStore = 2, kRef = 3 };

struct ValueRecord {
  RecordKind kind = RecordKind::kInline;
  detail::Format format = detail::Format::kVoid;
  std::uint64_t type_hash = 0;
  const char* data = nullptr;   // kInline
  std::uint64_t size = 0;       // kInline, kStore
  std::uint64_t offset = 0;     // kStore
  std::uint32_t ref_index = 0;  // kRef
};

constexpr std::size_t kRecordPrefixSize = 1 + 1 + 8;
constexpr std::size_t kInlineRecordOverhead = kRecordPrefixSize + 4;

void put_inline_record(detail::ByteBuffer& out, detail::Format format, std::uint64_t type_hash,
                       const char* data, std::size_t size);
void put_store_record(detail::ByteBuffer& out, detail::Format format, std::uint64_t type_hash,
                      std::uint64_t offset, std::uint64_t size);
void put_ref_record(detail::ByteBuffer& out, std::uint32_t ref_index);
/// Writes `r` as it is (any kind).
void put_record(detail::ByteBuffer& out, const ValueRecord& r);
ValueRecord read_record(ByteReader& in);

// Pieces of bodies that several messages share.
/// A u32 length, then the bytes.
void put_string(detail::ByteBuffer& out, std::string_view s);
/// A backtrace (see TaskDone below), at most ModuleFrames::kMaxFrames of frames and modules.
void put_frames(detail::ByteBuffer& out, const ModuleFrames& frames);
ModuleFrames read_frames(ByteReader& in);

// ---------------------------------------------------------------------------------------------
// Messages, each with its encoder (a whole frame) and its decoder (a parsed frame's body).

// ---- Ready: i64 pid
struct Ready {
  std::uint64_t worker = 0;
  std::int64_t pid = 0;
};
void encode_ready(detail::ByteBuffer& out, const Ready& m);
Ready decode_ready(const Frame& f);

// ---- Task: u32 function_index | u64 function_check | u32 arg_count | u32 flags | arg_count
//      value records (kind 1 or 2)
struct TaskHeader {
  std::uint32_t function_index = 0;
  std::uint64_t function_check = 0;  // hash of name and signature: both ends must agree
  std::uint32_t arg_count = 0;
  std::uint32_t flags = 0;  // kTaskExpectedShort, or 0
};
/// The driver expects this task to take under ~50 us (its function's measured average). A worker
/// that finds such a task already waiting may hold the previous reply back to send both in one
/// write; before any other task it sends what it has first, so no reply waits behind a long task.
constexpr std::uint32_t kTaskExpectedShort = 1;
/// Run this task now, inside the get() or wait() the worker is blocked in: it produces an object
/// that call waits for (Taskflow's and TBB's way of waiting; docs/architecture.md). Its TaskDone
/// comes before any other reply of the blocked call.
constexpr std::uint32_t kTaskNested = 2;
/// TaskOptions::retry_exceptions is set: after the header come u32 count | count x u64 exception
/// type hashes (none: any exception), and a failure the task may be re-run for is reported with
/// TaskStatus::kRetryableError.
constexpr std::uint32_t kTaskRetryExceptions = 4;
/// The task returns several objects (task(f).num_returns<N>()): after the header (and the retry
/// types) comes u32 num_returns; its TaskDone is kOkMany with one value record per element of
/// the std::tuple the function returns.
constexpr std::uint32_t kTaskReturns = 8;
/// The most objects one task may return (num_returns<N>()).
constexpr std::uint32_t kMaxReturns = 1024;
constexpr std::size_t kTaskHeaderSize = 4 + 8 + 4 + 4;
void put_task_header(detail::ByteBuffer& out, const TaskHeader& h);
TaskHeader read_task_header(ByteReader& in);

struct Task {
  std::uint64_t task = 0;
  TaskHeader header;
  std::vector<std::uint64_t> retry_types;  // with kTaskRetryExceptions
  std::uint32_t num_returns = 1;           // with kTaskReturns: more than 1
  std::vector<ValueRecord> args;  // views into the frame's body (decode) or the caller's bytes
};
void encode_task(detail::ByteBuffer& out, const Task& m);
/// Writes the frame's header and task header; the caller appends header.arg_count records with
/// put_*_record(), then calls end_frame(out, returned offset). For the driver, which resolves ref
/// records while it writes.
std::size_t begin_task(detail::ByteBuffer& out, std::uint64_t task, const TaskHeader& header,
                       const std::vector<std::uint64_t>& retry_types = {},
                       std::uint32_t num_returns = 1);
/// Ref records are refused: a worker only gets resolved arguments.
Task decode_task(const Frame& f);

// ---- TaskDone: u8 status | u64 exec_ns | i64 start_ns | u64 store_ns | then by status:
//      start_ns: when the task started, on the machine's steady clock (CLOCK_MONOTONIC, one clock
//      for every process), for the timeline; store_ns: the part of exec_ns spent encoding and
//      storing the result (0: none, e.g. void)
//        kOk:        a value record (kInline or kStore)
//        kError:     string type_name | string what | frames          (string = u32 + bytes)
//        kStoreFull: u64 requested | u64 capacity
//      frames (where the exception was thrown, see src/common/module_frames.hpp):
//        u16 module_count | module_count x string module |
//        u16 frame_count | frame_count x (u16 module | u64 offset)
//      at most ModuleFrames::kMaxFrames of each; module names at most kMaxModuleName bytes; a
//      frame's module is an index below module_count, or ModuleFrames::kNoModule.
//        kRetryableError: as kError; the exception matched the task's retry_exceptions
//        kCancelled: nothing; the task was cancelled before it started (CancelTask)
//        kOkMany:    u32 count | count value records (kind 1 or 2): a task with several returns
//      after kOk's or kOkMany's records, only if the values hold refs (an ObjectRef inside a
//      vector, a struct): u32 count | count x u64 object id; each return holds them all
enum class TaskStatus : std::uint8_t {
  kOk = 0,
  kError = 1,
  kStoreFull = 2,
  kRetryableError = 3,
  kCancelled = 4,
  kOkMany = 5
};
constexpr std::size_t kMaxModuleName = 4096;
struct TaskDone {
  std::uint64_t task = 0;
  TaskStatus status = TaskStatus::kOk;
  std::uint64_t exec_ns = 0;
  std::int64_t start_ns = 0;                  // steady clock
  std::uint64_t store_ns = 0;                 // of exec_ns, storing the result
  ValueRecord value;                          // kOk
  std::vector<ValueRecord> values;            // kOkMany
  std::vector<std::uint64_t> contained;       // kOk, kOkMany: refs inside the values
  std::string_view type_name, what;           // kError
  ModuleFrames frames;                        // kError
  std::uint64_t requested = 0, capacity = 0;  // kStoreFull
};
/// At most ModuleFrames::kMaxFrames frames and modules are written.
void encode_task_done(detail::ByteBuffer& out, const TaskDone& m);
TaskDone decode_task_done(const Frame& f);

// ---- AllocRequest: u64 request | u64 size
struct AllocRequest {
  std::uint64_t task = 0;
  std::uint64_t request = 0;  // the worker's request id, echoed in the reply
  std::uint64_t size = 0;
};
void encode_alloc_request(detail::ByteBuffer& out, const AllocRequest& m);
AllocRequest decode_alloc_request(const Frame& f);

// ---- AllocReply: u64 request | u8 ok | u64 offset (ok) or capacity (not ok)
struct AllocReply {
  std::uint64_t task = 0;
  std::uint64_t request = 0;
  bool ok = false;
  std::uint64_t value = 0;
};
void encode_alloc_reply(detail::ByteBuffer& out, const AllocReply& m);
AllocReply decode_alloc_reply(const Frame& f);

// ---- Spawn: u8 piped (1: the worker's stdout and stderr pipes ride along after its socket)
struct Spawn {
  std::uint64_t worker = 0;
  bool piped = false;
};
void encode_spawn(detail::ByteBuffer& out, const Spawn& m);
Spawn decode_spawn(const Frame& f);

// ---- Spawned: i64 pid
struct Spawned {
  std::uint64_t worker = 0;
  std::int64_t pid = 0;
};
void encode_spawned(detail::ByteBuffer& out, const Spawned& m);
Spawned decode_spawned(const Frame& f);

// ---- Exited: i64 pid | i32 wait status
struct Exited {
  std::uint64_t worker = 0;
  std::int64_t pid = 0;
  std::int32_t status = 0;
};
void encode_exited(detail::ByteBuffer& out, const Exited& m);
Exited decode_exited(const Frame& f);

// ---- SpawnFailed: i32 errno
struct SpawnFailed {
  std::uint64_t worker = 0;
  std::int32_t error = 0;
};
void encode_spawn_failed(detail::ByteBuffer& out, const SpawnFailed& m);
SpawnFailed decode_spawn_failed(const Frame& f);

// ---- Kill: no body
struct Kill {
  std::uint64_t worker = 0;
};
void encode_kill(detail::ByteBuffer& out, const Kill& m);
Kill decode_kill(const Frame& f);

// ---- HelperReady: u32 functions | u64 hash (FunctionRegistry::prefix_hash of them)
struct HelperReady {
  std::uint32_t functions = 0;
  std::uint64_t hash = 0;
};
void encode_helper_ready(detail::ByteBuffer& out, const HelperReady& m);
HelperReady decode_helper_ready(const Frame& f);

}  // namespace shoal::internal
