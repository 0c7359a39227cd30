#!/usr/bin/env bash
# Builds shoal with everything (library, examples, tests) and runs the whole test suite: the
# README's test command, and what CI runs (.ci/run). Installs the Debian packages it needs first.
# Before the tests it checks what no test can: the formatting (scripts/check-format.sh), that
# .clang-tidy is valid (scripts/check-tidy.sh --config-only; the lint run itself is by hand), and
# the lock annotations with clang's thread-safety analysis (scripts/check-thread-safety.sh, a
# second, compile-only build in build-clang-tsa/). The checks come first: they fail sooner.
# Works from any directory; extra arguments go to ctest (e.g. -R ApiTest, --repeat until-fail:20).
#
#   scripts/test.sh
#   SHOAL_BUILD_DIR=out scripts/test.sh   # build somewhere other than build/
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${SHOAL_BUILD_DIR:-build}"

scripts/install-deps.sh
start=$SECONDS
scripts/check-format.sh
scripts/check-tidy.sh --config-only
scripts/check-thread-safety.sh
echo "test.sh: the checks took $((SECONDS - start)) s"

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" -j"$(nproc)"
cd "$build_dir"
# Two at a time: each test runs its own workers, sized for a 2-core machine.
ctest -j2 --output-on-failure "$@"
