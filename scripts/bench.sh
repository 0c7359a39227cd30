#!/usr/bin/env bash
# Builds the benchmarks and runs bench/compare.py: shoal side by side with the machine's floors,
# Python multiprocessing and the image workload in plain C++ (threads and a loop), in the same
# session and on the same data, with medians and ratios. Installs the Debian packages it needs,
# configures a Release build in build-release/, builds shoal_bench, image_workload and
# rotate_images, and passes its arguments to compare.py. Works from any directory. Takes a few
# minutes with the default 5 rounds; run it on an otherwise idle machine.
#
#   scripts/bench.sh                                    # 5 rounds, the table on stdout
#   scripts/bench.sh --runs 5 --markdown docs/benchmarks.md --json out/benchmarks.json
#   scripts/bench.sh --help                             # compare.py's options
#   SHOAL_BUILD_DIR=out scripts/bench.sh                # build somewhere other than build-release/
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${SHOAL_BUILD_DIR:-build-release}"

scripts/install-deps.sh
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" --target shoal_bench image_workload rotate_images -j"$(nproc)"

# The command line as given, for the report.
launcher="scripts/bench.sh"
if [ -n "${SHOAL_BUILD_DIR:-}" ]; then
  launcher="SHOAL_BUILD_DIR=$(printf %q "$SHOAL_BUILD_DIR") $launcher"
fi
export SHOAL_COMPARE_COMMAND="$launcher$(printf ' %q' "$@")"
exec /usr/bin/python3 bench/compare.py --build-dir "$build_dir" "$@"
