"""Accuracy of binary_cross_entropy and binary_cross_entropy_with_logits at extreme inputs.

References, written from torch's definitions:

* ``binary_cross_entropy``: ``l = -w [y max(log x, -100) + (1 - y) max(log(1 - x), -100)]``
  (the clamp is torch's definition); its derivative ``dl/dx = w [-y/x [log x > -100] +
  (1 - y)/(1 - x) [log(1 - x) > -100]]`` (each clamped log is flat), ``dl/dy = -w [max(log x,
  -100) - max(log(1 - x), -100)]``.
* ``binary_cross_entropy_with_logits``: ``l = w [p y softplus(-x) + (1 - y) softplus(x)]``
  (``p`` the pos_weight; ``softplus(-x) = -log sigmoid(x)``), ``dl/dx = w [(1 - y) sigmoid(x) -
  p y sigmoid(-x)]``, ``dl/dy = w [p softplus(-x) - softplus(x)] = w [(p - 1) softplus(-x) - x]``.

The logits gradients are differences: ``dl/dx`` of ``(1 - y) s`` and ``p y s'`` (for soft targets
near the optimum they cancel, as softmax minus a soft target), ``dl/dy`` of ``(p - 1)
softplus(-x)`` and ``x`` (for ``p = 1`` it is exactly ``-x``, which the difference
``softplus(-x) - softplus(x)`` of two numbers near ``log 2`` loses at ``x`` near 0). Their
bound is 64 ulp of the larger term. Everything else is judged relative to the exact value.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness import Case, assert_accurate
from mpref import DTYPES, check_derivative, mp, mparray, reduced, rounded, sigmoid, softplus

CLAMP = -100


# --- binary_cross_entropy -------------------------------------------------------------------------


def bce(x, y, w):
    """(value, dl/dx, dl/dy) of torch's clamped definition."""
    log_x = mp.log(x) if x > 0 else mp.ninf
    log_1mx = mp.log1p(-x) if x < 1 else mp.ninf
    value = -w * (y * max(log_x, CLAMP) + (1 - y) * max(log_1mx, CLAMP))
    gx = w * ((-y / x if log_x > CLAMP else 0) + ((1 - y) / (1 - x) if log_1mx > CLAMP else 0))
    gy = -w * (max(log_x, CLAMP) - max(log_1mx, CLAMP))
    return value, gx, gy


def _bce_grid(dtype: np.dtype) -> tuple[list[float], list[float]]:
    fi = np.finfo(dtype)
    eps, sub = float(fi.eps), float(fi.smallest_subnormal)
    xs = [
        0.0, sub, 1e-44, 3.7e-44, 4e-44, 1e-40, 1e-30, 1e-20, 1e-12, 1e-7, 0.1,
        0.25, 0.5 - eps / 2, 0.5, 0.5 + eps, 0.5 + 4 * eps, 0.75, 0.9, 1 - 1e-7, 1 - 2 * eps, 1 - eps / 2, 1.0,
    ]
    if dtype == np.float64:
        xs += [1e-300, 3.7200759760208e-44, 3.72007597602084e-44, 1e-50]  # e^-100 = 3.72007597602083e-44
    ys = [0.0, 1.0, 0.5, 1e-30, 1 - eps / 2, 0.3]
    pairs = [(x, y) for x in xs for y in ys] + [(x, x) for x in xs]  # y = x: the optimum, gradient 0
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _bce_cases(dtype: np.dtype) -> list[Case]:
    cases = []
    xs, ys = _bce_grid(dtype)
    x, y = rounded(xs, dtype), rounded(ys, dtype)
    limit = float(np.finfo(dtype).max) / 2**12  # keeps every sum of these few hundred elements finite
    for weighted in (False, True):
        w = rounded([[1.0, 0.5, 3.0, 1e-20, 1e20, 0.0][i % 6] for i in range(x.size)], dtype) if weighted else None
        mw = mparray(w) if weighted else [mp.mpf(1)] * x.size
        parts = [bce(a, b, c) for a, b, c in zip(mparray(x), mparray(y), mw)]
        value, gx, gy = (np.array(col, dtype=object) for col in zip(*parts))
        # -y/x of a subnormal x (float32) exceeds the dtype: nothing to judge there.
        keep = np.array([max(abs(v), abs(a), abs(b)) <= limit for v, a, b in zip(value, gx, gy)])
        kwargs = {"weight": w[keep]} if weighted else {}
        label = "weighted" if weighted else "plain"
        cases += reduced("binary_cross_entropy", label, (x[keep], y[keep]), kwargs, value[keep], {0: gx[keep], 1: gy[keep]})
    return cases


# --- binary_cross_entropy_with_logits -------------------------------------------------------------


