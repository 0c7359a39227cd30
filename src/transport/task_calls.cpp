// Encoders and decoders of the calls a running task makes (task_calls.hpp has the layouts).
#include "src/transport/task_calls.hpp"

#include <limits>

#include "src/common/call_site.hpp"
#include "src/common/task_backtrace.hpp"

namespace shoal::internal {

using detail::ByteBuffer;

namespace {

template <class Body>
void frame(ByteBuffer& out, MessageType type, std::uint64_t id, Body&& body) {
  const std::size_t at = begin_frame(out, type, id);
  body(out);
  end_frame(out, at);
}

ByteReader body_of(const Frame& f) { return ByteReader(f.body, f.header.body_size); }

void put_ids(ByteBuffer& out, const std::vector<ObjectId>& ids) {
  out.put(static_cast<std::uint32_t>(ids.size()));
  for (ObjectId id : ids) out.put(id);
}

std::vector<ObjectId> read_ids(ByteReader& in, const char* what) {
  const auto n = in.get<std::uint32_t>(what);
  if (n > in.remaining() / sizeof(ObjectId)) throw DecodeError(std::string(what) + ": too many");
  std::vector<ObjectId> ids(n);
  for (ObjectId& id : ids) id = in.get<ObjectId>(what);
  return ids;
}

void put_refusal(ByteBuffer& out, const Refusal& r) {
  out.put(static_cast<std::uint8_t>(r.kind));
  put_string(out, r.message);
}

Refusal read_refusal(ByteReader& in) {
  Refusal r;
  const auto kind = in.get<std::uint8_t>("refusal kind");
  if (kind > static_cast<std::uint8_t>(RefusalKind::kTypeMismatch)) {
    throw DecodeError("refusal has unknown kind");
  }
  r.kind = static_cast<RefusalKind>(kind);
  r.message = std::string(in.string("refusal message"));
  return r;
}

ReplyStatus read_status(ByteReader& in, ReplyStatus max) {
  const auto status = in.get<std::uint8_t>("reply status");
  if (status > static_cast<std::uint8_t>(max)) throw DecodeError("reply has unknown status");
  return static_cast<ReplyStatus>(status);
}

}  // namespace

// ---- Submit

void encode_submit(ByteBuffer& out, const TaskSpec& spec) {
  const std::size_t at = begin_frame(out, MessageType::kSubmit, spec.id);
  put_task_header(out, TaskHeader{spec.function_index, spec.function_check, spec.arg_count, 0});
  out.put(spec.num_cpus);
  out.put(spec.memory);
  out.put(static_cast<std::int32_t>(spec.max_retries));
  out.put(spec.actor);
  put_string(out, spec.name);
  put_string(out, call_site_text(spec.call_site));
  out.put(static_cast<std::uint8_t>(spec.retry_exceptions ? 1 : 0));
  put_ids(out, spec.retry_types());
  put_ids(out, spec.deps);
  put_ids(out, spec.returns());
  put_ids(out, spec.contained());
  out.write(spec.args.data(), spec.args.size());
  end_frame(out, at);
}

TaskSpec decode_submit(const Frame& f, std::string_view* call_site) {
  ByteReader in = body_of(f);
  TaskSpec spec;
  spec.id = f.header.id;
  const TaskHeader h = read_task_header(in);
  if (h.flags != 0) throw DecodeError("submitted task has flags");
  spec.function_index = h.function_index;
  spec.function_check = h.function_check;
  spec.arg_count = h.arg_count;
  spec.num_cpus = in.get<double>("submit num_cpus");
  spec.memory = in.get<std::uint64_t>("submit memory");
  spec.max_retries = in.get<std::int32_t>("submit max_retries");
  spec.actor = in.get<std::uint64_t>("submit actor");
  spec.name = std::string(in.string("submit name"));
  const std::string_view site = in.string("submit call site");
  if (call_site != nullptr) *call_site = site;
  spec.retry_exceptions = in.get<std::uint8_t>("submit retry_exceptions") != 0;
  std::vector<ObjectId> retry_types = read_ids(in, "submit retry types");
  spec.deps = read_ids(in, "submit dependencies");
  std::vector<ObjectId> returns = read_ids(in, "submit returns");
  std::vector<ObjectId> contained = read_ids(in, "submit refs inside arguments");
  if (!retry_types.empty() || !returns.empty() || !contained.empty()) {
    TaskSpec::Rare& rare = spec.rare_parts();
    rare.retry_types = std::move(retry_types);
    rare.returns = std::move(returns);
    rare.contained = std::move(contained);
  }
  if (!spec.returns().empty() &&
      (spec.returns().size() < 2 || spec.returns().size() > kMaxReturns ||
       spec.returns()[0] != spec.id)) {
    throw DecodeError("submitted task has a bad list of returns");
  }
  if (spec.arg_count > in.remaining() / kRecordPrefixSize) {
    throw DecodeError("submitted task has more arguments than its message holds");
  }
  const char* records = in.position();
  for (std::uint32_t i = 0; i < spec.arg_count; ++i) {
    const ValueRecord r = read_record(in);
    if (r.kind == RecordKind::kStore) throw DecodeError("submitted argument is a store record");
    if (r.kind == RecordKind::kRef && r.ref_index >= spec.deps.size()) {
      throw DecodeError("submitted argument names an unknown dependency");
    }
  }
  in.expect_done("submit");
  spec.args.write(records, static_cast<std::size_t>(in.position() - records));
  return spec;
}

// ---- Put

void encode_put(ByteBuffer& out, ObjectId object, detail::Format format, std::uint64_t type_hash,
                const char* data, std::size_t size, const std::string& call_site) {
  frame(out, MessageType::kPut, object, [&](ByteBuffer& b) {
    put_string(b, call_site);
    put_inline_record(b, format, type_hash, data, size);
  });
}

const std::string& call_site_text(const detail::CallSite& site) {
  thread_local detail::CallSite last{};
  thread_local std::string text;
  if (site.line != last.line || site.file != last.file || site.function != last.function) {
    text = format_call_site(site);
    last = site;
  }
  return text;
}

PutValue decode_put(const Frame& f) {
  ByteReader in = body_of(f);
  PutValue m;
  m.object = f.header.id;
  m.call_site = in.string("put call site");
  m.value = read_record(in);
  if (m.value.kind != RecordKind::kInline) throw DecodeError("put value is not inline");
  in.expect_done("put");
  return m;
}

// ---- CreateObject, CreateReply

void encode_create_object(ByteBuffer& out, const CreateObject& m) {
  frame(out, MessageType::kCreateObject, m.request, [&](ByteBuffer& b) {
    b.put(m.object);
    b.put(static_cast<std::uint8_t>(m.format));
    b.put(m.type_hash);
    b.put(m.size);
    put_string(b, m.call_site);
  });
}

CreateObject decode_create_object(const Frame& f) {
  ByteReader in = body_of(f);
  CreateObject m;
  m.request = f.header.id;
  m.object = in.get<ObjectId>("create object id");
  const auto format = in.get<std::uint8_t>("create object format");
  if (format > static_cast<std::uint8_t>(detail::Format::kRaw)) {
    throw DecodeError("create object has unknown format");
  }
  m.format = static_cast<detail::Format>(format);
  m.type_hash = in.get<std::uint64_t>("create object type");
  m.size = in.get<std::uint64_t>("create object size");
  m.call_site = std::string(in.string("create object call site"));
  in.expect_done("create object");
  return m;
}

void encode_create_reply(ByteBuffer& out, const CreateReply& m) {
  frame(out, MessageType::kCreateReply, m.request, [&](ByteBuffer& b) {
    b.put(static_cast<std::uint8_t>(m.ok ? 1 : 0));
    b.put(m.value);
  });
}

CreateReply decode_create_reply(const Frame& f) {
  ByteReader in = body_of(f);
  CreateReply r;
  r.request = f.header.id;
  const auto ok = in.get<std::uint8_t>("create reply status");
  if (ok > 1) throw DecodeError("create reply has unknown status");
  r.ok = ok == 1;
  r.value = in.get<std::uint64_t>("create reply value");
  in.expect_done("create reply");
  return r;
}

// ---- Get, GetReply

void encode_get(ByteBuffer& out, const Get& m) {
  frame(out, MessageType::kGet, m.request, [&](ByteBuffer& b) {
    b.put(m.flags);
    b.put(m.timeout_ns);
    put_ids(b, m.ids);
  });
}

Get decode_get(const Frame& f) {
  ByteReader in = body_of(f);
  Get m;
  m.request = f.header.id;
  m.flags = in.get<std::uint8_t>("get flags");
  if ((m.flags & ~kGetFailFast) != 0) throw DecodeError("get has unknown flags");
  m.timeout_ns = in.get<std::int64_t>("get timeout");
  m.ids = read_ids(in, "get objects");
  in.expect_done("get");
  return m;
}

void encode_get_reply(ByteBuffer& out, const GetReply& m) {
  frame(out, MessageType::kGetReply, m.request, [&](ByteBuffer& b) {
    b.put(static_cast<std::uint8_t>(m.status));
    switch (m.status) {
      case ReplyStatus::kOk:
        b.put(static_cast<std::uint32_t>(m.values.size()));
        for (const ValueRecord& r : m.values) put_record(b, r);
        break;
      case ReplyStatus::kFailed:
        put_error_record(b, m.error);
        break;
      case ReplyStatus::kTimeout:
        b.put(m.not_ready);
        break;
      case ReplyStatus::kRefused:
        put_refusal(b, m.refusal);
        break;
    }
  });
}

GetReply decode_get_reply(const Frame& f) {
  ByteReader in = body_of(f);
  GetReply m;
  m.request = f.header.id;
  m.status = read_status(in, ReplyStatus::kRefused);
  switch (m.status) {
    case ReplyStatus::kOk: {
      const auto n = in.get<std::uint32_t>("get reply count");
      if (n > in.remaining() / kRecordPrefixSize) throw DecodeError("get reply: too many values");
      m.values.reserve(n);
      for (std::uint32_t i = 0; i < n; ++i) {
        m.values.push_back(read_record(in));
        if (m.values.back().kind == RecordKind::kRef) throw DecodeError("get reply holds a ref");
      }
      break;
    }
    case ReplyStatus::kFailed:
      m.error = read_error_record(in);
      break;
    case ReplyStatus::kTimeout:
      m.not_ready = in.get<std::uint32_t>("get reply not ready");
      break;
    case ReplyStatus::kRefused:
      m.refusal = read_refusal(in);
      break;
  }
  in.expect_done("get reply");
  return m;
}

// ---- Wait, WaitReply

void encode_wait(ByteBuffer& out, const Wait& m) {
  frame(out, MessageType::kWait, m.request, [&](ByteBuffer& b) {
    b.put(m.num_returns);
    b.put(m.timeout_ns);
    put_ids(b, m.ids);
  });
}

Wait decode_wait(const Frame& f) {
  ByteReader in = body_of(f);
  Wait m;
  m.request = f.header.id;
  m.num_returns = in.get<std::uint32_t>("wait num_returns");
  m.timeout_ns = in.get<std::int64_t>("wait timeout");
  m.ids = read_ids(in, "wait objects");
  if (m.num_returns > m.ids.size()) throw DecodeError("wait asks for more objects than it names");
  in.expect_done("wait");
  return m;
}

void encode_wait_reply(ByteBuffer& out, const WaitReply& m) {
  frame(out, MessageType::kWaitReply, m.request, [&](ByteBuffer& b) {
    b.put(static_cast<std::uint8_t>(m.status));
    if (m.status == ReplyStatus::kOk) {
      b.put(static_cast<std::uint32_t>(m.ready.size()));
      for (bool r : m.ready) b.put(static_cast<std::uint8_t>(r ? 1 : 0));
    } else {
      put_refusal(b, m.refusal);
    }
  });
}

WaitReply decode_wait_reply(const Frame& f) {
  ByteReader in = body_of(f);
  WaitReply m;
  m.request = f.header.id;
  m.status = read_status(in, ReplyStatus::kRefused);
  if (m.status == ReplyStatus::kOk) {
    const auto n = in.get<std::uint32_t>("wait reply count");
    if (n > in.remaining()) throw DecodeError("wait reply: too many objects");
    m.ready.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) m.ready.push_back(in.get<std::uint8_t>("ready") != 0);
  } else if (m.status == ReplyStatus::kRefused) {
    m.refusal = read_refusal(in);
  } else {
    throw DecodeError("wait reply has a status only get replies have");
  }
  in.expect_done("wait reply");
  return m;
}

