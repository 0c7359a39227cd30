// fork() + execve() with pipes, for the `shoal` command's tests. Everything the child needs
// (argv, envp) is built before fork(), so the child, a copy of a possibly multi-threaded test
// process, only makes system calls before exec.
#include "tests/cli/subprocess.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace shoal::testing {
namespace {

using Clock = std::chrono::steady_clock;

// argv and envp as the arrays execve() takes, owning their strings.
struct ExecArgs {
  std::vector<std::string> strings;
  std::vector<char*> argv;
  std::vector<char*> envp;

  ExecArgs(const std::vector<std::string>& args, const std::vector<std::string>& env) {
    std::vector<std::string> environment;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry = *e;
      bool replaced = false;
      for (const std::string& mine : env) {
        if (entry.substr(0, entry.find('=') + 1) == mine.substr(0, mine.find('=') + 1)) {
          replaced = true;
        }
      }
      if (!replaced) environment.push_back(entry);
    }
    environment.insert(environment.end(), env.begin(), env.end());
    strings = args;
    strings.insert(strings.end(), environment.begin(), environment.end());
    for (std::size_t i = 0; i < strings.size(); ++i) {
      (i < args.size() ? argv : envp).push_back(strings[i].data());
    }
    argv.push_back(nullptr);
    envp.push_back(nullptr);
  }
};

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// In the child: exec or _exit(127).
[[noreturn]] void exec_child(const ExecArgs& args, const RunOptions& options) {
  if (options.in_child && !options.in_child()) _exit(127);
  execve(args.argv[0], args.argv.data(), args.envp.data());
  _exit(127);
}

// Waits for `pid` until `deadline`; true (and *status) if it exited.
bool wait_until(pid_t pid, Clock::time_point deadline, int* status) {
  for (;;) {
    const pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid) return true;
    if (r < 0 && errno != EINTR) return true;  // not our child any more: nothing to wait for
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const RunOptions& options) {
  const ExecArgs args(argv, options.env);
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  }
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (options.own_process_group) setpgid(0, 0);
    const int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    exec_child(args, options);
  }
  if (options.own_process_group) setpgid(pid, pid);  // either side may win the race; both agree
  close(out[1]);
  close(err[1]);

  RunResult result;
  const auto deadline = Clock::now() + timeout;
  bool exited = false;
  int status = 0;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = 2;
  while (open_fds > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    // Short polls: a group's helpers may hold the pipes after the leader exited.
    const int ready = poll(fds, 2, static_cast<int>(std::min<long>(left.count(), 100)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buffer[65536];
      const ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
    if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      if (options.own_process_group) kill(-pid, SIGKILL);  // helpers left behind
    }
  }
  for (auto& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  if (!exited && !wait_until(pid, deadline, &status)) {
    result.timed_out = true;
    kill(options.own_process_group ? -pid : pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  if (options.own_process_group) kill(-pid, SIGKILL);
  result.exit_code = exit_code_of(status);
  return result;
}

Child::Child(const std::vector<std::string>& argv, const RunOptions& options) {
  const ExecArgs args(argv, options.env);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
  }
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    exec_child(args, options);
  }
  close(in[0]);
  close(out[1]);
  stdin_ = in[1];
  stdout_ = out[0];
}

Child::~Child() {
  if (close_and_wait(std::chrono::seconds(20)) < 0 && !reaped_) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (stdout_ >= 0) close(stdout_);
}

std::string Child::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    const auto newline = buffered_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffered_.substr(0, newline);
      buffered_.erase(0, newline + 1);
      return line;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || stdout_ < 0) return "";
    pollfd p{stdout_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[4096];
    const ssize_t n = read(stdout_, buffer, sizeof(buffer));
    if (n <= 0) return "";
    buffered_.append(buffer, static_cast<std::size_t>(n));
  }
}

void Child::write_line(const std::string& line) {
  const std::string text = line + "\n";
  if (stdin_ < 0 || write(stdin_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    throw std::runtime_error("cannot write to the child's stdin");
  }
}

int Child::close_and_wait(std::chrono::milliseconds timeout) {
  if (stdin_ >= 0) {
    close(stdin_);
    stdin_ = -1;
  }
  if (reaped_) return 0;
  int status = 0;
  if (!wait_until(pid_, Clock::now() + timeout, &status)) return -1;
  reaped_ = true;
  return exit_code_of(status);
}

void Child::kill_now() {
  if (reaped_) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  reaped_ = true;
}

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace shoal::testing
