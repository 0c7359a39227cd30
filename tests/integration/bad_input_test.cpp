// Frames on a worker's socket are untrusted input. Here a worker misbehaves for real: a task
// writes garbage, a truncated frame, an oversized frame or a well-formed but impossible message
// onto its own socket to the driver. The driver must cut that worker off with a logged reason, fail
// the task with a typed error (or retry it), replace the worker, and keep serving the other worker
// and every later task. Nothing may crash or hang (each case has a ctest TIMEOUT).
//
// The task finds its socket honestly: a worker holds exactly one socket, the one to its driver,
// which it finds in /proc/self/fd.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <shoal/shoal.hpp>

#include "src/transport/frame.hpp"
#include "src/transport/protocol.hpp"
#include "tests/support/driver.hpp"
#include "tests/support/session.hpp"
#include "tests/support/test_support.hpp"

namespace {

using shoal::internal::MessageType;

// What a misbehaving task writes to the driver.
enum Mode : int {
  kGarbage,                // bytes that are not a frame (wrong version)
  kUnknownType,            // a header with a message type that does not exist
  kOversized,              // a valid header whose body size is absurd (4 GiB)
  kAtLimitThenExit,        // a header announcing a 16 MiB body, a few bytes of it, then death
  kTruncatedThenReply,     // 7 bytes of a header; the worker's real reply then misaligns the stream
  kTruncatedThenExit,      // half a frame, then death
  kWrongDirection,         // a Task message, which only the driver sends
  kSecondReady,            // Ready again, from a worker that is running a task
  kBadTaskDone,            // a TaskDone whose status does not exist
  kResultOutsideTheStore,  // a TaskDone whose result lies beyond the end of the arena
  kAllocForAnotherTask,    // an AllocRequest for a task this worker is not running
};

const char* mode_name(int mode) {
  static const char* const kNames[] = {"Garbage",
                                       "UnknownType",
                                       "Oversized",
                                       "AtLimitThenExit",
                                       "TruncatedThenReply",
                                       "TruncatedThenExit",
                                       "WrongDirection",
                                       "SecondReady",
                                       "BadTaskDone",
                                       "ResultOutsideTheStore",
                                       "AllocForAnotherTask"};
  return kNames[mode];
}

// What the driver says when it closes the connection (in the error and in its log).
const char* expected_reason(int mode) {
  static const char* const kReasons[] = {"bad frame: frame has protocol version 171",
                                         "bad frame: frame has unknown message type 999",
                                         "bad frame: frame body of 4294967280 bytes exceeds",
                                         "socket closed in the middle of a frame",
                                         "bad frame: frame has unknown flags",
                                         "socket closed in the middle of a frame",
                                         "bad message: unexpected Task message",
                                         "bad message: unexpected Ready message",
                                         "bad message: task result has unknown status",
                                         "bad message: task result names store space",
                                         "bad message: allocation request for a task"};
  return kReasons[mode];
}

// The one socket a worker holds: its connection to the driver.
int driver_socket() {
  int found = -1, count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(entry.path(), ec).string();
    if (ec || target.rfind("socket:", 0) != 0) continue;
    found = std::stoi(entry.path().filename().string());
    ++count;
  }
  if (count != 1) {
    throw std::runtime_error("expected one socket in the worker, found " + std::to_string(count));
  }
  return found;
}