// ---- Release, Revoke

void encode_id_list(ByteBuffer& out, MessageType type, const std::vector<ObjectId>& ids,
                    std::uint64_t header_id) {
  frame(out, type, header_id, [&](ByteBuffer& b) { put_ids(b, ids); });
}

std::vector<ObjectId> decode_id_list(const Frame& f) {
  ByteReader in = body_of(f);
  std::vector<ObjectId> ids = read_ids(in, message_type_name(f.header.type));
  in.expect_done(message_type_name(f.header.type));
  return ids;
}

// ---- Info, InfoReply

void encode_info(ByteBuffer& out, std::uint64_t request, InfoKind kind) {
  frame(out, MessageType::kInfo, request,
        [&](ByteBuffer& b) { b.put(static_cast<std::uint8_t>(kind)); });
}

InfoKind decode_info(const Frame& f) {
  ByteReader in = body_of(f);
  const auto kind = in.get<std::uint8_t>("info kind");
  if (kind > static_cast<std::uint8_t>(InfoKind::kStats)) throw DecodeError("unknown info kind");
  in.expect_done("info");
  return static_cast<InfoKind>(kind);
}

void encode_info_reply(ByteBuffer& out, const InfoReply& m) {
  frame(out, MessageType::kInfoReply, m.request, [&](ByteBuffer& b) {
    b.put(static_cast<std::uint8_t>(m.status));
    if (m.status == ReplyStatus::kOk) {
      b.put(static_cast<std::uint32_t>(m.values.size()));
      for (const auto& [key, value] : m.values) {
        put_string(b, key);
        b.put(value);
      }
    } else {
      put_refusal(b, m.refusal);
    }
  });
}

