// The WorkerPool (src/node/worker_pool.hpp) without fork(): a fake launcher hands out socketpairs
// and keeps the workers' ends, the test plays the fork helper (its frames go to on_helper_frame())
// and the workers (a Ready written on the socket, or the socket closed: a death), and a listener
// does what the driver does with the workers' frames. The pool's sockets are read by Asio on the
// test's io_context, run by the test until what it waits for has happened. Lent workers (outside
// the seats) are started and retired the same way.
#include "src/node/worker_pool.hpp"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <shoal/errors.hpp>

#include "src/common/byte_reader.hpp"
#include "src/common/logging.hpp"

namespace shoal::internal {
namespace {

using detail::ByteBuffer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

constexpr pid_t kPidBase = 70000;  // pids the fake helper reports (never signalled)

pid_t pid_of(WorkerId worker) { return kPidBase + static_cast<pid_t>(worker); }

// The fork helper's side of spawning: a socketpair per worker, the worker's end kept here.
class FakeLauncher final : public WorkerLauncher {
 public:
  ~FakeLauncher() {
    for (const auto& [worker, fd] : worker_ends_) ::close(fd);
  }

  WorkerFds spawn(std::uint64_t worker, bool forward_output) override {
    EXPECT_FALSE(forward_output);
    if (fail_spawn) throw SystemError("shoal: fake launcher: spawn refused");
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      throw SystemError(std::string("socketpair: ") + std::strerror(errno));
    }
    spawned.push_back(worker);
    worker_ends_[worker] = sv[1];
    return WorkerFds{sv[0], -1, -1};
  }

  void kill_worker(std::uint64_t worker) override {
    killed.push_back(worker);
    if (fail_kill) throw SystemError("shoal: fake launcher: the helper is gone");
  }

  // ---- playing a worker
  void write_frame(WorkerId worker, const ByteBuffer& frame) {
    auto it = worker_ends_.find(worker);
    ASSERT_NE(it, worker_ends_.end()) << "worker " << worker << " has no socket";
    ASSERT_EQ(::send(it->second, frame.data(), frame.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(frame.size()));
  }
  void send_ready(WorkerId worker, pid_t pid) {
    ByteBuffer b;
    encode_ready(b, Ready{worker, pid});
    write_frame(worker, b);
  }
  // The worker's process is gone and its socket with it.
  void close_socket(WorkerId worker) {
    auto it = worker_ends_.find(worker);
    ASSERT_NE(it, worker_ends_.end()) << "worker " << worker << " has no socket";
    ::close(it->second);
    worker_ends_.erase(it);
  }

  std::vector<std::uint64_t> spawned;  // ids asked for, in order
  std::vector<std::uint64_t> killed;
  bool fail_spawn = false;
  bool fail_kill = false;

 private:
  std::map<WorkerId, int> worker_ends_;
};

// What the pool tells the runtime, in order.
class RecordingEvents final : public WorkerPool::Events {
 public:
  struct Lost {
    WorkerId worker;
    bool was_ready;
    std::string reason;
  };
  struct Exit {
    WorkerId worker;
    pid_t pid;
    ExitStatus how;
    std::string reason;
  };

  void on_worker_ready(WorkerId worker) override {
    ready.push_back(worker);
    log.push_back("ready " + std::to_string(worker));
  }
  void on_worker_lost(WorkerId worker, bool was_ready, const std::string& reason) override {
    lost.push_back({worker, was_ready, reason});
    log.push_back("lost " + std::to_string(worker));
  }
  void on_worker_exited(WorkerId worker, pid_t pid, const ExitStatus& how,
                        const std::string& reason) override {
    exited.push_back({worker, pid, how, reason});
    log.push_back("exited " + std::to_string(worker));
  }
  void on_pool_failed(const std::string& why) override {
    pool_failed.push_back(why);
    log.push_back("pool failed");
  }
  void on_start_failed(const std::string& why) override {
    start_failed.push_back(why);
    log.push_back("start failed");
  }
  void on_helper_ready(const HelperReady& m) override { helper_ready.push_back(m); }
  // The runtime would take its lock and call eof_grace_over(); the tests do that themselves.
  void on_eof_timeout(WorkerId worker) override { eof_timeouts.push_back(worker); }

