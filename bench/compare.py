#!/usr/bin/python3
"""shoal side by side with the machine's floors, Python multiprocessing and plain C++.

One command runs every contestant several times in the same session, on the same data,
interleaved round by round so that machine noise hits all of them alike, then prints medians and
ratios. Run it through scripts/bench.sh, which builds what it needs first:

  scripts/bench.sh --runs 5 --markdown docs/benchmarks.md

Contestants, in the order of each round (each is its own process):
  floors          shoal_bench --benchmark_filter=Floor: raw Unix-socket round trip, memcpy
                  100 MB (into a warm buffer and into a fresh one), fork 2 children. First, in
                  a process without a shoal session.
  shoal_micro     shoal_bench's shoal benchmarks (init, round trip, throughput, put/get, get of
                  a cv::Mat if built with OpenCV, wait, chain, tasks that start tasks,
                  actor calls).
  python_micro    bench/python_mp.py micro: Pool(2) start-up, pool.apply, apply_async.
  python_images   bench/python_mp.py images: the blog's workload, pool.map on Pool(N).
  python_keepmem  the same after the mallopt() calls that shoal's workers make (see below).
  threads         image_workload --threads: the workload on N std::threads in one process.
  sequential      image_workload --sequential: the workload in one loop.
  shoal_demo      rotate_images --json: the workload with shoal, N workers.
  shoal_demo_forkserver  the same with SHOAL_START_METHOD=forkserver: init() of a program that
                  links OpenCV, when workers start from a fresh exec instead of a fork.
With --baseline-build-dir (scripts/bench.sh --baseline COMMIT), two more: baseline_micro and
baseline_demo, the same two shoal contestants built from another commit. Each runs next to its
counterpart, the pair's order alternating round by round, and a "before and after" table gives
both medians and the median of the per-round ratios.
N is the number of CPUs this process may use (--workers). The images are generated once (by
rotate_images --generate-only) and every image run starts with the *_rot90.bmp outputs deleted.

Memory: shoal's workers keep freed memory (mallopt in worker/worker_loop.cpp), which on this
project's VMs, where page faults are expensive, is worth more than anything else in the image
workload. image_workload makes the same calls (so the C++ yardsticks are as good as they can be);
Python is measured both as users get it and with the same calls (python_keepmem).

Standard library only; Debian's /usr/bin/python3 (python_mp.py needs python3-numpy and
python3-opencv). Exit code 0 if every run of every contestant succeeded and all means matched.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = "/usr/bin/python3"  # Debian's, with python3-opencv; not whatever python3 is on PATH

# The shoal benchmarks the table needs. --bench-filter replaces it; every entry shoal_bench
# reports is kept in --json output.
SHOAL_FILTER = ("^BM_(InitShutdown|FirstResultAndFirstFailure|SyncRoundTrip|AsyncThroughput|Put64B|Get64B|Put100MB|Get100MB|"
                "GetView100MB|GetViewTaskResult100MB|GetTaskResult100MB|GetMat100MB|"
                "Wait1000OneAtATime|Chain1000|MillionTasks|NestedFib|FlatTasks21891|"
                "NestedSyncRoundTrip|ActorSyncCall|ActorAsyncCalls|ActorNCallersNActors)")
MEANS_RTOL = 1e-6
CONTESTANTS = ["floors", "shoal_micro", "python_micro", "python_images", "python_keepmem",
               "threads", "sequential", "shoal_demo", "shoal_demo_forkserver"]  # a round's order
# With a baseline build: its contestants, each run next to the one it shadows.
BASELINE_OF = {"baseline_micro": "shoal_micro", "baseline_demo": "shoal_demo"}
BASELINE_PREFIX = "base_"

# ------------------------------------------------------------------------------------------------
# Running one contestant


class Failed(Exception):
    pass


def run_command(cmd, timeout):
    """Runs cmd in its own process group; returns stdout. Raises Failed (the group is killed on a
    timeout, so no worker of a hung contestant outlives it)."""
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=ROOT, start_new_session=True)
    except OSError as e:
        raise Failed("cannot start: %s" % e) from None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the group this Popen created, nothing else
        except ProcessLookupError:
            pass
        proc.communicate()
        raise Failed("timed out after %d s" % timeout) from None
    if proc.returncode != 0:
        tail = " | ".join((err or out).strip().splitlines()[-3:])
        raise Failed("exit code %d: %s" % (proc.returncode, tail))
    return out


def parse_json(text, what):
    try:
        return json.loads(text)
    except ValueError as e:
        raise Failed("%s did not print JSON: %s" % (what, e)) from None


TIME_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def bench_entries(path, errors):
    """Google Benchmark's JSON output: {name: {field: value}} for the per-iteration entries; the
    median is taken if a name appears more than once (--benchmark_repetitions). A benchmark that
    reported an error is left out and its message appended to errors."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise Failed("no benchmark JSON in %s: %s" % (path, e)) from None
    by_name = {}
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        if b.get("error_occurred"):
            errors.append("%s: %s" % (b["name"], b.get("error_message", "error")))
            continue
        entry = {k: v for k, v in b.items() if isinstance(v, (int, float))}
        scale = TIME_UNITS.get(b.get("time_unit", "ns"), 1e-9)
        entry["real_s"] = b["real_time"] * scale  # per iteration, in seconds
        by_name.setdefault(b["name"], []).append(entry)
    if not by_name:
        raise Failed("no benchmark ran (check --benchmark_filter)" if not errors
                     else "; ".join(errors))
    return {name: {k: statistics.median(e[k] for e in es if k in e) for k in es[0]}
            for name, es in by_name.items()}


def find_entry(entries, prefix):
    """The entry whose name is prefix or starts with prefix + '/' (e.g. BM_X/iterations:30)."""
    for name, e in entries.items():
        if name == prefix or name.startswith(prefix + "/"):
            return e
    return None


def field(entries, prefix, key, scale=1.0):
    e = find_entry(entries, prefix)
    if e is None or key not in e:
        return None
    return e[key] * scale


class Contestant:
    def __init__(self, name, cmd, timeout, parse, images=False, out_file=None):
        self.name, self.cmd, self.timeout, self.parse = name, cmd, timeout, parse
        self.images, self.out_file = images, out_file


