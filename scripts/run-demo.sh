#!/usr/bin/env bash
# Builds and runs the image-rotation demo (examples/rotate_images): installs the Debian packages,
# configures a Release build in build/, builds the rotate_images target, and runs it on freshly
# generated sample images in build/demo-images. Works from any directory.
#
#   scripts/run-demo.sh                      # 64 images of 775x522, one worker per CPU
#   scripts/run-demo.sh --count 256          # extra arguments go to rotate_images (see --help)
#   scripts/run-demo.sh --count 2000         # long enough to watch its progress bar (on a terminal)
#   SHOAL_BUILD_DIR=out scripts/run-demo.sh  # build somewhere other than build/
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${SHOAL_BUILD_DIR:-build}"

scripts/install-deps.sh
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build_dir" --target rotate_images -j"$(nproc)"

images="$(cd "$build_dir" && pwd)/demo-images"
rm -rf "$images"  # a fresh sample set on every run: an empty folder makes the demo generate one
echo
"$build_dir/examples/rotate_images" "$images" "$@"
echo
echo "run-demo: inputs and rotated outputs (*_rot90.bmp) are in $images"
