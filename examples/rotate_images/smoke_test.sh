#!/bin/sh
# Smoke tests of the rotate_images demo, run by ctest (examples/CMakeLists.txt):
#   smoke_test.sh <rotate_images binary> <work folder> <case>
# generate:       an empty folder gets 8 sample images; all 8 are rotated; exit code 0.
# bad_image:      a file named bad.bmp that is not an image; exit code 2 and a message naming it.
# missing_folder: a folder that cannot be created (its parent is a file); exit code 2.
# json:           --json on 8 generated images prints one JSON document whose "results" name
#                 each image once, each with its own mean (recomputed here from the .bmp file),
#                 and --sequential --json gives the same results (checked with /usr/bin/python3).
# mpi:            the json case, with the shoal run under mpirun with 2 ranks (scripts/mpi-run.sh,
#                 given as a 4th argument): the driver and one node, so the images spread over
#                 both ranks' workers; "nodes" in the JSON says 2, the results are the same.
# The work folder is recreated at the start and removed when the case passes.
set -u
bin=$1 work=$2 case=$3 mpi_run=${4:-}

fail() {
  echo "FAIL ($case): $*" >&2
  exit 1
}

rm -rf "$work"
mkdir -p "$work" || fail "cannot create $work"

case $case in
  generate)
    "$bin" "$work/images" --count 8 || fail "exit code $?, expected 0"
    n=$(find "$work/images" -name '*_rot90.bmp' | wc -l)
    [ "$n" -eq 8 ] || fail "$n *_rot90.bmp files, expected 8"
    ;;
  bad_image)
    mkdir "$work/images"
    echo "not an image" > "$work/images/bad.bmp"
    "$bin" "$work/images" 2> "$work/stderr"
    rc=$?
    cat "$work/stderr" >&2
    [ "$rc" -eq 2 ] || fail "exit code $rc, expected 2"
    grep -q "bad.bmp" "$work/stderr" || fail "the message does not name bad.bmp"
    ;;
  missing_folder)
    touch "$work/file"
    "$bin" "$work/file/images" 2> "$work/stderr"
    rc=$?
    cat "$work/stderr" >&2
    [ "$rc" -eq 2 ] || fail "exit code $rc, expected 2"
    grep -q "cannot create folder" "$work/stderr" || fail "no 'cannot create folder' message"
    ;;
  json | mpi)
    if [ "$case" = mpi ]; then
      "$bin" "$work/images" --generate-only --count 8 > /dev/null || fail "--generate-only: exit $?"
      "$mpi_run" --oversubscribe --bind-to none -np 2 -- "$bin" "$work/images" --json \
        > "$work/shoal.json" || fail "under mpirun: exit code $?, expected 0"
      nodes=2
    else
      "$bin" "$work/images" --count 8 --json > "$work/shoal.json" || fail "exit code $?, expected 0"
      nodes=1
    fi
    "$bin" "$work/images" --sequential --json > "$work/seq.json" || fail "--sequential: exit $?"
    /usr/bin/python3 - "$work/shoal.json" "$work/seq.json" "$work/images" "$nodes" <<'EOF' || fail "bad JSON output"
import json, os, struct, sys
shoal, seq = (json.load(open(p)) for p in sys.argv[1:3])
folder = sys.argv[3]
assert shoal["nodes"] == int(sys.argv[4]), shoal["nodes"]

def bmp_mean(path):  # the mean of every channel of every pixel of a 24-bit BMP, as in the demo
    data = open(path, "rb").read()
    offset, = struct.unpack_from("<I", data, 10)
    width, height, _, bits = struct.unpack_from("<iiHH", data, 18)
    assert bits == 24, (path, bits)
    height, stride = abs(height), (width * 3 + 3) // 4 * 4  # rows are padded to 4 bytes
    total = sum(sum(data[offset + r * stride:offset + r * stride + width * 3])
                for r in range(height))
    return total / (width * height * 3)

inputs = sorted(os.path.realpath(os.path.join(folder, f)) for f in os.listdir(folder)
                if f.endswith(".bmp") and not f.endswith("_rot90.bmp"))
assert len(inputs) == 8, inputs
expected = {f: bmp_mean(f) for f in inputs}
# The samples differ, so a wrong pairing of files and means cannot go unnoticed.
assert len(set(expected.values())) == 8, expected
for doc in (shoal, seq):
    assert doc["images"] == 8, doc
    assert all(doc[k] >= 0 for k in ("init_ms", "processing_ms", "shutdown_ms")), doc
    files = [os.path.realpath(r["file"]) for r in doc["results"]]
    assert sorted(files) == inputs, (files, inputs)  # each input named once
    for r in doc["results"]:
        want = expected[os.path.realpath(r["file"])]
        assert abs(r["mean"] - want) <= 1e-9 * want, (r, want)
assert shoal["num_cpus"] >= 1 and seq["init_ms"] == 0 and seq["shutdown_ms"] == 0, seq
assert shoal["results"] == seq["results"], (shoal["results"], seq["results"])
EOF
    ;;
  *)
    fail "unknown case"
    ;;
esac

rm -rf "$work"
echo "PASS ($case)"
