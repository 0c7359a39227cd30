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
#   scripts/bench.sh --baseline main --markdown out.md  # also before/after against a commit
#
# --baseline COMMIT checks COMMIT out into build-baseline/src (a git worktree, removed at the end),
# builds it like this tree in build-baseline/, and runs its shoal benchmarks and demo in the same
# rounds as this tree's (compare.py --baseline-build-dir): the honest way to measure a change,
# since both see the same machine noise.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${SHOAL_BUILD_DIR:-build-release}"

baseline=""
given=("$@")  # for the report: as typed, without what this script adds for compare.py
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --baseline) [ $# -ge 2 ] || { echo "bench.sh: --baseline needs a commit" >&2; exit 2; }
                baseline="$2"; shift 2 ;;
    --baseline=*) baseline="${1#--baseline=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

scripts/install-deps.sh
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" --target shoal_bench image_workload rotate_images -j"$(nproc)"

if [ -n "$baseline" ]; then
  base_commit="$(git rev-parse --verify "$baseline^{commit}")" \
    || { echo "bench.sh: --baseline $baseline is not a commit of this repository" >&2; exit 2; }
  base_dir="$root/build-baseline"
  base_src="$base_dir/src"
  cleanup_baseline() { git worktree remove --force "$base_src" 2>/dev/null || true; }
  trap cleanup_baseline EXIT
  cleanup_baseline
  mkdir -p "$base_dir"
  git worktree add --detach "$base_src" "$base_commit" >/dev/null
  cmake -S "$base_src" -B "$base_dir/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$base_dir/build" --target shoal_bench rotate_images -j"$(nproc)"
  label="$(git rev-parse --short "$base_commit")"
  [[ "$label" == "$baseline"* ]] || label="$baseline ($label)"
  args+=(--baseline-build-dir "$base_dir/build" --baseline-label "$label")
fi

# The command line as given, for the report.
launcher="scripts/bench.sh"
if [ -n "${SHOAL_BUILD_DIR:-}" ]; then
  launcher="SHOAL_BUILD_DIR=$(printf %q "$SHOAL_BUILD_DIR") $launcher"
fi
[ ${#given[@]} -eq 0 ] || launcher="$launcher$(printf ' %q' "${given[@]}")"
export SHOAL_COMPARE_COMMAND="$launcher"
# Not exec: the baseline's worktree is removed on exit.
/usr/bin/python3 bench/compare.py --build-dir "$build_dir" "${args[@]}"
