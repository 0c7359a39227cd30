#!/usr/bin/env bash
# Runs an MPI program on 3 "hosts" made on this one machine out of Linux network namespaces, so
# that its ranks talk over MPI's TCP transport between 3 distinct IP addresses, as on a real
# cluster (docs/cluster.md). A plain `mpirun -np 3` on one machine cannot show that: every rank
# sees the same interfaces and address (shoal then names its nodes node:<address>/<rank>), and
# Open MPI may pick shared memory or loopback instead of the network.
#
#   scripts/mpi-netns.sh <program> [args...]     e.g. scripts/mpi-netns.sh build/tests/cluster_test
#
# What it builds (all of it private to this run; nothing in the root namespace changes):
#   shoal-<pid>-br        a namespace holding only the bridge br0: the "switch"
#   shoal-<pid>-0..2      one namespace per host, each with lo and eth0 = 10.213.0.1..3/24,
#                         eth0 being one end of a veth pair whose other end is a port of br0
# and, in a temporary directory, a hostfile naming the 3 hosts by IP address (slots=1 each) and
# an rsh agent: Open MPI's rsh launcher runs `agent [options] <host> <command>` (as it would run
# ssh) to start its orted daemon on each remote host; the agent runs the command inside that
# host's namespace instead. mpirun itself runs in shoal-<pid>-0, which holds 10.213.0.1, so Open
# MPI sees that host as the local one and starts ranks 1 and 2 through the agent.
# Each host also gets its own hostname (ns0..ns2, in a UTS namespace of its own), as real hosts
# have: Open MPI names its per-host session directories (ompi.<hostname>.<uid>) and its messages
# after it. What is shared, unlike real hosts: the file system (so /dev/shm and /tmp), the pids,
# the CPUs. Open MPI settings can be added as OMPI_MCA_<name>=<value> in the environment: mpirun
# passes them to every rank (e.g. OMPI_MCA_async_mpi_finalize=1: MPI_Finalize without a barrier).
#
# Exit status: rank 0's (scripts/mpi-run.sh), or mpirun's if it failed; 77 (ctest's
# SKIP_RETURN_CODE) when the machine cannot make namespaces (not root / no CAP_SYS_ADMIN, no
# iproute2, no veth or bridge support) or has no mpirun.
# Cleanup: a trap on EXIT (also reached on failure, SIGINT, SIGTERM, SIGHUP) stops what is still
# running in this run's namespaces and deletes them (which deletes their veths and the bridge) and
# the temporary directory. Only SIGKILL escapes it: the next run then removes the namespaces and
# temporary directory of any run whose pid is gone. No process is ever looked up by name.
# SHOAL_NETNS_DEBUG=1 logs what the agent is asked to run (to stderr).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 <program> [args...]" >&2
  exit 2
fi

skip() {
  echo "mpi-netns.sh: skipped: $*" >&2
  exit 77
}

command -v ip >/dev/null || skip "no 'ip' command (install iproute2)"
command -v unshare >/dev/null || skip "no 'unshare' command (install util-linux)"
command -v mpirun >/dev/null || skip "no mpirun"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly root
readonly prefix="shoal-$$"
readonly bridge_ns="$prefix-br"
readonly hosts=3
readonly net=10.213.0 # one /24: every run has its own bridge, so parallel runs cannot clash
readonly subnet="$net.0/24"
namespaces=() # every namespace this run made, for the cleanup
mpirun_pid=""
work=""

