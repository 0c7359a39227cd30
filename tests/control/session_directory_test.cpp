// Finding sessions: socket names, /proc/net/unix text, and what find() says for each kind of pid.
#include "src/control/session_directory.hpp"

#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "src/control/control_error.hpp"
#include "src/control/control_protocol.hpp"

namespace shoal::internal::control {
namespace {

constexpr char kHeader[] = "Num       RefCount Protocol Flags    Type St Inode Path\n";

// A /proc/net/unix line for a socket named `path` ("" for none).
std::string line(const std::string& path, const char* flags = "00010000", const char* type = "0001",
                 const char* state = "01") {
  return std::string("0000000072dab010: 00000002 00000000 ") + flags + " " + type + " " + state +
         " 23456" + (path.empty() ? "" : " " + path) + "\n";
}

TEST(SocketName, RoundTrips) {
  const std::string name = socket_name(1000, 4242, "0123456789abcdef");
  EXPECT_EQ(name, "shoal/1000/4242/0123456789abcdef");
  SessionAddress address;
  ASSERT_TRUE(parse_socket_name(name, &address));
  EXPECT_EQ(address.uid, 1000u);
  EXPECT_EQ(address.pid, 4242);
  EXPECT_EQ(address.name, name);
}

TEST(SocketName, RejectsAnythingElse) {
  SessionAddress a;
  for (const char* bad : {
           "shoal/1000/4242/0123456789abcde",    // 15 hex digits
           "shoal/1000/4242/0123456789abcdef0",  // 17
           "shoal/1000/4242/0123456789ABCDEF",   // upper case
           "shoal/1000/4242/0123456789abcdeg",   // not hex
           "shoal/1000/-42/0123456789abcdef",    // negative pid
           "shoal/1000/0/0123456789abcdef",      // pid 0
           "shoal/x/4242/0123456789abcdef",      // uid not a number
           "shoal/1000/0123456789abcdef",        // no pid
           "shoal/1000//0123456789abcdef",       // empty pid
           "shoal//4242/0123456789abcdef",       // empty uid
           "shoals/1000/4242/0123456789abcdef",  // another prefix
           "/shoal/1000/4242/0123456789abcdef",  // a path, not our name
           "",
       }) {
    EXPECT_FALSE(parse_socket_name(bad, &a)) << bad;
  }
}

TEST(SessionDirectory, ListsListeningSessionSocketsFromProcNetUnix) {
  const std::string text =
      std::string(kHeader) + line("") + line("/run/systemd/journal/stdout") +
      line("@shoal/0/300/00000000000000aa") + line("@shoal/1000/200/00000000000000bb") +
      // The same server's accepted connection carries its name too: not a second session.
      line("@shoal/1000/200/00000000000000bb", "00000000", "0001", "03") +
      // A datagram socket with a session's name: not ours.
      line("@shoal/1000/201/00000000000000cc", "00010000", "0002") +
      // Listed twice (the same name, two lines): one session.
      line("@shoal/0/300/00000000000000aa") + line("@shoal/1000/bad/00000000000000dd") +
      line("@other/1000/202/00000000000000ee") + "garbage line\n" + "0000000072dab010: 00000002\n";
  const SessionDirectory directory = SessionDirectory::from_proc_net_unix(text);
  ASSERT_EQ(directory.all().size(), 2u);
  EXPECT_EQ(directory.all()[0].pid, 200);  // by pid
  EXPECT_EQ(directory.all()[0].uid, 1000u);
  EXPECT_EQ(directory.all()[0].name, "shoal/1000/200/00000000000000bb");
  EXPECT_EQ(directory.all()[1].pid, 300);
  ASSERT_EQ(directory.of_user(1000).size(), 1u);
  EXPECT_EQ(directory.of_user(1000)[0].pid, 200);
  EXPECT_TRUE(directory.of_user(7).empty());
}

TEST(SessionDirectory, EmptyOrHeaderOnlyTextHasNoSessions) {
  EXPECT_TRUE(SessionDirectory::from_proc_net_unix("").all().empty());
  EXPECT_TRUE(SessionDirectory::from_proc_net_unix(kHeader).all().empty());
}

class FindTest : public ::testing::Test {
 protected:
  const SessionDirectory directory_ = SessionDirectory::from_proc_net_unix(
      std::string(kHeader) + line("@shoal/1000/200/00000000000000bb") +
      line("@shoal/0/300/00000000000000aa"));

