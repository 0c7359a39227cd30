// The control socket, both ends in this process: a ControlServer with fixed handlers and the
// client the `shoal` command uses. What a request gets, what a bad one gets, the limits that keep
// a stuck or hostile client from wedging the server, and the peer checks on both sides.
#include "src/control/control_server.hpp"

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/control/control_client.hpp"
#include "src/control/control_error.hpp"
#include "src/control/control_protocol.hpp"
#include "src/control/session_directory.hpp"

namespace shoal::internal::control {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

SessionAddress address_of(const ControlServer& server) {
  SessionAddress address;
  EXPECT_TRUE(parse_socket_name(server.name(), &address)) << server.name();
  return address;
}

ControlServer::Handlers fixed_handlers() {
  ControlServer::Handlers h;
  h.hello = [] { return R"({"pid":1,"program":"fixed","started_unix_s":0,"workers":2})"; };
  h.status = [] { return R"({"text":"2 workers, 0 tasks\n","workers":2})"; };
  h.memory = [] { return R"({"text":"store: 0 of 1 MiB\n"})"; };
  h.timeline = [] { return R"({"traceEvents":[]})"; };
  return h;
}

// A raw connection to the server, for clients that misbehave.
int connect_raw(const std::string& name) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path + 1, name.data(), name.size());
  const auto length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), length) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Reads a socket or pipe until EOF (or an error) or `timeout`; *eof says which.
std::string read_all(int fd, std::chrono::milliseconds timeout, bool* eof) {
  std::string text;
  const auto deadline = Clock::now() + timeout;
  *eof = false;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return text;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n <= 0) {
      *eof = true;
      return text;
    }
    text.append(buffer, static_cast<std::size_t>(n));
  }
}

TEST(ControlServer, NameSaysWhoseSessionItIs) {
  ControlServer a(fixed_handlers());
  ControlServer b(fixed_handlers());
  const SessionAddress address = address_of(a);
  EXPECT_EQ(address.uid, geteuid());
  EXPECT_EQ(address.pid, getpid());
  EXPECT_NE(a.name(), b.name()) << "the random part must differ";
}

TEST(ControlServer, AnswersEachCommandWithItsHandlersDocument) {
  ControlServer server(fixed_handlers());
  const SessionAddress address = address_of(server);
  EXPECT_EQ(ask(address, "hello").document["program"], "fixed");
  EXPECT_EQ(ask(address, "status").document["text"], "2 workers, 0 tasks\n");
  EXPECT_EQ(ask(address, "memory").document["text"], "store: 0 of 1 MiB\n");
  EXPECT_TRUE(ask(address, "timeline").document["traceEvents"].is_array());
  // The raw text is the handler's document plus a newline.
  EXPECT_EQ(ask_raw(address, "status\n"), R"({"text":"2 workers, 0 tasks\n","workers":2})"
                                          "\n");
}

TEST(ControlServer, HandlersRunOnTheServersOwnThread) {
  std::atomic<std::thread::id> handler_thread{};
  ControlServer::Handlers h = fixed_handlers();
  h.hello = [&] {
    handler_thread = std::this_thread::get_id();
    return std::string("{}");
  };
  ControlServer server(h);
  ask(address_of(server), "hello");
  EXPECT_NE(handler_thread.load(), std::thread::id());
  EXPECT_NE(handler_thread.load(), std::this_thread::get_id());
}

TEST(ControlServer, UnknownCommandGetsAnErrorDocument) {
  ControlServer server(fixed_handlers());
  const SessionAddress address = address_of(server);
  const nlohmann::json reply = nlohmann::json::parse(ask_raw(address, "launch missiles\n"));
  ASSERT_TRUE(reply.contains("error"));
  EXPECT_NE(reply["error"].get<std::string>().find("unknown command 'launch missiles'"),
            std::string::npos);
  try {
    ask(address, "frobnicate");
    FAIL() << "an unknown command must be refused";
  } catch (const ControlError& e) {
    EXPECT_EQ(e.kind(), ControlErrorKind::kRefused);
    EXPECT_NE(std::string(e.what()).find("unknown command"), std::string::npos) << e.what();
  }
}