  std::vector<WorkerId> ready;
  std::vector<Lost> lost;
  std::vector<Exit> exited;
  std::vector<std::string> pool_failed, start_failed;
  std::vector<HelperReady> helper_ready;
  std::vector<WorkerId> eof_timeouts;
  std::vector<std::string> log;
};

// What the driver does with the workers' connections (DriverRuntime::on_frames, on_closed).
class DriverListener final : public Connection::Listener {
 public:
  void on_frames(Connection& connection, FrameParser& parser) override {
    Frame frame;
    while (parser.next(&frame)) {
      if (frame.header.type == MessageType::kReady) {
        // throws DecodeError: the connection is cut off
        pool->on_ready(static_cast<WorkerId>(connection.tag()), decode_ready(frame));
      } else {
        events->log.push_back("frame " + std::to_string(connection.tag()));
      }
    }
  }
  void on_closed(Connection& connection, const std::string& reason, bool peer_alive) override {
    pool->on_closed(connection, reason, peer_alive);
  }

  WorkerPool* pool = nullptr;
  RecordingEvents* events = nullptr;
};

class WorkerPoolTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!pool_) return;
    pool_->close_all(std::chrono::milliseconds(0));
    io_.restart();
    io_.poll();  // the aborted reads
    pool_.reset();
  }

  WorkerPool& make_pool(int seats) {
    pool_ = std::make_unique<WorkerPool>(io_, launcher_, &listener_, events_, seats,
                                         /*forward_output=*/false);
    listener_.pool = pool_.get();
    listener_.events = &events_;
    return *pool_;
  }

  // Runs the I/O until `done` holds; false if it still does not after a generous bound.
  template <class Done>
  bool run_until(Done done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      if (io_.stopped()) io_.restart();
      io_.run_one_for(std::chrono::milliseconds(10));
    }
    return true;
  }
  // Runs what is ready now, without waiting.
  void poll() {
    if (io_.stopped()) io_.restart();
    io_.poll();
  }

  // The fork helper sends the frame `encode` writes.
  template <class Encode>
  void helper_says(Encode&& encode) {
    ByteBuffer b;
    encode(b);
    ASSERT_GE(b.size(), kFrameHeaderSize);
    Frame frame;
    frame.header = parse_header(b.data());
    frame.body = b.data() + kFrameHeaderSize;
    ASSERT_EQ(b.size(), kFrameHeaderSize + frame.header.body_size);
    pool_->on_helper_frame(frame);
  }
  void spawned(WorkerId worker) {
    helper_says([&](ByteBuffer& b) { encode_spawned(b, Spawned{worker, pid_of(worker)}); });
  }
  void helper_reaped(WorkerId worker, int wait_status) {
    helper_says([&](ByteBuffer& b) {
      encode_exited(b, Exited{worker, pid_of(worker), static_cast<std::int32_t>(wait_status)});
    });
  }

  // Worker `worker` starts: the helper says its pid, it sends Ready, the pool reads it.
  void bring_up(WorkerId worker) {
    spawned(worker);
    launcher_.send_ready(worker, pid_of(worker));
    const std::size_t before = events_.ready.size();
    ASSERT_TRUE(run_until([&] { return events_.ready.size() > before; }))
        << "worker " << worker << "'s Ready was not read";
    EXPECT_EQ(events_.ready.back(), worker);
  }

  // Worker `worker` dies (its socket closes, the helper reaps it with `wait_status`).
  void dies(WorkerId worker, int wait_status = SIGKILL) {
    const std::size_t lost_before = events_.lost.size();
    launcher_.close_socket(worker);
    ASSERT_TRUE(run_until([&] { return events_.lost.size() > lost_before; }))
        << "worker " << worker << "'s death was not seen";
    EXPECT_EQ(events_.lost.back().worker, worker);
    helper_reaped(worker, wait_status);
  }

  boost::asio::io_context io_;
  FakeLauncher launcher_;
  RecordingEvents events_;
  DriverListener listener_;
  std::unique_ptr<WorkerPool> pool_;
};

