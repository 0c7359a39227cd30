// The messages between machines (src/cluster/cluster_protocol.hpp): each decodes to what was
// encoded, and the decoders refuse anything malformed (every truncation, trailing bytes, bad
// flags) with DecodeError; and where this process stands in an MPI job, read from the launcher's
// environment (Open MPI, MPICH's Hydra, PMIx).
#include "src/cluster/cluster_protocol.hpp"

#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "src/cluster/mpi_link.hpp"

namespace shoal::internal {
namespace {

using detail::ByteBuffer;

// Every prefix of a message's body (after its type byte) and the body with a byte added must
// fail to decode with DecodeError.
void expect_refuses_damage(const ByteBuffer& m, const std::function<void(ByteReader&)>& decode) {
  const std::string bytes(m.data(), m.size());
  for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
    ByteReader in(bytes.data() + 1, cut - 1);
    EXPECT_THROW(decode(in), DecodeError) << "cut at " << cut << " of " << bytes.size();
  }
  const std::string longer = bytes + '\x01';
  ByteReader in(longer.data() + 1, longer.size() - 1);
  EXPECT_THROW(decode(in), DecodeError) << "a trailing byte";
}

ByteReader body_of(const ByteBuffer& m, ClusterMessage type) {
  ByteReader in(m.data(), m.size());
  EXPECT_EQ(in.get<std::uint8_t>("type"), static_cast<std::uint8_t>(type));
  return in;
}

TEST(ClusterProtocol, HelloRoundTrips) {
  Hello h;
  h.rank = 3;
  h.cpus = 2.5;
  h.memory = 1ull << 34;
  h.store_bytes = 1ull << 30;
  h.address = "10.0.0.7";
  h.host = "node7";
  h.functions = 12;
  h.function_hash = 0x1234567890abcdefull;
  h.error = "no memory";
  ByteBuffer m;
  encode_hello(m, h);
  ByteReader in = body_of(m, ClusterMessage::kHello);
  const Hello d = decode_hello(in);
  EXPECT_EQ(d.rank, 3);
  EXPECT_DOUBLE_EQ(d.cpus, 2.5);
  EXPECT_EQ(d.memory, h.memory);
  EXPECT_EQ(d.store_bytes, h.store_bytes);
  EXPECT_EQ(d.address, "10.0.0.7");
  EXPECT_EQ(d.host, "node7");
  EXPECT_EQ(d.functions, 12u);
  EXPECT_EQ(d.function_hash, h.function_hash);
  EXPECT_EQ(d.error, "no memory");
  expect_refuses_damage(m, [](ByteReader& r) { (void)decode_hello(r); });
}

TEST(ClusterProtocol, FreeCancelShutdownAndPingPongRoundTrip) {
  ByteBuffer free_m;
  encode_free(free_m, {1, 0xffffffffffffffffull, 42});
  ByteReader f = body_of(free_m, ClusterMessage::kFree);
  EXPECT_EQ(decode_free(f), (std::vector<ObjectId>{1, 0xffffffffffffffffull, 42}));
  expect_refuses_damage(free_m, [](ByteReader& r) { (void)decode_free(r); });

  for (bool force : {false, true}) {
    ByteBuffer m;
    encode_cancel(m, CancelTask{77, force});
    ByteReader in = body_of(m, ClusterMessage::kCancel);
    const CancelTask c = decode_cancel_task(in);
    EXPECT_EQ(c.task, 77u);
    EXPECT_EQ(c.force, force);
    expect_refuses_damage(m, [](ByteReader& r) { (void)decode_cancel_task(r); });
  }
  for (bool finalize : {false, true}) {
    ByteBuffer m;
    encode_shutdown(m, finalize);
    ByteReader in = body_of(m, ClusterMessage::kShutdown);
    EXPECT_EQ(decode_shutdown(in), finalize);
    expect_refuses_damage(m, [](ByteReader& r) { (void)decode_shutdown(r); });
  }
  ByteBuffer p;
  encode_ping_pong(p, PingPong{100'000'000, 7});
  ByteReader in = body_of(p, ClusterMessage::kPingPong);
  const PingPong d = decode_ping_pong(in);
  EXPECT_EQ(d.bytes, 100'000'000u);
  EXPECT_EQ(d.rounds, 7u);
  expect_refuses_damage(p, [](ByteReader& r) { (void)decode_ping_pong(r); });
}

TEST(ClusterProtocol, FlagsOtherThanZeroOrOneAreRefused) {
  ByteBuffer m;
  m.put(static_cast<std::uint8_t>(ClusterMessage::kShutdown));
  m.put(static_cast<std::uint8_t>(2));
  ByteReader in = body_of(m, ClusterMessage::kShutdown);
  EXPECT_THROW((void)decode_shutdown(in), DecodeError);
  ByteBuffer c;
  c.put(static_cast<std::uint8_t>(ClusterMessage::kCancel));
  c.put(std::uint64_t{5});
  c.put(static_cast<std::uint8_t>(9));
  ByteReader cin = body_of(c, ClusterMessage::kCancel);
  EXPECT_THROW((void)decode_cancel_task(cin), DecodeError);
}

TEST(ClusterProtocol, RunTaskAndTaskResultRoundTrip) {
  RunTask r;
  r.task = 9;
  RunArgument on_node;
  on_node.id = 100;
  on_node.how = ArgumentHow::kOnNode;
  RunArgument inline_arg;
  inline_arg.id = 101;
  inline_arg.how = ArgumentHow::kInline;
  inline_arg.format = detail::Format::kMsgpack;
  inline_arg.type_hash = 55;
  inline_arg.bytes = "abc";
  inline_arg.size = 3;
  RunArgument payload;
  payload.id = 102;
  payload.how = ArgumentHow::kPayload;
  payload.format = detail::Format::kRaw;
  payload.type_hash = 66;
  payload.size = 1ull << 27;
  r.arguments = {on_node, inline_arg, payload};
  const std::string submit(40, 's');
  r.submit = submit;
  ByteBuffer m;
  encode_run_task(m, r);
  ByteReader in = body_of(m, ClusterMessage::kRunTask);
  const RunTask d = decode_run_task(in);
  EXPECT_EQ(d.task, 9u);
  ASSERT_EQ(d.arguments.size(), 3u);
  EXPECT_EQ(d.arguments[0].how, ArgumentHow::kOnNode);
  EXPECT_EQ(d.arguments[0].id, 100u);
  EXPECT_EQ(d.arguments[1].how, ArgumentHow::kInline);
  EXPECT_EQ(std::string(d.arguments[1].bytes), "abc");
  EXPECT_EQ(d.arguments[1].type_hash, 55u);
  EXPECT_EQ(d.arguments[2].how, ArgumentHow::kPayload);
  EXPECT_EQ(d.arguments[2].size, 1ull << 27);
  EXPECT_EQ(std::string(d.submit), submit);
  expect_refuses_damage(m, [](ByteReader& r2) { (void)decode_run_task(r2); });

  TaskResult t;
  t.task = 9;
  t.how = ResultHow::kInline;
  t.format = detail::Format::kMsgpack;
  t.type_hash = 77;
  t.bytes = "xyz";
  t.size = 3;
  t.node_keeps_copy = true;
  ByteBuffer tm;
  encode_task_result(tm, t);
  ByteReader tin = body_of(tm, ClusterMessage::kTaskResult);
  const TaskResult td = decode_task_result(tin);
  EXPECT_EQ(td.task, 9u);
  EXPECT_EQ(td.how, ResultHow::kInline);
  EXPECT_EQ(std::string(td.bytes), "xyz");
  EXPECT_TRUE(td.node_keeps_copy);
  expect_refuses_damage(tm, [](ByteReader& r2) { (void)decode_task_result(r2); });
}

// Sets (or, with nullptr, clears) environment variables for one test, restoring them after.
class Env {
 public:
  void set(const char* name, const char* value) {
    const char* old = std::getenv(name);
    saved_.push_back({name, old != nullptr, old != nullptr ? old : ""});
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ~Env() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->had) {
        setenv(it->name, it->value.c_str(), 1);
      } else {
        unsetenv(it->name);
      }
    }
  }

 private:
  struct Saved {
    const char* name;
    bool had;
    std::string value;
  };
  std::vector<Saved> saved_;
};