void write_raw(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = send(fd, p, size, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send to the driver failed");
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void write_frame(int fd, MessageType type, std::uint64_t id, const std::string& body) {
  shoal::detail::ByteBuffer out;
  shoal::internal::put_header(out, type, id, static_cast<std::uint32_t>(body.size()));
  out.write(body.data(), body.size());
  write_raw(fd, out.data(), out.size());
}

std::string header_bytes(std::uint32_t body_size, std::uint16_t type, std::uint8_t version = 1) {
  std::string h(shoal::internal::kFrameHeaderSize, '\0');
  std::memcpy(h.data(), &body_size, 4);
  std::memcpy(h.data() + 4, &type, 2);
  std::memcpy(h.data() + 6, &version, 1);
  return h;
}

template <class T>
std::string scalar(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

// Writes what `mode` says. Returns normally only for kTruncatedThenReply (the worker's own reply
// must follow); otherwise it waits to be killed, or ends the worker itself.
void misbehave(int mode) {
  const int fd = driver_socket();
  switch (mode) {
    case kGarbage: {
      const std::string junk(64, '\xAB');
      write_raw(fd, junk.data(), junk.size());
      break;
    }
    case kUnknownType:
      write_raw(fd, header_bytes(0, 999).data(), shoal::internal::kFrameHeaderSize);
      break;
    case kOversized:
      write_raw(fd, header_bytes(0xFFFFFFF0u, 3).data(), shoal::internal::kFrameHeaderSize);
      break;
    case kAtLimitThenExit: {
      const std::string frame =
          header_bytes(shoal::internal::kMaxBodySize, 3) + std::string(100, '\0');
      write_raw(fd, frame.data(), frame.size());
      _exit(0);
    }
    case kTruncatedThenReply:  // body size 1 MiB, type Ready, version 1: the flags byte is missing
      write_raw(fd, header_bytes(1u << 20, 1).data(), 7);
      return;
    case kTruncatedThenExit: {
      const std::string frame = header_bytes(100, 3) + std::string(10, '\x01');
      write_raw(fd, frame.data(), frame.size());
      _exit(0);
    }
    case kWrongDirection:
      write_frame(fd, MessageType::kTask, 1, std::string(20, '\0'));
      break;
    case kSecondReady:
      write_frame(fd, MessageType::kReady, 0, scalar<std::int64_t>(getpid()));
      break;
    case kBadTaskDone:
      write_frame(fd, MessageType::kTaskDone, 1,
                  std::string(1, '\x7F') + scalar<std::uint64_t>(1) + scalar<std::int64_t>(1) +
                      scalar<std::uint64_t>(0));  // exec_ns, start_ns, store_ns
      break;
    case kResultOutsideTheStore: {
      shoal::internal::TaskDone done;
      done.task = 1;
      done.exec_ns = 1;
      done.value.kind = shoal::internal::RecordKind::kStore;
      done.value.format = shoal::detail::Format::kRaw;
      done.value.offset = 1ull << 60;
      done.value.size = 4096;
      shoal::detail::ByteBuffer frame;
      shoal::internal::encode_task_done(frame, done);
      write_raw(fd, frame.data(), frame.size());
      break;
    }
    case kAllocForAnotherTask: {
      shoal::detail::ByteBuffer frame;
      shoal::internal::encode_alloc_request(frame, {0, 1, std::uint64_t{1} << 20});
      write_raw(fd, frame.data(), frame.size());
      break;
    }
    default:
      throw std::invalid_argument("unknown mode");
  }
  // The driver cuts this worker off and kills it now. If it did not, the task would return after
  // this pause and the test would see a value instead of an error: it fails, it does not hang.
  std::this_thread::sleep_for(std::chrono::seconds(20));
}

int misbehaving_task(int mode) {
  misbehave(mode);
  return -1;
}

// Shared with the workers through fork (an anonymous shared mapping made before init(), so
// nothing is named in the filesystem): counts the attempts of misbehave_once.
std::atomic<int>* const g_attempts = [] {
  void* p = mmap(nullptr, sizeof(std::atomic<int>), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : new (p) std::atomic<int>(0);
}();

// Misbehaves on its first attempt only; the retry returns x.
int misbehave_once(int x) {
  if (g_attempts->fetch_add(1) == 0) misbehave(kGarbage);
  return x;
}

int slow_identity(int x) {
  std::this_thread::sleep_for(std::chrono::microseconds(200));
  return x;
}

SHOAL_REMOTE(misbehaving_task, misbehave_once, slow_identity);

// Captures what the driver writes to stderr (its log) into an anonymous memfd.
class StderrCapture {
 public:
  StderrCapture() : fd_(memfd_create("stderr-capture", MFD_CLOEXEC)), saved_(dup(STDERR_FILENO)) {
    std::fflush(stderr);
    dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() {
    std::fflush(stderr);
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fd_);
  }
  std::string text() const {
    std::fflush(stderr);
    std::string out;
    char buf[4096];
    off_t at = 0;
    ssize_t n;
    while ((n = pread(fd_, buf, sizeof buf, at)) > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      at += n;
    }
    return out;
  }

 private:
  int fd_;
  int saved_;
};

std::vector<shoal::ObjectRef<int>> submit_batch(int n, int base) {
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < n; ++i) refs.push_back(shoal::task(slow_identity).remote(base + i));
  return refs;
}

void expect_batch(const std::vector<shoal::ObjectRef<int>>& refs, int base) {
  const std::vector<int> values = shoal::get(refs);
  ASSERT_EQ(values.size(), refs.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(values[i], base + static_cast<int>(i));
  }
}

std::vector<pid_t> worker_pids() { return shoal::testing::driver_runtime()->TEST_worker_pids(); }

class BadInputTest : public shoal::testing::SessionTest,
                     public ::testing::WithParamInterface<int> {};

TEST_P(BadInputTest, TheWorkerIsCutOffAndTheDriverKeepsServing) {
  const StderrCapture log;
  const std::vector<pid_t> before = worker_pids();
  ASSERT_EQ(before.size(), 2u);

  // Normal work before, alongside and after the bad worker.
  auto first = submit_batch(100, 0);
  auto bad = shoal::task(misbehaving_task).options({.max_retries = 0}).remote(GetParam());
  auto during = submit_batch(100, 1000);
  try {
    shoal::get(bad);
    FAIL() << "the misbehaving task returned a value";
  } catch (const shoal::WorkerCrashedError& e) {
    EXPECT_EQ(e.function_name(), "misbehaving_task");
    EXPECT_EQ(e.attempts(), 1);
    const std::string what = e.what();
    EXPECT_NE(what.find(expected_reason(GetParam())), std::string::npos) << what;
    // A worker the driver cut off is not blamed on the OOM killer; one that left says so.
    const bool exits = GetParam() == kAtLimitThenExit || GetParam() == kTruncatedThenExit;
    EXPECT_NE(what.find(exits ? "exited with code 0" : "the driver cut it off"), std::string::npos)
        << what;
  }
  expect_batch(first, 0);
  expect_batch(during, 1000);
  expect_batch(submit_batch(100, 2000), 2000);

  // The reason is in the driver's log.
  EXPECT_TRUE(shoal::testing::eventually(
      [&] { return log.text().find(expected_reason(GetParam())) != std::string::npos; },
      std::chrono::seconds(5)))
      << log.text();
  // The pool is back to two workers, and one of them is new.
  EXPECT_TRUE(shoal::testing::eventually([] { return worker_pids().size() == 2; },
                                         std::chrono::seconds(10)));
  const std::vector<pid_t> after = worker_pids();
  EXPECT_NE(after, before);
  for (pid_t p : before) {
    if (std::find(after.begin(), after.end(), p) == after.end()) {
      EXPECT_TRUE(shoal::testing::eventually([p] { return !shoal::testing::process_alive(p); },
                                             std::chrono::seconds(5)))
          << "the cut-off worker " << p << " still runs";
    }
  }
  expect_batch(submit_batch(20, 3000), 3000);
}

INSTANTIATE_TEST_SUITE_P(EveryKindOfBadFrame, BadInputTest,
                         ::testing::Range(static_cast<int>(kGarbage),
                                          static_cast<int>(kAllocForAnotherTask) + 1),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return std::string(mode_name(param.param));
                         });

// Workers forked from this process: g_attempts is a mapping this process made, which a fresh
// start of the program (start method "forkserver") would not share.
class BadInputRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shoal::Config config = shoal::testing::SessionTest::test_config();
    config.start_method = "fork";
    shoal::init(config);
  }
  void TearDown() override { shoal::shutdown(); }
};

TEST_F(BadInputRetryTest, ATaskWhoseWorkerWasCutOffIsRetried) {
  ASSERT_NE(g_attempts, nullptr);
  g_attempts->store(0);
  auto batch = submit_batch(50, 0);
  EXPECT_EQ(shoal::get(shoal::task(misbehave_once).remote(42)), 42);
  EXPECT_EQ(g_attempts->load(), 2);
  expect_batch(batch, 0);
}

}  // namespace