TEST_F(WorkerPoolTest, StartAsksForOneWorkerPerSeatWithGrowingIds) {
  WorkerPool& pool = make_pool(3);
  EXPECT_EQ(pool.seats(), 3);
  pool.start();
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u, 2u));
  EXPECT_EQ(pool.ready_count(), 0);
  EXPECT_THAT(pool.ready_pids(), IsEmpty());
  EXPECT_EQ(pool.connection(0), nullptr) << "a worker that has not sent Ready takes no tasks";
  EXPECT_EQ(pool.pid(0), 0);

  spawned(1);
  EXPECT_EQ(pool.pid(1), pid_of(1));
  EXPECT_EQ(pool.pid(7), 0);
  poll();
  EXPECT_THAT(events_.log, IsEmpty());
}

TEST_F(WorkerPoolTest, ReadyMakesAWorkerReady) {
  WorkerPool& pool = make_pool(2);
  pool.start();
  bring_up(1);
  EXPECT_THAT(events_.ready, ElementsAre(1u));
  EXPECT_EQ(pool.ready_count(), 1);
  ASSERT_NE(pool.connection(1), nullptr);
  EXPECT_EQ(pool.connection(1)->tag(), 1);
  EXPECT_EQ(pool.connection(0), nullptr);
  EXPECT_EQ(pool.pid(1), pid_of(1));
  EXPECT_THAT(pool.ready_pids(), ElementsAre(pid_of(1)));

  bring_up(0);
  EXPECT_THAT(events_.ready, ElementsAre(1u, 0u));
  EXPECT_EQ(pool.ready_count(), 2);
  EXPECT_THAT(pool.ready_pids(), ElementsAre(pid_of(0), pid_of(1)));
  EXPECT_THAT(launcher_.killed, IsEmpty());
}

TEST_F(WorkerPoolTest, HelperReadyIsPassedOn) {
  make_pool(1);
  helper_says([](ByteBuffer& b) { encode_helper_ready(b, HelperReady{42, 0xfeedull}); });
  ASSERT_EQ(events_.helper_ready.size(), 1u);
  EXPECT_EQ(events_.helper_ready[0].functions, 42u);
  EXPECT_EQ(events_.helper_ready[0].hash, 0xfeedull);
}

TEST_F(WorkerPoolTest, DeadWorkerIsReportedTwiceThenReplacedWithANewId) {
  WorkerPool& pool = make_pool(2);
  pool.start();
  bring_up(0);
  bring_up(1);
  pool.mark_running();

  launcher_.close_socket(0);
  ASSERT_TRUE(run_until([&] { return !events_.lost.empty(); }));
  ASSERT_EQ(events_.lost.size(), 1u);
  EXPECT_EQ(events_.lost[0].worker, 0u);
  EXPECT_TRUE(events_.lost[0].was_ready);
  EXPECT_THAT(events_.lost[0].reason, HasSubstr("socket closed"));
  EXPECT_THAT(launcher_.killed, ElementsAre(0u)) << "the helper must make sure it is dead";
  EXPECT_EQ(pool.ready_count(), 1);
  EXPECT_EQ(pool.connection(0), nullptr);
  EXPECT_THAT(pool.ready_pids(), ElementsAre(pid_of(1)));
  // Its seat is refilled only once the helper has reaped it: never two workers in one seat.
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u));
  EXPECT_THAT(events_.exited, IsEmpty());

  helper_reaped(0, SIGKILL);
  ASSERT_EQ(events_.exited.size(), 1u);
  const RecordingEvents::Exit& exit = events_.exited[0];
  EXPECT_EQ(exit.worker, 0u);
  EXPECT_EQ(exit.pid, pid_of(0));
  EXPECT_EQ(exit.how.signal, SIGKILL);
  EXPECT_EQ(exit.how.exit_code, -1);
  EXPECT_THAT(exit.how.text, HasSubstr("SIGKILL"));
  EXPECT_THAT(exit.reason, HasSubstr("socket closed"));
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u, 2u));
  EXPECT_EQ(pool.pid(0), 0) << "a reaped worker is forgotten";
  EXPECT_TRUE(events_.start_failed.empty());
  EXPECT_TRUE(events_.pool_failed.empty());

  bring_up(2);
  EXPECT_EQ(pool.ready_count(), 2);
  EXPECT_THAT(pool.ready_pids(), ElementsAre(pid_of(1), pid_of(2)));
  EXPECT_THAT(events_.log, ElementsAre("ready 0", "ready 1", "lost 0", "exited 0", "ready 2"));
}

