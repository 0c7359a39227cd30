// Encoders and decoders of every message (protocol.hpp has the layouts). Each decoder reads with
// a ByteReader, which checks every length against the body, and ends with expect_done(): a body
// with trailing bytes is as malformed as a short one.
#include "src/transport/protocol.hpp"

#include <algorithm>

namespace shoal::internal {

using detail::ByteBuffer;
using detail::Format;

namespace {

void put_prefix(ByteBuffer& out, RecordKind kind, Format format, std::uint64_t type_hash) {
  out.put(static_cast<std::uint8_t>(kind));
  out.put(static_cast<std::uint8_t>(format));
  out.put(type_hash);
}

}  // namespace

void put_string(ByteBuffer& out, std::string_view s) {
  out.put(static_cast<std::uint32_t>(s.size()));
  out.write(s.data(), s.size());
}

namespace {

// A frame whose body is written by `body`.
template <class Body>
void frame(ByteBuffer& out, MessageType type, std::uint64_t id, Body&& body) {
  const std::size_t at = begin_frame(out, type, id);
  body(out);
  end_frame(out, at);
}

}  // namespace

void put_frames(ByteBuffer& out, const ModuleFrames& frames) {
  const std::size_t modules = std::min(frames.modules.size(), ModuleFrames::kMaxFrames);
  out.put(static_cast<std::uint16_t>(modules));
  for (std::size_t m = 0; m < modules; ++m) {
    put_string(out, std::string_view(frames.modules[m]).substr(0, kMaxModuleName));
  }
  const std::size_t count = std::min(frames.frames.size(), ModuleFrames::kMaxFrames);
  out.put(static_cast<std::uint16_t>(count));
  for (std::size_t i = 0; i < count; ++i) {
    const ModuleFrames::Frame& f = frames.frames[i];
    out.put(f.module < modules ? f.module : ModuleFrames::kNoModule);
    out.put(f.offset);
  }
}

ModuleFrames read_frames(ByteReader& in) {
  ModuleFrames frames;
  const auto modules = in.get<std::uint16_t>("backtrace module count");
  if (modules > ModuleFrames::kMaxFrames) throw DecodeError("backtrace has too many modules");
  frames.modules.reserve(modules);
  for (std::uint16_t m = 0; m < modules; ++m) {
    const std::string_view name = in.string("backtrace module");
    if (name.size() > kMaxModuleName) throw DecodeError("backtrace module name is too long");
    frames.modules.emplace_back(name);
  }
  const auto count = in.get<std::uint16_t>("backtrace frame count");
  if (count > ModuleFrames::kMaxFrames) throw DecodeError("backtrace has too many frames");
  frames.frames.resize(count);
  for (ModuleFrames::Frame& f : frames.frames) {
    f.module = in.get<std::uint16_t>("backtrace frame module");
    if (f.module >= modules && f.module != ModuleFrames::kNoModule) {
      throw DecodeError("backtrace frame names an unknown module");
    }
    f.offset = in.get<std::uint64_t>("backtrace frame offset");
  }
  return frames;
}

namespace {

ByteReader body_of(const Frame& f) { return ByteReader(f.body, f.header.body_size); }

// A result's refs inside its values: nothing at all when there are none (the common case).
void put_contained(ByteBuffer& out, const std::vector<std::uint64_t>& ids) {
  if (ids.empty()) return;
  out.put(static_cast<std::uint32_t>(ids.size()));
  for (std::uint64_t id : ids) out.put(id);
}

std::vector<std::uint64_t> read_contained(ByteReader& in) {
  if (in.done()) return {};
  const auto n = in.get<std::uint32_t>("task result refs");
  if (n == 0 || n > in.remaining() / 8) throw DecodeError("task result refs: bad count");
  std::vector<std::uint64_t> ids(n);
  for (std::uint64_t& id : ids) id = in.get<std::uint64_t>("task result ref");
  return ids;
}

}  // namespace

// ---- message types

const char* message_type_name(MessageType type) noexcept {
  for (const MessageInfo& m : kMessages) {
    if (m.type == type) return m.name;
  }
  return "unknown";
}

bool is_message_type(std::uint16_t type) noexcept {
  return std::any_of(std::begin(kMessages), std::end(kMessages), [type](const MessageInfo& m) {
    return static_cast<std::uint16_t>(m.type) == type;
  });
}

// ---- value records

void put_inline_record(ByteBuffer& out, Format format, std::uint64_t type_hash, const char* data,
                       std::size_t size) {
  put_prefix(out, RecordKind::kInline, format, type_hash);
  out.put(static_cast<std::uint32_t>(size));
  out.write(data, size);
}

void put_store_record(ByteBuffer& out, Format format, std::uint64_t type_hash, std::uint64_t offset,
                      std::uint64_t size) {
  put_prefix(out, RecordKind::kStore, format, type_hash);
  out.put(offset);
  out.put(size);
}

void put_ref_record(ByteBuffer& out, std::uint32_t ref_index) {
  put_prefix(out, RecordKind::kRef, Format::kVoid, 0);
  out.put(ref_index);
}

void put_record(ByteBuffer& out, const ValueRecord& r) {
  switch (r.kind) {
    case RecordKind::kInline:
      put_inline_record(out, r.format, r.type_hash, r.data, r.size);
      return;
    case RecordKind::kStore:
      put_store_record(out, r.format, r.type_hash, r.offset, r.size);
      return;
    case RecordKind::kRef:
      put_ref_record(out, r.ref_index);
      return;
  }
}

ValueRecord read_record(ByteReader& in) {
  ValueRecord r;
  const auto kind = in.get<std::uint8_t>("value record kind");
  const auto format = in.get<std::uint8_t>("value record format");
  if (format > static_cast<std::uint8_t>(Format::kRaw)) {
    throw DecodeError("value record has unknown format " + std::to_string(format));
  }
  r.format = static_cast<Format>(format);
  r.type_hash = in.get<std::uint64_t>("value record type");
  switch (static_cast<RecordKind>(kind)) {
    case RecordKind::kInline:
      r.kind = RecordKind::kInline;
      r.size = in.get<std::uint32_t>("inline value size");
      r.data = in.bytes(r.size, "inline value");
      break;
    case RecordKind::kStore:
      r.kind = RecordKind::kStore;
      r.offset = in.get<std::uint64_t>("store value offset");
      r.size = in.get<std::uint64_t>("store value size");
      break;
    case RecordKind::kRef:
      r.kind = RecordKind::kRef;
      r.ref_index = in.get<std::uint32_t>("ref index");
      break;
    default:
      throw DecodeError("value record has unknown kind " + std::to_string(kind));
  }
  return r;
}

// ---- Ready

void encode_ready(ByteBuffer& out, const Ready& m) {
  frame(out, MessageType::kReady, m.worker, [&](ByteBuffer& b) { b.put(m.pid); });
}

Ready decode_ready(const Frame& f) {
  ByteReader in = body_of(f);
  Ready m;
  m.worker = f.header.id;
  m.pid = in.get<std::int64_t>("ready pid");
  in.expect_done("ready");
  return m;
}

// ---- Task

void put_task_header(ByteBuffer& out, const TaskHeader& h) {
  out.put(h.function_index);
  out.put(h.function_check);
  out.put(h.arg_count);
  out.put(h.flags);
}

TaskHeader read_task_header(ByteReader& in) {
  TaskHeader h;
  h.function_index = in.get<std::uint32_t>("task function index");
  h.function_check = in.get<std::uint64_t>("task function check");
  h.arg_count = in.get<std::uint32_t>("task argument count");
  h.flags = in.get<std::uint32_t>("task flags");
  if ((h.flags & ~(kTaskExpectedShort | kTaskNested | kTaskRetryExceptions | kTaskReturns)) != 0)
    throw DecodeError("task has unknown flags");
  return h;
}

std::size_t begin_task(ByteBuffer& out, std::uint64_t task, const TaskHeader& header,
                       const std::vector<std::uint64_t>& retry_types, std::uint32_t num_returns) {
  const std::size_t at = begin_frame(out, MessageType::kTask, task);
  put_task_header(out, header);
  if ((header.flags & kTaskRetryExceptions) != 0) {
    out.put(static_cast<std::uint32_t>(retry_types.size()));
    for (std::uint64_t t : retry_types) out.put(t);
  }
  if ((header.flags & kTaskReturns) != 0) out.put(num_returns);
  return at;
}

void encode_task(ByteBuffer& out, const Task& m) {
  TaskHeader header = m.header;
  header.arg_count = static_cast<std::uint32_t>(m.args.size());
  const std::size_t at = begin_task(out, m.task, header, m.retry_types, m.num_returns);
  for (const ValueRecord& r : m.args) put_record(out, r);
  end_frame(out, at);
}

Task decode_task(const Frame& f) {
  ByteReader in = body_of(f);
  Task m;
  m.task = f.header.id;
  m.header = read_task_header(in);
  if ((m.header.flags & kTaskRetryExceptions) != 0) {
    const auto n = in.get<std::uint32_t>("task retry types");
    if (n > in.remaining() / 8)
      throw DecodeError("task has more retry types than its message holds");
    m.retry_types.resize(n);
    for (std::uint64_t& t : m.retry_types) t = in.get<std::uint64_t>("task retry type");
  }
  if ((m.header.flags & kTaskReturns) != 0) {
    m.num_returns = in.get<std::uint32_t>("task returns");
    if (m.num_returns < 2 || m.num_returns > kMaxReturns) {
      throw DecodeError("task has a number of returns out of range");
    }
  }
  // Each record takes at least its prefix: a count the body cannot hold is refused before
  // anything is reserved for it.
  if (m.header.arg_count > in.remaining() / kRecordPrefixSize) {
    throw DecodeError("task has more arguments than its message holds");
  }
  m.args.reserve(m.header.arg_count);
  for (std::uint32_t i = 0; i < m.header.arg_count; ++i) {
    const ValueRecord r = read_record(in);
    if (r.kind == RecordKind::kRef) throw DecodeError("unresolved ref argument");
    m.args.push_back(r);
  }
  in.expect_done("task");
  return m;
}

// ---- TaskDone

void encode_task_done(ByteBuffer& out, const TaskDone& m) {
  frame(out, MessageType::kTaskDone, m.task, [&](ByteBuffer& b) {
    b.put(static_cast<std::uint8_t>(m.status));
    b.put(m.exec_ns);
    b.put(m.start_ns);
    b.put(m.store_ns);
    switch (m.status) {
      case TaskStatus::kOk:
        put_record(b, m.value);
        put_contained(b, m.contained);
        break;
      case TaskStatus::kError:
      case TaskStatus::kRetryableError:
        put_string(b, m.type_name);
        put_string(b, m.what);
        put_frames(b, m.frames);
        break;
      case TaskStatus::kStoreFull:
        b.put(m.requested);
        b.put(m.capacity);
        break;
      case TaskStatus::kCancelled:
        break;
      case TaskStatus::kOkMany:
        b.put(static_cast<std::uint32_t>(m.values.size()));
        for (const ValueRecord& r : m.values) put_record(b, r);
        put_contained(b, m.contained);
        break;
    }
  });
}

TaskDone decode_task_done(const Frame& f) {
  ByteReader in = body_of(f);
  TaskDone d;
  d.task = f.header.id;
  const auto status = in.get<std::uint8_t>("task status");
  d.exec_ns = in.get<std::uint64_t>("task time");
  d.start_ns = in.get<std::int64_t>("task start");
  d.store_ns = in.get<std::uint64_t>("result store time");
  switch (static_cast<TaskStatus>(status)) {
    case TaskStatus::kOk:
      d.status = TaskStatus::kOk;
      d.value = read_record(in);
      if (d.value.kind == RecordKind::kRef) throw DecodeError("task result cannot be a ref record");
      d.contained = read_contained(in);
      break;
    case TaskStatus::kError:
    case TaskStatus::kRetryableError:
      d.status = static_cast<TaskStatus>(status);
      d.type_name = in.string("error type");
      d.what = in.string("error message");
      d.frames = read_frames(in);
      break;
    case TaskStatus::kStoreFull:
      d.status = TaskStatus::kStoreFull;
      d.requested = in.get<std::uint64_t>("requested size");
      d.capacity = in.get<std::uint64_t>("store capacity");
      break;
    case TaskStatus::kCancelled:
      d.status = TaskStatus::kCancelled;
      break;
    case TaskStatus::kOkMany: {
      d.status = TaskStatus::kOkMany;
      const auto n = in.get<std::uint32_t>("task result count");
      if (n < 2 || n > kMaxReturns) throw DecodeError("task result count out of range");
      d.values.reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) {
        d.values.push_back(read_record(in));
        if (d.values.back().kind == RecordKind::kRef) {
          throw DecodeError("task result cannot be a ref record");
        }
      }
      d.contained = read_contained(in);
      break;
    }
    default:
      throw DecodeError("task result has unknown status " + std::to_string(status));
  }
  in.expect_done("task result");
  return d;
}

