// The messages between the driver (rank 0) and the nodes (every other rank), carried by MpiLink
// (docs/protocol.md, "Between machines"). Each message starts with a u8 type; integers are
// little-endian; string = u32 length + bytes. Decoders check every length (a DecodeError, never a
// read past the end), though the peer is the same program on a trusted cluster.
//
//   Hello      N->D  i32 rank | f64 cpus | u64 memory | u64 store bytes | string address |
//                    string host | u32 functions | u64 function hash | string error
//   RunTask    D->N  u64 task | u32 count | count x argument | u32 size | a Submit frame
//                    (src/transport/task_calls.hpp: the spec with the driver's ids)
//     argument:      u64 object id | u8 how: 0 the node has it | 1 inline: u8 format,
//                    u64 type_hash, u32 size, bytes | 2 payload: u8 format, u64 type_hash,
//                    u64 size (the bytes follow as a payload)
//   TaskResult N->D  u64 task | u8 status: 0 inline value: u8 format, u64 type_hash, u32 size,
//                    bytes | 1 payload: u8 format, u64 type_hash, u64 size | 2 error record
//                    (task_calls.hpp) | u8 1 if the node keeps a copy
//   Free       D->N  u32 count | count x u64 object id: drop your copies
//   Shutdown   D->N  u8 finalize: end the node's session and exit; finalize 0 when a node died
//                    (MPI_Finalize would wait forever for the dead rank: skip it)
//   Bye        N->D  (empty): the node's session has ended; it finalises MPI and exits 0
//   PingPong   D->N  u64 bytes | u32 rounds: the driver's MPI thread and the node's play `rounds`
//                    blocking MPI round trips of `bytes` on their own tag (benchmarks only)
//   Cancel     D->N  u64 task | u8 force: shoal::cancel() of a task sent there (the node cancels
//                    its own task, recursively; its TaskResult then carries the cancellation)
//   Heartbeat  both  (empty): sent every kHeartbeatMs; a peer silent for Config::node_timeout_ms
//                    is dead (the driver fails its tasks over; a node ends its session)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <shoal/detail/byte_buffer.hpp>
#include <shoal/detail/value.hpp>

#include "src/common/byte_reader.hpp"
#include "src/common/error_info.hpp"
#include "src/common/ids.hpp"

namespace shoal::internal {

enum class ClusterMessage : std::uint8_t {
  kHello = 1,
  kRunTask = 2,
  kTaskResult = 3,
  kFree = 4,
  kShutdown = 5,
  kBye = 6,
  kHeartbeat = 7,
  kPingPong = 8,
  kCancel = 9,
};

/// How often each side says it is alive when it has nothing else to say.
constexpr int kHeartbeatMs = 200;

struct Hello {
  std::int32_t rank = 0;
  double cpus = 0;
  std::uint64_t memory = 0;
  std::uint64_t store_bytes = 0;
  std::string address;
  std::string host;
  std::uint32_t functions = 0;
  std::uint64_t function_hash = 0;
  std::string error;  // the node could not start its session: why
};
void encode_hello(detail::ByteBuffer& out, const Hello& m);
Hello decode_hello(ByteReader& in);

enum class ArgumentHow : std::uint8_t { kOnNode = 0, kInline = 1, kPayload = 2 };
struct RunArgument {
  ObjectId id = 0;
  ArgumentHow how = ArgumentHow::kOnNode;
  detail::Format format = detail::Format::kVoid;
  std::uint64_t type_hash = 0;
  std::uint64_t size = 0;
  std::string_view bytes;  // kInline
};
struct RunTask {
  TaskId task = 0;
  std::vector<RunArgument> arguments;
  std::string_view submit;  // a Submit frame, header included
};
void encode_run_task(detail::ByteBuffer& out, const RunTask& m);
RunTask decode_run_task(ByteReader& in);

enum class ResultHow : std::uint8_t { kInline = 0, kPayload = 1, kError = 2 };
struct TaskResult {
  TaskId task = 0;
  ResultHow how = ResultHow::kInline;
  detail::Format format = detail::Format::kVoid;
  std::uint64_t type_hash = 0;
  std::uint64_t size = 0;
  std::string_view bytes;  // kInline
  ErrorInfo error;         // kError
  bool node_keeps_copy = false;
};
void encode_task_result(detail::ByteBuffer& out, const TaskResult& m);
TaskResult decode_task_result(ByteReader& in);

void encode_free(detail::ByteBuffer& out, const std::vector<ObjectId>& ids);
std::vector<ObjectId> decode_free(ByteReader& in);

struct PingPong {
  std::uint64_t bytes = 0;
  std::uint32_t rounds = 0;
};
void encode_ping_pong(detail::ByteBuffer& out, const PingPong& m);
PingPong decode_ping_pong(ByteReader& in);

struct CancelTask {
  TaskId task = 0;
  bool force = false;
};
void encode_cancel(detail::ByteBuffer& out, const CancelTask& m);
CancelTask decode_cancel_task(ByteReader& in);

void encode_shutdown(detail::ByteBuffer& out, bool finalize);
bool decode_shutdown(ByteReader& in);  // finalize

/// A message with no body (Bye, Heartbeat).
void encode_signal(detail::ByteBuffer& out, ClusterMessage type);

}  // namespace shoal::internal