TEST_F(WorkerPoolTest, ExitCodeIsDescribed) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  bring_up(0);
  pool.mark_running();
  dies(0, /*wait_status=*/3 << 8);  // exit(3)
  ASSERT_EQ(events_.exited.size(), 1u);
  EXPECT_EQ(events_.exited[0].how.exit_code, 3);
  EXPECT_EQ(events_.exited[0].how.signal, 0);
  EXPECT_EQ(events_.exited[0].how.text, "exited with code 3");
}

TEST_F(WorkerPoolTest, DeathWhileStartingFailsTheStartInsteadOfReplacing) {
  WorkerPool& pool = make_pool(2);
  pool.start();
  bring_up(0);
  spawned(1);
  dies(1, SIGSEGV);  // before mark_running(): init() is still waiting for its workers
  EXPECT_FALSE(events_.lost.back().was_ready);
  ASSERT_EQ(events_.start_failed.size(), 1u);
  EXPECT_THAT(events_.start_failed[0], HasSubstr("worker 1"));
  EXPECT_THAT(events_.start_failed[0], HasSubstr(std::to_string(pid_of(1))));
  EXPECT_THAT(events_.start_failed[0], HasSubstr("SIGSEGV"));
  EXPECT_THAT(events_.start_failed[0], HasSubstr("while starting"));
  EXPECT_THAT(events_.exited, IsEmpty());
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u)) << "replaced while starting";
}

// The helper may reap a worker before the driver has read its socket to the end: what the worker
// wrote last (a TaskDone) is read first, and the worker is only reported exited after its EOF.
TEST_F(WorkerPoolTest, ExitedBeforeTheSocketsEofWaitsForTheEof) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  bring_up(0);
  pool.mark_running();

  helper_reaped(0, SIGKILL);
  poll();
  EXPECT_THAT(events_.lost, IsEmpty());
  EXPECT_THAT(events_.exited, IsEmpty()) << "reported exited before its socket was read";
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u)) << "its seat was refilled while it was open";
  EXPECT_EQ(pool.ready_count(), 1);

  // Its last frame is still in the socket, then the EOF.
  ByteBuffer last;
  encode_kill(last, Kill{0});  // any frame: the listener only notes it
  launcher_.write_frame(0, last);
  launcher_.close_socket(0);
  ASSERT_TRUE(run_until([&] { return !events_.exited.empty(); }));
  EXPECT_THAT(events_.log, ElementsAre("ready 0", "frame 0", "lost 0", "exited 0"));
  EXPECT_TRUE(events_.lost[0].was_ready);
  EXPECT_EQ(events_.exited[0].how.signal, SIGKILL);
  EXPECT_EQ(events_.exited[0].pid, pid_of(0));
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u));
  EXPECT_EQ(pool.ready_count(), 0);
}

// A socket that outlives its process (a process the task started holds it): after the grace
// period the worker is taken as lost, and reported exited at once (it was reaped already).
TEST_F(WorkerPoolTest, SocketHeldOpenAfterTheExitEndsWithTheGracePeriod) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  bring_up(0);
  pool.mark_running();
  helper_reaped(0, SIGKILL);

  // The pool's timer: it tells the runtime, which takes its lock and calls eof_grace_over().
  ASSERT_TRUE(run_until([&] { return !events_.eof_timeouts.empty(); }));
  EXPECT_THAT(events_.eof_timeouts, ElementsAre(0u));
  EXPECT_THAT(events_.lost, IsEmpty());

  pool.eof_grace_over(0);
  EXPECT_THAT(events_.log, ElementsAre("ready 0", "lost 0", "exited 0"));
  EXPECT_THAT(events_.lost[0].reason, HasSubstr("socket stayed open"));
  EXPECT_THAT(launcher_.killed, ElementsAre(0u));
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u));

  pool.eof_grace_over(0);  // forgotten already: nothing more
  EXPECT_EQ(events_.lost.size(), 1u);
  // The old socket, still open at the far end, reports nothing when it is finally closed.
  launcher_.close_socket(0);
  poll();
  EXPECT_EQ(events_.lost.size(), 1u);
}