// ---- AllocRequest, AllocReply

void encode_alloc_request(ByteBuffer& out, const AllocRequest& m) {
  frame(out, MessageType::kAllocRequest, m.task, [&](ByteBuffer& b) {
    b.put(m.request);
    b.put(m.size);
  });
}

AllocRequest decode_alloc_request(const Frame& f) {
  ByteReader in = body_of(f);
  AllocRequest m;
  m.task = f.header.id;
  m.request = in.get<std::uint64_t>("alloc request id");
  m.size = in.get<std::uint64_t>("alloc request size");
  in.expect_done("alloc request");
  return m;
}

void encode_alloc_reply(ByteBuffer& out, const AllocReply& m) {
  frame(out, MessageType::kAllocReply, m.task, [&](ByteBuffer& b) {
    b.put(m.request);
    b.put(static_cast<std::uint8_t>(m.ok ? 1 : 0));
    b.put(m.value);
  });
}

AllocReply decode_alloc_reply(const Frame& f) {
  ByteReader in = body_of(f);
  AllocReply r;
  r.task = f.header.id;
  r.request = in.get<std::uint64_t>("alloc reply request id");
  const auto ok = in.get<std::uint8_t>("alloc reply status");
  if (ok > 1) throw DecodeError("alloc reply has unknown status");
  r.ok = ok == 1;
  r.value = in.get<std::uint64_t>("alloc reply value");
  in.expect_done("alloc reply");
  return r;
}

