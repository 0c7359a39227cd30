#!/usr/bin/env bash
# Prints the project's C++ files (.cpp, .hpp, .h) under the given folders (default: every source
# folder), one per line, relative to the project root. In a git checkout these are the tracked
# files; in a copy without .git (a release tarball, `git archive`, a machine without git) every
# such file under those folders. Build folders are never listed. Used by the check scripts.
#
#   scripts/source-files.sh                  # all
#   scripts/source-files.sh src store worker # under these folders
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(bench examples include src store tests worker)

if command -v git >/dev/null 2>&1 && git rev-parse --is-inside-work-tree >/dev/null 2>&1 &&
   [ "$(git rev-parse --show-toplevel)" = "$root" ]; then
  specs=()
  for d in "${dirs[@]}"; do specs+=("$d/*.cpp" "$d/*.hpp" "$d/*.h"); done
  git ls-files -- "${specs[@]}"
else
  existing=()
  for d in "${dirs[@]}"; do [ -d "$d" ] && existing+=("$d"); done
  [ ${#existing[@]} -gt 0 ] || exit 0
  find "${existing[@]}" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' \) | sort
fi