InfoReply decode_info_reply(const Frame& f) {
  ByteReader in = body_of(f);
  InfoReply m;
  m.request = f.header.id;
  m.status = read_status(in, ReplyStatus::kRefused);
  if (m.status == ReplyStatus::kOk) {
    const auto n = in.get<std::uint32_t>("info reply count");
    for (std::uint32_t i = 0; i < n; ++i) {
      std::string key(in.string("info key"));
      m.values[std::move(key)] = in.get<double>("info value");
    }
  } else if (m.status == ReplyStatus::kRefused) {
    m.refusal = read_refusal(in);
  } else {
    throw DecodeError("info reply has a status only get replies have");
  }
  in.expect_done("info reply");
  return m;
}

// ---- Cancel, CancelTask

void encode_cancel(ByteBuffer& out, const Cancel& m) {
  frame(out, MessageType::kCancel, m.task, [&](ByteBuffer& b) {
    b.put(static_cast<std::uint8_t>(m.force ? 1 : 0));
    b.put(static_cast<std::uint8_t>(m.recursive ? 1 : 0));
  });
}

Cancel decode_cancel(const Frame& f) {
  ByteReader in = body_of(f);
  Cancel m;
  m.task = f.header.id;
  m.force = in.get<std::uint8_t>("cancel force") != 0;
  m.recursive = in.get<std::uint8_t>("cancel recursive") != 0;
  in.expect_done("cancel");
  return m;
}

