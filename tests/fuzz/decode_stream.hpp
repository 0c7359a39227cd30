// The receive path of every shoal peer, as a function of untrusted bytes: split a byte stream into
// frames with FrameParser (fed in chunks of varying size, compacting now and then, as a socket
// reader does) and decode each frame's body with the decoder its receiver uses for its type.
// Shared by the libFuzzer target (frame_fuzzer.cpp) and the seeded fuzz in the unit tests.
//
// Contract checked here: only FrameError (the stream is bad: stop) and DecodeError (this body is
// bad) may come out of the decoders, and everything they return points inside the input. Any
// other exception escapes to the caller, and a broken invariant traps (a crash for the fuzzer, a
// death for the unit test), so both report it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "src/common/byte_reader.hpp"
#include "src/transport/frame.hpp"
#include "src/transport/protocol.hpp"
#include "src/transport/task_calls.hpp"

namespace shoal::fuzz {

using internal::ByteReader;
using internal::DecodeError;
using internal::FrameError;
using internal::FrameHeader;
using internal::MessageType;

inline void require(bool ok) {
  if (!ok) __builtin_trap();
}

inline bool inside(const char* p, std::size_t n, const char* body, std::size_t size) {
  return n == 0 || (p >= body && n <= size && p - body <= static_cast<std::ptrdiff_t>(size - n));
}

inline void check_record(const internal::ValueRecord& r, const char* body, std::size_t size) {
  require(r.format <= detail::Format::kRaw);
  if (r.kind == internal::RecordKind::kInline) require(inside(r.data, r.size, body, size));
}

// Decodes one frame's body as its receiver would. Throws DecodeError for a bad body.
inline void decode_body(const FrameHeader& h, const char* body) {
  const std::size_t size = h.body_size;
  const internal::Frame f{h, body};
  switch (h.type) {
    case MessageType::kReady:
      internal::decode_ready(f);
      break;
    case MessageType::kSpawned:
      internal::decode_spawned(f);
      break;
    case MessageType::kTask:
      for (const internal::ValueRecord& r : internal::decode_task(f).args) {
        check_record(r, body, size);
      }
      break;
    case MessageType::kTaskDone: {
      const internal::TaskDone d = internal::decode_task_done(f);
      require(d.status != internal::TaskStatus::kOk || d.value.kind != internal::RecordKind::kRef);
      if (d.status == internal::TaskStatus::kOk) check_record(d.value, body, size);
      require(inside(d.type_name.data(), d.type_name.size(), body, size));
      require(inside(d.what.data(), d.what.size(), body, size));
      require(d.frames.frames.size() <= internal::ModuleFrames::kMaxFrames);
      for (const internal::ModuleFrames::Frame& frame : d.frames.frames) {
        require(frame.module < d.frames.modules.size() ||
                frame.module == internal::ModuleFrames::kNoModule);
      }
      break;
    }
    case MessageType::kAllocRequest:
      internal::decode_alloc_request(f);
      break;
    case MessageType::kSubmit: {
      const internal::TaskSpec spec = internal::decode_submit(f);
      require(spec.args.size() <= size);
      break;
    }
    case MessageType::kPut:
      check_record(internal::decode_put(f).value, body, size);
      break;
    case MessageType::kCreateObject:
      internal::decode_create_object(f);
      break;
    case MessageType::kCreateReply:
      internal::decode_create_reply(f);
      break;
    case MessageType::kGet:
      internal::decode_get(f);
      break;
    case MessageType::kGetReply:
      for (const internal::ValueRecord& r : internal::decode_get_reply(f).values) {
        check_record(r, body, size);
      }
      break;
    case MessageType::kWait: {
      const internal::Wait w = internal::decode_wait(f);
      require(w.num_returns <= w.ids.size());
      break;
    }
    case MessageType::kWaitReply:
      internal::decode_wait_reply(f);
      break;
    case MessageType::kRelease:
    case MessageType::kRevoke:
    case MessageType::kAddRef:
    case MessageType::kContain:
      internal::decode_id_list(f);
      break;
    case MessageType::kActorStart:
      internal::decode_actor_start(f);
      break;
    case MessageType::kInfo:
      internal::decode_info(f);
      break;
    case MessageType::kInfoReply:
      internal::decode_info_reply(f);
      break;
    case MessageType::kSession:
      internal::decode_session(f);
      break;
    case MessageType::kCancel:
      internal::decode_cancel(f);
      break;
    case MessageType::kCancelTask:
      internal::decode_cancel_task(f);
      break;
    case MessageType::kAllocReply:
      internal::decode_alloc_reply(f);
      break;
    case MessageType::kSpawn:
      internal::decode_spawn(f);
      break;
    case MessageType::kKill:
      internal::decode_kill(f);
      break;
    case MessageType::kExited:
      internal::decode_exited(f);
      break;
    case MessageType::kSpawnFailed:
      internal::decode_spawn_failed(f);
      break;
    case MessageType::kHelperReady:
      internal::decode_helper_ready(f);
      break;
  }
}

/// Runs the receive path over data. The first byte picks the chunk sizes the stream arrives in.
/// Returns the number of frames whose body decoded.
inline std::size_t decode_stream(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned chunk_seed = data[0];
  ++data;
  --size;
  internal::FrameParser parser;
  std::size_t at = 0, decoded = 0, round = 0;
  while (at < size) {
    // Chunks of 1 to 64 bytes, or everything at once, as reads from a socket may return.
    const std::size_t want = (chunk_seed & 0x80) != 0 ? size : 1 + ((chunk_seed + round) % 64);
    const std::size_t n = std::min(size - at, want);
    char* dst = parser.writable(std::max<std::size_t>(n, 16));
    std::memcpy(dst, data + at, n);
    parser.commit(n);
    at += n;
    ++round;
    internal::FrameParser::Frame f;
    try {
      while (parser.next(&f)) {
        require(f.header.body_size <= internal::kMaxBodySize);
        try {
          decode_body(f.header, f.body);
          ++decoded;
        } catch (const DecodeError&) {
          // The receiver closes the connection here; the fuzzer goes on to cover more frames.
        }
      }
    } catch (const FrameError&) {
      return decoded;  // the stream cannot be resynchronised: the connection is closed
    }
    if ((round & 1) != 0) parser.compact();
  }
  return decoded;
}

}  // namespace shoal::fuzz
