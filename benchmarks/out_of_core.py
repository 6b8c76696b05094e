"""A loss over data larger than the memory it is allowed, from chunks stored on disk.

cross_entropy (class weights, ignore_index, 'mean') over ``--rows`` rows of ``--classes`` float32
logits, stored as a stack of .npy chunks (``dask.array.to_npy_stack``), evaluated three ways, each
in a fresh subprocess whose peak resident memory (the kernel's high-water mark, VmHWM) is measured:

* ``dask``: ``losskit.functional.cross_entropy`` on ``dask.array.from_npy_stack`` (memory-mapped
  chunks), one lazy graph computed by dask's threaded scheduler (``--workers`` threads);
* ``stream``: a plain loop over the memory-mapped chunks with ``losskit.mean_parts`` per chunk,
  the pairs summed in float64 at the end (the route for data sharded across machines);
* ``numpy-in-memory``: the whole array loaded, then one NumPy call: the reference value and the
  memory the data would need at once (skipped above ``--in-memory-limit`` GiB of data: it needs about six times the data in RAM).

    python benchmarks/out_of_core.py                      # 5e7 rows x 16 classes: 3.2 GB on disk
    python benchmarks/out_of_core.py --rows 2000000 --chunk-rows 250000   # a quick run

Prints the data size, peak RSS and wall time of each method and the relative differences of the
values. The chunk files are written once per size into ``--dir`` (default: a temporary folder,
removed at the end unless ``--keep``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

WEIGHT = [0.5 + 0.1 * k for k in range(64)]
IGNORE = -1


def _peak_rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def generate(path: str, rows: int, classes: int, chunk_rows: int) -> None:
    """Write logits and targets as npy stacks, one chunk in memory at a time."""
    import dask.array as da
    import numpy as np

    def logits(block_id):
        rng = np.random.default_rng([1, block_id[0]])
        n = min(chunk_rows, rows - block_id[0] * chunk_rows)
        sharpness = 0.5 + 3.0 * block_id[0] * chunk_rows / rows  # chunk means differ
        return (rng.standard_normal((n, classes), dtype=np.float32) * sharpness).astype(np.float32)

    def targets(block_id):
        rng = np.random.default_rng([2, block_id[0]])
        n = min(chunk_rows, rows - block_id[0] * chunk_rows)
        t = rng.integers(0, classes, n)
        t[rng.random(n) < 0.5 * block_id[0] * chunk_rows / rows] = IGNORE  # ignored share grows
        return t

    chunks = (chunk_rows,) * (rows // chunk_rows) + ((rows % chunk_rows,) if rows % chunk_rows else ())
    x = da.map_blocks(logits, chunks=(chunks, (classes,)), dtype=np.float32)
    t = da.map_blocks(targets, chunks=(chunks,), dtype=np.int64)
    with _threads(1):
        da.to_npy_stack(os.path.join(path, "logits"), x, axis=0)
        da.to_npy_stack(os.path.join(path, "targets"), t, axis=0)


class _threads:
    def __init__(self, n: int) -> None:
        import dask

        self.cm = dask.config.set(scheduler="threads", num_workers=n)

    def __enter__(self) -> None:
        self.cm.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.cm.__exit__(*exc)


def run(method: str, path: str, classes: int, workers: int) -> dict:
    """One method in this process: value, seconds, peak RSS."""
    import numpy as np

    import losskit
    import losskit.functional as F

    w = np.asarray(WEIGHT[:classes], np.float32)
    start = time.perf_counter()
    if method == "dask":
        import dask.array as da

        x = da.from_npy_stack(os.path.join(path, "logits"))
        t = da.from_npy_stack(os.path.join(path, "targets"))
        with _threads(workers):
            value = float(F.cross_entropy(x, t, weight=da.from_array(w), ignore_index=IGNORE).compute())
    elif method == "stream":
        sums, totals = [], []
        k = 0
        while os.path.exists(os.path.join(path, "logits", f"{k}.npy")):
            x = np.load(os.path.join(path, "logits", f"{k}.npy"), mmap_mode="r")
            t = np.load(os.path.join(path, "targets", f"{k}.npy"), mmap_mode="r")
            s, n = losskit.mean_parts(F.cross_entropy, np.asarray(x), np.asarray(t), weight=w, ignore_index=IGNORE)
            sums.append(float(s))
            totals.append(float(n))
            k += 1
        value = float(np.sum(sums) / np.sum(totals))
    elif method == "numpy-in-memory":
        import dask.array as da

        with _threads(1):
            x = da.from_npy_stack(os.path.join(path, "logits")).compute()
            t = da.from_npy_stack(os.path.join(path, "targets")).compute()
        value = float(F.cross_entropy(x, t, weight=w, ignore_index=IGNORE))
    else:
        raise ValueError(f"unknown method {method!r}")
    return {"value": value, "seconds": time.perf_counter() - start, "peak_rss": _peak_rss()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--classes", type=int, default=16)
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dir", default=None, help="where the chunks go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the chunk files")
    parser.add_argument("--in-memory-limit", type=float, default=1.0,
                        help="GiB of data above which the in-memory reference (about 6x the data in RAM) is skipped")
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.classes > len(WEIGHT):
        parser.error(f"--classes must be at most {len(WEIGHT)}")

    if args.worker:
        print(json.dumps(run(args.worker[0], args.worker[1], args.classes, args.workers)))
        return

    path = args.dir or tempfile.mkdtemp(prefix="losskit-ooc-")
    data_bytes = args.rows * (args.classes * 4 + 8)
    try:
        if not os.path.exists(os.path.join(path, "logits", "info")):
            start = time.perf_counter()
            generate(path, args.rows, args.classes, args.chunk_rows)
            print(f"wrote {data_bytes / 2**30:.2f} GiB in {time.perf_counter() - start:.1f} s to {path}")
        methods = ["dask", "stream"]
        if data_bytes / 2**30 <= args.in_memory_limit:
            methods.append("numpy-in-memory")
        results = {}
        for method in methods:
            cmd = [sys.executable, __file__, "--classes", str(args.classes), "--workers", str(args.workers), "--worker", method, path]
            results[method] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        reference = results.get("numpy-in-memory", results["stream"])["value"]
        print(f"rows {args.rows:,} x {args.classes} float32 logits + int64 targets = {data_bytes / 2**30:.2f} GiB "
              f"in {-(-args.rows // args.chunk_rows)} chunks of {args.chunk_rows:,} rows")
        print(f"{'method':16} {'peak RSS':>10} {'RSS / data':>10} {'seconds':>8}  value (rel. diff to reference)")
        for method, r in results.items():
            print(f"{method:16} {r['peak_rss'] / 2**20:7.0f} MiB {r['peak_rss'] / data_bytes:10.3f} {r['seconds']:8.2f}  "
                  f"{r['value']:.9g} ({abs(r['value'] - reference) / abs(reference):.1e})")
    finally:
        if not (args.keep or args.dir):
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
