#!/usr/bin/env bash
# Runs a program under mpirun and exits with *rank 0's* exit status: what ctest (the multi-rank
# tests, tests/CMakeLists.txt), scripts/mpi-netns.sh and the benchmarks need to know whether the
# driver succeeded.
#
#   scripts/mpi-run.sh [mpirun options...] -- <program> [args...]
#   e.g. scripts/mpi-run.sh --oversubscribe --bind-to none --enable-recovery -np 3 -- build/tests/cluster_test
#
# Why a wrapper: with --enable-recovery (the job outlives a rank that dies, which shoal's node
# failover needs), Open MPI 4.1's mpirun exits 0 whatever its ranks return, so a failed test would
# pass. Here rank 0 runs under this same script (in its --as-rank mode), which writes the program's
# exit status to a file in a private temporary directory; the other ranks are exec'd as they are.
# Exit status: mpirun's if it failed, else rank 0's; 1 if rank 0 left none (killed before it
# could write it).
# As root it adds --allow-run-as-root (Open MPI refuses root otherwise). mpirun is $SHOAL_MPIRUN
# if set, else the first mpirun on PATH. The temporary directory is removed on exit, also on
# SIGINT/SIGTERM/SIGHUP (which are passed on to mpirun, which stops its job).
set -euo pipefail

# --as-rank <status file> <program> [args...]: what mpirun starts on every rank.
if [[ ${1:-} == --as-rank ]]; then
  status_file=$2
  shift 2
  rank=${OMPI_COMM_WORLD_RANK:-${PMI_RANK:-${PMIX_RANK:-}}}
  [[ $rank == 0 ]] || exec "$@"
  # The program is this script's child: it gets mpirun's stdin and the default SIGINT/SIGQUIT
  # (bash would ignore them in a background child); SIGTERM, SIGINT and SIGHUP are passed on.
  env --default-signal=INT,QUIT "$@" <&0 &
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null' TERM
  trap 'kill -INT "$child" 2>/dev/null' INT
  trap 'kill -HUP "$child" 2>/dev/null' HUP
  while :; do # until the child is gone: a trapped signal interrupts wait
    status=0
    wait "$child" || status=$?
    kill -0 "$child" 2>/dev/null || break
  done
  echo "$status" >"$status_file"
  exit "$status"
fi

options=()
while [[ $# -gt 0 && $1 != -- ]]; do
  options+=("$1")
  shift
done
if [[ $# -lt 2 ]]; then
  echo "usage: $0 [mpirun options...] -- <program> [args...]" >&2
  exit 2
fi
shift # the --

mpirun=${SHOAL_MPIRUN:-$(command -v mpirun || true)}
[[ -n $mpirun ]] || { echo "mpi-run.sh: no mpirun (install openmpi-bin)" >&2; exit 2; }
[[ $(id -u) == 0 ]] && options+=(--allow-run-as-root)
# Sanitizer settings (scripts/check-sanitizers.sh) and shoal's own (SHOAL_*) reach every rank,
# also ranks that an rsh agent starts with a clean environment (scripts/mpi-netns.sh).
for name in ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS TSAN_OPTIONS \
  OMPI_MCA_mca_base_component_disable_dlclose ${!SHOAL_@}; do
  [[ -n ${!name:-} ]] && options+=(-x "$name")
done

self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
work=$(mktemp -d "${TMPDIR:-/tmp}/shoal-mpi-run.XXXXXX")
mpirun_pid=""
# shellcheck disable=SC2317  # reached through the trap
cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  rm -rf "$work" # first: a SIGKILL may follow while mpirun stops
  if [[ -n $mpirun_pid ]] && kill -0 "$mpirun_pid" 2>/dev/null; then
    kill -TERM "$mpirun_pid" 2>/dev/null # mpirun stops its job
    wait "$mpirun_pid" 2>/dev/null
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# In the background and waited for, so that a signal to this script runs its trap at once.
"$mpirun" "${options[@]}" "$self" --as-rank "$work/rank0.status" "$@" <&0 &
mpirun_pid=$!
status=0
wait "$mpirun_pid" || status=$?
mpirun_pid=""
if ((status == 0)); then
  if [[ -s $work/rank0.status ]]; then
    status=$(<"$work/rank0.status")
  else
    echo "mpi-run.sh: rank 0 left no exit status (killed?): failing" >&2
    status=1
  fi
fi
exit "$status"
