// Writes the seed corpus for frame_fuzzer: one file per valid frame stream (seed_frames.hpp).
//   frame_fuzz_seeds <directory>
#include <cstdio>
#include <fstream>
#include <string>

#include "tests/fuzz/seed_frames.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
    return 2;
  }
  int n = 0;
  for (const std::string& s : shoal::fuzz::seed_streams()) {
    std::ofstream(std::string(argv[1]) + "/seed-" + std::to_string(n++), std::ios::binary) << s;
  }
  return 0;
}