def bce_logits(x, y, w, p):
    """(value, dl/dx, dl/dy, scale of dl/dx, scale of dl/dy)."""
    s, s_neg = sigmoid(x), sigmoid(-x)
    sp, sp_neg = softplus(x), softplus(-x)
    value = w * (p * y * sp_neg + (1 - y) * sp)
    gx = w * ((1 - y) * s - p * y * s_neg)
    # The two softplus agree to about -log10|x| digits at a small x (330 at a subnormal float64).
    with mp.workdps(mp.dps + (int(-mp.log10(abs(x))) if 0 < abs(x) < 1 else 0)):
        gy = w * (p * softplus(-x) - softplus(x))
    return value, gx, gy, abs(w) * max((1 - y) * s, p * y * s_neg), abs(w) * max(abs((p - 1) * sp_neg), abs(x))


def _logits_grid(dtype: np.dtype) -> tuple[list[float], list[float]]:
    fi = np.finfo(dtype)
    eps, sub = float(fi.eps), float(fi.smallest_subnormal)
    mags = [0.0, sub, 1e-30, 1e-10, 3 * eps, 1e-3, 0.5, 1.0, 5.0, 17.0, 20.0, 40.0, 89.0, 100.0, 700.0, 1e4, 1e30,
            float(fi.max) / 2**14]
    xs = sorted({m for m in mags} | {-m for m in mags})
    ys = [0.0, 1.0, 0.5, 0.25, 1e-7, 1 - 2**-20]
    pairs = [(x, y) for x in xs for y in ys]
    # Soft targets at the optimum y = sigmoid(x) (rounded): the x-gradient cancels.
    pairs += [(x, float(sigmoid(mp.mpf(x)))) for x in (-3.0, -0.1, 1e-5, 0.7, 9.0)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _logits_cases(dtype: np.dtype) -> list[Case]:
    cases = []
    xs, ys = _logits_grid(dtype)
    x, y = rounded(xs, dtype), rounded(ys, dtype)
    n = x.size
    limit = float(np.finfo(dtype).max) / 2**12  # keeps every sum of these few hundred elements finite
    for weighted in (False, True):
        for pos in (None, "ones", "mixed"):
            w = rounded([[1.0, 0.5, 3.0, 1e-20, 1e20, 0.0][i % 6] for i in range(n)], dtype) if weighted else None
            if pos is None:
                pw = None
            elif pos == "ones":
                pw = np.ones(n, dtype)
            else:
                pw = rounded([[3.0, 0.5, 1 + 2**-20, 1e-3, 1e3, 1.0, 0.0][i % 7] for i in range(n)], dtype)
            mw = mparray(w) if weighted else [mp.mpf(1)] * n
            mp_pw = mparray(pw) if pw is not None else [mp.mpf(1)] * n
            parts = [bce_logits(*e) for e in zip(mparray(x), mparray(y), mw, mp_pw)]
            value, gx, gy, sx, sy = (np.array(col, dtype=object) for col in zip(*parts))
            keep = np.array([abs(v) <= limit and abs(a) <= limit and abs(b) <= limit for v, a, b in zip(value, gx, gy)])
            kwargs = {}
            if weighted:
                kwargs["weight"] = w[keep]
            if pw is not None:
                kwargs["pos_weight"] = pw[keep]
            label = ("weighted" if weighted else "plain") + ("" if pos is None else f"-pos_weight={pos}")
            scales = {0: sx[keep].astype(np.float64), 1: sy[keep].astype(np.float64)}
            cases += reduced(
                "binary_cross_entropy_with_logits", label, (x[keep], y[keep]), kwargs,
                value[keep], {0: gx[keep], 1: gy[keep]}, scales=scales,
            )
    return cases


@functools.cache
def cases() -> list[Case]:
    out = []
    for dtype in DTYPES:
        out += _bce_cases(dtype) + _logits_cases(dtype)
    return out


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_accurate(case):
    assert_accurate(case)


def test_reference_gradients():
    one = mp.mpf(1)
    for y in (mp.mpf(0), mp.mpf("0.3"), one):
        # BCE, away from the clamp
        check_derivative(lambda x: bce(x, y, one)[0], lambda x: bce(x, y, one)[1], ["1e-20", "0.3", "0.5", "0.99"])
        check_derivative(lambda t: bce(mp.mpf("0.2"), t, one)[0], lambda t: bce(mp.mpf("0.2"), t, one)[2], [y])
        for p in (one, mp.mpf(3)):
            check_derivative(
                lambda x: bce_logits(x, y, one, p)[0], lambda x: bce_logits(x, y, one, p)[1], [-40, "-1e-9", "0.7", 60]
            )
            for x in (mp.mpf(-40), mp.mpf("1e-9"), mp.mpf(25)):
                check_derivative(lambda t: bce_logits(x, t, one, p)[0], lambda t: bce_logits(x, t, one, p)[2], [y])