TEST_F(WorkerPoolTest, ExitedForAnotherProcessIsIgnored) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  bring_up(0);
  pool.mark_running();
  helper_says([](ByteBuffer& b) { encode_exited(b, Exited{0, pid_of(0) + 1000, SIGKILL}); });
  helper_says([](ByteBuffer& b) { encode_exited(b, Exited{99, 1234, SIGKILL}); });
  launcher_.close_socket(0);
  ASSERT_TRUE(run_until([&] { return !events_.lost.empty(); }));
  poll();
  EXPECT_THAT(events_.exited, IsEmpty()) << "a report about another pid ended worker 0";
  helper_reaped(0, SIGKILL);
  EXPECT_EQ(events_.exited.size(), 1u);
}

TEST_F(WorkerPoolTest, SpawnFailedEndsTheWorkerWithTheForkError) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  pool.mark_running();
  helper_says([](ByteBuffer& b) { encode_spawn_failed(b, SpawnFailed{0, EAGAIN}); });
  EXPECT_THAT(events_.exited, IsEmpty());
  launcher_.close_socket(0);  // the helper closed its end of the worker's socket
  ASSERT_TRUE(run_until([&] { return !events_.exited.empty(); }));
  EXPECT_FALSE(events_.lost[0].was_ready);
  EXPECT_THAT(events_.exited[0].how.text, HasSubstr("could not be started (fork failed: "));
  EXPECT_THAT(events_.exited[0].how.text, HasSubstr(std::strerror(EAGAIN)));
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u));
}

TEST_F(WorkerPoolTest, SeatIsGivenUpAfterThreeFailedStartsAndThePoolWithTheLastSeat) {
  WorkerPool& pool = make_pool(2);
  pool.start();
  pool.mark_running();
  bring_up(1);

  // Seat 0: three workers in a row die before Ready.
  dies(0);
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u, 2u));
  dies(2);
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u, 2u, 3u));
  dies(3);
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u, 2u, 3u)) << "seat 0 was not given up";
  EXPECT_EQ(events_.exited.size(), 3u);
  for (const RecordingEvents::Lost& l : events_.lost) EXPECT_FALSE(l.was_ready);
  EXPECT_THAT(events_.pool_failed, IsEmpty()) << "seat 1 still has a worker";

  // Seat 1: its ready worker dies (not a failed start), then three replacements do.
  dies(1);
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u, 2u, 3u, 4u));
  dies(4);
  dies(5);
  EXPECT_THAT(events_.pool_failed, IsEmpty());
  dies(6);
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u, 2u, 3u, 4u, 5u, 6u));
  ASSERT_EQ(events_.pool_failed.size(), 1u);
  EXPECT_THAT(events_.pool_failed[0], HasSubstr("no worker could be started"));
  EXPECT_THAT(events_.pool_failed[0], HasSubstr("SIGKILL"));
  EXPECT_EQ(pool.ready_count(), 0);
}

TEST_F(WorkerPoolTest, ReadyResetsTheCountOfFailedStarts) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  pool.mark_running();
  dies(0);
  dies(1);
  bring_up(2);  // the third one makes it
  dies(2);
  dies(3);
  dies(4);
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u, 2u, 3u, 4u, 5u));
  EXPECT_THAT(events_.pool_failed, IsEmpty());
  dies(5);
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u, 2u, 3u, 4u, 5u));
  EXPECT_EQ(events_.pool_failed.size(), 1u);
}