TEST(ControlServer, HandlerThatThrowsGetsAnErrorDocument) {
  ControlServer::Handlers h = fixed_handlers();
  h.status = []() -> std::string { throw std::runtime_error("the table is \"locked\""); };
  ControlServer server(h);
  try {
    ask(address_of(server), "status");
    FAIL() << "a throwing handler must give an error";
  } catch (const ControlError& e) {
    EXPECT_EQ(e.kind(), ControlErrorKind::kRefused);
    EXPECT_NE(std::string(e.what()).find("status failed: the table is \"locked\""),
              std::string::npos)
        << e.what();
  }
  // The server still serves.
  EXPECT_EQ(ask(address_of(server), "hello").document["program"], "fixed");
}

TEST(ControlServer, MissingHandlerIsNotAvailable) {
  ControlServer::Handlers h = fixed_handlers();
  h.memory = nullptr;
  ControlServer server(h);
  const nlohmann::json reply = nlohmann::json::parse(ask_raw(address_of(server), "memory\n"));
  EXPECT_EQ(reply["error"], "memory is not available");
}

TEST(ControlServer, RequestLineOverTheLimitGetsAnError) {
  ControlServer server(fixed_handlers());
  const std::string request(kMaxRequestBytes + 10, 'a');
  const nlohmann::json reply = nlohmann::json::parse(ask_raw(address_of(server), request));
  EXPECT_NE(reply["error"].get<std::string>().find("longer than"), std::string::npos);
}

TEST(ControlServer, RequestEndedByEofInsteadOfNewlineIsAnswered) {
  ControlServer server(fixed_handlers());
  const int fd = connect_raw(server.name());
  ASSERT_GE(fd, 0);
  ASSERT_EQ(send(fd, "hello\r", 6, MSG_NOSIGNAL), 6);
  shutdown(fd, SHUT_WR);
  bool eof = false;
  const std::string reply = read_all(fd, 5s, &eof);
  close(fd);
  EXPECT_TRUE(eof);
  EXPECT_EQ(nlohmann::json::parse(reply)["program"], "fixed");
}

TEST(ControlServer, HugeReplyArrivesWhole) {
  ControlServer::Handlers h = fixed_handlers();
  const std::string big = "{\"traceEvents\":[],\"pad\":\"" + std::string(64 << 20, 'x') + "\"}";
  h.timeline = [&] { return big; };
  ControlServer server(h);
  const Reply reply = ask(address_of(server), "timeline");
  EXPECT_EQ(reply.text.size(), big.size() + 1);
  EXPECT_EQ(reply.document["pad"].get_ref<const std::string&>().size(), std::size_t{64} << 20);
}

TEST(ControlServer, ClientRefusesAReplyOverItsLimit) {
  ControlServer::Handlers h = fixed_handlers();
  h.timeline = [] { return "{\"pad\":\"" + std::string(1 << 20, 'x') + "\"}"; };
  ControlServer server(h);
  ClientOptions options;
  options.max_reply_bytes = 64 * 1024;
  try {
    ask(address_of(server), "timeline", options);
    FAIL() << "a reply over the limit must be refused";
  } catch (const ControlError& e) {
    EXPECT_EQ(e.kind(), ControlErrorKind::kBadReply);
    EXPECT_NE(std::string(e.what()).find("larger than the limit"), std::string::npos) << e.what();
  }
  // The server did not get stuck on the abandoned reply.
  EXPECT_EQ(ask(address_of(server), "hello").document["program"], "fixed");
}

TEST(ControlServer, SilentClientDoesNotBlockOthersAndIsDroppedAfterTheRequestTimeout) {
  ControlServer server(fixed_handlers());
  const auto start = Clock::now();
  const int silent = connect_raw(server.name());
  ASSERT_GE(silent, 0);
  // Another client is answered at once, while the silent one holds its connection.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ask(address_of(server), "hello").document["workers"], 2);
  EXPECT_LT(Clock::now() - start, 1s);
  // The silent one is closed after kRequestTimeout, with nothing sent.
  bool eof = false;
  const std::string got = read_all(silent, kRequestTimeout + 3s, &eof);
  close(silent);
  EXPECT_TRUE(eof) << "the server never closed a client that sent nothing";
  EXPECT_EQ(got, "");
  EXPECT_GE(Clock::now() - start, kRequestTimeout - 100ms);
}

