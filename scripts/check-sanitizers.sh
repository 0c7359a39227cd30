#!/usr/bin/env bash
# Builds the library and the tests under AddressSanitizer+UBSan and under ThreadSanitizer (in
# build-asan/ and build-tsan/), runs the test suite in each, and fails if a test fails or if any
# process -- the driver, the fork helper or a worker -- printed a sanitizer report. Run it before
# landing a change to the runtime, the store or the transport. Takes about 15 minutes on 2 cores.
#
#   scripts/check-sanitizers.sh            # both
#   scripts/check-sanitizers.sh thread     # one
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/install-deps.sh

# A worker's report must not hide behind a retried task: stop the process at the first report.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
# Reports from third-party libraries (not shoal's code) are suppressed by scripts/tsan.supp; its
# comment says what a suppression there can and cannot hide.
# Open MPI's own leaks (the multi-rank tests): scripts/lsan.supp says which and why.
export LSAN_OPTIONS="suppressions='$root/scripts/lsan.supp':fast_unwind_on_malloc=0"
export OMPI_MCA_mca_base_component_disable_dlclose=1
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions='$root/scripts/tsan.supp'"

sanitizers=("$@")
[ ${#sanitizers[@]} -eq 0 ] && sanitizers=(address thread)
status=0
for sanitizer in "${sanitizers[@]}"; do
  case "$sanitizer" in
    address) dir=build-asan ;;
    thread) dir=build-tsan ;;
    *) echo "unknown sanitizer '$sanitizer' (use address or thread)" >&2; exit 2 ;;
  esac
  echo "== $sanitizer in $dir"
  cmake -S . -B "$dir" -DSHOAL_SANITIZE="$sanitizer" -DCMAKE_BUILD_TYPE=Debug \
        -DSHOAL_BUILD_BENCHMARKS=OFF >/dev/null
  cmake --build "$dir" -j"$(nproc)"
  (cd "$dir" && ctest -j2 --timeout 600 --output-on-failure) || status=1
  if grep -qE "ERROR: AddressSanitizer|WARNING: ThreadSanitizer|ERROR: LeakSanitizer|runtime error:" \
       "$dir/Testing/Temporary/LastTest.log"; then
    echo "== $sanitizer: sanitizer reports in $dir/Testing/Temporary/LastTest.log" >&2
    status=1
  fi
done
exit $status