TEST_F(WorkerPoolTest, ReadyFromAnUnknownOrAReadyWorkerIsADecodeError) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  EXPECT_THROW(pool.on_ready(99, Ready{99, 1234}), DecodeError);
  bring_up(0);
  EXPECT_THROW(pool.on_ready(0, Ready{0, pid_of(0)}), DecodeError);
  EXPECT_EQ(pool.ready_count(), 1);
  EXPECT_THAT(events_.ready, ElementsAre(0u));
}

// Frames are untrusted input: a Ready naming another worker does not make that one ready.
TEST_F(WorkerPoolTest, ReadyNamingAnotherWorkerIsADecodeError) {
  WorkerPool& pool = make_pool(2);
  pool.start();
  spawned(0);
  spawned(1);
  EXPECT_THROW(pool.on_ready(0, Ready{1, pid_of(1)}), DecodeError);
  EXPECT_EQ(pool.ready_count(), 0);
  EXPECT_EQ(pool.connection(1), nullptr) << "worker 1 has not sent Ready itself";
  EXPECT_THAT(events_.ready, IsEmpty());
}

// A worker that sends a second Ready is cut off: lost, killed, and said to have sent bad input
// rather than to have been killed by SIGKILL (which would point at the OOM killer).
TEST_F(WorkerPoolTest, WorkerSendingASecondReadyIsCutOff) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  bring_up(0);
  pool.mark_running();

  launcher_.send_ready(0, pid_of(0));
  ASSERT_TRUE(run_until([&] { return !events_.lost.empty(); }));
  EXPECT_TRUE(events_.lost[0].was_ready);
  EXPECT_THAT(events_.lost[0].reason, HasSubstr("unexpected Ready"));
  EXPECT_THAT(launcher_.killed, ElementsAre(0u));
  EXPECT_EQ(pool.ready_count(), 0);

  helper_reaped(0, SIGKILL);
  ASSERT_EQ(events_.exited.size(), 1u);
  EXPECT_EQ(events_.exited[0].how.text, "sent bad input, so the driver cut it off and killed it");
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u));
}

// The same bad input from a worker the helper has reaped already (its process ended on its own,
// here by SIGSEGV, before its socket was read): the driver killed nothing, so the worker's end is
// told as its wait status says, not as "cut off and killed" by the driver.
TEST_F(WorkerPoolTest, BadInputFromAReapedWorkerKeepsItsExitStatus) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  bring_up(0);
  pool.mark_running();
  helper_reaped(0, SIGSEGV);

  launcher_.send_ready(0, pid_of(0));  // read after the helper's report
  ASSERT_TRUE(run_until([&] { return !events_.exited.empty(); }));
  EXPECT_THAT(events_.lost[0].reason, HasSubstr("unexpected Ready"));
  const ExitStatus& how = events_.exited[0].how;
  EXPECT_EQ(how.signal, SIGSEGV);
  EXPECT_THAT(how.text, HasSubstr("SIGSEGV"));
  EXPECT_THAT(how.text, Not(HasSubstr("killed it"))) << how.text;
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u));
}

TEST_F(WorkerPoolTest, ClosedReportFromAnOlderConnectionIsIgnored) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  bring_up(0);
  pool.mark_running();
  const std::shared_ptr<Connection> old = pool.connection(0)->shared_from_this();
  dies(0);
  bring_up(1);
  ASSERT_EQ(events_.lost.size(), 1u);

  pool.on_closed(*old, "a late report", false);
  // A connection tagged with the live worker's id that is not its connection.
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  const auto stranger = std::make_shared<Connection>(io_, sv[0], &listener_, 1);
  pool.on_closed(*stranger, "not the worker's", true);
  ::close(sv[1]);

  EXPECT_EQ(events_.lost.size(), 1u);
  EXPECT_THAT(launcher_.killed, ElementsAre(0u));
  EXPECT_EQ(pool.ready_count(), 1);
  EXPECT_NE(pool.connection(1), nullptr);
}

TEST_F(WorkerPoolTest, UnexpectedHelperFramesAreDecodeErrors) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  EXPECT_THROW(helper_says([](ByteBuffer& b) { encode_spawned(b, Spawned{5, 1}); }), DecodeError);
  EXPECT_THROW(helper_says([](ByteBuffer& b) {
                 encode_spawn_failed(b, SpawnFailed{5, EAGAIN});
               }),
               DecodeError);
  EXPECT_THROW(helper_says([](ByteBuffer& b) { encode_ready(b, Ready{0, 1}); }), DecodeError);
  EXPECT_EQ(pool.pid(0), 0);
}

