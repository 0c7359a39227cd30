#!/usr/bin/env bash
# Fails if a C++ file of the project (.cpp, .hpp, .h, as scripts/source-files.sh lists them) is not
# formatted as .clang-format says, and names each such file. Part of scripts/test.sh. Uses Debian
# 12's clang-format (14): another version may format some constructs differently, so run this one
# (scripts/install-deps.sh installs it).
# To fix a file: clang-format -i <file>.
#
#   scripts/check-format.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
command -v clang-format >/dev/null || scripts/install-deps.sh

mapfile -t files < <(scripts/source-files.sh)
[ ${#files[@]} -gt 0 ] || { echo "check-format: no C++ files found in $root" >&2; exit 1; }

offenders=()
for f in "${files[@]}"; do
  [ -e "$f" ] || continue  # deleted in the work tree, not yet in the index
  # --dry-run -Werror: exit non-zero and print the first lines that would change.
  if ! clang-format --dry-run -Werror --style=file "$f" >/dev/null 2>&1; then
    offenders+=("$f")
  fi
done

if [ ${#offenders[@]} -ne 0 ]; then
  echo "check-format: ${#offenders[@]} of ${#files[@]} files are not formatted" \
       "($(clang-format --version)); fix with clang-format -i:" >&2
  printf '  %s\n' "${offenders[@]}" >&2
  exit 1
fi
echo "check-format: all ${#files[@]} files formatted"
