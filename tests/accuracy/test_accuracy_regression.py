"""Accuracy of l1_loss, mse_loss, huber_loss and smooth_l1_loss at the extremes of each dtype.

References, per element of ``d = x - y`` (exact: the mpmath difference of the rounded inputs):
``|d|``, ``d^2``, Huber ``d^2/2`` below ``delta`` else ``delta (|d| - delta/2)``, smooth L1
``d^2/(2 beta)`` below ``beta`` else ``|d| - beta/2``, each times the elementwise weight.
Gradients by hand (``sign(d)``, ``2d``, ``clip(d, -delta, delta)``, ``clip(d/beta, -1, 1)``; minus
those for the target), checked against mpmath's numerical derivative below. ``delta`` and ``beta``
are rounded to the dtype, as torch's kernels and losskit's ops use them.

Stress inputs: differences of zero, subnormal, tiny, of one ulp between huge numbers, up to the
largest whose loss is still finite; weights 0, tiny and huge; delta and beta tiny and huge, so
that ``d^2`` underflows or overflows although ``d^2 / beta`` does not. Inputs whose exact loss
overflows the dtype are left out (nothing to judge).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness import Case, assert_accurate
from mpref import DTYPES, check_derivative, mp, mparray, reduced, rounded


def _triples(dtype: np.dtype) -> tuple[list[float], list[float], list[float]]:
    """(x, y, weight) stress triples for ``dtype``: every size of difference the dtype has, with
    weights 0, tiny and huge (a huge weight on a difference whose square is subnormal)."""
    fi = np.finfo(dtype)
    big, tiny, sub = float(fi.max), float(fi.smallest_normal), float(fi.smallest_subnormal)
    eps = float(fi.eps)
    root = float(np.sqrt(fi.max)) / 4  # d^2 of this is max / 16: finite, and so is a small sum
    triples = [
        (0.0, 0.0, 1.0), (1.0, 1.0, 0.0), (-2.5, -2.5, 2.5),
        (sub, 0.0, 1e-30), (0.0, sub, 7.0), (tiny, -tiny, 1e-3), (3 * sub, sub, 1e10),
        (1e-30, 0.0, 0.5), (0.0, -1e-30, 1e10), (1e-20, 2e-20, 1e10), (1e-20, 0.0, 1e20),
        (1.0, 1.0 + eps, 1.0), (1.0 + eps, 1.0, 0.0), (1e30, 1e30 * (1 + 2 * eps), 2.5),
        (0.3, 0.1, 1e-30), (-0.7, 0.2, 7.0), (5.0, -3.0, 1e-3), (1e-3, 1.0, 1e10),
        (root, 0.0, 0.5), (0.0, -root, 1.0), (root / 3, -root / 3, 1e-30), (1.0, 0.0, 0.0),
        (big / 8, 0.0, 2.5), (-big / 8, big / 8, 1e-30), (big, big, 7.0), (-big, -big, 1e-3),
    ]
    return tuple(list(column) for column in zip(*triples))


def _l1(d, _):
    return abs(d), mp.sign(d)


def _mse(d, _):
    return d * d, 2 * d


def _huber(d, delta):
    if abs(d) < delta:
        return d * d / 2, d
    return delta * (abs(d) - delta / 2), mp.sign(d) * delta


def _smooth_l1(d, beta):
    if beta == 0:
        return abs(d), mp.sign(d)
    if abs(d) < beta:
        return d * d / (2 * beta), d / beta
    return abs(d) - beta / 2, mp.sign(d)


LOSSES = {
    # name: (reference, parameter name, parameter values, takes weight, 'mean' divides by sum(w))
    "l1_loss": (_l1, None, [None], True, True),
    "mse_loss": (_mse, None, [None], True, True),
    "huber_loss": (_huber, "delta", [1.0, 0.5, 2.0**-100, 1e-30, 1e30, 3.0], True, False),
    "smooth_l1_loss": (_smooth_l1, "beta", [1.0, 0.0, 2.0**-100, 1e-24, 1e-30, 1e25, 1e30, 0.1], False, False),
}


def _loss_cases(name: str, dtype: np.dtype) -> list[Case]:
    ref, pname, pvalues, takes_weight, mean_over_weight = LOSSES[name]
    cases = []
    xs, ys, ws = _triples(dtype)
    limit = float(np.finfo(dtype).max) / 64  # keeps every sum of these few elements finite
    for pvalue in pvalues:
        param = None if pvalue is None else mparray(rounded(pvalue, dtype))[()]
        kwargs = {} if pvalue is None else {pname: pvalue}
        for weighted in [False, True] if takes_weight else [False]:
            x, y = rounded(xs, dtype), rounded(ys, dtype)
            w = rounded(ws, dtype) if weighted else None
            mx, my = mparray(x), mparray(y)
            mw = mparray(w) if weighted else np.full(x.size, mp.mpf(1), dtype=object)
            pieces = [ref(a - b, param) for a, b in zip(mx, my)]
            value = np.array([wi * v for wi, (v, _) in zip(mw, pieces)], dtype=object)
            slope = np.array([wi * s for wi, (_, s) in zip(mw, pieces)], dtype=object)
            # Exact losses beyond the dtype (or whose sum would be) cannot be judged: drop them.
            keep = [abs(v) <= limit and abs(s) <= limit for v, s in zip(value, slope)]
            x, y, value, slope, mw = x[keep], y[keep], value[keep], slope[keep], mw[keep]
            args = (x, y)
            if weighted:
                kwargs_w = {**kwargs, "weight": rounded(w[keep], dtype)}
            else:
                kwargs_w = kwargs
            total = mp.fsum(mw) if (weighted and mean_over_weight) else None
            label = ("" if pvalue is None else f"{pname}={pvalue:g}-") + ("weighted" if weighted else "plain")
            cases += reduced(name, label, args, kwargs_w, value, {0: slope, 1: -slope}, total=total)
    return cases


def _overflowing_sum_cases(dtype: np.dtype) -> list[Case]:
    """'mean' of losses near the dtype's maximum: the sum overflows, the mean does not."""
    root = float(np.sqrt(np.finfo(dtype).max)) * 0.75  # d^2 = 0.56 max; four of them overflow
    x = rounded([root, -root, root, root / 2], dtype)
    y = np.zeros_like(x)
    value = np.array([d * d for d in mparray(x)], dtype=object)
    slope = np.array([2 * d for d in mparray(x)], dtype=object)
    return reduced("mse_loss", "sum-overflows", (x, y), {}, value, {0: slope, 1: -slope}, reductions=["mean"])


@functools.cache
def cases() -> list[Case]:
    out = []
    for dtype in DTYPES:
        for name in LOSSES:
            out += _loss_cases(name, dtype)
        out += _overflowing_sum_cases(dtype)
    return out


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_accurate(case):
    assert_accurate(case)


@pytest.mark.parametrize("name", list(LOSSES))
def test_reference_gradients(name):
    # The hand-derived slopes agree with mpmath's numerical derivative away from the kinks.
    ref, _, pvalues, _, _ = LOSSES[name]
    for p in pvalues:
        param = None if p is None else mp.mpf(p)
        points = [mp.mpf(v) for v in (-3.7, -0.3, 0.2, 1.9, 1e-40, 5e29, -2e30)]
        points = [d for d in points if param is None or abs(abs(d) - param) > abs(d) * mp.mpf(1e-10)]
        check_derivative(lambda d: ref(d, param)[0], lambda d: ref(d, param)[1], points)