// ---- the fork helper's messages

void encode_spawn(ByteBuffer& out, const Spawn& m) {
  frame(out, MessageType::kSpawn, m.worker,
        [&](ByteBuffer& b) { b.put(static_cast<std::uint8_t>(m.piped ? 1 : 0)); });
}

Spawn decode_spawn(const Frame& f) {
  ByteReader in = body_of(f);
  Spawn m;
  m.worker = f.header.id;
  const auto piped = in.get<std::uint8_t>("spawn piped");
  if (piped > 1) throw DecodeError("spawn has an unknown piped flag");
  m.piped = piped == 1;
  in.expect_done("spawn");
  return m;
}

void encode_spawned(ByteBuffer& out, const Spawned& m) {
  frame(out, MessageType::kSpawned, m.worker, [&](ByteBuffer& b) { b.put(m.pid); });
}

Spawned decode_spawned(const Frame& f) {
  ByteReader in = body_of(f);
  Spawned m;
  m.worker = f.header.id;
  m.pid = in.get<std::int64_t>("spawned pid");
  in.expect_done("spawned");
  return m;
}

void encode_exited(ByteBuffer& out, const Exited& m) {
  frame(out, MessageType::kExited, m.worker, [&](ByteBuffer& b) {
    b.put(m.pid);
    b.put(m.status);
  });
}