void encode_cancel_task(ByteBuffer& out, TaskId task) {
  frame(out, MessageType::kCancelTask, task, [](ByteBuffer&) {});
}

TaskId decode_cancel_task(const Frame& f) {
  body_of(f).expect_done("cancel task");
  return f.header.id;
}

// ---- ActorStart

void encode_actor_start(ByteBuffer& out, const ActorStart& m) {
  frame(out, MessageType::kActorStart, m.actor, [&](ByteBuffer& b) {
    b.put(m.max_concurrency);
    b.put(static_cast<std::uint8_t>(m.restarted ? 1 : 0));
  });
}

ActorStart decode_actor_start(const Frame& f) {
  ByteReader in = body_of(f);
  ActorStart m;
  m.actor = f.header.id;
  m.max_concurrency = in.get<std::uint32_t>("actor start max_concurrency");
  if (m.max_concurrency == 0 || m.max_concurrency > 1024) {
    throw DecodeError("actor start: max_concurrency out of range");
  }
  m.restarted = in.get<std::uint8_t>("actor start restarted") != 0;
  in.expect_done("actor start");
  return m;
}

// ---- Session

void encode_session(ByteBuffer& out, const TaskLimits& l) {
  frame(out, MessageType::kSession, 0, [&](ByteBuffer& b) {
    b.put(l.cpus);
    b.put(l.memory);
    b.put(static_cast<std::int32_t>(l.default_max_retries));
    b.put(l.known_functions);
    b.put(static_cast<std::uint8_t>(l.functions_from_fresh_start ? 1 : 0));
  });
}