TEST(ControlServer, ClientThatDoesNotReadItsReplyDoesNotBlockOthers) {
  ControlServer::Handlers h = fixed_handlers();
  h.timeline = [] { return "{\"pad\":\"" + std::string(32 << 20, 'x') + "\"}"; };
  ControlServer server(h);
  const int reader = connect_raw(server.name());
  ASSERT_GE(reader, 0);
  ASSERT_EQ(send(reader, "timeline\n", 9, MSG_NOSIGNAL), 9);
  std::this_thread::sleep_for(200ms);  // the server fills this socket's buffer and moves on
  const auto start = Clock::now();
  EXPECT_EQ(ask(address_of(server), "status").document["workers"], 2);
  EXPECT_LT(Clock::now() - start, 1s);
  close(reader);
}

TEST(ControlServer, MoreClientsThanTheLimitAreToldBusyNotQueuedForever) {
  ControlServer server(fixed_handlers());
  std::vector<int> silent;
  for (std::size_t i = 0; i < kMaxClients; ++i) silent.push_back(connect_raw(server.name()));
  std::this_thread::sleep_for(200ms);  // the server accepts them
  try {
    ask(address_of(server), "hello");
    FAIL() << "a client over the limit must be told busy";
  } catch (const ControlError& e) {
    EXPECT_EQ(e.kind(), ControlErrorKind::kRefused);
    EXPECT_NE(std::string(e.what()).find("busy"), std::string::npos) << e.what();
  }
  for (int fd : silent) close(fd);
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(ask(address_of(server), "hello").document["workers"], 2);
}

TEST(ControlServer, ClientTimesOutOnASlowHandlerAndSaysWhichTimeout) {
  ControlServer::Handlers h = fixed_handlers();
  h.status = [] {
    std::this_thread::sleep_for(1500ms);
    return std::string("{}");
  };
  ControlServer server(h);
  ClientOptions options;
  options.reply_timeout = 300ms;
  const auto start = Clock::now();
  try {
    ask(address_of(server), "status", options);
    FAIL() << "a slow reply must time out";
  } catch (const ControlError& e) {
    EXPECT_EQ(e.kind(), ControlErrorKind::kTimeout);
    EXPECT_NE(std::string(e.what()).find("within 300 ms (reply timeout)"), std::string::npos)
        << e.what();
  }
  EXPECT_LT(Clock::now() - start, 1200ms);
}

TEST(ControlServer, DestructionIsBoundedAndTheNameGoesWithIt) {
  auto server = std::make_unique<ControlServer>(fixed_handlers());
  const SessionAddress address = address_of(*server);
  const int silent = connect_raw(server->name());
  ASSERT_GE(silent, 0);
  std::this_thread::sleep_for(50ms);
  const auto start = Clock::now();
  server.reset();
  EXPECT_LT(Clock::now() - start, 500ms);
  bool eof = false;
  read_all(silent, 2s, &eof);
  close(silent);
  EXPECT_TRUE(eof) << "a connected client was not closed";
  try {
    ask(address, "hello");
    FAIL() << "the name must be gone";
  } catch (const ControlError& e) {
    EXPECT_EQ(e.kind(), ControlErrorKind::kEnded) << e.what();
  }
}