TEST_F(WorkerPoolTest, LauncherFailuresFailThePool) {
  WorkerPool& pool = make_pool(2);
  pool.start();
  bring_up(0);
  bring_up(1);
  pool.mark_running();

  // The helper cannot be reached to replace a dead worker.
  launcher_.fail_spawn = true;
  dies(0);
  EXPECT_EQ(events_.exited.size(), 1u);
  ASSERT_EQ(events_.pool_failed.size(), 1u);
  EXPECT_THAT(events_.pool_failed[0], HasSubstr("could not reach the fork helper"));

  // Nor to kill one.
  launcher_.fail_kill = true;
  launcher_.close_socket(1);
  ASSERT_TRUE(run_until([&] { return events_.pool_failed.size() == 2; }));
  EXPECT_THAT(events_.pool_failed[1], HasSubstr("the fork helper is gone"));
}

TEST_F(WorkerPoolTest, StartThrowsWhenTheLauncherCannotSpawn) {
  WorkerPool& pool = make_pool(2);
  launcher_.fail_spawn = true;
  EXPECT_THROW(pool.start(), SystemError);
}

// ---- Lent workers: started outside the seats while tasks are blocked in get() or wait() (the
// runtime asks for them), never replaced, and retired quietly when idle.

TEST_F(WorkerPoolTest, LendStartsAWorkerOutsideTheSeatsThatBecomesReady) {
  WorkerPool& pool = make_pool(2);
  pool.start();
  bring_up(0);
  bring_up(1);
  pool.mark_running();
  EXPECT_EQ(pool.lent_count(), 0);
  EXPECT_EQ(pool.process_count(), 2);

  const WorkerId lent = pool.lend();
  EXPECT_EQ(lent, 2u) << "a new id, after the seats' workers";
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, 1u, 2u));
  EXPECT_TRUE(pool.is_lent(lent));
  EXPECT_FALSE(pool.is_lent(0));
  EXPECT_FALSE(pool.is_lent(1));
  EXPECT_FALSE(pool.is_lent(99));
  EXPECT_EQ(pool.seats(), 2);
  EXPECT_EQ(pool.lent_count(), 1) << "a starting lent worker counts";
  EXPECT_THAT(pool.lent_ready(), IsEmpty());
  EXPECT_EQ(pool.process_count(), 3);
  EXPECT_EQ(pool.connection(lent), nullptr);

  bring_up(lent);
  EXPECT_THAT(events_.ready, ElementsAre(0u, 1u, 2u));
  EXPECT_THAT(pool.lent_ready(), ElementsAre(2u));
  EXPECT_EQ(pool.ready_count(), 3);
  EXPECT_NE(pool.connection(lent), nullptr);
  EXPECT_EQ(pool.pid(lent), pid_of(lent));

  EXPECT_EQ(pool.lend(), 3u);
  EXPECT_EQ(pool.lent_count(), 2);
  EXPECT_THAT(pool.lent_ready(), ElementsAre(2u));
  EXPECT_EQ(pool.process_count(), 4);
  EXPECT_THAT(launcher_.killed, IsEmpty());
}

TEST_F(WorkerPoolTest, LendThrowsWhenTheLauncherCannotSpawn) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  bring_up(0);
  pool.mark_running();
  launcher_.fail_spawn = true;
  EXPECT_THROW(pool.lend(), Error);
  EXPECT_EQ(pool.lent_count(), 0);
  EXPECT_EQ(pool.process_count(), 1);
}

