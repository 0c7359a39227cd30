// The "forkserver" start method's other half: a fresh start of the program that becomes the fork
// helper before its main() runs (Config::start_method, ForkHelper::start).
//
// Why a fresh start: fork() copies only the calling thread, so forking a program whose libraries
// run thread pools (GCC's OpenMP runtime has no fork handlers) can leave every worker waiting for
// threads that do not exist. A fresh start of the same binary has run its static initialisers,
// so it knows every SHOAL_REMOTE function, but none of what main() did since, threads included.
// Python's multiprocessing does the same with its forkserver, the default since Python 3.14.
//
// How it stops before main(): the program is linked with -Wl,--wrap=main (the CMake target
// shoal::shoal adds it), so the C runtime's call to main() reaches __wrap_main below, after
// every static initialiser of the program and its libraries has run. With kForkserverEnv set,
// it runs the helper's loop and never returns; otherwise it calls the program's main(), which
// the linker names __real_main.
//
// Rejected: a helper forked from a load-time constructor, before main() (the constructors of
// the program's own files, SHOAL_REMOTE among them, may not have run yet at that point, and
// every program linking shoal would start a process whether it uses shoal or not); running the
// program's main() until it calls init() (code before init() would run again in the helper: the
// very OpenMP loop that makes fork unsafe).
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <sys/mman.h>
#include <unistd.h>

#include "src/fork_helper/fork_helper.hpp"

// __real_main and __wrap_main are the names the linker's --wrap=main gives the two sides of the
// wrap; being reserved identifiers is the point (nothing else may use them).
// Weak: a program linked without --wrap=main (by hand, not through the CMake target) has no
// __real_main, and must still link; it then has no forkserver (forkserver_available() is false,
// and asking for it says how to link), and init() cannot tell whether main() has started.
// NOLINTNEXTLINE(bugprone-reserved-identifier)
extern "C" int __real_main(int argc, char** argv, char** envp) __attribute__((weak));

namespace shoal::internal {
namespace {

bool g_main_wrapped = false;  // set when main() was entered through __wrap_main

// Reads "key=number" out of the comma-separated setting; false if absent or malformed.
template <class T>
bool read_field(std::string_view setting, std::string_view key, T* value) {
  for (std::size_t at = 0; at < setting.size();) {
    std::size_t end = setting.find(',', at);
    if (end == std::string_view::npos) end = setting.size();
    const std::string_view field = setting.substr(at, end - at);
    if (field.size() > key.size() && field.substr(0, key.size()) == key &&
        field[key.size()] == '=') {
      const std::string_view number = field.substr(key.size() + 1);
      return std::from_chars(number.data(), number.data() + number.size(), *value).ec ==
             std::errc();
    }
    at = end + 1;
  }
  return false;
}

[[noreturn]] void fail(const char* what) {
  // The driver reports the helper's death; this says why, on the stderr it shares with it.
  const std::string line = std::string("shoal fork helper: ") + what + "\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
  _exit(3);
}

[[noreturn]] void run_forkserver(const char* setting) {
  const std::string_view s(setting);
  int control = -1, store = -1, level = 0;
  std::uint64_t size = 0;
  pid_t driver = 0;
  if (!read_field(s, "control", &control) || !read_field(s, "store", &store) ||
      !read_field(s, "size", &size) || !read_field(s, "driver", &driver) ||
      !read_field(s, "level", &level)) {
    fail(
        "malformed "
        "SHOAL_FORKSERVER"
        " setting");
  }
  // Programs a task runs must not become helpers too.
  unsetenv(kForkserverEnv);
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, store, 0);
  if (base == MAP_FAILED) fail("cannot map the object store");
  close(store);  // the mapping is enough; workers inherit it through fork()
  ForkHelperParams params;
  params.control = control;
  params.driver_pid = driver;
  params.level = static_cast<logging::Level>(level);
  params.arena_base = static_cast<char*>(base);
  params.arena_size = size;
  run_fork_helper(params);
}

}  // namespace

bool forkserver_available() noexcept { return g_main_wrapped; }

bool before_main() noexcept { return &__real_main != nullptr && !g_main_wrapped; }

}  // namespace shoal::internal

// NOLINTNEXTLINE(bugprone-reserved-identifier): the linker's name, see __real_main
extern "C" int __wrap_main(int argc, char** argv, char** envp) {
  if (const char* setting = std::getenv(shoal::internal::kForkserverEnv)) {
    shoal::internal::run_forkserver(setting);
  }
  shoal::internal::g_main_wrapped = true;
  return __real_main(argc, argv, envp);
}
