#!/usr/bin/env bash
# Builds the library and the tests with clang and -DSHOAL_THREAD_SAFETY=ON (in build-clang-tsa/),
# so that a lock annotation that the code breaks (src/common/thread_annotations.hpp) fails the
# build. Compile only: the tests are run from the GCC build by scripts/test.sh. Then checks the
# check: tests/thread_safety/violations.cpp, compiled with a library source's compile line, must
# get exactly the errors it marks. Part of scripts/test.sh; takes a few minutes on 2 cores.
#
#   scripts/check-thread-safety.sh
#   SHOAL_TSA_BUILD_DIR=out-tsa scripts/check-thread-safety.sh   # build somewhere else
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${SHOAL_TSA_BUILD_DIR:-build-clang-tsa}"

scripts/install-deps.sh
export CC=clang CXX=clang++

# Debian's clang compiles against GCC's libstdc++. Try every standard header the tree includes
# first, so that a clang too old for those headers says so here rather than deep in some test.
headers="$(scripts/source-files.sh | xargs grep -h '^#include <[a-z_]*>$' | sort -u)"
if ! errors="$(printf '%s\nint main() {}\n' "$headers" |
                  "$CXX" -std=c++20 -fsyntax-only -x c++ - 2>&1)"; then
  echo "$errors" >&2
  echo "check-thread-safety: $("$CXX" --version | head -1) cannot compile libstdc++'s headers" \
       "(above); the thread-safety build needs a clang that can" >&2
  exit 1
fi

# -O0 without -g: the analysis runs in the front end, so code generation is only a cost here.
# Test discovery at test time (PRE_TEST): discovering at build time would run every test binary.
cmake -S . -B "$build_dir" -DSHOAL_THREAD_SAFETY=ON -DCMAKE_BUILD_TYPE=Debug \
      -DCMAKE_CXX_FLAGS_DEBUG=-O0 -DSHOAL_BUILD_BENCHMARKS=OFF -DSHOAL_BUILD_EXAMPLES=OFF \
      -DCMAKE_GTEST_DISCOVER_TESTS_DISCOVERY_MODE=PRE_TEST -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
      >/dev/null
cmake --build "$build_dir" -j"$(nproc)"

# The compile line of one library source, with that source swapped for the probe and -verify
# added. A library source, so that the flags are exactly those the option gave the build.
probe=tests/thread_safety/violations.cpp
mapfile -d '' command < <(python3 - "$build_dir/compile_commands.json" "$root/$probe" <<'EOF'
import json, shlex, sys
entries = json.load(open(sys.argv[1]))
entry = next(e for e in entries if e["file"].endswith("/src/transport/connection.cpp"))
args, out, skip = shlex.split(entry["command"]), [], False
for a in args:
    if skip:
        skip = False
    elif a in ("-o", "-c", "-MT", "-MF"):
        skip = True
    elif a not in ("-MD", "-MMD"):
        out.append(a)
if "-Werror=thread-safety" not in out:
    sys.exit("check-thread-safety: the build's compile line lacks -Werror=thread-safety")
out += ["-fsyntax-only", "-Xclang", "-verify", sys.argv[2]]
sys.stdout.write("\0".join(out) + "\0")
EOF
)
if [ ${#command[@]} -eq 0 ]; then
  echo "check-thread-safety: no compile line for the probe" >&2
  exit 1
fi
if ! (cd "$build_dir" && "${command[@]}"); then
  echo "check-thread-safety: $probe did not get exactly the errors it expects (above)" >&2
  exit 1
fi
echo "check-thread-safety: the build passed, and the probe's violations were all reported"
