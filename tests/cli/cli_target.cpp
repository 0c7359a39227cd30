// A shoal program for the `shoal` command's tests (cli_test.cpp) to attach to. Public API only.
//
// It starts a session with 2 CPUs, runs a few tasks (one of which fails) and an actor's calls, and
// prints "ready <pid>" on stdout. Then it reads commands from stdin, one per line, answering each
// on stdout when done:
//   shutdown   -> shoal::shutdown(); prints "shut down" (the process lives on, without a session)
//   exit       -> exits 0
// It also exits at the end of stdin, so a test that dies does not leave it behind.
#include <chrono>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <shoal/shoal.hpp>

namespace {

int slow_square(int x) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return x * x;
}

int fails(int x) { throw std::runtime_error("cli_target: task " + std::to_string(x) + " fails"); }

class Counter {
 public:
  explicit Counter(int start) : value_(start) {}
  int add(int n) { return value_ += n; }

 private:
  int value_;
};

}  // namespace

SHOAL_REMOTE(slow_square, fails);
SHOAL_ACTOR(Counter, &Counter::add);

int main() {
  shoal::init({.num_cpus = 2});
  std::vector<shoal::ObjectRef<int>> refs;
  for (int i = 0; i < 8; ++i) refs.push_back(shoal::task(slow_square).remote(i));
  shoal::get(refs);
  try {
    shoal::get(shoal::task(fails).remote(1));
  } catch (const shoal::TaskError&) {
    // expected: the timeline shows a failed attempt
  }
  // The actor lives until shutdown(), so the session has an actor's lane to show.
  auto counter = shoal::actor<Counter>().options({.num_cpus = 0}).remote(10);
  std::vector<shoal::ObjectRef<int>> calls;
  for (int i = 0; i < 3; ++i) calls.push_back(counter.task(&Counter::add).remote(1));
  shoal::get(calls);
  std::cout << "ready " << getpid() << std::endl;

  for (std::string line; std::getline(std::cin, line);) {
    if (line == "shutdown") {
      shoal::shutdown();
      std::cout << "shut down" << std::endl;
    } else if (line == "exit") {
      return 0;
    }
  }
  return 0;
}
