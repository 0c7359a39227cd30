#!/usr/bin/python3
"""Python multiprocessing anchors for bench/compare.py (Debian's /usr/bin/python3 with
python3-numpy and python3-opencv; the default start method of Python 3.11 on Linux, fork).

  python_mp.py micro  [--processes 2] [--startups 10] [--round-trips 2000] [--async-tasks 20000]
  python_mp.py images FOLDER [--processes N] [--keep-memory]

micro: Pool(P) start-up, measured until every worker has run one trivial task (each of P tasks
       waits on a Barrier(P), so no worker can run two of them), and the pool's close() + join();
       pool.apply of an empty function, one at a time (p50/p99); apply_async throughput of empty
       tasks (all submitted, then all .get()).
images: the seed blog's rotateImage90 on a started Pool(P) with pool.map over the sorted *.bmp
       files (not *_rot90.bmp): processing time excludes the pool's start-up, which is reported
       on its own, as is its close() + join(). --keep-memory first makes the mallopt() calls of
       shoal's workers (worker/worker_loop.cpp), which the forked workers inherit: glibc then keeps
       freed image buffers instead of returning them to the kernel and faulting them in again.

Prints one JSON document on stdout. Times are in milliseconds or microseconds as named.
"""
import argparse
import ctypes
import glob
import json
import multiprocessing as mp
import os
import sys
import time

_barrier = None  # set in each worker by _init_worker


def _init_worker(barrier):
    global _barrier
    _barrier = barrier


def _meet(_):
    """Returns once P workers are all inside it: proof that every worker is up and running."""
    _barrier.wait()
    return os.getpid()


def empty(x):
    return x


def rotate_image90(fname):
    """The blog's function, line for line (the output name as the C++ demo makes it)."""
    import cv2  # imported once per worker; the parent imports it first, before forking

    img = cv2.imread(fname)
    if img is None:
        raise RuntimeError("cannot read " + fname + " as an image")
    img = cv2.rotate(img, cv2.ROTATE_90_CLOCKWISE)
    if not cv2.imwrite(fname[: -len(".bmp")] + "_rot90.bmp", img):
        raise RuntimeError("cannot write rotated " + fname)
    return float(img.mean())


def keep_memory():
    """mallopt() as shoal's workers call it (the M_* values are glibc's, from malloc.h)."""
    libc = ctypes.CDLL(None)
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    for option, value in ((M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 1 << 30),
                          (M_TOP_PAD, 16 << 20)):
        if libc.mallopt(option, value) != 1:
            raise RuntimeError("mallopt(%d, %d) failed" % (option, value))


def now():
    return time.perf_counter()


def percentile(sorted_values, q):
    """The same rule as bench/bench_util.hpp: the element at index floor(q * n)."""
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def start_pool(processes):
    """A Pool whose every worker has run one task; returns (pool, milliseconds it took)."""
    barrier = mp.Barrier(processes)
    t0 = now()
    pool = mp.Pool(processes, initializer=_init_worker, initargs=(barrier,))
    pids = pool.map(_meet, range(processes), chunksize=1)
    ms = (now() - t0) * 1e3
    if len(set(pids)) != processes:
        raise RuntimeError("start-up tasks ran on %d workers, not %d" % (len(set(pids)), processes))
    return pool, ms


def stop_pool(pool):
    t0 = now()
    pool.close()
    pool.join()
    return (now() - t0) * 1e3


def micro(args):
    out = {"processes": args.processes, "python": sys.version.split()[0],
           "start_method": mp.get_start_method()}

    startup_ms, stop_ms = [], []
    for _ in range(args.startups):
        pool, ms = start_pool(args.processes)
        startup_ms.append(ms)
        stop_ms.append(stop_pool(pool))
    startup_ms.sort()
    stop_ms.sort()
    out["startup_p50_ms"] = percentile(startup_ms, 0.5)
    out["startup_min_ms"] = startup_ms[0]
    out["close_join_p50_ms"] = percentile(stop_ms, 0.5)

    pool, _ = start_pool(args.processes)
    try:
        for i in range(args.round_trips // 10):  # warm-up
            pool.apply(empty, (i,))
        rtt_us = []
        for i in range(args.round_trips):
            t0 = now()
            pool.apply(empty, (i,))
            rtt_us.append((now() - t0) * 1e6)
        rtt_us.sort()
        out["apply_p50_us"] = percentile(rtt_us, 0.5)
        out["apply_p99_us"] = percentile(rtt_us, 0.99)
        out["apply_round_trips"] = len(rtt_us)

        t0 = now()
        results = [pool.apply_async(empty, (i,)) for i in range(args.async_tasks)]
        for r in results:
            r.get()
        seconds = now() - t0
        out["apply_async_tasks"] = args.async_tasks
        out["apply_async_ms"] = seconds * 1e3
        out["apply_async_per_s"] = args.async_tasks / seconds
    finally:
        stop_pool(pool)
    return out


def images(args):
    import cv2  # before the fork, as the blog's program does
    import numpy

    if args.keep_memory:
        keep_memory()
    fnames = sorted(f for f in glob.glob(os.path.join(args.folder, "*.bmp"))
                    if not f.endswith("_rot90.bmp"))
    if not fnames:
        raise RuntimeError("no .bmp images in " + args.folder)
    pool, startup_ms = start_pool(args.processes)
    try:
        t0 = now()
        means = pool.map(rotate_image90, fnames)
        processing_ms = (now() - t0) * 1e3
    finally:
        close_join_ms = stop_pool(pool)
    return {"processes": args.processes, "keep_memory": args.keep_memory,
            "images": len(fnames), "startup_ms": startup_ms,
            "processing_ms": processing_ms, "close_join_ms": close_join_ms, "means": means,
            "python": sys.version.split()[0], "opencv": cv2.__version__,
            "numpy": numpy.__version__}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    cpus = len(os.sched_getaffinity(0))
    m = sub.add_parser("micro", help="Pool start-up, apply round trip, apply_async throughput")
    m.add_argument("--processes", type=int, default=2)
    m.add_argument("--startups", type=int, default=10)
    m.add_argument("--round-trips", type=int, default=2000)
    m.add_argument("--async-tasks", type=int, default=20000)
    i = sub.add_parser("images", help="the blog's image workload with pool.map")
    i.add_argument("folder")
    i.add_argument("--processes", type=int, default=cpus)
    i.add_argument("--keep-memory", action="store_true",
                   help="call mallopt() as shoal's workers do, before the pool forks")
    args = parser.parse_args()
    try:
        result = micro(args) if args.mode == "micro" else images(args)
    except Exception as e:  # reported, with exit code 2, for compare.py to show as failed
        print("python_mp.py: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 2
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