TEST(MpiPlace, ReadsOpenMpiHydraAndPmixAndIgnoresNonsense) {
  Env env;
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_SIZE",
                           "PMIX_RANK", "PMIX_SIZE"}) {
    env.set(name, nullptr);
  }
  EXPECT_FALSE(mpi_place_from_environment().under_mpirun());  // not started by mpirun
  env.set("PMIX_RANK", "1");
  env.set("PMIX_SIZE", "4");
  EXPECT_EQ(mpi_place_from_environment().rank, 1);
  EXPECT_EQ(mpi_place_from_environment().size, 4);
  env.set("PMI_RANK", "2");
  env.set("PMI_SIZE", "3");
  EXPECT_EQ(mpi_place_from_environment().rank, 2);  // Hydra before PMIx
  env.set("OMPI_COMM_WORLD_RANK", "0");
  env.set("OMPI_COMM_WORLD_SIZE", "5");
  EXPECT_EQ(mpi_place_from_environment().rank, 0);  // Open MPI first
  EXPECT_EQ(mpi_place_from_environment().size, 5);
  EXPECT_TRUE(mpi_place_from_environment().under_mpirun());
  // A rank outside the size, or not a number, is not a place: the next launcher's is taken.
  env.set("OMPI_COMM_WORLD_RANK", "5");
  EXPECT_EQ(mpi_place_from_environment().size, 3);
  env.set("OMPI_COMM_WORLD_RANK", "x1");
  EXPECT_EQ(mpi_place_from_environment().size, 3);
  env.set("PMI_RANK", "-1");
  EXPECT_EQ(mpi_place_from_environment().size, 4);
  env.set("PMIX_SIZE", "1");
  EXPECT_FALSE(mpi_place_from_environment().under_mpirun());  // mpirun -np 1: one machine
}

}  // namespace
}  // namespace shoal::internal
