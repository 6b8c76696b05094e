"""Row blocks: an op's own Array API code run on blocks of rows, on every core, for NumPy.

NumPy runs each call over a whole array on one thread, so a chain of ``k`` passes over a large
array streams it through memory ``k`` times, one core at a time; torch fuses the chain and uses
every core. :func:`map_rows` runs a row-independent part of an op (the same code every library
runs) on blocks of rows small enough for the cache, so the block's temporaries stay there
between passes, and hands the blocks to a thread pool (NumPy releases the GIL inside its loops).
Only NumPy arrays large enough to pay for the hand-offs take this path; every other library,
and small arrays, run the function once on the whole arrays, exactly as without this module.

``set_num_threads`` (torch's name) sets the number of threads; the default is the number of
cores this process may use.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import numpy as np

from ._array import is_numpy_namespace

# A block of about 2^18 elements (1 MiB of float32) keeps a few temporaries in a core's L2 cache
# while the per-block Python cost (some microseconds per call in the block's function) stays
# small against the block's arithmetic; below two blocks' worth nothing is split.
BLOCK_ELEMENTS = 1 << 18

_threads = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def set_num_threads(n: int) -> None:
    """The number of threads losskit's NumPy path uses for large arrays (1: the calling thread)."""
    global _threads, _pool
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    with _pool_lock:
        _threads = n
        if _pool is not None:
            _pool.shutdown(wait=False)
            _pool = None


def get_num_threads() -> int:
    """The number of threads losskit's NumPy path uses for large arrays."""
    return _threads


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="losskit")
        return _pool


def map_rows(xp: Any, fn: Callable[..., tuple], rows: Sequence[Any], shared: Sequence[Any] = ()) -> tuple:
    """``fn(*rows, *shared)``, computed on blocks of the leading axis of ``rows`` where that pays.

    ``fn`` must be row-independent: each row of each output (all with the same leading length as
    ``rows``) depends only on the same row of ``rows`` and on ``shared``. It returns a tuple of
    arrays; the blocks' outputs are written into whole arrays of the same dtype.
    """
    if not (is_numpy_namespace(xp) and all(type(a) is np.ndarray and a.ndim for a in rows)):
        return fn(*rows, *shared)
    n = rows[0].shape[0]
    block = max(1, BLOCK_ELEMENTS // max(rows[0].size // max(n, 1), 1))
    if n < 2 * block:
        return fn(*rows, *shared)
    starts = list(range(0, n, block))
    first = fn(*(a[:block] for a in rows), *shared)
    outs = tuple(np.empty((n,) + o.shape[1:], dtype=o.dtype) for o in first)
    for out, o in zip(outs, first):
        out[:block] = o

    def work(k: int) -> None:
        lo = starts[k]
        hi = min(lo + block, n)
        with np.errstate(all="ignore"):  # as every op runs (_array.quiet); not inherited by threads
            for out, o in zip(outs, fn(*(a[lo:hi] for a in rows), *shared)):
                out[lo:hi] = o

    if _threads == 1:
        for k in range(1, len(starts)):
            work(k)
    else:
        # contiguous runs of blocks per thread: each thread streams its own part of memory
        threads = min(_threads, len(starts) - 1)
        runs = np.array_split(np.arange(1, len(starts)), threads)
        list(_executor().map(lambda run: [work(int(k)) for k in run], runs))
    return outs


def map_elementwise(xp: Any, fn: Callable[..., tuple], arrays: Sequence[Any], like: Any) -> tuple:
    """``fn(*arrays)`` for an elementwise ``fn`` whose outputs have the shape of ``like`` (the
    arrays broadcast to it without enlarging it), on blocks of rows where that pays.

    The arrays with ``like``'s leading length (and ``ndim``) are split into blocks of rows; the
    others (``None``, Python scalars, 0-d, fewer dimensions or a leading length of 1) broadcast
    over the rows and are passed whole to every block.
    """
    n = like.shape[0] if like.ndim else 0
    split = [
        i for i, a in enumerate(arrays)
        if a is not None and getattr(a, "ndim", 0) == like.ndim and n > 1 and a.shape[0] == n
    ]
    if not split:
        return fn(*arrays)

    def on_rows(*blocks: Any) -> tuple:
        full = list(arrays)
        for i, block in zip(split, blocks):
            full[i] = block
        return fn(*full)

    return map_rows(xp, on_rows, [arrays[i] for i in split])
