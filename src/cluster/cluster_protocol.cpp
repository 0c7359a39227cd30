// Encoders and decoders of the messages between machines (see cluster_protocol.hpp).
#include "src/cluster/cluster_protocol.hpp"

#include "src/transport/protocol.hpp"
#include "src/transport/task_calls.hpp"

namespace shoal::internal {

namespace {

void put_type(detail::ByteBuffer& out, ClusterMessage type) {
  out.put(static_cast<std::uint8_t>(type));
}

detail::Format read_format(ByteReader& in, const char* what) {
  const auto f = in.get<std::uint8_t>(what);
  if (f > static_cast<std::uint8_t>(detail::Format::kRaw)) throw DecodeError("bad value format");
  return static_cast<detail::Format>(f);
}

std::string read_string(ByteReader& in, const char* what) { return std::string(in.string(what)); }

}  // namespace

void encode_hello(detail::ByteBuffer& out, const Hello& m) {
  put_type(out, ClusterMessage::kHello);
  out.put(m.rank);
  out.put(m.cpus);
  out.put(m.memory);
  out.put(m.store_bytes);
  put_string(out, m.address);
  put_string(out, m.host);
  out.put(m.functions);
  out.put(m.function_hash);
  put_string(out, m.error);
}

Hello decode_hello(ByteReader& in) {
  Hello m;
  m.rank = in.get<std::int32_t>("hello rank");
  m.cpus = in.get<double>("hello cpus");
  m.memory = in.get<std::uint64_t>("hello memory");
  m.store_bytes = in.get<std::uint64_t>("hello store");
  m.address = read_string(in, "hello address");
  m.host = read_string(in, "hello host");
  m.functions = in.get<std::uint32_t>("hello functions");
  m.function_hash = in.get<std::uint64_t>("hello function hash");
  m.error = read_string(in, "hello error");
  in.expect_done("hello");
  return m;
}

void encode_run_task(detail::ByteBuffer& out, const RunTask& m) {
  put_type(out, ClusterMessage::kRunTask);
  out.put(m.task);
  out.put(static_cast<std::uint32_t>(m.arguments.size()));
  for (const RunArgument& a : m.arguments) {
    out.put(a.id);
    out.put(static_cast<std::uint8_t>(a.how));
    if (a.how == ArgumentHow::kOnNode) continue;
    out.put(static_cast<std::uint8_t>(a.format));
    out.put(a.type_hash);
    if (a.how == ArgumentHow::kInline) {
      put_string(out, a.bytes);
    } else {
      out.put(a.size);
    }
  }
  put_string(out, m.submit);
}

RunTask decode_run_task(ByteReader& in) {
  RunTask m;
  m.task = in.get<std::uint64_t>("run task id");
  const auto count = in.get<std::uint32_t>("run task arguments");
  if (count > in.remaining() / 9) throw DecodeError("run task: more arguments than bytes");
  for (std::uint32_t i = 0; i < count; ++i) {
    RunArgument a;
    a.id = in.get<std::uint64_t>("run task argument id");
    const auto how = in.get<std::uint8_t>("run task argument kind");
    if (how > static_cast<std::uint8_t>(ArgumentHow::kPayload)) {
      throw DecodeError("run task: bad argument kind");
    }
    a.how = static_cast<ArgumentHow>(how);
    if (a.how != ArgumentHow::kOnNode) {
      a.format = read_format(in, "run task argument format");
      a.type_hash = in.get<std::uint64_t>("run task argument type");
      if (a.how == ArgumentHow::kInline) {
        a.bytes = in.string("run task argument bytes");
        a.size = a.bytes.size();
      } else {
        a.size = in.get<std::uint64_t>("run task argument size");
      }
    }
    m.arguments.push_back(a);
  }
  m.submit = in.string("run task submit");
  in.expect_done("run task");
  return m;
}

void encode_task_result(detail::ByteBuffer& out, const TaskResult& m) {
  put_type(out, ClusterMessage::kTaskResult);
  out.put(m.task);
  out.put(static_cast<std::uint8_t>(m.how));
  if (m.how == ResultHow::kError) {
    put_error_record(out, m.error);
  } else {
    out.put(static_cast<std::uint8_t>(m.format));
    out.put(m.type_hash);
    if (m.how == ResultHow::kInline) {
      put_string(out, m.bytes);
    } else {
      out.put(m.size);
    }
  }
  out.put(static_cast<std::uint8_t>(m.node_keeps_copy ? 1 : 0));
}

TaskResult decode_task_result(ByteReader& in) {
  TaskResult m;
  m.task = in.get<std::uint64_t>("task result id");
  const auto how = in.get<std::uint8_t>("task result kind");
  if (how > static_cast<std::uint8_t>(ResultHow::kError)) throw DecodeError("bad result kind");
  m.how = static_cast<ResultHow>(how);
  if (m.how == ResultHow::kError) {
    m.error = read_error_record(in);
  } else {
    m.format = read_format(in, "task result format");
    m.type_hash = in.get<std::uint64_t>("task result type");
    if (m.how == ResultHow::kInline) {
      m.bytes = in.string("task result bytes");
      m.size = m.bytes.size();
    } else {
      m.size = in.get<std::uint64_t>("task result size");
    }
  }
  m.node_keeps_copy = in.get<std::uint8_t>("task result copy") != 0;
  in.expect_done("task result");
  return m;
}

void encode_free(detail::ByteBuffer& out, const std::vector<ObjectId>& ids) {
  put_type(out, ClusterMessage::kFree);
  out.put(static_cast<std::uint32_t>(ids.size()));
  for (ObjectId id : ids) out.put(id);
}

std::vector<ObjectId> decode_free(ByteReader& in) {
  const auto count = in.get<std::uint32_t>("free count");
  if (count > in.remaining() / sizeof(ObjectId)) throw DecodeError("free: more ids than bytes");
  std::vector<ObjectId> ids(count);
  for (ObjectId& id : ids) id = in.get<std::uint64_t>("free id");
  in.expect_done("free");
  return ids;
}

void encode_signal(detail::ByteBuffer& out, ClusterMessage type) { put_type(out, type); }

void encode_cancel(detail::ByteBuffer& out, const CancelTask& m) {
  put_type(out, ClusterMessage::kCancel);
  out.put(m.task);
  out.put(static_cast<std::uint8_t>(m.force ? 1 : 0));
}

CancelTask decode_cancel_task(ByteReader& in) {
  CancelTask m;
  m.task = in.get<std::uint64_t>("cancel task");
  const auto force = in.get<std::uint8_t>("cancel force");
  in.expect_done("cancel");
  if (force > 1) throw DecodeError("cancel: force is neither 0 nor 1");
  m.force = force == 1;
  return m;
}

void encode_shutdown(detail::ByteBuffer& out, bool finalize) {
  put_type(out, ClusterMessage::kShutdown);
  out.put(static_cast<std::uint8_t>(finalize ? 1 : 0));
}

bool decode_shutdown(ByteReader& in) {
  const auto finalize = in.get<std::uint8_t>("shutdown finalize");
  in.expect_done("shutdown");
  if (finalize > 1) throw DecodeError("shutdown: finalize is neither 0 nor 1");
  return finalize == 1;
}

void encode_ping_pong(detail::ByteBuffer& out, const PingPong& m) {
  put_type(out, ClusterMessage::kPingPong);
  out.put(m.bytes);
  out.put(m.rounds);
}

PingPong decode_ping_pong(ByteReader& in) {
  PingPong m;
  m.bytes = in.get<std::uint64_t>("ping pong bytes");
  m.rounds = in.get<std::uint32_t>("ping pong rounds");
  in.expect_done("ping pong");
  if (m.bytes > (std::uint64_t{1} << 30)) throw DecodeError("ping pong: more than 1 GiB");
  return m;
}

}  // namespace shoal::internal