def contestants(args, build, scratch, images_dir):
    shoal_bench = str(build / "bench" / "shoal_bench")
    image_workload = str(build / "bench" / "image_workload")
    rotate_images = str(build / "examples" / "rotate_images")
    min_time = ["--benchmark_min_time=%s" % args.min_time] if args.min_time else []
    floors_out = str(scratch / "floors.json")
    micro_out = str(scratch / "shoal_micro.json")
    n = str(args.workers)

    def floors(_):
        errors = []
        e = bench_entries(floors_out, errors)
        return {"errors": errors,"floor_rtt_p50_us": field(e, "BM_Floor_UnixSocketRoundTrip", "p50_us"),
                "floor_rtt_p99_us": field(e, "BM_Floor_UnixSocketRoundTrip", "p99_us"),
                "floor_memcpy100_ms": field(e, "BM_Floor_Memcpy100MB", "real_s", 1e3),
                "floor_memcpy_fresh100_ms": field(e, "BM_Floor_MemcpyFresh100MB", "real_s", 1e3),
                "floor_fork2_ms": field(e, "BM_Floor_Fork2", "real_s", 1e3),
                "raw": e}

    def shoal_micro(_, path=micro_out):
        errors = []
        e = bench_entries(path, errors)
        return {"errors": errors, "init2_ms": field(e, "BM_InitShutdown/workers:2", "init_p50_us", 1e-3),
                "shutdown2_ms": field(e, "BM_InitShutdown/workers:2", "shutdown_p50_us", 1e-3),
                "init2_forkserver_ms": field(e, "BM_InitShutdownForkserver",
                                             "init_p50_us", 1e-3),
                "first_result_us": field(e, "BM_FirstResultAndFirstFailure",
                                         "first_result_p50_us"),
                "first_failure_us": field(e, "BM_FirstResultAndFirstFailure",
                                          "first_failure_p50_us"),
                "sync_p50_us": field(e, "BM_SyncRoundTrip", "p50_us"),
                "sync_p99_us": field(e, "BM_SyncRoundTrip", "p99_us"),
                "async_per_s": field(e, "BM_AsyncThroughput", "items_per_second"),
                "async_first_per_s": field(e, "BM_AsyncThroughputFirstBatch", "items_per_second"),
                "put64_us": field(e, "BM_Put64B", "real_s", 1e6),
                "get64_us": field(e, "BM_Get64B", "real_s", 1e6),
                "put100_ms": field(e, "BM_Put100MB", "real_s", 1e3),
                "get100_ms": field(e, "BM_Get100MB", "real_s", 1e3),
                "get_result100_ms": field(e, "BM_GetTaskResult100MB", "real_s", 1e3),
                "get_mat100_ms": field(e, "BM_GetMat100MB", "real_s", 1e3),
                "getview100_us": field(e, "BM_GetView100MB", "p50_us"),
                "getview_result100_us": field(e, "BM_GetViewTaskResult100MB", "p50_us"),
                "wait1000_ms": field(e, "BM_Wait1000OneAtATime", "real_s", 1e3),
                "chain1000_ms": field(e, "BM_Chain1000", "real_s", 1e3),
                "million_per_s": field(e, "BM_MillionTasks", "items_per_second"),
                "million_rss_growth_mb": (
                    None if field(e, "BM_MillionTasks", "rss_end_MB") is None else
                    field(e, "BM_MillionTasks", "rss_end_MB") -
                    field(e, "BM_MillionTasks", "rss_warm_MB")),
                "million_objects_left": field(e, "BM_MillionTasks", "objects_end"),
                "million_store_used": field(e, "BM_MillionTasks", "store_used_end"),
                "nested_fib_per_s": field(e, "BM_NestedFib", "items_per_second"),
                "flat21891_per_s": field(e, "BM_FlatTasks21891", "items_per_second"),
                "nested_sync_p50_us": field(e, "BM_NestedSyncRoundTrip", "p50_us"),
                "nested_sync_p99_us": field(e, "BM_NestedSyncRoundTrip", "p99_us"),
                "actor_sync_p50_us": field(e, "BM_ActorSyncCall", "p50_us"),
                "actor_sync_p99_us": field(e, "BM_ActorSyncCall", "p99_us"),
                "actor_async_per_s": field(e, "BM_ActorAsyncCalls", "items_per_second"),
                "actor_n_per_s": field(e, "BM_ActorNCallersNActors", "items_per_second"),
                "actor_n_callers": field(e, "BM_ActorNCallersNActors", "callers"),
                "raw": e}

    def python_micro(out):
        d = parse_json(out, "python_mp.py micro")
        return {"py_startup_ms": d["startup_p50_ms"], "py_close_join_ms": d["close_join_p50_ms"],
                "py_apply_p50_us": d["apply_p50_us"], "py_apply_p99_us": d["apply_p99_us"],
                "py_async_per_s": d["apply_async_per_s"], "python": d.get("python")}

    def python_images(out):
        d = parse_json(out, "python_mp.py images")
        return {"py_img_ms": d["processing_ms"], "py_img_startup_ms": d["startup_ms"],
                "py_img_close_join_ms": d["close_join_ms"],
                "py_img_total_ms": d["startup_ms"] + d["processing_ms"] + d["close_join_ms"],
                "means": d["means"], "versions": {k: d.get(k) for k in ("python", "opencv",
                                                                         "numpy")}}

    def python_keepmem(out):
        d = parse_json(out, "python_mp.py images --keep-memory")
        return {"pykm_img_ms": d["processing_ms"], "means": d["means"]}

    def threads(out):
        d = parse_json(out, "image_workload --threads")
        return {"threads_img_ms": d["processing_ms"], "means": d["means"],
                "opencv": d.get("opencv")}

    def sequential(out):
        d = parse_json(out, "image_workload --sequential")
        return {"seq_img_ms": d["processing_ms"], "means": d["means"]}

    def shoal_demo(out):
        d = parse_json(out, "rotate_images --json")
        # "results" pairs each file with its mean, in file order: the order every contestant
        # lists the images in (rotate_images::list_images, sorted), which check_means relies on.
        return {"shoal_img_ms": d["processing_ms"], "shoal_img_init_ms": d["init_ms"],
                "shoal_img_shutdown_ms": d["shutdown_ms"],
                "shoal_img_total_ms": d["init_ms"] + d["processing_ms"] + d["shutdown_ms"],
                "shoal_img_workers": d["num_cpus"], "means": [r["mean"] for r in d["results"]]}

    def shoal_demo_forkserver(out):
        d = parse_json(out, "SHOAL_START_METHOD=forkserver rotate_images --json")
        return {"fs_img_ms": d["processing_ms"], "fs_img_init_ms": d["init_ms"],
                "means": [r["mean"] for r in d["results"]]}

    cs = [
        Contestant("floors", [shoal_bench, "--benchmark_filter=Floor",
                              "--benchmark_out=" + floors_out, "--benchmark_out_format=json"]
                   + min_time, 120, floors, out_file=floors_out),
        Contestant("shoal_micro", [shoal_bench, "--benchmark_filter=" + args.bench_filter,
                                   "--benchmark_out=" + micro_out, "--benchmark_out_format=json"]
                   + min_time, 600, shoal_micro, out_file=micro_out),
        Contestant("python_micro", [PYTHON, str(ROOT / "bench" / "python_mp.py"), "micro",
                                    "--processes", "2", "--async-tasks", str(args.async_tasks)],
                   300, python_micro),
        Contestant("python_images", [PYTHON, str(ROOT / "bench" / "python_mp.py"), "images",
                                     str(images_dir), "--processes", n], 300, python_images,
                   images=True),
        Contestant("python_keepmem", [PYTHON, str(ROOT / "bench" / "python_mp.py"), "images",
                                      str(images_dir), "--processes", n, "--keep-memory"], 300,
                   python_keepmem, images=True),
        Contestant("threads", [image_workload, str(images_dir), "--threads", "--num-threads", n],
                   300, threads, images=True),
        Contestant("sequential", [image_workload, str(images_dir), "--sequential"], 300,
                   sequential, images=True),
        Contestant("shoal_demo", [rotate_images, str(images_dir), "--json", "--num-cpus", n],
                   300, shoal_demo, images=True),
        Contestant("shoal_demo_forkserver",
                   ["/usr/bin/env", "SHOAL_START_METHOD=forkserver", rotate_images,
                    str(images_dir), "--json", "--num-cpus", n], 300, shoal_demo_forkserver,
                   images=True),
    ]
    if not args.baseline_build_dir:
        return cs
    base = Path(args.baseline_build_dir).resolve()
    base_out = str(scratch / "baseline_micro.json")

    def prefixed(parse):  # the baseline's figures, under their own keys
        def run(out):
            return {(BASELINE_PREFIX + k if isinstance(v, (int, float)) else k): v
                    for k, v in parse(out).items()}
        return run

    cs.insert(2, Contestant(
        "baseline_micro", [str(base / "bench" / "shoal_bench"),
                           "--benchmark_filter=" + args.bench_filter,
                           "--benchmark_out=" + base_out, "--benchmark_out_format=json"]
        + min_time, 600, prefixed(lambda out: shoal_micro(out, base_out)), out_file=base_out))
    demo_at = [c.name for c in cs].index("shoal_demo")
    cs.insert(demo_at + 1, Contestant(
        "baseline_demo", [str(base / "examples" / "rotate_images"), str(images_dir), "--json",
                          "--num-cpus", n], 300, prefixed(shoal_demo), images=True))
    return cs