  ControlErrorKind find_error(pid_t pid, uid_t uid, const ProcessInfo& process,
                              std::string* message) const {
    try {
      directory_.find(pid, uid, process);
    } catch (const ControlError& e) {
      *message = e.what();
      return e.kind();
    }
    ADD_FAILURE() << "find(" << pid << ") found a session";
    return ControlErrorKind::kSystem;
  }
};

TEST_F(FindTest, FindsTheSessionOfTheUsersProcess) {
  const SessionAddress found = directory_.find(200, 1000, {true, false, 1000, "prog"});
  EXPECT_EQ(found.name, "shoal/1000/200/00000000000000bb");
}

TEST_F(FindTest, NoSuchProcess) {
  std::string message;
  EXPECT_EQ(find_error(999, 1000, {}, &message), ControlErrorKind::kNoSuchProcess);
  EXPECT_EQ(message,
            "no process has pid 999: check the PID; `shoal list` shows your running "
            "sessions");
}

TEST_F(FindTest, ZombieIsNoProcess) {
  std::string message;
  EXPECT_EQ(find_error(200, 1000, {true, true, 1000, "prog"}, &message),
            ControlErrorKind::kNoSuchProcess);
  EXPECT_NE(message.find("process 200 (prog) has exited"), std::string::npos) << message;
}

TEST_F(FindTest, ProcessWithoutASession) {
  std::string message;
  EXPECT_EQ(find_error(250, 1000, {true, false, 1000, "sleep"}, &message),
            ControlErrorKind::kNoSession);
  EXPECT_NE(message.find("process 250 (sleep) has no running shoal session"), std::string::npos)
      << message;
  EXPECT_NE(message.find("shoal::shutdown()"), std::string::npos) << message;
}

TEST_F(FindTest, SessionOfAnotherUser) {
  std::string message;
  EXPECT_EQ(find_error(300, 1000, {true, false, 0, "prog"}, &message),
            ControlErrorKind::kOtherUser);
  EXPECT_NE(message.find("process 300 (prog) belongs to "), std::string::npos) << message;
  EXPECT_NE(message.find("uid 0"), std::string::npos) << message;
  EXPECT_NE(message.find("run shoal as that user"), std::string::npos) << message;
}

TEST_F(FindTest, SessionNameOfAnotherUserOnTheUsersProcess) {
  // The process is ours but the socket's name claims uid 0: not attached to.
  std::string message;
  EXPECT_EQ(find_error(300, 1000, {true, false, 1000, "prog"}, &message),
            ControlErrorKind::kOtherUser);
}

TEST_F(FindTest, ProcessOfAnotherUserWithoutASession) {
  std::string message;
  EXPECT_EQ(find_error(400, 1000, {true, false, 33, "www"}, &message),
            ControlErrorKind::kOtherUser);
  EXPECT_NE(message.find("uid 33"), std::string::npos) << message;
}

TEST(ReadProcess, SeesThisProcessAndNotADeadOne) {
  const ProcessInfo me = read_process(getpid());
  EXPECT_TRUE(me.exists);
  EXPECT_FALSE(me.zombie);
  EXPECT_EQ(me.uid, geteuid());
  EXPECT_FALSE(me.program.empty());
  EXPECT_FALSE(read_process(0).exists);
  EXPECT_FALSE(read_process(-5).exists);
  // The largest possible pid is above pid_max.
  EXPECT_FALSE(read_process(0x7fffffff).exists);
}

}  // namespace
}  // namespace shoal::internal::control