# Stops whatever still runs in this run's namespaces (TERM, then KILL after 5 s) and deletes
# them. A namespace name is unique to one run, so every process in it is one this run started.
remove_namespaces() {
  local ns pids i
  for ((i = 0; i < 50; i++)); do
    pids=""
    for ns in "$@"; do pids+=" $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)"; done
    [[ -z ${pids// /} ]] && break
    # shellcheck disable=SC2086  # a list of pids
    if ((i == 0)); then
      echo "mpi-netns.sh: stopping what is left in $*: pids$pids" >&2
      kill -TERM $pids 2>/dev/null || true
    fi
    # shellcheck disable=SC2086
    if ((i == 49)); then kill -KILL $pids 2>/dev/null || true; fi
    sleep 0.1
  done
  for ns in "$@"; do ip netns delete "$ns" 2>/dev/null || true; done
}

# shellcheck disable=SC2317  # reached through the trap
cleanup() {
  local status=$?
  trap - EXIT INT TERM HUP
  set +e
  if [[ -n $mpirun_pid ]] && kill -0 "$mpirun_pid" 2>/dev/null; then
    kill -TERM "$mpirun_pid" 2>/dev/null # mpirun then stops its job
    for ((i = 0; i < 50; i++)); do
      kill -0 "$mpirun_pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  if ((${#namespaces[@]} > 0)); then remove_namespaces "${namespaces[@]}"; fi
  [[ -n $work ]] && rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# What an earlier run killed by SIGKILL (e.g. by ctest's timeout) left, its pid being gone: its
# namespaces (and what still runs in them) and its temporary directory.
readonly tmp_base="${TMPDIR:-/tmp}"
stale=()
while read -r ns _; do
  if [[ $ns =~ ^shoal-([0-9]+)-(br|[0-9]+)$ ]] && ! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null; then
    stale+=("$ns")
  fi
done < <(ip netns list 2>/dev/null || true)
if ((${#stale[@]} > 0)); then
  echo "mpi-netns.sh: removing namespaces left by a killed run: ${stale[*]}" >&2
  remove_namespaces "${stale[@]}"
fi
for dir in "$tmp_base"/shoal-netns-*.*; do
  if [[ $dir =~ /shoal-netns-([0-9]+)\.[^/]+$ ]] && ! kill -0 "${BASH_REMATCH[1]}" 2>/dev/null; then
    rm -rf "$dir"
  fi
done

# The switch. If this first step fails, the machine cannot do it at all: skip.
err=$(ip netns add "$bridge_ns" 2>&1) ||
  skip "cannot create a network namespace (needs root/CAP_SYS_ADMIN): $err"
namespaces+=("$bridge_ns")
err=$(ip -n "$bridge_ns" link add br0 type bridge 2>&1) || skip "cannot create a bridge: $err"
ip -n "$bridge_ns" link set br0 up

# The hosts: host i is namespace $prefix-i with address $net.(i+1) on eth0, cabled to br0.
addresses=()
for ((i = 0; i < hosts; i++)); do
  ns="$prefix-$i"
  ip netns add "$ns"
  namespaces+=("$ns")
  err=$(ip -n "$bridge_ns" link add "port$i" type veth peer name eth0 netns "$ns" 2>&1) ||
    skip "cannot create a veth pair: $err"
  ip -n "$bridge_ns" link set "port$i" master br0 up
  ip -n "$ns" addr add "$net.$((i + 1))/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  addresses+=("$net.$((i + 1))")
done

work=$(mktemp -d "$tmp_base/shoal-netns-$$.XXXXXX")
# The hosts by IP address: no name resolution needed, and mpirun (in host 0's namespace) finds
# $net.1 among its own interfaces, so it treats that host as local.
for address in "${addresses[@]}"; do echo "$address slots=1"; done >"$work/hostfile"

# The agent, in place of ssh: `agent [options] <host> <command...>`. It skips leading options
# (Open MPI adds none for an agent it does not know; one taking a separate value would confuse
# it), maps the host address to its namespace and runs the command there through sh -c, as sshd
# runs it through the login shell: Open MPI passes the remote command as many words that together
# are one shell command line (` orted --daemonize -mca ess "env" ...`, quotes included), so they
# are joined with spaces, as ssh does. The environment is cleared, as a login over ssh would have
# it: mpirun's own must not leak into orted (the ranks get mpirun's environment from orted anyway;
# Open MPI installed outside the default paths would need --prefix, as with ssh).
{
  cat <<'EOF'
#!/usr/bin/env bash
# rsh agent made by scripts/mpi-netns.sh, deleted with its run.
set -euo pipefail
while [[ $# -gt 0 && $1 == -* ]]; do shift; done
host=$1
shift
case $host in
EOF
  for ((i = 0; i < hosts; i++)); do echo "  ${addresses[i]}) ns=$prefix-$i name=ns$i ;;"; done
  cat <<'EOF'
  *) echo "mpi-netns agent: unknown host $host" >&2; exit 255 ;;
esac
if [[ ${SHOAL_NETNS_DEBUG:-} == 1 ]]; then
  echo "mpi-netns agent: $# words for $host ($ns): $*" >&2
fi
exec env -i PATH="$PATH" HOME="${HOME:-/}" ip netns exec "$ns" \
  unshare --uts sh -c 'hostname "$0" && exec sh -c "$1"' "$name" "$*" </dev/null
EOF
} >"$work/agent"
chmod +x "$work/agent"
mkdir "$work/tmp"

# mpirun, in host 0 with hostname ns0. The flags:
#   --hostfile, -np 3          one rank per host
#   --mca plm_rsh_agent        start the remote orteds through the agent, not ssh
#   --mca plm_rsh_no_tree_spawn 1   mpirun starts every orted itself (no orted starts another)
#   --mca pml ob1 --mca btl tcp,self   MPI messages over TCP only (no UCX, no shared memory)
#   --mca btl_tcp_if_include, oob_tcp_if_include  only the veth network, for data and control
#   --mca orte_tmpdir_base     Open MPI's session directories (ompi.<hostname>.<uid>) in this
#                              run's temporary directory, removed with it even if mpirun is killed
#   --oversubscribe --bind-to none   2 cores for 3 ranks and their workers
#   --enable-recovery          the job outlives a rank that dies (as the ctest cases run it)
# shellcheck disable=SC2054  # tcp,self is one word
mpirun_args=(--oversubscribe --bind-to none --enable-recovery
  -np "$hosts" --hostfile "$work/hostfile"
  --mca plm_rsh_agent "$work/agent" --mca plm_rsh_no_tree_spawn 1
  --mca pml ob1 --mca btl tcp,self --mca orte_tmpdir_base "$work/tmp"
  --mca btl_tcp_if_include "$subnet" --mca oob_tcp_if_include "$subnet")

# Through scripts/mpi-run.sh, which adds --allow-run-as-root as root and exits with rank 0's
# status (with --enable-recovery, mpirun's own is 0 whatever the ranks return). In the background
# (with this script's stdin, which mpirun gives rank 0) and waited for, so that a signal to this
# script runs its trap at once.
# After SHOAL_NETNS_TIMEOUT seconds (default 240, below ctest's 300, which would SIGKILL this
# script and skip its cleanup), timeout(1) sends it SIGTERM, which stops mpirun and its job.
timeout -k 10 "${SHOAL_NETNS_TIMEOUT:-240}" \
  ip netns exec "$prefix-0" unshare --uts sh -c 'hostname ns0 && exec "$@"' sh \
  "$root/scripts/mpi-run.sh" "${mpirun_args[@]}" -- "$@" <&0 &
mpirun_pid=$!
status=0
wait "$mpirun_pid" || status=$?
mpirun_pid=""
exit "$status"
