#!/usr/bin/env bash
# Runs clang-tidy with the repository's .clang-tidy over every source in src/, store/ and worker/
# (and the headers they include from those folders and include/shoal), findings as errors, and
# fails if there is any. Before that it validates .clang-tidy (see the comment at its top), which
# is all that --config-only does: a few seconds, so scripts/test.sh runs that part. The full run
# takes about 3 minutes on 2 cores and is not part of CI yet.
#
#   scripts/check-tidy.sh                  # validate .clang-tidy, then run it
#   scripts/check-tidy.sh --config-only    # validate .clang-tidy only
#   scripts/check-tidy.sh src/api.cpp ...  # validate, then run it on these files only
#
# It configures build-tidy/ with clang (configure only, no build) for its compile_commands.json;
# SHOAL_TIDY_BUILD_DIR=dir uses another folder.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
command -v clang-tidy >/dev/null || scripts/install-deps.sh

# --- 1. Validate .clang-tidy.
python3 - <<'EOF'
import re, subprocess, sys

def tidy(*args, check=True):
    run = subprocess.run(["clang-tidy", *args], capture_output=True, text=True)
    if check and run.returncode != 0:
        sys.exit(f"check-tidy: clang-tidy {' '.join(args)} failed:\n{run.stderr}")
    return run.stdout

fail = []
text = open(".clang-tidy").read()
dump = tidy("--dump-config")  # fails loudly on a YAML error
checks = re.search(r"^Checks:\s+(['\"])(.*?)\1\s*$", dump, re.M | re.S)
if not checks:
    sys.exit("check-tidy: no Checks in clang-tidy --dump-config")
# clang-tidy puts its defaults in front; what follows is this file's list as clang-tidy read it.
parsed = checks.group(2).replace("\\n", "\n").removeprefix("clang-diagnostic-*,clang-analyzer-*,")
globs = [g.strip() for g in parsed.split(",") if g.strip()]

# Every glob must enable at least one check when it stands alone; otherwise it is a typo, or two
# lines glued by a missing comma ("-a\n-b" is one glob that matches nothing).
for g in globs:
    positive = g[1:] if g.startswith("-") else g
    if positive == "*":
        continue
    listed = tidy("--list-checks", f"--checks=-*,{positive}", check=False)
    if not listed.split("Enabled checks:")[-1].split():
        fail.append(f"'{g}' matches no clang-tidy check")

# Every check turned off has its reason in the comment block: `# -check: reason`.
reasons = set(re.findall(r"^# (-[\w.-]+): \S", text, re.M))
for g in globs:
    if g.startswith("-") and g != "-*" and g not in reasons:
        fail.append(f"'{g}' is turned off without a '# {g}: reason' line")
for r in reasons - set(globs):
    fail.append(f"'{r}' has a reason line but is not in Checks")

# Every option set here must come back from --dump-config with its value: clang-tidy drops an
# option it does not know, and a dropped threshold means no limit at all.
for key, value in re.findall(r"^\s*- key:\s*(\S+)\s*\n\s*value:\s*'?([^'\n]*)'?\s*$", text, re.M):
    got = re.search(rf"^\s*- key:\s+{re.escape(key)}\s*\n\s*value:\s+'?([^'\n]*)'?\s*$", dump, re.M)
    if not got or got.group(1) != value:
        fail.append(f"option {key}: {value} is not in effect (unknown to clang-tidy, or misspelt)")

if fail:
    print("check-tidy: .clang-tidy is wrong:", *fail, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"check-tidy: .clang-tidy is valid ({len(globs)} globs, "
      f"{len(tidy('--list-checks').split('Enabled checks:')[-1].split())} checks enabled)")
EOF
[ "${1:-}" = "--config-only" ] && exit 0

# --- 2. Run it.
build_dir="${SHOAL_TIDY_BUILD_DIR:-build-tidy}"
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
  -DSHOAL_BUILD_TESTS=OFF -DSHOAL_BUILD_EXAMPLES=OFF -DSHOAL_BUILD_BENCHMARKS=OFF >/dev/null

if [ $# -gt 0 ]; then
  files=("$@")
else
  mapfile -t files < <(scripts/source-files.sh src store worker | grep '\.cpp$')
fi
log="$build_dir/clang-tidy.log"
# One file per process, two at a time; clang-tidy prints a finding once per file that includes
# its header, so the summary below counts distinct findings.
status=0
printf '%s\0' "${files[@]}" |
  xargs -0 -n1 -P"$(nproc)" clang-tidy -p "$build_dir" --quiet --warnings-as-errors='*' \
    --header-filter="^$root/(src|store|worker|include/shoal)/" >"$log" 2>&1 || status=1
findings="$(grep -E '^/.*: (warning|error): .*\[[a-z0-9.,-]+\]$' "$log" | sort -u || true)"
if [ "$status" -ne 0 ] || [ -n "$findings" ]; then
  echo "$findings" | sed "s|^$root/||"
  echo "check-tidy: $(echo "$findings" | grep -c . || true) findings; per check:" >&2
  echo "$findings" | grep -oE '\[[a-z0-9.,-]+\]$' | sed 's/,-warnings-as-errors//' | sort |
    uniq -c | sort -rn >&2
  echo "check-tidy: the full output is in $log" >&2
  exit 1
fi
echo "check-tidy: no findings in ${#files[@]} files"