def round_order(cs, i):
    """Round i's order: a baseline contestant runs right after its counterpart in even rounds and
    right before it in odd ones, so that neither always inherits the other's after-effects."""
    if i % 2 == 0:
        return list(cs)
    order = list(cs)
    for base, shadowed in BASELINE_OF.items():
        names = [c.name for c in order]
        if base in names and shadowed in names:
            a, b = names.index(shadowed), names.index(base)
            order[a], order[b] = order[b], order[a]
    return order


def show_command(cmd):
    """cmd as a shell line, with paths inside the repository made relative to it: every command
    runs with the repository as its working directory, so the line is exact."""
    prefix = str(ROOT) + "/"
    return shlex.join(a.replace(prefix, "") if a.startswith(prefix) or "=" + prefix in a else a
                      for a in cmd)


def clean_outputs(images_dir):
    for f in glob.glob(str(images_dir / "*_rot90.bmp")):
        os.remove(f)


def run_contestant(c, images_dir, num_images):
    if c.images:
        clean_outputs(images_dir)
    if c.out_file and os.path.exists(c.out_file):
        os.remove(c.out_file)  # never read a previous round's figures
    t0 = time.monotonic()
    try:
        result = c.parse(run_command(c.cmd, c.timeout))
        if c.images:
            if len(result["means"]) != num_images:
                raise Failed("%d means, expected %d" % (len(result["means"]), num_images))
            outputs = len(glob.glob(str(images_dir / "*_rot90.bmp")))
            if outputs != num_images:
                raise Failed("%d *_rot90.bmp outputs, expected %d" % (outputs, num_images))
    except Failed as e:
        result = {"error": str(e)}
    except (KeyError, TypeError, ValueError) as e:  # JSON without a field the parser expects
        result = {"error": "unexpected output: %s: %s" % (type(e).__name__, e)}
    result["wall_s"] = time.monotonic() - t0
    return result


# ------------------------------------------------------------------------------------------------
# Figures and the table

def median_of(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None and "error" not in r]
    return statistics.median(values) if values else None


