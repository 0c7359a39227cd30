#!/usr/bin/env bash
# The more-than-one-machine figures (docs/benchmarks.md, "More than one machine"): runs
# bench/cluster_bench (3 ranks: the driver and 2 nodes) twice, side by side with MPI's own
# ping-pong between the same ranks in the same run:
#   1. across 3 network namespaces joined by a bridge (scripts/mpi-netns.sh): MPI over TCP between
#      3 distinct addresses, as between machines (root only; skipped otherwise);
#   2. as plain `mpirun -np 3` on this machine: Open MPI's shared-memory transport.
# Prints the machine line, then each run's Google Benchmark table (counters: medians, ratios).
# Builds build/bench/cluster_bench first if needed (a build with MPI: scripts/install-deps.sh).
#
#   scripts/bench-cluster.sh [extra cluster_bench arguments, e.g. --benchmark_filter=RoundTrip]
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${SHOAL_BUILD_DIR:-build}"
cmake --build "$build_dir" --target cluster_bench -j"$(nproc)" >/dev/null
bench="$build_dir/bench/cluster_bench"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs," \
  "$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r);" \
  "$(mpirun --version 2>/dev/null | head -1); load $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%FT%TZ)"

echo
echo "== 3 ranks on 3 network namespaces (MPI over TCP) =="
status=0
scripts/mpi-netns.sh "$bench" "$@" || status=$?
if ((status == 77)); then echo "(skipped: no network namespaces here)"; elif ((status != 0)); then exit "$status"; fi

echo
echo "== 3 ranks on this machine (Open MPI's shared memory) =="
scripts/mpi-run.sh --oversubscribe --bind-to none -np 3 -- "$bench" "$@"