TEST_F(WorkerPoolTest, RetireStopsALentWorkerQuietlyAndNothingReplacesIt) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  bring_up(0);
  pool.mark_running();
  const WorkerId lent = pool.lend();
  bring_up(lent);

  ::testing::internal::CaptureStderr();
  pool.retire(lent);
  EXPECT_THAT(launcher_.killed, ElementsAre(lent)) << "the helper must stop it";
  ASSERT_EQ(events_.lost.size(), 1u) << "the runtime drops what the worker held";
  EXPECT_EQ(events_.lost[0].worker, lent);
  EXPECT_TRUE(events_.lost[0].was_ready);
  EXPECT_THAT(events_.lost[0].reason, HasSubstr("retired"));
  EXPECT_EQ(pool.lent_count(), 0);
  EXPECT_THAT(pool.lent_ready(), IsEmpty());
  EXPECT_EQ(pool.connection(lent), nullptr);
  EXPECT_EQ(pool.ready_count(), 1);
  EXPECT_EQ(pool.process_count(), 2) << "not reaped yet";

  helper_reaped(lent, SIGKILL);
  poll();
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(events_.exited.size(), 1u);
  EXPECT_EQ(events_.exited[0].worker, lent);
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, lent)) << "a retired worker was replaced";
  EXPECT_EQ(pool.process_count(), 1);
  EXPECT_FALSE(pool.is_lent(lent)) << "forgotten once reaped";
  EXPECT_THAT(err, Not(HasSubstr("warning"))) << err;
  EXPECT_THAT(err, Not(HasSubstr("SIGKILL"))) << err;
  EXPECT_TRUE(events_.pool_failed.empty());
  EXPECT_THAT(events_.log, ElementsAre("ready 0", "ready 1", "lost 1", "exited 1"));
}

TEST_F(WorkerPoolTest, LentWorkerThatDiesIsNotReplaced) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  bring_up(0);
  pool.mark_running();
  const WorkerId lent = pool.lend();
  bring_up(lent);

  ::testing::internal::CaptureStderr();
  dies(lent, SIGSEGV);
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(events_.exited.size(), 1u);
  EXPECT_EQ(events_.exited[0].worker, lent);
  EXPECT_EQ(events_.exited[0].how.signal, SIGSEGV);
  EXPECT_THAT(launcher_.spawned, ElementsAre(0u, lent)) << "a lent worker was replaced";
  EXPECT_EQ(pool.lent_count(), 0);
  EXPECT_EQ(pool.process_count(), 1);
  // Unlike a retired one, a lent worker that dies is worth a warning.
  if (logging::enabled(logging::Level::kWarn)) {
    EXPECT_THAT(err, HasSubstr("warning")) << err;
    EXPECT_THAT(err, HasSubstr("SIGSEGV")) << err;
  }

  // Lent workers that die before Ready are not failed starts of any seat: the pool goes on.
  for (int i = 0; i < WorkerPool::kMaxFailedStarts + 1; ++i) {
    const WorkerId w = pool.lend();
    spawned(w);
    dies(w);
    EXPECT_FALSE(events_.lost.back().was_ready);
  }
  EXPECT_THAT(events_.pool_failed, IsEmpty());
  EXPECT_EQ(launcher_.spawned.size(), 2u + WorkerPool::kMaxFailedStarts + 1);
  EXPECT_EQ(pool.process_count(), 1);
  EXPECT_EQ(pool.ready_count(), 1);
}

TEST_F(WorkerPoolTest, RetireOfASeatOrAStartingWorkerDoesNothing) {
  WorkerPool& pool = make_pool(1);
  pool.start();
  bring_up(0);
  pool.mark_running();
  pool.retire(0);  // a seat's worker
  const WorkerId lent = pool.lend();
  pool.retire(lent);  // lent, but not ready: the caller cannot know it is idle
  pool.retire(99);    // unknown
  poll();
  EXPECT_THAT(launcher_.killed, IsEmpty());
  EXPECT_THAT(events_.lost, IsEmpty());
  EXPECT_EQ(pool.ready_count(), 1);
  EXPECT_NE(pool.connection(0), nullptr);
  EXPECT_EQ(pool.lent_count(), 1);
  EXPECT_EQ(pool.process_count(), 2);

  bring_up(lent);  // the starting one carries on and becomes ready
  EXPECT_THAT(pool.lent_ready(), ElementsAre(lent));
}

}  // namespace
}  // namespace shoal::internal