# Each row: figure, shoal key, unit, anchor label, anchor key or function of medians, better, goal.
# Ratios are shoal / anchor; "lower" means a ratio below 1 favours shoal (times), "higher" the
# opposite (rates).
def table_rows(m, workers, num_images):
    def times(key, k):
        return None if m.get(key) is None else m[key] * k

    def per(key, tasks):  # time for `tasks` tasks at a rate, in ms
        return None if not m.get(key) else tasks / m[key] * 1e3

    imgs = "image workload, %d images, %d workers" % (num_images, workers)
    callers = ("actor calls, async, %d callers" % m["actor_n_callers"] if m.get("actor_n_callers")
               else "actor calls, async, n callers")
    return [
        ("init(), 2 workers", "init2_ms", "ms", "Python Pool(2) start-up", "py_startup_ms",
         "lower", None),
        ("init(), 2 workers", "init2_ms", "ms", "floor: fork 2 children", "floor_fork2_ms",
         "lower", None),
        ("init(), 2 workers, start method forkserver", "init2_forkserver_ms", "ms",
         "init(), 2 workers, start method fork", "init2_ms", "lower", None),
        ("first task of a fresh worker fails: get() throws", "first_failure_us", "us",
         "first task of a fresh worker returns", "first_result_us", "lower", None),
        ("shutdown(), 2 workers", "shutdown2_ms", "ms", "Python Pool(2) close() + join()",
         "py_close_join_ms", "lower", None),
        ("sync round trip p50", "sync_p50_us", "us", "floor: raw Unix socket round trip p50",
         "floor_rtt_p50_us", "lower", 2.0),
        ("sync round trip p50", "sync_p50_us", "us", "Python pool.apply p50", "py_apply_p50_us",
         "lower", None),
        ("sync round trip p99", "sync_p99_us", "us", "floor: raw Unix socket round trip p99",
         "floor_rtt_p99_us", "lower", None),
        ("sync round trip p99", "sync_p99_us", "us", "Python pool.apply p99", "py_apply_p99_us",
         "lower", None),
        ("async throughput, empty tasks, sustained", "async_per_s", "/s", "Python apply_async",
         "py_async_per_s", "higher", None),
        ("async throughput, first 100,000 tasks of a session", "async_first_per_s", "/s",
         "Python apply_async (a fresh pool)", "py_async_per_s", "higher", None),
        ("put 100 MB", "put100_ms", "ms", "floor: memcpy 100 MB", "floor_memcpy100_ms", "lower",
         None),
        ("get 100 MB, a copy (put object)", "get100_ms", "ms", "floor: memcpy 100 MB",
         "floor_memcpy100_ms", "lower", 2.0),
        ("get 100 MB, a copy (put object)", "get100_ms", "ms",
         "floor: memcpy 100 MB into fresh malloc()", "floor_memcpy_fresh100_ms", "lower", None),
        ("get 100 MB, a copy (task result)", "get_result100_ms", "ms", "floor: memcpy 100 MB",
         "floor_memcpy100_ms", "lower", 2.0),
        ("get 100 MB cv::Mat, a copy (put object)", "get_mat100_ms", "ms",
         "floor: memcpy 100 MB", "floor_memcpy100_ms", "lower", 2.0),
        ("get_view 100 MB (put object), p50", "getview100_us", "us", "floor: memcpy 100 MB",
         times("floor_memcpy100_ms", 1e3), "lower", None),
        ("get_view 100 MB (task result), p50", "getview_result100_us", "us",
         "floor: memcpy 100 MB", times("floor_memcpy100_ms", 1e3), "lower", None),
        ("1,000,000 tasks in batches of 10,000", "million_per_s", "/s", None, None, "higher",
         None),
        ("1,000,000 tasks: driver RSS growth after the first 100,000", "million_rss_growth_mb",
         "MB", None, None, "lower", None),
        ("1,000,000 tasks: objects left in the store after", "million_objects_left", "", None,
         None, "lower", None),
        ("1,000,000 tasks: store bytes in use after", "million_store_used", "B", None, None,
         "lower", None),
        ("put 64 B", "put64_us", "us", None, None, "lower", None),
        ("get 64 B", "get64_us", "us", None, None, "lower", None),
        ("wait 1000, one at a time", "wait1000_ms", "ms",
         "1000 tasks at shoal's async throughput", per("async_per_s", 1000), "lower", None),
        ("wait 1000, one at a time", "wait1000_ms", "ms", "1000 Python apply_async + get",
         per("py_async_per_s", 1000), "lower", None),
        ("chain 1000", "chain1000_ms", "ms", "1000 × raw socket round trip p50",
         times("floor_rtt_p50_us", 1000 * 1e-3), "lower", None),
        ("chain 1000", "chain1000_ms", "ms", "1000 Python pool.apply (p50)",
         times("py_apply_p50_us", 1000 * 1e-3), "lower", None),
        ("nested Fibonacci(20): 21,891 tasks started by tasks", "nested_fib_per_s", "/s",
         "21,891 empty tasks from the driver", "flat21891_per_s", "higher", None),
        ("sync round trip inside a task p50", "nested_sync_p50_us", "us",
         "sync round trip p50 (the driver's)", "sync_p50_us", "lower", 2.0),
        ("sync round trip inside a task p99", "nested_sync_p99_us", "us",
         "sync round trip p99 (the driver's)", "sync_p99_us", "lower", 2.0),
        ("actor call, sync round trip p50", "actor_sync_p50_us", "us",
         "sync round trip p50 (an empty task)", "sync_p50_us", "lower", None),
        ("actor call, sync round trip p99", "actor_sync_p99_us", "us",
         "sync round trip p99 (an empty task)", "sync_p99_us", "lower", None),
        ("actor calls, async, one caller", "actor_async_per_s", "/s",
         "async throughput, empty tasks, sustained", "async_per_s", "higher", None),
        (callers + ", each to an actor of its own", "actor_n_per_s", "/s",
         "actor calls, async, one caller", "actor_async_per_s", "higher", None),
        (imgs + ": processing", "shoal_img_ms", "ms", "C++ std::threads, one process",
         "threads_img_ms", "lower", 1.1),
        (imgs + ": processing", "shoal_img_ms", "ms", "Python Pool pool.map", "py_img_ms",
         "lower", None),
        (imgs + ": processing", "shoal_img_ms", "ms",
         "Python Pool pool.map, with shoal's mallopt()", "pykm_img_ms", "lower", None),
        (imgs + ": processing", "shoal_img_ms", "ms", "C++ sequential loop", "seq_img_ms",
         "lower", None),
        (imgs + ": start + process + stop", "shoal_img_total_ms", "ms",
         "Python Pool start + map + close/join", "py_img_total_ms", "lower", None),
        (imgs + ": init() in the demo", "shoal_img_init_ms", "ms", "Python Pool start-up",
         "py_img_startup_ms", "lower", None),
        ("init() in the demo, start method forkserver", "fs_img_init_ms", "ms",
         "init() in the demo, start method fork", "shoal_img_init_ms", "lower", None),
    ]


def fmt(value, unit):
    if value is None:
        return "failed"
    if unit == "/s":
        return "{:,.0f} /s".format(value)
    if unit in ("", "B"):
        return "{:,.0f}{}".format(value, " B" if unit else "")
    if unit == "MB":
        return "%.1f MB" % value
    digits = 3 if value < 1 else 2 if value < 10 else 1 if value < 1000 else 0
    return "%.*f %s" % (digits, value, "µs" if unit == "us" else unit)


def fmt_ratio(r):
    return "%.1f" % r if r >= 10 else "%.2f" % r if r >= 0.1 else "%.2g" % r