Exited decode_exited(const Frame& f) {
  ByteReader in = body_of(f);
  Exited e;
  e.worker = f.header.id;
  e.pid = in.get<std::int64_t>("exited pid");
  e.status = in.get<std::int32_t>("exited status");
  in.expect_done("exited");
  return e;
}

void encode_spawn_failed(ByteBuffer& out, const SpawnFailed& m) {
  frame(out, MessageType::kSpawnFailed, m.worker, [&](ByteBuffer& b) { b.put(m.error); });
}

SpawnFailed decode_spawn_failed(const Frame& f) {
  ByteReader in = body_of(f);
  SpawnFailed m;
  m.worker = f.header.id;
  m.error = in.get<std::int32_t>("spawn failed errno");
  in.expect_done("spawn failed");
  return m;
}

void encode_kill(ByteBuffer& out, const Kill& m) {
  frame(out, MessageType::kKill, m.worker, [](ByteBuffer&) {});
}

Kill decode_kill(const Frame& f) {
  body_of(f).expect_done("kill");
  return Kill{f.header.id};
}

void encode_helper_ready(ByteBuffer& out, const HelperReady& m) {
  frame(out, MessageType::kHelperReady, 0, [&](ByteBuffer& b) {
    b.put(m.functions);
    b.put(m.hash);
  });
}

HelperReady decode_helper_ready(const Frame& f) {
  ByteReader in = body_of(f);
  HelperReady h;
  h.functions = in.get<std::uint32_t>("helper functions");
  h.hash = in.get<std::uint64_t>("helper function hash");
  in.expect_done("helper ready");
  return h;
}

}  // namespace shoal::internal
