"""Chunked linear cross entropy against the unchunked computation: peak memory and time.

Forward and backward (gradients of the input, the linear weight and the bias) of

* ``losskit chunked``:  ``losskit.functional.linear_cross_entropy`` on losskit Tensors;
* ``losskit unchunked``: ``logits = x @ W.T + b`` in full, then ``losskit.functional.cross_entropy``,
  on losskit Tensors (NumPy);
* ``torch chunked``: ``torch.nn.functional.linear_cross_entropy`` with
  ``options=LinearCrossEntropyOptions()``, where torch is installed;
* ``torch unchunked``: the same with ``options=None`` (torch's reference path).

Each method runs in a fresh subprocess: one round for the peak resident memory (the rise of the
process's high-water mark over its resident size before the call, inputs already made), one round
under tracemalloc for the NumPy methods (NumPy reports its allocations to it), then ``--rounds``
timed rounds, of which the median is shown. Ratios are against ``losskit unchunked``.

    python benchmarks/linear_cross_entropy.py                     # N=8192, H=512, V=32000 float32
    python benchmarks/linear_cross_entropy.py --n 2048 --rounds 5 --methods losskit-chunked losskit-unchunked
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc

METHODS = ("losskit-chunked", "losskit-unchunked", "torch-chunked", "torch-unchunked")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _make(method: str, n: int, h: int, v: int, dtype: str, chunk: int | None):
    """Inputs and a function running one forward and backward."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h), dtype=np.float32).astype(dtype)
    w = (rng.standard_normal((v, h), dtype=np.float32) / np.sqrt(h)).astype(dtype)
    b = (0.1 * rng.standard_normal(v, dtype=np.float32)).astype(dtype)
    t = rng.integers(0, v, n)
    if method.startswith("losskit"):
        import losskit
        import losskit.functional as F
        from losskit.nn import LinearCrossEntropyOptions

        options = None if chunk is None else LinearCrossEntropyOptions(batch_chunk_size=chunk)

        def run():
            X = losskit.Tensor(x, requires_grad=True)
            W = losskit.Tensor(w, requires_grad=True)
            B = losskit.Tensor(b, requires_grad=True)
            if method == "losskit-chunked":
                loss = F.linear_cross_entropy(X, W, t, linear_bias=B, options=options)
            else:
                loss = F.cross_entropy(X @ W.T + B, t)
            loss.backward()
            return X.grad, W.grad, B.grad

        return run
    import torch

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", torch.get_num_threads())))
    tx, tw, tb, tt = (torch.from_numpy(a) for a in (x, w, b, t))
    if method == "torch-chunked":
        options = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=chunk) if chunk else torch.nn.LinearCrossEntropyOptions()
    else:
        options = None

    def run():
        X, W, B = (a.detach().requires_grad_() for a in (tx, tw, tb))
        loss = torch.nn.functional.linear_cross_entropy(X, W, tt, linear_bias=B, options=options)
        loss.backward()
        return X.grad, W.grad, B.grad

    return run


def worker(args: argparse.Namespace) -> None:
    run = _make(args.worker, args.n, args.h, args.v, args.dtype, args.chunk)
    before = _rss_bytes()
    run()
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    traced = None
    if args.worker.startswith("losskit"):
        tracemalloc.start()
        run()
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    print(json.dumps({"rss": peak_rss, "traced": traced, "times": times}))


def _fmt_mb(b: float | None) -> str:
    return "-" if b is None else f"{b / 2**20:9.0f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=8192, help="batch rows N")
    p.add_argument("--h", type=int, default=512, help="in_features H")
    p.add_argument("--v", type=int, default=32000, help="classes (vocabulary) V")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--rounds", type=int, default=3, help="timed rounds per method (median shown); >= 3")
    p.add_argument("--chunk", type=int, default=None, help="batch_chunk_size (default: each library's own)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    if args.rounds < 3:
        p.error("--rounds must be >= 3 (the median of several rounds is reported)")
    try:
        import torch  # noqa: F401
    except ImportError:
        args.methods = [m for m in args.methods if not m.startswith("torch")]
    results = {}
    for m in args.methods:
        cmd = [sys.executable, __file__, "--worker", m, "--n", str(args.n), "--h", str(args.h),
               "--v", str(args.v), "--dtype", args.dtype, "--rounds", str(args.rounds)]
        if args.chunk:
            cmd += ["--chunk", str(args.chunk)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        results[m] = json.loads(out.strip().splitlines()[-1])
    print(f"linear cross entropy, forward + backward: N={args.n} H={args.h} V={args.v} {args.dtype}, "
          f"median of {args.rounds} rounds; logits alone are {args.n * args.v * (4 if args.dtype == 'float32' else 8) / 2**20:.0f} MiB")
    ref = results.get("losskit-unchunked")
    print(f"{'method':<20}{'time s':>9}{'x time':>8}{'peak RSS MiB':>14}{'x RSS':>8}{'traced MiB':>12}{'x traced':>10}")
    for m, r in results.items():
        t = statistics.median(r["times"])
        row = f"{m:<20}{t:9.3f}"
        row += f"{t / statistics.median(ref['times']):8.2f}" if ref else f"{'-':>8}"
        row += f"{_fmt_mb(r['rss']):>14}"
        row += f"{r['rss'] / ref['rss']:8.3f}" if ref else f"{'-':>8}"
        row += f"{_fmt_mb(r['traced']):>12}"
        row += f"{r['traced'] / ref['traced']:10.3f}" if ref and r["traced"] is not None else f"{'-':>10}"
        print(row)


if __name__ == "__main__":
    main()