def per_round(results, runs):
    """[{key: value}] for each round, merging every contestant's numbers of that round."""
    rounds = [{} for _ in range(runs)]
    for contestant_runs in results.values():
        for i, r in enumerate(contestant_runs[:runs]):
            if "error" not in r:
                rounds[i].update({k: v for k, v in r.items() if isinstance(v, (int, float))})
    return rounds


def build_table(m, workers, num_images, rounds):
    """Rows of the table. Where the anchor is measured in every round, the ratio is the median of
    the per-round ratios: contestants of one round share that round's machine noise, so their
    ratio is steadier than a ratio of medians taken from different rounds."""
    rows = []
    for figure, key, unit, label, anchor, better, goal in table_rows(m, workers, num_images):
        shoal = m.get(key)
        anchor_value = m.get(anchor) if isinstance(anchor, str) else anchor
        ratio = shoal / anchor_value if shoal is not None and anchor_value else None
        if isinstance(anchor, str):
            paired = [r[key] / r[anchor] for r in rounds if r.get(key) is not None and r.get(anchor)]
            if paired:
                ratio = statistics.median(paired)
        verdict = ""
        if goal is not None and ratio is not None:
            ok = ratio <= goal if better == "lower" else ratio >= goal
            verdict = ("goal ≤ %g: %s" if better == "lower" else "goal ≥ %g: %s") % (
                goal, "met" if ok else "MISSED")
        rows.append({"figure": figure, "shoal": shoal, "unit": unit, "anchor": label,
                     "anchor_value": anchor_value, "ratio": ratio, "better": better,
                     "goal": goal, "verdict": verdict})
    return rows


# Issue 3's targets, issue 9's (get() that copies), issue 11's (tasks that start tasks) and issue
# 12's (actors), each checked against this run: (target, how it is measured, unit, value, comparison, bound). A value
# is a median, or the median of per-round ratios for a target relative to another contestant of
# the same round.
def paired_ratio(rounds, key, anchor):
    paired = [r[key] / r[anchor] for r in rounds if r.get(key) is not None and r.get(anchor)]
    return statistics.median(paired) if paired else None


def targets(m, rounds):
    def ops(key):  # per-operation microseconds -> operations per second
        return None if not m.get(key) else 1e6 / m[key]

    return [
        ("init() of 2 workers, all ready", "median", "ms", m.get("init2_ms"), "<=", 5),
        ("sync empty task round trip, p50", "median", "us", m.get("sync_p50_us"), "<=", 25),
        ("sync empty task round trip, p99", "median", "us", m.get("sync_p99_us"), "<=", 200),
        ("async empty tasks, one submitter", "sustained rate, median", "/s",
         m.get("async_per_s"), ">=", 500000),
        ("small put (64 B)", "1 / median time", "/s", ops("put64_us"), ">=", 200000),
        ("small get (64 B)", "1 / median time", "/s", ops("get64_us"), ">=", 500000),
        ("put of 100 MB", "x memcpy of 100 MB, same round", "x",
         paired_ratio(rounds, "put100_ms", "floor_memcpy100_ms"), "<=", 1.5),
        # Issue 9: get() that copies pays for its fresh destination too, against a memcpy into
        # a warm buffer.
        ("get() of a 100 MB object, a copy", "x memcpy of 100 MB, same round", "x",
         paired_ratio(rounds, "get100_ms", "floor_memcpy100_ms"), "<=", 2),
        ("get() of a 100 MB task result, a copy", "x memcpy of 100 MB, same round", "x",
         paired_ratio(rounds, "get_result100_ms", "floor_memcpy100_ms"), "<=", 2),
        ("get() of a 100 MB cv::Mat, a copy", "x memcpy of 100 MB, same round", "x",
         paired_ratio(rounds, "get_mat100_ms", "floor_memcpy100_ms"), "<=", 2),
        ("get of a 100 MB object (get_view)", "p50, median", "us", m.get("getview100_us"), "<=",
         100),
        ("get of a 100 MB task result (get_view)", "p50, median", "us",
         m.get("getview_result100_us"), "<=", 100),
        ("wait over 1,000 refs, one at a time", "median", "ms", m.get("wait1000_ms"), "<=", 20),
        ("chain of 1,000 dependent tasks", "median", "ms", m.get("chain1000_ms"), "<=", 50),
        # Issue 11: a task's own synchronous call against the driver's.
        ("sync round trip inside a task, p50", "x the driver's, same round", "x",
         paired_ratio(rounds, "nested_sync_p50_us", "sync_p50_us"), "<=", 2),
        ("sync round trip inside a task, p99", "x the driver's, same round", "x",
         paired_ratio(rounds, "nested_sync_p99_us", "sync_p99_us"), "<=", 2),
        # Issue 12: actor calls, beside Ray's published figures (1_1_actor_calls_sync and
        # 1_1_actor_calls_async of its microbenchmark).
        ("actor call, sync round trip, p50 (Ray: ~500 µs)", "median", "us",
         m.get("actor_sync_p50_us"), "<=", 25),
        ("actor calls, async, one caller (Ray: ~8,700 /s)", "sustained rate, median", "/s",
         m.get("actor_async_per_s"), ">=", 500000),
        ("seed image workload: processing", "x C++ std::threads, same round", "x",
         paired_ratio(rounds, "shoal_img_ms", "threads_img_ms"), "<=", 1.1),
        ("seed image workload: processing", "x Python Pool(2), same round", "x",
         paired_ratio(rounds, "shoal_img_ms", "py_img_ms"), "<", 1),
    ]


def target_rows(m, rounds):
    rows = []
    for name, how, unit, value, op, bound in targets(m, rounds):
        if value is None:
            verdict = "not measured"
        else:
            ok = {"<=": value <= bound, "<": value < bound, ">=": value >= bound}[op]
            verdict = "met" if ok else "MISSED"
        shown = ("%.2fx" % value if unit == "x" else fmt(value, unit)) if value is not None \
            else "-"
        bound_shown = "%gx" % bound if unit == "x" else fmt(bound, unit)
        rows.append({"target": name, "measured": how, "value": shown,
                     "bound": "%s %s" % ({"<=": "≤", "<": "<", ">=": "≥"}[op], bound_shown),
                     "verdict": verdict})
    return rows


