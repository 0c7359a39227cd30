// Message bodies: how each MessageType's body is laid out, with one encoder and one bounds-checked
// decoder per message (docs/protocol.md is the grammar). Decoders take untrusted bytes and throw
// DecodeError on anything malformed; they never trust a length without checking it.
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

#include <shoal/detail/byte_buffer.hpp>
#include <shoal/detail/value.hpp>

#include "src/common/byte_reader.hpp"
#include "src/common/module_frames.hpp"

namespace shoal::internal {

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
ValueRecord read_record(ByteReader& in);

// ---- kTask: u32 function_index | u64 function_check | u32 arg_count | u32 flags | records
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
constexpr std::size_t kTaskHeaderSize = 4 + 8 + 4 + 4;
void put_task_header(detail::ByteBuffer& out, const TaskHeader& h);
TaskHeader read_task_header(ByteReader& in);

// ---- kTaskDone: u8 status | u64 exec_ns | then by status:
//        kOk:        a value record (kInline or kStore)
//        kError:     string type_name | string what | frames           (string = u32 + bytes)
//        kStoreFull: u64 requested | u64 capacity
//      frames (where the exception was thrown, see src/common/module_frames.hpp):
//        u16 module_count | module_count x string module |
//        u16 frame_count | frame_count x (u16 module | u64 offset)
//      at most ModuleFrames::kMaxFrames of each; module names at most kMaxModuleName bytes; a
//      frame's module is an index below module_count, or ModuleFrames::kNoModule.
enum class TaskStatus : std::uint8_t { kOk = 0, kError = 1, kStoreFull = 2 };
constexpr std::size_t kMaxModuleName = 4096;
struct TaskDone {
  TaskStatus status = TaskStatus::kOk;
  std::uint64_t exec_ns = 0;
  ValueRecord value;
  std::string_view type_name, what;
  ModuleFrames frames;  // kError
  std::uint64_t requested = 0, capacity = 0;
};
/// Writes the status prefix; the caller then appends a value record (kOk).
void put_task_done_prefix(detail::ByteBuffer& out, TaskStatus status, std::uint64_t exec_ns);
/// At most ModuleFrames::kMaxFrames frames and modules are written.
void put_task_error(detail::ByteBuffer& out, std::string_view type_name, std::string_view what,
                    const ModuleFrames& frames);
void put_store_full(detail::ByteBuffer& out, std::uint64_t requested, std::uint64_t capacity);
TaskDone read_task_done(const char* body, std::size_t size);

// ---- kAllocReply: u8 ok | u64 offset (ok) or capacity (not ok)
struct AllocReply {
  bool ok = false;
  std::uint64_t value = 0;
};
AllocReply read_alloc_reply(const char* body, std::size_t size);

// ---- kExited: i64 pid | i32 wait status
struct Exited {
  std::int64_t pid = 0;
  std::int32_t status = 0;
};
Exited read_exited(const char* body, std::size_t size);

// ---- kHelperReady: u32 functions | u64 hash (FunctionRegistry::prefix_hash of them)
struct HelperReady {
  std::uint32_t functions = 0;
  std::uint64_t hash = 0;
};
void put_helper_ready(detail::ByteBuffer& out, const HelperReady& h);
HelperReady read_helper_ready(const char* body, std::size_t size);

/// Reads a body that is exactly one scalar (kReady, kSpawned: pid; kAllocRequest: size; ...).
template <class T>
T read_scalar_body(const char* body, std::size_t size, const char* what) {
  ByteReader in(body, size);
  const T v = in.get<T>(what);
  in.expect_done(what);
  return v;
}

}  // namespace shoal::internal
