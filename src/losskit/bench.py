"""The benchmark suite: every loss, side by side with torch's CPU losses, JAX under jit and optax.

``losskit bench`` (or ``python benchmarks/run.py``) times, for every loss of
:mod:`losskit.catalog` on its default call (the catalog's first example, float32) at a realistic
size, and at a small and a large size for the main losses:

* ``fwd+bwd``: forward and backward (a backward of ones for unreduced outputs), on
  ``losskit-tensor`` (losskit's engine, NumPy arrays in ``losskit.Tensor``), ``torch`` (its own
  ``F.*`` with ``requires_grad`` inputs, ``.backward()``), ``jax`` (losskit on JAX arrays,
  ``jax.jit(jax.value_and_grad(...))``) and ``optax`` (optax's loss with the same semantics);
* ``fwd``: forward alone, on ``losskit-plain`` (plain NumPy arrays), ``torch`` under ``no_grad``,
  ``jax.jit(f)`` and optax; and ``read``, one ``np.sum`` over each input array: the time of
  reading the inputs once, the floor that memory bandwidth sets.

Method. Each framework runs in its own persistent worker process (JSON lines over its stdin and
stdout) and only one worker measures at a time. Rounds are interleaved: for each round, for each
case, for each framework, the worker (after one warm-up call the first time it meets the case:
compilation, lazy initialisation) times blocks of calls (enough calls per block for a block to
last a few milliseconds, blocks until ``--min-time`` seconds and at least three blocks) and
returns the median time per call. The figure reported for a case is the
median over rounds of the per-round ratio to torch, so that a slow moment of a noisy machine
slows every framework of that round alike. Before the first round every framework's forward value
is compared with torch's (an optax loss whose value differs is left out of that case).

Peak memory: after the timing, one fresh worker per framework started with
``MALLOC_MMAP_THRESHOLD_`` fixed (so that freed large blocks go back to the system at once)
measures, for each case, the rise of the process's resident-set high-water mark (``VmHWM``,
reset through ``/proc/self/clear_refs``) over its resident size just before one call, inputs
already made and one warm-up call done. Linux only; elsewhere the memory columns stay empty.

torch runs on ``--torch-threads`` threads (2 by default, the issue's setting); NumPy and JAX as
they come. The table, the machine, the versions and the summary figures of the performance goals
go to ``--output`` (a Markdown file) and the summary to stdout.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import math
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

FWD_BWD, FWD = "fwd+bwd", "fwd"
MODES = (FWD_BWD, FWD)
FRAMEWORKS = ("losskit-tensor", "losskit-plain", "torch", "jax", "optax", "read")
# The modes each framework is timed in: losskit's engine for forward+backward, its plain-array
# path for forward alone; the others do both.
FRAMEWORK_MODES = {
    "losskit-tensor": (FWD_BWD,),
    "losskit-plain": (FWD,),
    "torch": MODES,
    "jax": MODES,
    "optax": MODES,
    "read": (FWD,),  # one NumPy sum over each input array: the memory-bandwidth floor
}
SIZE_NAMES = ("tiny", "small", "realistic", "large")
QUICK_SIZE = (16, 8)
DTYPE = "float32"

_POINTWISE = {"small": (1_000, 100), "realistic": (10_000, 1_000), "large": (10_000, 3_000)}
_CLASSES = {"small": (256, 100), "realistic": (8_192, 1_000), "large": (32_768, 1_000)}

# (n, c) per loss and size, as the catalog's ``examples(rng, dtype, n, c)`` reads them: n samples
# and c classes or features (10^7 elements for the pointwise losses, as the issue measured BCE
# with logits; 8192 x 1000 for the class losses). "tiny" is the per-call overhead case.
SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "l1_loss": _POINTWISE,
    "mse_loss": _POINTWISE,
    "huber_loss": {"realistic": _POINTWISE["realistic"]},
    "smooth_l1_loss": _POINTWISE,
    "binary_cross_entropy": {"realistic": _POINTWISE["realistic"]},
    "binary_cross_entropy_with_logits": _POINTWISE,
    "cross_entropy": {"tiny": (32, 10), **_CLASSES},
    "nll_loss": _CLASSES,
    "poisson_nll_loss": {"realistic": _POINTWISE["realistic"]},
    "gaussian_nll_loss": {"realistic": _POINTWISE["realistic"]},
    "kl_div": {"realistic": _CLASSES["realistic"]},
    "margin_ranking_loss": {"realistic": (1_000_000, 1)},  # 1-d inputs of n pairs
    "hinge_embedding_loss": {"realistic": _POINTWISE["realistic"]},
    "soft_margin_loss": {"realistic": _POINTWISE["realistic"]},
    "multi_margin_loss": {"realistic": _CLASSES["realistic"]},
    # torch's cost is O(n c * labels per sample): 100 classes keep it to a fraction of a second
    "multilabel_margin_loss": {"realistic": (2_048, 100)},
    "multilabel_soft_margin_loss": {"realistic": _CLASSES["realistic"]},
    "cosine_embedding_loss": {"realistic": (8_192, 512)},
    "triplet_margin_loss": {"realistic": (8_192, 512)},
    "triplet_margin_with_distance_loss": {"realistic": (8_192, 512)},
    # the catalog makes T = 2 (c // 2) + 4 time steps and targets of up to c // 2 labels:
    # T = 100, N = 32, C = 96, S = 48
    "ctc_loss": {"realistic": (32, 96)},
    "focal_loss": {"realistic": _CLASSES["realistic"]},
    "sigmoid_focal_loss": {"realistic": _POINTWISE["realistic"]},
    # hidden size 8 (the catalog's): the softmax over a 32000-word vocabulary dominates
    "linear_cross_entropy": {"realistic": (1_024, 32_000)},
    "cosine_similarity": {"realistic": (8_192, 512)},
    "pairwise_distance": {"realistic": (8_192, 512)},
    "log_softmax": {"realistic": _CLASSES["realistic"]},
    "softmax": {"realistic": _CLASSES["realistic"]},
    "logsumexp": {"realistic": _CLASSES["realistic"]},
    "sigmoid": {"realistic": _POINTWISE["realistic"]},
    "logsigmoid": {"realistic": _POINTWISE["realistic"]},
    "softplus": {"realistic": _POINTWISE["realistic"]},
}

# Goals of the performance issue.
GOAL_GEOMEAN, GOAL_WORST, GOAL_JAX, GOAL_TINY = 1.0, 2.0, 0.8, 2.0
JAX_GOAL_LOSSES = ("cross_entropy", "binary_cross_entropy_with_logits")


# --- optax's losses with torch's semantics ---------------------------------------------------------


def _optax_losses() -> dict[str, Callable]:
    """optax's losses behind the signatures of torch's (and the catalog's) calls.

    Each takes the arguments the catalog passes to losskit's function; a call optax cannot express
    raises ``NotImplementedError``. Values are checked against torch's before anything is timed.
    """
    import jax.numpy as jnp
    import optax.losses as L

    def reduce(loss: Any, reduction: str) -> Any:
        if reduction == "mean":
            return jnp.mean(loss)
        if reduction == "sum":
            return jnp.sum(loss)
        if reduction == "none":
            return loss
        raise NotImplementedError(f"reduction {reduction!r}")

    def kl_div(x: Any, y: Any, reduction: str = "mean", log_target: bool = False) -> Any:
        if reduction != "batchmean":  # optax's KL sums over the last axis, per sample
            raise NotImplementedError(f"reduction {reduction!r}")
        return jnp.mean((L.kl_divergence_with_log_targets if log_target else L.kl_divergence)(x, y))

    def triplet(a: Any, pos: Any, neg: Any, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6,
                swap: bool = False, reduction: str = "mean") -> Any:
        if swap:
            raise NotImplementedError("swap")
        # optax adds eps to the sum of powers, torch to the differences: equal up to float32 rounding here
        return reduce(L.triplet_margin_loss(a, pos, neg, norm_degree=p, margin=margin, eps=eps), reduction)

    def ctc(x: Any, targets: Any, input_lengths: Any, target_lengths: Any, blank: int = 0,
            reduction: str = "mean", zero_infinity: bool = False) -> Any:
        # x: raw scores (T, N, C); optax takes (N, T, C) logits and applies log_softmax itself
        t, s = x.shape[0], targets.shape[1]
        logit_paddings = (jnp.arange(t)[None, :] >= input_lengths[:, None]).astype(x.dtype)
        label_paddings = (jnp.arange(s)[None, :] >= target_lengths[:, None]).astype(x.dtype)
        loss = L.ctc_loss(jnp.transpose(x, (1, 0, 2)), logit_paddings, targets, label_paddings, blank_id=blank)
        if zero_infinity:
            loss = jnp.where(jnp.isinf(loss), 0.0, loss)
        if reduction == "mean":  # torch: each sequence's loss over its target length, then the mean
            return jnp.mean(loss / target_lengths.astype(x.dtype))
        return reduce(loss, reduction)

    def per_element(loss: Callable) -> Callable:
        """A torch-style ``(x, y, reduction=, **options)`` call of optax's per-element ``loss``."""

        def call(x: Any, y: Any, reduction: str = "mean", **options: Any) -> Any:
            return reduce(loss(x, y, **options), reduction)

        return call

    def smooth_l1(x: Any, y: Any, reduction: str = "mean", beta: float = 1.0) -> Any:
        return reduce(L.huber_loss(x, y, delta=beta) / beta, reduction)

    def multilabel_soft_margin(x: Any, y: Any, reduction: str = "mean") -> Any:
        return reduce(jnp.mean(L.sigmoid_binary_cross_entropy(x, y), axis=-1), reduction)

    def sigmoid_focal(x: Any, y: Any, alpha: float = 0.25, gamma: float = 2.0, reduction: str = "none") -> Any:
        return reduce(L.sigmoid_focal_loss(x, y, alpha=alpha, gamma=gamma), reduction)

    return {
        "mse_loss": per_element(L.squared_error),
        "huber_loss": per_element(L.huber_loss),
        "smooth_l1_loss": smooth_l1,
        "binary_cross_entropy_with_logits": per_element(L.sigmoid_binary_cross_entropy),
        "cross_entropy": per_element(L.softmax_cross_entropy_with_integer_labels),
        "kl_div": kl_div,
        "multilabel_soft_margin_loss": multilabel_soft_margin,
        "triplet_margin_loss": triplet,
        "ctc_loss": ctc,
        "sigmoid_focal_loss": sigmoid_focal,
    }


OPTAX_LOSSES = (
    "mse_loss", "huber_loss", "smooth_l1_loss", "binary_cross_entropy_with_logits", "cross_entropy", "kl_div",
    "multilabel_soft_margin_loss", "triplet_margin_loss", "ctc_loss", "sigmoid_focal_loss",
)


# --- the frameworks, as the workers run them ------------------------------------------------------


class _Framework:
    """Turns a catalog example into a callable running one forward (and backward) on a framework."""

    def load(self, entry: Any, ex: Any) -> Any:
        """The example's inputs as this framework's arrays (made once per case, outside timing)."""
        return ex

    def runner(self, entry: Any, ex: Any, inputs: Any, mode: str) -> Callable[[], Any]:
        raise NotImplementedError

    def value(self, out: Any) -> np.ndarray:
        """The forward value from what a runner returned, as a NumPy array."""
        raise NotImplementedError


class _Losskit(_Framework):
    def runner(self, entry: Any, ex: Any, inputs: Any, mode: str) -> Callable[[], Any]:
        import losskit

        f = entry.function()
        if mode == FWD:
            return lambda: f(*ex.args, **ex.kwargs)
        probe = f(*ex.args, **ex.kwargs)
        ones = np.ones(probe.shape, probe.dtype) if probe.ndim else None

        def run() -> Any:
            args = [losskit.Tensor(a, requires_grad=True) if i in ex.grad else a for i, a in enumerate(ex.args)]
            out = f(*args, **ex.kwargs)
            out.backward(ones)
            return out, [args[i].grad for i in ex.grad]

        return run

    def value(self, out: Any) -> np.ndarray:
        out = out[0].data if isinstance(out, tuple) else out
        return np.asarray(out)


class _Torch(_Framework):
    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.torch = torch

    def load(self, entry: Any, ex: Any) -> Any:
        convert = lambda v: self.torch.from_numpy(v) if isinstance(v, np.ndarray) else v  # noqa: E731
        return [convert(a) for a in ex.args], {k: convert(v) for k, v in ex.kwargs.items()}

    def runner(self, entry: Any, ex: Any, inputs: Any, mode: str) -> Callable[[], Any]:
        torch = self.torch
        f = entry.torch_function()
        args, kwargs = inputs
        if mode == FWD:
            def forward() -> Any:
                with torch.no_grad():
                    return f(*args, **kwargs)

            return forward
        with torch.no_grad():
            probe = f(*args, **kwargs)
        ones = torch.ones_like(probe) if probe.ndim else None

        def run() -> Any:
            call = list(args)
            for i in ex.grad:
                call[i] = args[i].detach().requires_grad_()
            out = f(*call, **kwargs)
            out.backward(ones)
            return out, [call[i].grad for i in ex.grad]

        return run

    def value(self, out: Any) -> np.ndarray:
        out = out[0] if isinstance(out, tuple) else out
        return out.detach().numpy()


class _Jax(_Framework):
    """losskit's function on JAX arrays (or optax's, ``optax=True``) under ``jax.jit``.

    Arrays are the jitted function's arguments, Python scalars and strings static; the jitted
    functions are kept per case so that later rounds reuse the compiled code.
    """

    def __init__(self, optax: bool = False) -> None:
        import jax

        from .backends import jax as _backend  # noqa: F401  (imported now, as every loss is)

        self.jax = jax
        self.optax = _optax_losses() if optax else None
        self.compiled: dict[tuple, Callable] = {}

    def load(self, entry: Any, ex: Any) -> Any:
        jnp = self.jax.numpy
        return [jnp.asarray(v) if isinstance(v, np.ndarray) else v for v in (*ex.args, *ex.kwargs.values())]

    def runner(self, entry: Any, ex: Any, inputs: Any, mode: str) -> Callable[[], Any]:
        jax = self.jax
        if self.optax is not None:
            if entry.name not in self.optax:
                raise NotImplementedError(f"optax has no {entry.name}")
            f = self.optax[entry.name]
        else:
            f = entry.function()
        # the jitted function outlives the case: it must not hold the case's arrays (nor ``ex``)
        nargs, names, grad = len(ex.args), list(ex.kwargs), tuple(ex.grad)
        statics = {i: v for i, v in enumerate(inputs) if not isinstance(v, jax.Array)}
        diff = [inputs[i] for i in grad]
        arrays = [None if (i in statics or i in grad) else v for i, v in enumerate(inputs)]

        def call(diff: list, arrays: list) -> Any:
            values = [statics.get(i, a) for i, a in enumerate(arrays)]
            for i, d in zip(grad, diff):
                values[i] = d
            return f(*values[:nargs], **dict(zip(names, values[nargs:])))

        key = (entry.name, tuple(inputs[0].shape), mode)
        if key not in self.compiled:
            if mode == FWD:
                self.compiled[key] = jax.jit(call)
            else:
                self.compiled[key] = jax.jit(jax.value_and_grad(lambda d, a: jax.numpy.sum(call(d, a))))
        fn = self.compiled[key]
        return lambda: jax.block_until_ready(fn(diff, arrays))

    def value(self, out: Any) -> np.ndarray:
        return np.asarray(out[0] if isinstance(out, tuple) else out)


class _Read(_Framework):
    """Not a loss: one ``np.sum`` over each input array, the time of reading the inputs once."""

    def runner(self, entry: Any, ex: Any, inputs: Any, mode: str) -> Callable[[], Any]:
        arrays = [a for a in (*ex.args, *ex.kwargs.values()) if isinstance(a, np.ndarray)]
        return lambda: [np.sum(a) for a in arrays]


def _make_framework(name: str, torch_threads: int) -> _Framework:
    if name == "read":
        return _Read()
    if name.startswith("losskit"):
        import losskit  # noqa: F401  (fail here, at start-up, if losskit cannot be imported)

        return _Losskit()
    if name == "torch":
        return _Torch(torch_threads)
    if name == "jax":
        return _Jax()
    if name == "optax":
        return _Jax(optax=True)
    raise ValueError(f"unknown framework {name!r}; expected one of {', '.join(FRAMEWORKS)}")


# --- timing and memory, inside a worker -----------------------------------------------------------


def _timed(run: Callable[[], Any], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        run()
    return time.perf_counter() - start


def time_per_call(
    run: Callable[[], Any], min_time: float, min_blocks: int = 3, warm_up: bool = True
) -> tuple[float, int]:
    """Median seconds per call over timed blocks, and the number of calls timed.

    A warm-up call (compilation, lazy initialisation) if asked; then enough calls per block that a
    block lasts >= 2 ms (so that the clock's resolution does not matter for microsecond calls),
    and blocks until ``min_time`` seconds and at least ``min_blocks`` blocks (50 blocks at most).
    """
    if warm_up:
        run()
    number, first = 1, _timed(run, 1)
    while first < 2e-3 and number < 10**6:
        number *= 10 if first < 2e-4 else 2
        first = _timed(run, number)
    samples, total = [first / number], first
    while len(samples) < min_blocks or (total < min_time and len(samples) < 50):
        t = _timed(run, number)
        samples.append(t / number)
        total += t
    return statistics.median(samples), number * len(samples)


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise KeyError(field_name)


def peak_memory(run: Callable[[], Any]) -> int | None:
    """Rise of the resident-set high-water mark over the resident size before one call (bytes).

    ``None`` where ``/proc/self/clear_refs`` cannot reset the mark (not Linux).
    """
    out = run()  # warm-up: lazy initialisation and compilation are not the loss's memory
    del out
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident size
        before = _status_kib("VmRSS")
    except OSError:
        return None
    out = run()
    peak = _status_kib("VmHWM")
    del out
    return max(peak - before, 0) * 1024


def _worker(framework: str, torch_threads: int) -> int:
    """A worker: requests in on stdin, one JSON answer per line on the original stdout."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the libraries print goes to stderr, never into the protocol

    def answer(obj: dict) -> None:
        protocol.write(json.dumps(obj) + "\n")

    try:
        fw = _make_framework(framework, torch_threads)
    except Exception as e:  # an absent library: the coordinator leaves this framework out
        answer({"error": f"{type(e).__name__}: {e}"})
        return 1
    # import every loss now: a worker that idles until the memory phase runs the code of the
    # start of the run, even if the source changes meanwhile
    from . import catalog, functional  # noqa: F401

    answer({"ready": True})

    current, runners = None, {}  # the case's input file, and its runners per mode
    warmed: set[tuple[str, str]] = set()  # (input, mode) already called once in this process
    for line in sys.stdin:
        request = json.loads(line)
        try:
            entry = catalog.entry(request["loss"])
            if current != request["input"]:
                current, runners = None, {}  # drop the previous case's arrays first
                gc.collect()
                with open(request["input"], "rb") as f:
                    ex = pickle.load(f)
                inputs, current = fw.load(entry, ex), request["input"]
            if request["mode"] not in runners:
                runners[request["mode"]] = fw.runner(entry, ex, inputs, request["mode"])
            run = runners[request["mode"]]
            if request["op"] == "time":
                key = (request["input"], request["mode"])
                seconds, calls = time_per_call(run, request["min_time"], request["min_blocks"], key not in warmed)
                warmed.add(key)
                answer({"seconds": seconds, "calls": calls})
            elif request["op"] == "value":
                np.save(request["path"], fw.value(run()))
                warmed.add((request["input"], request["mode"]))
                answer({"path": request["path"]})
            elif request["op"] == "memory":
                answer({"bytes": peak_memory(run)})
            else:
                answer({"error": f"unknown request {request['op']!r}"})
        except NotImplementedError as e:
            answer({"skip": str(e)})
        except Exception as e:
            answer({"error": f"{type(e).__name__}: {e}"})
    return 0


# --- the coordinator ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    loss: str
    size: str
    n: int
    c: int


@dataclass
class Cell:
    """What one framework did on one case in one mode."""

    seconds: list[float] = field(default_factory=list)  # one per round, until a failure
    peak: int | None = None
    note: str | None = None  # why there is no figure, or why the figure is flagged
    skip: bool = False  # not timed (any more): it failed, or its value is not torch's (optax)


class _Workers:
    """One persistent worker process per framework, asked one at a time."""

    def __init__(self, frameworks: Sequence[str], torch_threads: int, logdir: str, role: str, env: dict | None = None):
        self.procs: dict[str, subprocess.Popen] = {}
        self.unavailable: dict[str, str] = {}
        self.torch_threads, self.env = torch_threads, env
        self.log = lambda name: os.path.join(logdir, f"{role}-{name}.log")
        for name in frameworks:
            self._start(name)

    def _start(self, name: str) -> None:
        import losskit

        env = dict(os.environ, **(self.env or {}))
        src = os.path.dirname(os.path.dirname(os.path.abspath(losskit.__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        log = open(self.log(name), "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "losskit.bench", "--worker", name, "--torch-threads", str(self.torch_threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
        )
        log.close()
        hello = self._read(name, proc)
        if "ready" in hello:
            self.procs[name] = proc
        else:
            self.unavailable[name] = hello.get("error", "did not start")
            proc.wait()

    def _read(self, name: str, proc: subprocess.Popen) -> dict:
        line = proc.stdout.readline()
        if line:
            return json.loads(line)
        with open(self.log(name), "rb") as f:
            tail = f.read().decode(errors="replace").strip().splitlines()[-3:]
        return {"error": f"worker exited (code {proc.wait()}): {' | '.join(tail)}"}

    def ask(self, name: str, request: dict) -> dict:
        proc = self.procs[name]
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        answer = self._read(name, proc)
        if proc.poll() is not None:  # crashed (out of memory, say): a fresh one for what follows
            del self.procs[name]
            self._start(name)
        return answer

    def close(self) -> None:
        for proc in self.procs.values():
            if not proc.stdin.closed:
                proc.stdin.close()
        for proc in self.procs.values():
            proc.wait()


class _Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, every 10% otherwise)."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.done, self.enabled = max(total, 1), 0, enabled
        self.tty = sys.stderr.isatty()
        self.start, self.last_tenth = time.monotonic(), -1

    def step(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        frac = min(self.done / self.total, 1.0)
        elapsed = time.monotonic() - self.start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        text = f"[{bar}] {self.done}/{self.total} {_duration(elapsed)} elapsed, ~{_duration(eta)} left  {label}"
        if self.tty:
            sys.stderr.write("\r" + text[:150].ljust(150))
            sys.stderr.flush()
        elif int(10 * frac) > self.last_tenth:
            self.last_tenth = int(10 * frac)
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


def _duration(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


def _cases(losses: Sequence[str], sizes: Sequence[str], quick: bool) -> list[Case]:
    if quick:
        return [Case(name, "quick", *QUICK_SIZE) for name in losses]
    return [Case(name, s, *SIZES[name][s]) for name in losses for s in sizes if s in SIZES[name]]


def _prepare_input(case: Case, directory: str) -> str:
    """The case's default example, made once and pickled for the workers to load."""
    from . import catalog

    path = os.path.join(directory, f"{case.loss}-{case.size}.pkl")
    if not os.path.exists(path):
        rng = np.random.default_rng([0, sum(map(ord, case.loss)), case.n, case.c])
        ex = catalog.entry(case.loss).examples(rng, np.dtype(DTYPE), case.n, case.c)[0]
        with open(path, "wb") as f:
            pickle.dump(ex, f, protocol=5)
    return path


def _input_shape(path: str) -> str:
    with open(path, "rb") as f:
        ex = pickle.load(f)
    return "x".join(map(str, ex.args[0].shape))


def _applicable(frameworks: Sequence[str], mode: str, loss: str) -> list[str]:
    return [fw for fw in frameworks if mode in FRAMEWORK_MODES[fw] and (fw != "optax" or loss in OPTAX_LOSSES)]


def _close(value: np.ndarray, reference: np.ndarray) -> tuple[bool, float]:
    """Whether a float32 value equals torch's up to summation order, and the largest error."""
    if value.shape != reference.shape:
        return False, math.inf
    scale = max(1.0, float(np.max(np.abs(reference)))) if reference.size else 1.0
    err = float(np.max(np.abs(value.astype(np.float64) - reference))) if reference.size else 0.0
    return bool(np.allclose(value, reference, rtol=1e-3, atol=1e-5 * scale, equal_nan=True)), err


def _check_values(workers: _Workers, case: Case, path: str, frameworks: Sequence[str], tmp: str,
                  table: dict) -> None:
    """Every framework's forward value against torch's, before timing; optax left out where it differs."""
    if "torch" not in workers.procs:
        return
    ref_path = os.path.join(tmp, "value-torch.npy")
    answer = workers.ask("torch", {"op": "value", "loss": case.loss, "input": path, "mode": FWD, "path": ref_path})
    if "path" not in answer:
        return
    reference = np.load(ref_path)
    for fw in frameworks:
        if fw in ("torch", "read") or fw not in workers.procs:
            continue
        mode = FRAMEWORK_MODES[fw][0]
        if fw == "optax" and case.loss not in OPTAX_LOSSES:
            continue
        out = os.path.join(tmp, f"value-{fw}.npy")
        answer = workers.ask(fw, {"op": "value", "loss": case.loss, "input": path, "mode": mode, "path": out})
        if "path" not in answer:
            continue  # the timing request reports the same error
        ok, err = _close(np.load(out), reference)
        if not ok:
            for m in FRAMEWORK_MODES[fw]:
                cell = table[(case, m)].setdefault(fw, Cell())
                cell.note = f"value differs from torch's (max abs error {err:.3g})"
                cell.skip = fw == "optax"  # optax then has no loss with torch's semantics here


def run_suite(args: argparse.Namespace) -> dict:
    """Measure; returns everything the report needs."""
    cases = _cases(args.losses, args.sizes, args.quick)
    table: dict[tuple[Case, str], dict[str, Cell]] = {(c, m): {} for c in cases for m in MODES}
    shapes: dict[Case, str] = {}
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory(prefix="losskit-bench-") as tmp:
        workers = _Workers(args.frameworks, args.torch_threads, tmp, "time")
        frameworks = [fw for fw in args.frameworks if fw in workers.procs]
        memory_frameworks = [fw for fw in frameworks if fw != "read"]
        # Started now, idle until the timing is done, so that both phases run the same code even
        # if the source changes meanwhile. Freed large blocks go back to the system at once, so
        # the high-water mark of a warm process measures the call alone.
        memory_workers = None if args.no_memory else _Workers(
            memory_frameworks, args.torch_threads, tmp, "memory",
            {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"},
        )
        steps = sum(len(_applicable(frameworks, m, c.loss)) for c in cases for m in MODES)
        memory_steps = sum(len(_applicable(memory_frameworks, m, c.loss)) for c in cases for m in MODES)
        progress = _Progress(len(cases) + steps * args.rounds + (0 if args.no_memory else memory_steps), not args.quiet)
        try:
            for case in cases:
                progress.step(f"inputs and value check {case.loss} {case.size}")
                path = _prepare_input(case, tmp)
                shapes[case] = _input_shape(path)
                _check_values(workers, case, path, frameworks, tmp, table)
            _time_rounds(args, workers, cases, frameworks, tmp, table, progress)
            workers.close()
            if memory_workers is not None:
                _measure_memory(memory_workers, cases, memory_frameworks, tmp, table, progress)
        finally:
            workers.close()
            if memory_workers is not None:
                memory_workers.close()
        progress.close()
    return {
        "cases": cases,
        "table": table,
        "shapes": shapes,
        "frameworks": frameworks,
        "unavailable": workers.unavailable,
        "load": (load_start, os.getloadavg() if hasattr(os, "getloadavg") else None),
    }


def _time_rounds(args: argparse.Namespace, workers: _Workers, cases: list[Case], frameworks: list[str], tmp: str,
                 table: dict, progress: _Progress) -> None:
    """The interleaved rounds: for each round, each case, each mode, each framework, one timing."""
    min_blocks = 1 if args.quick else 3
    for r in range(args.rounds):
        for case in cases:
            path = _prepare_input(case, tmp)
            for mode in MODES:
                for fw in _applicable(frameworks, mode, case.loss):
                    progress.step(f"round {r + 1}/{args.rounds} {case.loss} {case.size} {mode} {fw}")
                    cell = table[(case, mode)].setdefault(fw, Cell())
                    if fw not in workers.procs or cell.skip:
                        continue
                    answer = workers.ask(fw, {"op": "time", "loss": case.loss, "input": path, "mode": mode,
                                              "min_time": args.min_time, "min_blocks": min_blocks})
                    if "seconds" in answer:
                        cell.seconds.append(answer["seconds"])
                    else:
                        cell.note, cell.skip = answer.get("skip") or answer.get("error"), True


def _measure_memory(workers: _Workers, cases: list[Case], frameworks: list[str], tmp: str, table: dict,
                    progress: _Progress) -> None:
    """One peak-memory measurement per case, mode and framework that was timed."""
    for case in cases:
        path = _prepare_input(case, tmp)
        for mode in MODES:
            for fw in _applicable(frameworks, mode, case.loss):
                progress.step(f"memory {case.loss} {case.size} {mode} {fw}")
                cell = table[(case, mode)].setdefault(fw, Cell())
                if fw in workers.procs and cell.seconds:
                    request = {"op": "memory", "loss": case.loss, "input": path, "mode": mode}
                    cell.peak = workers.ask(fw, request).get("bytes")


# --- the report -----------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _geomean(values: Sequence[float]) -> float | None:
    return math.exp(sum(map(math.log, values)) / len(values)) if values else None


def ratio_to_torch(cell: Cell | None, torch: Cell | None) -> float | None:
    """The median over rounds of the per-round ratio of ``cell``'s time to torch's.

    Both lists hold the rounds from the first on (a framework that fails stops), so they align.
    """
    if cell is None or torch is None:
        return None
    return _median([mine / theirs for mine, theirs in zip(cell.seconds, torch.seconds)])


def best_ratio_to_torch(cell: Cell | None, torch: Cell | None) -> float | None:
    """The ratio of the fastest rounds: a second estimate, for a machine that others load.

    Bursts of load from other processes slow torch's two threads (an OpenMP region waits for its
    slowest thread) far more than NumPy's one, so the per-round ratio favours losskit when the
    machine is busy; each side's fastest round is the nearest to an idle machine.
    """
    if cell is None or torch is None or not cell.seconds or not torch.seconds:
        return None
    return min(cell.seconds) / min(torch.seconds)


def _column(fw: str) -> str:
    """Table column of a framework: losskit's engine and its plain path share one column."""
    return "losskit" if fw.startswith("losskit") else fw


def _cells(table: dict, case: Case, mode: str) -> dict[str, Cell]:
    return {_column(fw): cell for fw, cell in table[(case, mode)].items()}


def summarise(result: dict) -> dict:
    """The goals' figures: ratios at the realistic size (the quick size in --quick), per loss."""
    table, cases = result["table"], result["cases"]
    main_size = {c.loss: c.size for c in cases if c.size in ("realistic", "quick")}

    def per_loss(mode: str, column: str, estimate: Callable = ratio_to_torch) -> dict[str, float]:
        out = {}
        for c in cases:
            cells = _cells(table, c, mode)
            if main_size.get(c.loss) == c.size and (r := estimate(cells.get(column), cells.get("torch"))) is not None:
                out[c.loss] = r
        return out

    numpy_fb, numpy_f = per_loss(FWD_BWD, "losskit"), per_loss(FWD, "losskit")
    memory = {}
    for mode in MODES:
        rows = {}
        for c in cases:
            cells = _cells(table, c, mode)
            if main_size.get(c.loss) == c.size and "losskit" in cells and "torch" in cells:
                mine, theirs = cells["losskit"].peak, cells["torch"].peak
                if mine is not None and theirs is not None:
                    rows[c.loss] = (mine, theirs)
        memory[mode] = rows
    tiny = next((c for c in cases if c.size == "tiny"), None)
    tiny_figures = None
    if tiny is not None:
        cells = _cells(table, tiny, FWD_BWD)
        r = ratio_to_torch(cells.get("losskit"), cells.get("torch"))
        if r is not None:
            tiny_figures = (_median(cells["losskit"].seconds), _median(cells["torch"].seconds), r)
    return {
        "numpy_fwd_bwd": numpy_fb,
        "numpy_fwd_bwd_best": per_loss(FWD_BWD, "losskit", best_ratio_to_torch),
        "numpy_fwd": numpy_f,
        "jax_fwd_bwd": per_loss(FWD_BWD, "jax"),
        "jax_fwd_bwd_best": per_loss(FWD_BWD, "jax", best_ratio_to_torch),
        "optax_fwd_bwd": per_loss(FWD_BWD, "optax"),
        "memory": memory,
        "tiny": tiny_figures,
    }


def _fmt_ratio(r: float | None) -> str:
    return "–" if r is None else f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"


def _fmt_ms(s: float | None) -> str:
    if s is None:
        return "–"
    ms = s * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def _fmt_mib(b: int | None) -> str:
    return "–" if b is None else f"{b / 2**20:.1f}"


def _goal(value: float, goal: float) -> str:
    return f"goal <= {goal}: {'met' if value <= goal else 'not met'}"


def _ranked(ratios: dict[str, float], above: float) -> str:
    """``name ratio`` of the losses above ``above``, worst first."""
    worst_first = sorted(ratios.items(), key=lambda item: -item[1])
    return ", ".join(f"{name} {_fmt_ratio(r)}" for name, r in worst_first if r > above) or "none"


def summary_lines(summary: dict) -> list[str]:
    """The goals with their figures, as Markdown list items."""
    lines = []
    fb, best = summary["numpy_fwd_bwd"], summary["numpy_fwd_bwd_best"]
    if fb:
        gm, worst = _geomean(list(fb.values())), max(fb, key=fb.get)
        lines += [
            f"- NumPy path, forward+backward (losskit's engine), geometric mean of the ratio to torch over "
            f"{len(fb)} losses: **{_fmt_ratio(gm)}** ({_goal(gm, GOAL_GEOMEAN)})",
            f"- worst loss: **{worst} {_fmt_ratio(fb[worst])}** ({_goal(fb[worst], GOAL_WORST)})",
            f"- ratio > 1 ({sum(r > 1 for r in fb.values())}): {_ranked(fb, 1.0)}",
            f"- ratio > {GOAL_WORST} ({sum(r > GOAL_WORST for r in fb.values())}): {_ranked(fb, GOAL_WORST)}",
        ]
    if best:
        worst = max(best, key=best.get)
        lines.append(
            "- the same from each side's fastest round (the estimate least affected by other processes' load, "
            f"which slows torch's two threads most): geometric mean {_fmt_ratio(_geomean(list(best.values())))}, "
            f"worst {worst} {_fmt_ratio(best[worst])}; above {GOAL_WORST}: {_ranked(best, GOAL_WORST)}"
        )
    if summary["numpy_fwd"]:
        f = summary["numpy_fwd"]
        lines.append(f"- NumPy path, forward alone (plain arrays), geometric mean of the ratio to torch (no_grad) "
                     f"over {len(f)} losses: {_fmt_ratio(_geomean(list(f.values())))} (no goal; for information)")
    jx = summary["jax_fwd_bwd"]
    for name in JAX_GOAL_LOSSES:
        if name in jx:
            best_jax = _fmt_ratio(summary["jax_fwd_bwd_best"].get(name))
            lines.append(f"- JAX under jit, forward+backward, {name}: **{_fmt_ratio(jx[name])}** of torch "
                         f"({_goal(jx[name], GOAL_JAX)}; fastest rounds: {best_jax})")
    if jx:
        lines.append(f"- JAX under jit, forward+backward, geometric mean over {len(jx)} losses: "
                     f"{_fmt_ratio(_geomean(list(jx.values())))}")
    if summary["optax_fwd_bwd"]:
        lines.append(f"- optax under jit, forward+backward, over its {len(summary['optax_fwd_bwd'])} losses: "
                     + ", ".join(f"{n} {_fmt_ratio(r)}" for n, r in summary["optax_fwd_bwd"].items()))
    labels = {FWD_BWD: "forward+backward (Tensor path vs torch autograd)",
              FWD: "forward (plain arrays vs torch no_grad)"}
    for mode, label in labels.items():
        rows = summary["memory"][mode]
        if rows:
            losers = sorted(((m / max(t, 1), n, m, t) for n, (m, t) in rows.items() if m > t), reverse=True)
            text = ", ".join(f"{n} {_fmt_mib(m)} vs {_fmt_mib(t)} MiB" for _, n, m, t in losers) or "none"
            lines.append(f"- peak memory, {label}: losskit <= torch on {len(rows) - len(losers)} of {len(rows)} losses "
                         f"(goal: all, {'not met' if losers else 'met'}); above torch: {text}")
    if summary["tiny"]:
        mine, theirs, r = summary["tiny"]
        lines.append(f"- tiny inputs (cross_entropy 32x10, forward+backward): losskit {mine * 1e6:.0f} us, "
                     f"torch {theirs * 1e6:.0f} us per call, ratio **{_fmt_ratio(r)}** ({_goal(r, GOAL_TINY)})")
    lines.append("- linear_cross_entropy against the catalog issue's figures (chunked memory and time at "
                 "N=8192, H=512, V=32000): `benchmarks/linear_cross_entropy.py`, see benchmarks/README.md")
    return lines


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("losskit", "numpy", "torch", "jax", "jaxlib", "optax", "array-api-compat"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    memory = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            memory = f"{int(f.readline().split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": f"{os.cpu_count()} ({usable} usable by this process)", "memory": memory,
            "os": platform.platform()}


def report(result: dict, summary: dict, command: str, rounds: int, torch_threads: int) -> str:
    """RESULTS.md: machine, versions, method, summary and the full table."""
    machine, versions = _machine(), _versions()
    columns, peaks = ["losskit", "torch", "jax", "optax", "read"], ["losskit", "torch", "jax", "optax"]
    lines = [
        "# losskit benchmarks",
        "",
        f"Generated by `{command}` on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}; "
        "see `losskit bench --help` for the method. Ratios are to torch CPU (below 1: faster than torch).",
        "",
        "## Machine",
        "",
        f"- CPU: {machine['cpu']}, {machine['cores']} cores; memory {machine['memory']}; {machine['os']}",
        f"- torch threads: {torch_threads} (`torch.set_num_threads`); NumPy and JAX with their defaults",
    ]
    start, end = result["load"]
    if start and end:
        lines.append(f"- load average (1 min) at the start {start[0]:.2f}, at the end {end[0]:.2f} "
                     "(other processes share this machine: read the ratios, not the milliseconds)")
    lines += ["- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()), ""]
    lines += ["## Summary (the issue's goals)", ""] + summary_lines(summary) + [""]
    lines += [
        "## Full table",
        "",
        f"float32, the catalog's default call of each loss; milliseconds per call, the median over {rounds} "
        "round(s); ratio: the median over rounds of the per-round ratio to torch; peak: the rise of the "
        "resident-set high-water mark during one call (MiB). losskit is its engine on `losskit.Tensor` "
        "for fwd+bwd and plain NumPy arrays for fwd; jax is losskit on JAX arrays under `jax.jit`; "
        "optax is optax's own loss with the same value, under `jax.jit`; read is one NumPy sum over each "
        "input array (fwd rows): the time of reading the inputs once, the floor set by memory bandwidth.",
        "",
        "| loss | size (n, c) | input | mode | " + " | ".join(f"{c} ms" for c in columns) + " | "
        + " | ".join(f"{c}/torch" for c in columns if c != "torch") + " | "
        + " | ".join(f"{c} peak MiB" for c in peaks) + " |",
        "|" + "---|" * (4 + 2 * len(columns) - 1 + len(peaks)),
    ]
    notes = []
    for case in result["cases"]:
        for mode in MODES:
            cells = _cells(result["table"], case, mode)
            get = lambda col, attr: getattr(cells[col], attr) if col in cells else None  # noqa: E731
            row = [case.loss, f"{case.size} ({case.n}, {case.c})", result["shapes"].get(case, ""), mode]
            row += [_fmt_ms(_median(get(c, "seconds") or [])) for c in columns]
            row += [_fmt_ratio(ratio_to_torch(cells.get(c), cells.get("torch"))) for c in columns if c != "torch"]
            row += [_fmt_mib(get(c, "peak")) for c in peaks]
            lines.append("| " + " | ".join(row) + " |")
            for c, cell in cells.items():
                if cell.note:
                    notes.append(f"- {case.loss} {case.size} {mode} {c}: {cell.note}")
    if result["unavailable"] or notes:
        lines += ["", "## Notes", ""]
        lines += [f"- {fw} not measured: {why}" for fw, why in result["unavailable"].items()]
        lines += sorted(set(notes), key=notes.index)
    return "\n".join(lines) + "\n"


def raw_figures(result: dict) -> list[dict]:
    """Every measurement, one record per case, mode and framework (seconds: one per round)."""
    return [
        {"loss": case.loss, "size": case.size, "n": case.n, "c": case.c, "mode": mode, "framework": fw,
         "seconds": cell.seconds, "peak_bytes": cell.peak, "note": cell.note}
        for (case, mode), row in result["table"].items() for fw, cell in row.items()
    ]


# --- the command ----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from . import catalog

    names = [e.name for e in catalog.ENTRIES]
    parser = argparse.ArgumentParser(
        prog="losskit bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--losses", nargs="+", metavar="NAME", default=None,
                        help="catalog names to run (default: every loss; 'all' adds the functions: "
                        f"softmax, log_softmax, ...). Known: {', '.join(names)}")
    parser.add_argument("--sizes", default="tiny,small,realistic,large",
                        help="comma-separated sizes (default: %(default)s). Every loss has 'realistic'; "
                        "cross_entropy, nll_loss, binary_cross_entropy_with_logits, mse_loss, l1_loss and "
                        "smooth_l1_loss also 'small' and 'large'; 'tiny' is cross_entropy on 32x10, the "
                        "per-call overhead case")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS),
                        help="comma-separated frameworks (default: %(default)s); an absent library is left out "
                        "with a note. torch is the reference of every ratio")
    parser.add_argument("--min-time", type=float, default=0.25,
                        help="seconds of timed calls per framework, case and round (default: %(default)s)")
    parser.add_argument("--torch-threads", type=int, default=2, help="torch.set_num_threads (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke run: every loss at n, c = {QUICK_SIZE}, 1 round, one short timed block")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    parser.add_argument("--output", default="RESULTS.md", help="the Markdown report (default: %(default)s)")
    parser.add_argument("--no-write", action="store_true", help="print the summary only, write no report")
    parser.add_argument("--json", metavar="PATH", help="also write the raw figures (every round's time per call, "
                        "peaks, notes) as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    return parser


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    from . import catalog

    parser = _parser()
    args = parser.parse_args(argv)
    if args.worker:
        return args
    known = [e.name for e in catalog.ENTRIES]
    if args.losses is None:
        args.losses = [e.name for e in catalog.losses()]
    elif args.losses == ["all"]:
        args.losses = known
    for name in args.losses:
        if name not in known:
            parser.error(f"--losses: unknown name {name!r}; expected catalog names such as {', '.join(known[:6])}, ...")
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in args.sizes:
        if s not in SIZE_NAMES:
            parser.error(f"--sizes: unknown size {s!r}; expected a comma-separated subset of {','.join(SIZE_NAMES)}")
    args.frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    for f in args.frameworks:
        if f not in FRAMEWORKS:
            parser.error(f"--frameworks: unknown framework {f!r}; "
                         f"expected a comma-separated subset of {','.join(FRAMEWORKS)}")
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    if args.min_time < 0:
        parser.error(f"--min-time must be >= 0, got {args.min_time}")
    if args.torch_threads < 1:
        parser.error(f"--torch-threads must be >= 1, got {args.torch_threads}")
    if args.quick:
        args.rounds, args.min_time = 1, 0.0
    if not _cases(args.losses, args.sizes, args.quick):
        parser.error(f"nothing to run: none of {', '.join(args.losses)} has a size among {', '.join(args.sizes)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """``losskit bench``: run the suite, write the report, print the summary."""
    args = _parse(argv)
    if args.worker:
        return _worker(args.worker, args.torch_threads)
    command = " ".join(["losskit bench", *(sys.argv[1:] if argv is None else argv)])
    result = run_suite(args)
    summary = summarise(result)
    print("\n".join(summary_lines(summary)))
    for fw, why in result["unavailable"].items():
        print(f"- {fw} not measured: {why}")
    if not args.no_write:
        text = report(result, summary, command, args.rounds, args.torch_threads)
        directory = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(directory, exist_ok=True)
        with open(args.output, "w") as f:
            f.write(text)
        print(f"report written to {args.output}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw_figures(result), f, indent=1)
        print(f"raw figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