# The figures compared before and after (with --baseline-build-dir): label, key, unit, better.
BEFORE_AFTER = [
    ("init(), 2 workers", "init2_ms", "ms", "lower"),
    ("init(), 2 workers, forkserver", "init2_forkserver_ms", "ms", "lower"),
    ("shutdown(), 2 workers", "shutdown2_ms", "ms", "lower"),
    ("first task of a fresh worker returns", "first_result_us", "us", "lower"),
    ("first task of a fresh worker fails", "first_failure_us", "us", "lower"),
    ("sync round trip p50", "sync_p50_us", "us", "lower"),
    ("sync round trip p99", "sync_p99_us", "us", "lower"),
    ("async empty tasks, one submitter", "async_per_s", "/s", "higher"),
    ("async, first batch", "async_first_per_s", "/s", "higher"),
    ("put 64 B", "put64_us", "us", "lower"),
    ("get 64 B", "get64_us", "us", "lower"),
    ("put 100 MB", "put100_ms", "ms", "lower"),
    ("get 100 MB (a copy)", "get100_ms", "ms", "lower"),
    ("get 100 MB task result (a copy)", "get_result100_ms", "ms", "lower"),
    ("get 100 MB cv::Mat (a copy)", "get_mat100_ms", "ms", "lower"),
    ("get_view 100 MB p50", "getview100_us", "us", "lower"),
    ("wait over 1,000 refs, one at a time", "wait1000_ms", "ms", "lower"),
    ("chain of 1,000 dependent tasks", "chain1000_ms", "ms", "lower"),
    ("1,000,000 tasks, rate", "million_per_s", "/s", "higher"),
    ("nested Fibonacci(20), 21,891 tasks", "nested_fib_per_s", "/s", "higher"),
    ("21,891 flat tasks from the driver", "flat21891_per_s", "/s", "higher"),
    ("sync round trip inside a task p50", "nested_sync_p50_us", "us", "lower"),
    ("sync round trip inside a task p99", "nested_sync_p99_us", "us", "lower"),
    ("actor call, sync round trip p50", "actor_sync_p50_us", "us", "lower"),
    ("actor call, sync round trip p99", "actor_sync_p99_us", "us", "lower"),
    ("actor calls, async, one caller", "actor_async_per_s", "/s", "higher"),
    ("actor calls, async, n callers, n actors", "actor_n_per_s", "/s", "higher"),
    ("image workload: processing", "shoal_img_ms", "ms", "lower"),
    ("image workload: init()", "shoal_img_init_ms", "ms", "lower"),
]


def before_after_rows(m, rounds):
    """This build against the baseline: both medians and the median of per-round ratios
    (this ÷ baseline). Empty without a baseline."""
    rows = []
    for label, key, unit, better in BEFORE_AFTER:
        base = BASELINE_PREFIX + key
        if m.get(key) is None and m.get(base) is None:
            continue
        rows.append({"figure": label, "before": m.get(base), "after": m.get(key), "unit": unit,
                     "ratio": paired_ratio(rounds, key, base), "better": better})
    return rows


def before_after_cells(row):
    # A figure one build lacks (a benchmark newer than the baseline) reads "not measured"; a run
    # that failed is listed under the failures as well.
    def cell(value):
        return "not measured" if value is None else fmt(value, row["unit"])

    return [row["figure"], cell(row["before"]), cell(row["after"]),
            fmt_ratio(row["ratio"]) if row["ratio"] is not None else "n/a", row["better"]]


BEFORE_AFTER_HEADER = ["figure", "before", "after", "after ÷ before", "better"]


def table_cells(row):
    return [row["figure"], fmt(row["shoal"], row["unit"]), row["anchor"] or "",
            fmt(row["anchor_value"], row["unit"]) if row["anchor"] else "",
            fmt_ratio(row["ratio"]) if row["ratio"] is not None else ("" if not row["anchor"]
                                                                       else "n/a"),
            row["better"] if row["anchor"] else "", row["verdict"]]


HEADER = ["figure", "shoal", "anchor", "anchor value", "ratio", "better", "goal"]