TaskLimits decode_session(const Frame& f) {
  ByteReader in = body_of(f);
  TaskLimits l;
  l.cpus = in.get<double>("session cpus");
  l.memory = in.get<std::uint64_t>("session memory");
  l.default_max_retries = in.get<std::int32_t>("session max_retries");
  l.known_functions = in.get<std::uint32_t>("session functions");
  l.functions_from_fresh_start = in.get<std::uint8_t>("session fresh start") != 0;
  in.expect_done("session");
  return l;
}

// ---- the error record

void put_error_record(ByteBuffer& out, const ErrorInfo& e) {
  out.put(static_cast<std::uint8_t>(e.kind));
  put_string(out, e.type_name);
  put_string(out, e.what);
  put_string(out, e.function);
  out.put(static_cast<std::int64_t>(e.pid));
  out.put(static_cast<std::uint8_t>(e.in_process ? 1 : 0));
  out.put(static_cast<std::int32_t>(e.attempts));
  out.put(static_cast<std::int32_t>(e.signal));
  out.put(static_cast<std::int32_t>(e.exit_code));
  out.put(e.requested);
  out.put(e.capacity);
  out.put(static_cast<std::uint32_t>(e.holders.size()));
  for (const ObjectStoreHolder& h : e.holders) {
    out.put(h.object_id);
    out.put(h.size_bytes);
    put_string(out, h.created_by);
  }
  if (e.backtrace == nullptr) {
    out.put(std::uint8_t{0});
  } else if (!e.backtrace->frames().empty()) {
    out.put(std::uint8_t{1});
    put_frames(out, e.backtrace->frames());
  } else {
    out.put(std::uint8_t{2});
    put_string(out, e.backtrace->text());
  }
  out.put(e.cause);
  put_string(out, e.constructor_error);
  out.put(e.node);
}

ErrorInfo read_error_record(ByteReader& in) {
  ErrorInfo e;
  const auto kind = in.get<std::uint8_t>("error kind");
  if (kind > static_cast<std::uint8_t>(ErrorInfo::Kind::kNodeDied)) {
    throw DecodeError("error has unknown kind");
  }
  e.kind = static_cast<ErrorInfo::Kind>(kind);
  e.type_name = std::string(in.string("error type"));
  e.what = std::string(in.string("error message"));
  e.function = std::string(in.string("error function"));
  e.pid = in.get<std::int64_t>("error pid");
  e.in_process = in.get<std::uint8_t>("error in process") != 0;
  e.attempts = in.get<std::int32_t>("error attempts");
  e.signal = in.get<std::int32_t>("error signal");
  e.exit_code = in.get<std::int32_t>("error exit code");
  e.requested = in.get<std::uint64_t>("error requested");
  e.capacity = in.get<std::uint64_t>("error capacity");
  const auto holders = in.get<std::uint32_t>("error holders");
  if (holders > in.remaining() / 20) throw DecodeError("error has too many holders");
  for (std::uint32_t i = 0; i < holders; ++i) {
    ObjectStoreHolder h;
    h.object_id = in.get<std::uint64_t>("holder id");
    h.size_bytes = in.get<std::uint64_t>("holder size");
    h.created_by = std::string(in.string("holder creator"));
    e.holders.push_back(std::move(h));
  }
  switch (in.get<std::uint8_t>("error backtrace")) {
    case 0:
      break;
    case 1:
      e.backtrace = std::make_shared<const detail::TaskBacktrace>(read_frames(in));
      break;
    case 2:
      e.backtrace = detail::backtrace_from_text(std::string(in.string("error backtrace text")));
      break;
    default:
      throw DecodeError("error has an unknown backtrace form");
  }
  e.cause = in.get<std::uint8_t>("error actor cause");
  if (e.cause > static_cast<std::uint8_t>(ActorDiedError::Cause::kRestarting)) {
    throw DecodeError("error has an unknown actor death cause");
  }
  e.constructor_error = std::string(in.string("error constructor error"));
  e.node = in.get<std::int32_t>("error node");
  return e;
}

}  // namespace shoal::internal
