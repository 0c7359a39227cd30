// Encoders and decoders for message bodies. See messages.hpp for the layouts.
#include "src/transport/messages.hpp"

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

void put_string(ByteBuffer& out, std::string_view s) {
  out.put(static_cast<std::uint32_t>(s.size()));
  out.write(s.data(), s.size());
}

}  // namespace

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
  if ((h.flags & ~kTaskExpectedShort) != 0) throw DecodeError("task has unknown flags");
  return h;
}

void put_task_done_prefix(ByteBuffer& out, TaskStatus status, std::uint64_t exec_ns) {
  out.put(static_cast<std::uint8_t>(status));
  out.put(exec_ns);
}

void put_task_error(ByteBuffer& out, std::string_view type_name, std::string_view what,
                    const ModuleFrames& frames) {
  put_string(out, type_name);
  put_string(out, what);
  const std::size_t modules = std::min(frames.modules.size(), ModuleFrames::kMaxFrames);
  out.put(static_cast<std::uint16_t>(modules));
  for (std::size_t m = 0; m < modules; ++m) {
    const std::string& name = frames.modules[m];
    put_string(out, std::string_view(name).substr(0, kMaxModuleName));
  }
  const std::size_t count = std::min(frames.frames.size(), ModuleFrames::kMaxFrames);
  out.put(static_cast<std::uint16_t>(count));
  for (std::size_t i = 0; i < count; ++i) {
    const ModuleFrames::Frame& f = frames.frames[i];
    out.put(f.module < modules ? f.module : ModuleFrames::kNoModule);
    out.put(f.offset);
  }
}

namespace {

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

}  // namespace

void put_store_full(ByteBuffer& out, std::uint64_t requested, std::uint64_t capacity) {
  out.put(requested);
  out.put(capacity);
}

TaskDone read_task_done(const char* body, std::size_t size) {
  ByteReader in(body, size);
  TaskDone d;
  const auto status = in.get<std::uint8_t>("task status");
  d.exec_ns = in.get<std::uint64_t>("task time");
  switch (static_cast<TaskStatus>(status)) {
    case TaskStatus::kOk:
      d.status = TaskStatus::kOk;
      d.value = read_record(in);
      if (d.value.kind == RecordKind::kRef) throw DecodeError("task result cannot be a ref record");
      break;
    case TaskStatus::kError:
      d.status = TaskStatus::kError;
      d.type_name = in.string("error type");
      d.what = in.string("error message");
      d.frames = read_frames(in);
      break;
    case TaskStatus::kStoreFull:
      d.status = TaskStatus::kStoreFull;
      d.requested = in.get<std::uint64_t>("requested size");
      d.capacity = in.get<std::uint64_t>("store capacity");
      break;
    default:
      throw DecodeError("task result has unknown status " + std::to_string(status));
  }
  in.expect_done("task result");
  return d;
}

AllocReply read_alloc_reply(const char* body, std::size_t size) {
  ByteReader in(body, size);
  AllocReply r;
  const auto ok = in.get<std::uint8_t>("alloc reply status");
  if (ok > 1) throw DecodeError("alloc reply has unknown status");
  r.ok = ok == 1;
  r.value = in.get<std::uint64_t>("alloc reply value");
  in.expect_done("alloc reply");
  return r;
}

Exited read_exited(const char* body, std::size_t size) {
  ByteReader in(body, size);
  Exited e;
  e.pid = in.get<std::int64_t>("exited pid");
  e.status = in.get<std::int32_t>("exited status");
  in.expect_done("exited");
  return e;
}

void put_helper_ready(ByteBuffer& out, const HelperReady& h) {
  out.put(h.functions);
  out.put(h.hash);
}

HelperReady read_helper_ready(const char* body, std::size_t size) {
  ByteReader in(body, size);
  HelperReady h;
  h.functions = in.get<std::uint32_t>("helper functions");
  h.hash = in.get<std::uint64_t>("helper function hash");
  in.expect_done("helper ready");
  return h;
}

}  // namespace shoal::internal