def text_table(rows, header=HEADER, cells_of=table_cells):
    cells = [header] + [cells_of(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    lines = []
    for i, c in enumerate(cells):
        lines.append("  ".join(s.ljust(w) for s, w in zip(c, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows, header=HEADER, cells_of=table_cells):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells_of(r)) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Means check, machine, report

def check_means(results, rounds):
    """Every image contestant's means against the shoal demo's of the same round (or, if the
    demo failed, the sequential loop's), to MEANS_RTOL relative. Returns (ok, lines)."""
    ok, worst, compared, problems = True, 0.0, 0, []
    for i in range(rounds):
        ref_name = next((n for n in ("shoal_demo", "sequential")
                         if "means" in results[n][i]), None)
        if ref_name is None:
            continue
        ref = results[ref_name][i]["means"]
        for name in ("python_images", "python_keepmem", "threads", "sequential", "shoal_demo",
                     "shoal_demo_forkserver", "baseline_demo"):
            if name not in results:
                continue
            r = results[name][i]
            if name == ref_name or "means" not in r:
                continue
            compared += 1
            for j, (a, b) in enumerate(zip(r["means"], ref)):
                rel = abs(a - b) / max(abs(b), 1e-300)
                worst = max(worst, rel)
                if rel > MEANS_RTOL:
                    ok = False
                    problems.append("run %d: %s image %d: %r vs %s %r" % (i + 1, name, j, a,
                                                                          ref_name, b))
    if compared == 0:
        return False, ["means: NOT CHECKED (fewer than two image contestants succeeded)"]
    line = ("means: %s (%d comparisons of every image's mean against shoal's, largest relative "
            "difference %.1e, tolerance %.0e)" % ("all match" if ok else "MISMATCH", compared,
                                                  worst, MEANS_RTOL))
    return ok, [line] + problems[:10]


def machine_info():
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / (1 << 20)
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    return {"cpu": model, "cpus": os.cpu_count(), "usable_cpus": len(os.sched_getaffinity(0)),
            "memory_gib": mem_gib, "kernel": platform.release(), "commit": commit or "unknown",
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds")}


def machine_line(mi):
    mem = "%.1f GiB" % mi["memory_gib"] if mi["memory_gib"] else "unknown memory"
    return "%s, %d CPUs (%d usable), %s RAM, Linux %s" % (mi["cpu"], mi["cpus"],
                                                          mi["usable_cpus"], mem, mi["kernel"])


def spread_lines(results, keys):
    """Per-figure values of every run, to judge the noise."""
    lines = []
    for key in keys:
        values = []
        for runs in results.values():
            for r in runs:
                if key in r and r[key] is not None and "error" not in r:
                    values.append(r[key])
        if values:
            lines.append((key, values))
    return lines


def report(args, mi, results, medians, rows, means_lines, commands, failures, load, elapsed):
    out = {}
    rounds = per_round(results, args.runs)
    n_str = "%d run%s" % (args.runs, "" if args.runs == 1 else "s")
    speedups = []
    for key, label in (("threads_img_ms", "C++ threads"), ("shoal_img_ms", "shoal"),
                       ("py_img_ms", "Python Pool"), ("pykm_img_ms", "Python Pool + mallopt")):
        if medians.get(key) and medians.get("seq_img_ms"):
            speedups.append("%s %.2fx" % (label, medians["seq_img_ms"] / medians[key]))
    speedup_line = ("speed-up over the C++ sequential loop: " + ", ".join(speedups)
                    if speedups else "")
    versions = next((r["versions"] for r in results["python_images"] if "versions" in r), {})
    py = next((r["python"] for r in results["python_micro"] if r.get("python")), None)
    cv_cpp = next((r["opencv"] for r in results["threads"] if r.get("opencv")), None)
    tools = "OpenCV %s (C++), Python %s (%s) with OpenCV %s and numpy %s" % (
        cv_cpp or "?", versions.get("python") or py or "?", PYTHON,
        versions.get("opencv") or "?", versions.get("numpy") or "?")
    keys = [k for row in table_rows({}, 0, 0) for k in (row[1], row[4])
            if isinstance(k, str)]
    if args.baseline_build_dir:
        keys += [k for row in BEFORE_AFTER for k in (row[1], BASELINE_PREFIX + row[1])]
    keys = list(dict.fromkeys(keys))
    spread = spread_lines(results, keys)

    # Plain text
    t = ["machine: " + machine_line(mi),
         "commit %s, %s; %s; load average %.2f at start, %.2f at end" % (
             mi["commit"], mi["date"], tools, load[0], load[1]),
         "medians of %s, contestants interleaved round by round; %d images of %dx%d; %.0f s" % (
             n_str, args.images, args.width, args.height, elapsed),
         "", text_table(rows), ""] + means_lines + [""] + [
             "target: %-45s %-12s %-10s %s" % (t["target"], t["value"], t["bound"], t["verdict"])
             for t in target_rows(medians, rounds)]
    if speedup_line:
        t.append(speedup_line)
    before_after = before_after_rows(medians, rounds) if args.baseline_build_dir else []
    if before_after:
        t += ["", "before = %s (%s), after = this build; ratio = median of per-round ratios:" % (
            args.baseline_label, args.baseline_build_dir),
              text_table(before_after, BEFORE_AFTER_HEADER, before_after_cells)]
    if failures:
        t += ["", "failures:"] + ["  " + f for f in failures]
    t += ["", "per-run values:"] + ["  %-22s %s" % (k, ", ".join("%.4g" % v for v in vs))
                                    for k, vs in spread]
    t += ["", "commands (from the repository root; each round, in this order):"]
    t += ["  " + c for c in commands]
    out["text"] = "\n".join(t)

    # Markdown
    md = ["# shoal benchmarks: side by side with the machine's floors and Python",
          "",
          "Generated by `%s` on %s, commit `%s`." % (
              os.environ.get("SHOAL_COMPARE_COMMAND")
              or shlex.join([PYTHON, "bench/compare.py"] + sys.argv[1:]), mi["date"],
              mi["commit"]),
          "",
          "- Machine: " + machine_line(mi) + ".",
          "- " + tools + "; g++ Release build.",
          "- Load average %.2f at start, %.2f at end; %.0f s in all." % (load[0], load[1],
                                                                        elapsed),
          "",
          "## Method",
          "",
          "Every figure is the median of %s. Each round runs every contestant once, as its own "
          "process, in the order of the commands below, so noise on this shared machine hits "
          "all of them alike. The floors run first, in a process without a shoal session. "
          "The shoal figures come from Google Benchmark (`bench/shoal_bench.cpp`, "
          "`bench/nested_bench.cpp`, `bench/actor_bench.cpp`; latencies are "
          "p50/p99 of per-call samples). The image workload is the seed blog's: for each of "
          "%d generated %dx%d BMP images, read, rotate 90° clockwise, write `NAME_rot90.bmp` "
          "and return the mean; the same folder is used by every contestant, and its outputs "
          "are deleted before each run. Processing times exclude start-up, which has its own "
          "rows. shoal's workers keep freed memory (`mallopt` in `worker/worker_loop.cpp`); "
          "page faults are expensive on this VM, so the C++ yardsticks make the same calls, and "
          "Python is shown both without and with them. "
          "Ratio = shoal ÷ anchor: below 1 favours shoal for times, above 1 for rates. Where the "
          "anchor runs in every round, the ratio is the median of the per-round ratios (both "
          "measured under the same noise), so it can differ from the ratio of the two medians."
          % (n_str, args.images, args.width, args.height),
          "",
          "## Targets (issue 3; the get() copies: issue 9; tasks that start tasks: issue 11; "
          "actors: issue 12)",
          "",
          "| target | measured as | this run | target | verdict |",
          "|---|---|---|---|---|"] + [
          "| %(target)s | %(measured)s | %(value)s | %(bound)s | %(verdict)s |" % t
          for t in target_rows(medians, rounds)] + [
          "",
          "Why a missed target is missed, and what meeting it would take: see the notes at the "
          "end (`bench/NOTES.md`, written by hand).",
          "",
          "## Results",
          "",
          markdown_table(rows),
          ""] + ["- " + line for line in means_lines]
    if speedup_line:
        md.append("- " + speedup_line[0].upper() + speedup_line[1:] + ".")
    if before_after:
        md += ["", "## Before and after", "",
               "This build (after) against `%s` (before), built alike and run in the same rounds, "
               "each next to its counterpart, the pair's order alternating round by round. The "
               "ratio is the median of the per-round ratios after ÷ before: below 1 favours the "
               "new build for times, above 1 for rates." % args.baseline_label, "",
               markdown_table(before_after, BEFORE_AFTER_HEADER, before_after_cells)]
    if failures:
        md += ["", "## Failures", ""] + ["- " + f for f in failures]
    md += ["", "## Every run", "", "| figure | values, run by run |", "|---|---|"]
    md += ["| `%s` | %s |" % (k, ", ".join("%.4g" % v for v in vs)) for k, vs in spread]
    md += ["", "## Commands", "", "From the repository root; each round, in this order:", "",
           "```"] + commands + ["```", ""]
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        md += [notes.read_text().rstrip(), ""]
    out["markdown"] = "\n".join(md)
    return out


# ------------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(
        description="Runs shoal, the machine's floors, Python multiprocessing and plain C++ side "
                    "by side and prints medians and ratios.")
    parser.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--build-dir", default=str(ROOT / "build-release"),
                        help="CMake build with shoal_bench, image_workload, rotate_images "
                             "(default build-release/)")
    parser.add_argument("--images", type=int, default=64, help="sample images (default 64)")
    parser.add_argument("--width", type=int, default=775)
    parser.add_argument("--height", type=int, default=522)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="workers, processes and threads for the image workload "
                             "(default: the CPUs this process may use)")
    parser.add_argument("--async-tasks", type=int, default=20000,
                        help="apply_async tasks per Python throughput run (default 20000)")
    parser.add_argument("--min-time", type=float, default=None,
                        help="--benchmark_min_time for shoal_bench (default: its own)")
    parser.add_argument("--bench-filter", default=SHOAL_FILTER,
                        help="--benchmark_filter for the shoal benchmarks")
    parser.add_argument("--only", help="comma-separated contestants to run (for development)")
    parser.add_argument("--baseline-build-dir", metavar="DIR",
                        help="also run shoal_bench and rotate_images from this build (of another "
                             "commit) next to this build's, and report before and after")
    parser.add_argument("--baseline-label", default="baseline",
                        help="what the baseline build is, for the report (e.g. its commit)")
    parser.add_argument("--scratch", help="folder for images and benchmark output (default: a "
                                          "new temporary folder, removed at the end)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the report as Markdown")
    parser.add_argument("--json", metavar="PATH", help="also write every raw number as JSON")
    args = parser.parse_args()
    if args.runs < 1 or args.images < 1 or args.workers < 1:
        parser.error("--runs, --images and --workers must be at least 1")

    if args.only:
        known = CONTESTANTS + (list(BASELINE_OF) if args.baseline_build_dir else [])
        unknown = set(args.only.split(",")) - set(known)
        if unknown:
            parser.error("unknown contestants: %s (known: %s)" % (
                ", ".join(sorted(unknown)), ", ".join(known)))
    if args.baseline_build_dir:
        for exe in ("bench/shoal_bench", "examples/rotate_images"):
            if not os.access(Path(args.baseline_build_dir) / exe, os.X_OK):
                parser.error("--baseline-build-dir %s has no %s: build it first (scripts/bench.sh "
                             "--baseline COMMIT does)" % (args.baseline_build_dir, exe))

    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="shoal-compare-")).resolve()
    try:
        scratch.mkdir(parents=True, exist_ok=True)
        return compare(args, scratch)
    finally:
        if not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)


