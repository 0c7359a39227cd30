// libFuzzer target: the frame parser and every message decoder (see decode_stream.hpp), on
// arbitrary bytes. Built with clang only (-DSHOAL_BUILD_FUZZERS=ON); see tests/fuzz/README.md.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/decode_stream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  shoal::fuzz::decode_stream(data, size);
  return 0;
}