TEST(ControlServer, EndedSessionRefusesConnectionsEvenIfAForkedChildHoldsTheSocket) {
  auto server = std::make_unique<ControlServer>(fixed_handlers());
  const SessionAddress address = address_of(*server);
  int gate[2];
  ASSERT_EQ(pipe(gate), 0);
  const pid_t child = fork();  // inherits the listening socket
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(gate[1]);
    char c;
    [[maybe_unused]] auto n = read(gate[0], &c, 1);  // until the test closes its end
    _exit(0);
  }
  close(gate[0]);
  server.reset();
  const auto start = Clock::now();
  try {
    ask(address, "hello");
    ADD_FAILURE() << "an ended session must not answer";
  } catch (const ControlError& e) {
    EXPECT_EQ(e.kind(), ControlErrorKind::kEnded) << e.what();
  }
  EXPECT_LT(Clock::now() - start, 1s) << "refused at once, not left to time out";
  close(gate[1]);
  int status = 0;
  waitpid(child, &status, 0);
}

TEST(ControlClient, RefusesASocketHeldByAnotherProcessThanItsNameSays) {
  ControlServer server(fixed_handlers());
  SessionAddress address = address_of(server);
  address.pid = getpid() + 1;  // the name claims another process
  try {
    ask(address, "hello");
    FAIL() << "the peer check must refuse";
  } catch (const ControlError& e) {
    EXPECT_EQ(e.kind(), ControlErrorKind::kWrongPeer);
    EXPECT_NE(std::string(e.what()).find("held by process " + std::to_string(getpid())),
              std::string::npos)
        << e.what();
  }
}

TEST(SessionDirectory, FindsALiveServerInProcNetUnixAndForgetsItWhenItIsGone) {
  std::string name;
  {
    ControlServer server(fixed_handlers());
    name = server.name();
    const SessionDirectory directory = SessionDirectory::scan();
    const SessionAddress found = directory.find(getpid(), geteuid());
    EXPECT_EQ(found.name, name);
    bool listed = false;
    for (const SessionAddress& s : directory.of_user(geteuid())) listed |= s.name == name;
    EXPECT_TRUE(listed);
  }
  try {
    SessionDirectory::scan().find(getpid(), geteuid());
    FAIL() << "no session after the server is gone";
  } catch (const ControlError& e) {
    EXPECT_EQ(e.kind(), ControlErrorKind::kNoSession) << e.what();
  }
}

// The server answers only its own uid. As root, a child that becomes `nobody` connects.
TEST(ControlServer, RefusesAnotherUser) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root, to run a client as another user (nobody)";
  std::atomic<int> handler_calls{0};
  ControlServer::Handlers h = fixed_handlers();
  h.status = [&] {
    ++handler_calls;
    return std::string("{\"text\":\"secret\"}");
  };
  ControlServer server(h);
  int result[2];
  ASSERT_EQ(pipe(result), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(result[0]);
    if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
      const char skip[] = "SKIP setuid failed";
      [[maybe_unused]] auto n = write(result[1], skip, sizeof(skip) - 1);
      _exit(0);
    }
    const int fd = connect_raw(server.name());
    std::string reply = "CONNECT FAILED";
    if (fd >= 0) {
      [[maybe_unused]] auto sent = send(fd, "status\n", 7, MSG_NOSIGNAL);
      bool eof = false;
      reply = read_all(fd, 5s, &eof);
    }
    [[maybe_unused]] auto n = write(result[1], reply.data(), reply.size());
    _exit(0);
  }
  close(result[1]);
  bool eof = false;
  const std::string reply = read_all(result[0], 10s, &eof);
  close(result[0]);
  int status = 0;
  waitpid(child, &status, 0);
  if (reply.rfind("SKIP", 0) == 0) GTEST_SKIP() << "cannot become nobody (65534): " << reply;
  ASSERT_NE(reply, "CONNECT FAILED");
  const nlohmann::json document = nlohmann::json::parse(reply);
  ASSERT_TRUE(document.contains("error")) << reply;
  EXPECT_NE(document["error"].get<std::string>().find("refused"), std::string::npos) << reply;
  EXPECT_NE(document["error"].get<std::string>().find("uid 65534"), std::string::npos) << reply;
  EXPECT_EQ(handler_calls.load(), 0) << "no handler may run for another user";
  // Its own user is still served.
  EXPECT_EQ(ask(address_of(server), "status").document["text"], "secret");
}

}  // namespace
}  // namespace shoal::internal::control