def compare(args, scratch):
    """Runs everything and reports; returns the exit code."""
    build = Path(args.build_dir).resolve()
    images_dir = scratch / "images"
    start, load_start = time.monotonic(), os.getloadavg()[0]
    mi = machine_info()
    print("compare: " + machine_line(mi), flush=True)

    # 1. The images, once.
    shutil.rmtree(images_dir, ignore_errors=True)
    gen = [str(build / "examples" / "rotate_images"), str(images_dir), "--generate-only",
           "--count", str(args.images), "--width", str(args.width), "--height", str(args.height)]
    try:
        run_command(gen, 300)
    except Failed as e:
        print("compare: cannot generate the images (%s): %s" % (shlex.join(gen), e),
              file=sys.stderr)
        return 2

    # 2. The rounds.
    cs = contestants(args, build, scratch, images_dir)
    names = [c.name for c in cs]
    assert [n for n in names if n not in BASELINE_OF] == CONTESTANTS
    if args.only:
        cs = [c for c in cs if c.name in args.only.split(",")]
    results = {name: [] for name in names}
    for i in range(args.runs):
        for c in round_order(cs, i):
            print("compare: round %d/%d: %-14s" % (i + 1, args.runs, c.name), end="", flush=True)
            r = run_contestant(c, images_dir, args.images)
            results[c.name].append(r)
            print(" %5.1f s%s" % (r["wall_s"], "  FAILED: " + r["error"] if "error" in r else ""),
                  flush=True)
    for name in results:  # contestants left out by --only count as failed runs
        if not results[name]:
            results[name] = [{"error": "not run"}] * args.runs

    # 3. Medians, the table, the means check.
    medians = {}
    for runs in results.values():
        for key in {k for r in runs for k, v in r.items() if isinstance(v, (int, float))}:
            medians[key] = median_of(runs, key)
    rows = build_table(medians, args.workers, args.images, per_round(results, args.runs))
    means_ok, means_lines = check_means(results, args.runs)
    failures = ["%s, run %d: %s" % (name, i + 1, r["error"])
                for name, runs in results.items() for i, r in enumerate(runs)
                if "error" in r and r["error"] != "not run"]
    failures += ["%s, run %d: %s" % (name, i + 1, e) for name, runs in results.items()
                 for i, r in enumerate(runs) for e in r.get("errors", [])]
    skipped = [name for name, runs in results.items() if runs[0].get("error") == "not run"]
    if skipped:
        failures.append("not run (--only): " + ", ".join(skipped))
    commands = [show_command(gen) + "   # once, before the rounds"]
    commands += [show_command(c.cmd) for c in cs]
    elapsed = time.monotonic() - start
    rep = report(args, mi, results, medians, rows, means_lines, commands, failures,
                 (load_start, os.getloadavg()[0]), elapsed)

    print()
    print(rep["text"])
    if args.markdown:
        Path(args.markdown).write_text(rep["markdown"])
        print("\ncompare: wrote " + args.markdown)
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"machine": mi, "args": vars(args), "commands": commands, "medians": medians,
             "table": rows, "targets": target_rows(medians, per_round(results, args.runs)),
             "before_after": (before_after_rows(medians, per_round(results, args.runs))
                              if args.baseline_build_dir else []),
             "means_ok": means_ok, "failures": failures, "runs": results},
            indent=1, default=str))
        print("compare: wrote " + args.json)
    return 0 if means_ok and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
