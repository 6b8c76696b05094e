"""mpmath helpers for the accuracy case modules: dtype-rounded inputs, exact reductions, Cases.

A reference is written per element from the loss's formula (in the case modules); this module
only turns exact unreduced values and gradients into the exact results of each reduction and
packs them into :class:`harness.Case` objects. Everything exact is an mpmath number at
``mp.dps = 80``, rounded once to float64 when the Case is made.
"""

from __future__ import annotations

import functools
from typing import Any, Iterable

import numpy as np
import pytest

mpmath = pytest.importorskip("mpmath")
mp = mpmath.mp
mp.dps = 80

from harness import Case  # noqa: E402

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
REDUCTIONS = ("none", "mean", "sum")


def rounded(values: Any, dtype: Any) -> np.ndarray:
    """``values`` (Python floats) rounded once to ``dtype``."""
    return np.asarray(values, dtype=np.float64).astype(dtype)


def mpf(v: Any) -> Any:
    """The mpmath number equal to a dtype-rounded number (float32 and float64 convert exactly)."""
    return mp.mpf(float(v))


def mparray(a: np.ndarray) -> np.ndarray:
    """An object array of the exact mpmath numbers of a dtype-rounded array."""
    a = np.asarray(a)
    return np.array([mpf(v) for v in a.ravel()] or [], dtype=object).reshape(a.shape)


def as_float(a: Any) -> np.ndarray:
    """Exact mpmath results rounded once to float64 (an object array, a list or a number)."""
    a = np.asarray(a, dtype=object)
    return np.array([float(v) for v in a.ravel()], dtype=np.float64).reshape(a.shape)


def fsum(values: Iterable) -> Any:
    return mp.fsum(list(np.asarray(values, dtype=object).ravel()))


def reduced(
    loss: str,
    label: str,
    args: tuple,
    kwargs: dict,
    value: np.ndarray,
    grads: dict,
    *,
    total: Any = None,
    scales: dict | None = None,
    reductions: Iterable[str] = REDUCTIONS,
    torch_fn: Any = None,
) -> list[Case]:
    """One Case per reduction from the exact unreduced ``value`` (object array of mpf).

    ``grads`` maps an argument position to the exact gradient of ``sum(value)`` with respect
    to it (object array); 'mean' divides the sum by ``total`` (default: the element count), and
    the gradients and gradient ``scales`` (float arrays, for cancelling terms) with it. A reduced
    sum of unreduced values of both signs is judged relative to the sum of their magnitudes.
    """
    scales = scales or {}
    cases = []
    n = mp.mpf(value.size) if total is None else total
    for reduction in reductions:
        divisor = n if reduction == "mean" else mp.mpf(1)
        if reduction == "none":
            exact = as_float(value)
        else:
            exact = as_float(fsum(value) / divisor)
        case_grads = {i: as_float(np.asarray(g, dtype=object) / divisor) for i, g in grads.items()}
        case_scales = {i: np.asarray(s, dtype=np.float64) / float(divisor) for i, s in scales.items()}
        if reduction != "none" and any(v < 0 for v in value.ravel()) and any(v > 0 for v in value.ravel()):
            # a sum of terms of both signs: its bound is 64 ulp of the sum of their magnitudes
            case_scales["value"] = float(fsum([abs(v) for v in value.ravel()]) / divisor)
        cases.append(
            Case(
                loss,
                f"{label}-{reduction}",
                args,
                {**kwargs, "reduction": reduction},
                exact,
                case_grads,
                case_scales,
                torch_fn=torch_fn,
            )
        )
    return cases


WORK_DPS = 800  # log(1 + e^-700) next to logits of 1e308: 308 + 330 + 80 digits


def log_softmax(z: list) -> tuple[list, Any]:
    """``(log p, logsumexp)`` of a row of mpf logits (-inf allowed): ``z - log(sum(exp(z)))``,
    at 800 digits, so that ``log(1 + tiny)`` keeps its digits over float64's exponent range."""
    logp, lse = _log_softmax(tuple(z))
    return list(logp), lse


@functools.lru_cache(maxsize=None)
def _log_softmax(z: tuple) -> tuple[tuple, Any]:
    with mp.workdps(WORK_DPS):
        lse = mp.log(mp.fsum([mp.exp(v) for v in z if v != mp.ninf]))
        return tuple(v - lse for v in z), lse


def sigmoid(x: Any) -> Any:
    return 1 / (1 + mp.exp(-x))


def softplus(x: Any) -> Any:
    """log(1 + e^x)."""
    return mp.log1p(mp.exp(x))


def check_derivative(fn: Any, derivative: Any, points: Iterable, rel: float = 1e-40) -> None:
    """A hand-derived ``derivative`` of ``fn`` agrees with mpmath's numerical derivative."""
    for x in points:
        x = mp.mpf(x)
        numeric, hand = mp.diff(fn, x), derivative(x)
        assert abs(numeric - hand) <= rel * max(abs(numeric), mp.mpf(1e-300)), (x, numeric, hand)
