// A program linked to libshoal by hand, without -Wl,--wrap=main (the CMake target adds it; a
// Makefile or a plain g++ line does not): it must link, run with the "fork" start method, and be
// told how to link when it asks for "forkserver" (a new user's trial: it did not link at all).
#include <cstdio>
#include <string>

#include <shoal/shoal.hpp>

namespace {
int twice(int x) { return 2 * x; }
}  // namespace

SHOAL_REMOTE(twice);

int main() {
  shoal::Config config;
  config.num_cpus = 2;
  shoal::init(config);
  const int got = shoal::get(shoal::task(twice).remote(21));
  shoal::shutdown();
  if (got != 42) {
    std::fprintf(stderr, "no_wrap_link: got %d, expected 42\n", got);
    return 1;
  }
  config.start_method = "forkserver";
  try {
    shoal::init(config);
    std::fprintf(stderr, "no_wrap_link: forkserver started without a wrapped main()\n");
    shoal::shutdown();
    return 1;
  } catch (const shoal::InvalidConfigError& e) {
    if (std::string(e.what()).find("-Wl,--wrap=main") == std::string::npos) {
      std::fprintf(stderr, "no_wrap_link: the error does not say how to link: %s\n", e.what());
      return 1;
    }
  }
  std::printf("no_wrap_link: ok\n");
  return 0;
}
