#!/usr/bin/env bash
# Installs every Debian 12 package shoal needs to build, test, check, run the demo and benchmark.
# Idempotent: packages already present are skipped, so a second run costs one dpkg query.
# Run as root (or with sudo available) on Debian 12.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libboost-dev libboost-stacktrace-dev   # Interprocess, Asio (header-only), Stacktrace
  libmsgpack-cxx-dev                     # serialization of task arguments and results
  libspdlog-dev libfmt-dev               # logging
  libgtest-dev libgmock-dev              # tests
  clang clang-format clang-tidy          # thread-safety build, format and lint checks (all 14)
  libbenchmark-dev                       # benchmarks
  libcli11-dev nlohmann-json3-dev        # the shoal command; command lines and JSON of examples
  libopencv-dev                          # the image-rotation demo
  python3 python3-numpy python3-opencv   # the comparison scripts in bench/
  chromium                               # tests/cli/html_render_test.cpp renders the timeline page
  openmpi-bin libopenmpi-dev             # more than one machine: mpirun, MPI's C API
  iproute2                               # the multi-host test: network namespaces joined by veth
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root (missing: ${missing[*]})" >&2; exit 1; }
  SUDO=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
