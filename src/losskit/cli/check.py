"""``losskit check``: every catalog entry against the installed torch, in one table.

For each entry, dtype and example call of :mod:`losskit.catalog` (the default call and the option
sets that take other code paths), the value and the gradients of losskit (its own engine, on
NumPy) and of torch (the catalog's oracle) are computed on the same inputs, the gradients for
the same random cotangent (so that a wrong scale cannot hide behind ones). The table shows the
largest normwise relative error, ``max |losskit - torch| / max |torch|``, over the examples.
"""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable, TextIO

import numpy as np

from .. import catalog
from ..autograd import Tensor
from ._args import UsageError

# Normwise relative error allowed: a few ulps of accumulated rounding in float64; in float32 the
# summation orders of torch and NumPy differ, and a few losses (CTC, focal) chain many steps.
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}

NO_TORCH = (
    "losskit check compares losskit with PyTorch, which is not installed here ({error}).\n"
    "Install the version whose semantics losskit follows: pip install torch==2.13.0 "
    "(or pip install 'losskit[test]'), then run losskit check again."
)


def _error(actual: np.ndarray, expected: np.ndarray) -> float:
    """``max |a - e| / max |e|`` over the finite entries (inf where nan/inf patterns differ)."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    if actual.shape != expected.shape:
        return float("inf")
    finite = np.isfinite(expected)
    if not np.array_equal(finite, np.isfinite(actual)) or not np.array_equal(actual[~finite], expected[~finite], equal_nan=True):
        return float("inf")
    if not finite.any():
        return 0.0
    diff = np.max(np.abs(actual[finite] - expected[finite]))
    scale = np.max(np.abs(expected[finite]))
    return float(diff / scale) if scale > 0 else float(diff)


def _to_torch(torch: Any, value: Any, requires_grad: bool = False) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy()).requires_grad_(requires_grad)
    return value


def compare(torch: Any, entry: catalog.Entry, ex: catalog.Example) -> tuple[float, float]:
    """(value error, largest gradient error) of one example call."""
    lk_args = [Tensor(a, requires_grad=True) if i in ex.grad else a for i, a in enumerate(ex.args)]
    t_args = [_to_torch(torch, a, i in ex.grad) for i, a in enumerate(ex.args)]
    t_kwargs = {k: _to_torch(torch, v) for k, v in ex.kwargs.items()}
    with warnings.catch_warnings():  # kl_div's 'mean' warns on both sides, as it should
        warnings.simplefilter("ignore", UserWarning)
        out = entry.function()(*lk_args, **ex.kwargs)
        t_out = entry.torch_function()(*t_args, **t_kwargs)
    expected = t_out.detach().numpy()
    value_error = _error(out.data, expected)
    if np.asarray(out.data).dtype != expected.dtype:
        value_error = float("inf")
    grad_error = 0.0
    if ex.grad and t_out.requires_grad:
        cotangent = np.random.default_rng(0).uniform(0.5, 1.5, expected.shape).astype(expected.dtype)
        out.backward(cotangent)
        t_out.backward(torch.from_numpy(cotangent))
        for i in ex.grad:
            t_grad = t_args[i].grad
            t_grad = np.zeros_like(ex.args[i]) if t_grad is None else t_grad.numpy()
            grad_error = max(grad_error, _error(lk_args[i].grad.data, t_grad))
    return value_error, grad_error


def _progress(stream: TextIO | None, done: int, total: int, label: str) -> None:
    if stream is None:
        return
    width = 30
    filled = width * done // total
    stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:3d}/{total} {label:<36}")
    stream.flush()


def run(names: list[str] | None = None, dtypes: tuple[str, ...] = ("float32", "float64"), size: tuple[int, int] = (6, 5),
        out: Callable[[str], None] = print, progress: TextIO | None = None) -> bool:
    """Print the table; True when every entry is within :data:`TOLERANCE`.

    The progress bar goes to ``progress`` (default: standard error, when it is a terminal).
    """
    try:
        import torch
    except ImportError as exc:
        raise ModuleNotFoundError(NO_TORCH.format(error=exc)) from None
    if progress is None and sys.stderr.isatty():
        progress = sys.stderr
    try:
        entries = [catalog.entry(n) for n in names] if names else list(catalog.ENTRIES)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None

    rows = []
    for k, entry in enumerate(entries):
        _progress(progress, k, len(entries), entry.name)
        row: dict[str, Any] = {"entry": entry, "cases": 0}
        for dtype in dtypes:
            rng = np.random.default_rng(20240522)
            worst = [0.0, 0.0]
            try:
                for ex in entry.examples(rng, np.dtype(dtype), *size):
                    worst = [max(w, e) for w, e in zip(worst, compare(torch, entry, ex))]
                    row["cases"] += 1
            except Exception as exc:  # a crash on either side is a failed row, reported in full
                row["error"] = f"{dtype}: {type(exc).__name__}: {exc}"
                worst = [float("inf"), float("inf")]
            row[dtype] = worst
        rows.append(row)
    _progress(progress, len(entries), len(entries), "done")
    if progress is not None:
        progress.write("\n")

    version = torch.__version__
    out(f"losskit against torch {version}, {size[0]}x{size[1]} inputs; normwise relative error "
        "max|losskit - torch| / max|torch| of the value and of the gradients, worst example")
    if not version.startswith("2.13"):
        out(f"(losskit follows torch 2.13's semantics; torch {version} may differ in places)")
    name_w = max(len(r["entry"].name) for r in rows)
    head = "".join(f"  {d + ' value':>13}  {d + ' grad':>12}" for d in dtypes)
    out(f"{'name':{name_w}}  {'cases':>5}{head}  status")
    failed = []
    for r in rows:
        ok = "error" not in r and all(max(r[d]) <= TOLERANCE[d] for d in dtypes)
        cells = "".join(f"  {r[d][0]:13.1e}  {r[d][1]:12.1e}" for d in dtypes)
        out(f"{r['entry'].name:{name_w}}  {r['cases']:5d}{cells}  {'ok' if ok else 'FAIL'}")
        if not ok:
            failed.append(r)
    limits = ", ".join(f"{TOLERANCE[d]:.0e} ({d})" for d in dtypes)
    if failed:
        out(f"\n{len(failed)} of {len(rows)} entries differ from torch by more than {limits}:")
        for r in failed:
            out(f"  {r['entry'].name}: {r.get('error', 'error above the tolerance')}")
    else:
        out(f"\nall {len(rows)} entries agree with torch within {limits}")
    return not failed


def main(args: Any) -> int:
    try:
        ok = run(args.names or None, tuple(args.dtype), tuple(args.size))
    except ModuleNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0 if ok else 1
