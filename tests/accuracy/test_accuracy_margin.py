"""Accuracy of the margin losses at the extremes of each dtype, at their kinks and next to them.

References, per element or per row, written from torch's definitions (``margin`` rounded to the
dtype, as torch's kernels use it; ``[P]`` is 1 where ``P`` holds):

* margin_ranking: ``u = -y (x1 - x2) + margin``, ``l = max(u, 0)``; ``dl/dx1 = -y [u >= 0]``,
  ``dl/dx2 = y [u >= 0]``, ``dl/dy = -(x1 - x2) [u >= 0]`` (torch's ``clamp_min`` passes the
  gradient at ``u = 0``).
* hinge_embedding: ``x`` where ``y = 1``, ``max(margin - x, 0)`` where ``y = -1``; slope 1 resp.
  ``-[margin - x >= 0]``.
* soft_margin: ``log(1 + e^(-y x))``, ``dl/dx = -y / (1 + e^(y x))``.
* multilabel_soft_margin: ``(1/C) sum_c w_c [y log(1 + e^-x) + (1 - y) log(1 + e^x)]``;
  ``dl/dx = (w / C) (sigmoid(x) - y)`` (a difference: judged with the scale
  ``(w / C) (sigmoid(x) + y)``), ``dl/dy = -w x / C``.
* multilabel_margin: ``(1/C) sum_{j valid} sum_{i not in S} max(1 - x[y_j] + x[i], 0)``;
  gradient ``(1/C) (sum_j a_ji - sum_j [y_j = i] sum_k a_jk)``, ``a_ji = [term active]``.
* multi_margin: ``(w_y / C) sum_{i != y} max(margin - x[y] + x[i], 0)^p``; gradient
  ``h_i = (w_y / C) p z_i^(p-1) [z_i > 0]`` for ``i != y`` and ``-sum_k h_k`` at ``y``.
  The last two use torch's strict ``> 0``.

Targets are torch's documented labels (1 and -1; 0/1 or probabilities for multilabel soft
margin). Stress inputs: the kinks themselves, inputs one ulp from them (``x1 - x2`` rounding
onto the margin, ``x[i] - x[y]`` within an ulp of ``-margin``), zeros, subnormals, logits
``+-20 ... +-1e30`` and huge inputs up to where the exact loss overflows the dtype (left out
beyond that: nothing to judge). Gradients by hand, checked against mpmath's numerical derivative
below.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness import Case, assert_accurate
from mpref import DTYPES, check_derivative, mp, mparray, reduced, rounded


def _fits(dtype: np.dtype, *values) -> bool:
    """Every exact number is representable in ``dtype``, with room for a sum of a few dozen."""
    limit = mp.mpf(float(np.finfo(dtype).max)) / 64
    return all(abs(v) <= limit for v in values)


def _sp(z):
    """log(1 + e^z)."""
    return mp.log1p(mp.exp(z))


def _sig(z):
    return 1 / (1 + mp.exp(-z))


def _margin(m, dtype):
    return mparray(rounded(m, dtype))[()]


def _near(dtype, m):
    """Pairs ``(a, b)`` whose difference ``a - b`` lies on the float ``m`` or an ulp or so off it,
    with ``a`` and ``b`` of different exponents, so that ``a - b`` itself rounds."""
    m = float(rounded(m, dtype))
    eps = float(np.finfo(dtype).eps)
    pairs = []
    for b in (0.1, 1.0 / 3.0, 1e-3, 7.3):
        b = float(rounded(b, dtype))
        for k in (-2, -1, 0, 1, 2):
            a = float(rounded(m + b + k * eps * abs(m + b), dtype))
            pairs.append((a, b))
    return pairs


# --- margin_ranking_loss ---------------------------------------------------------------------------


def _ranking(x1, x2, y, margin):
    u = -y * (x1 - x2) + margin
    on = 1 if u >= 0 else 0
    return max(u, 0), (-y * on, y * on, -(x1 - x2) * on)


def _ranking_cases(dtype) -> list[Case]:
    fi = np.finfo(dtype)
    cases = []
    for margin in (0.0, 1.0, 0.1, 1e-30, 1e30):
        m = _margin(margin, dtype)
        triples = []
        for y in (1.0, -1.0):
            base = [(0.0, 0.0), (1.0, 1.0), (-3.5, -3.5), (float(fi.smallest_subnormal), 0.0), (0.0, 1e-30),
                    (1.0, 1.0 + float(fi.eps)), (1e30, -1e30), (-1e30, 1e30), (float(fi.max) / 256, -float(fi.max) / 256),
                    (float(fi.max), -float(fi.max)), (0.5, -0.25), (20.0, 3.0)]
            # near the kink: y (x1 - x2) on the margin or an ulp from it
            near = _near(dtype, margin) if y == 1.0 else [(b, a) for a, b in _near(dtype, margin)]
            triples += [(a, b, y) for a, b in base + near]
        x1, x2, yy = (rounded([t[i] for t in triples], dtype) for i in range(3))
        value, g1, g2, gy, keep = [], [], [], [], []
        for a, b, c in zip(mparray(x1), mparray(x2), mparray(yy)):
            v, (d1, d2, dy) = _ranking(a, b, c, m)
            keep.append(_fits(dtype, v, dy))
            value.append(v), g1.append(d1), g2.append(d2), gy.append(dy)
        keep = np.array(keep)
        obj = lambda a: np.array(a, dtype=object)[keep]  # noqa: E731
        args = (x1[keep], x2[keep], yy[keep])
        cases += reduced("margin_ranking_loss", f"margin={margin:g}", args, {"margin": margin}, obj(value),
                         {0: obj(g1), 1: obj(g2), 2: obj(gy)})
    return cases


# --- hinge_embedding_loss --------------------------------------------------------------------------


def _hinge(x, y, margin):
    if y == 1:
        return x, mp.mpf(1)
    gap = margin - x
    return max(gap, 0), mp.mpf(-1 if gap >= 0 else 0)


def _hinge_cases(dtype) -> list[Case]:
    fi = np.finfo(dtype)
    cases = []
    for margin in (1.0, 0.1, 0.0, 1e-30, 1e30, -2.0):
        m = _margin(margin, dtype)
        xs = [0.0, float(fi.smallest_subnormal), 1e-30, -1e-30, float(m), float(m) * (1 + float(fi.eps)),
              float(m) * (1 - float(fi.eps)), 1.0, 0.5, 1e30, -1e30, float(fi.max) / 256, -float(fi.max) / 256]
        pairs = [(x, y) for x in xs for y in (1.0, -1.0)]
        x, y = rounded([p[0] for p in pairs], dtype), rounded([p[1] for p in pairs], dtype)
        els = [_hinge(a, b, m) for a, b in zip(mparray(x), mparray(y))]
        keep = np.array([_fits(dtype, v) for v, _ in els])
        value = np.array([v for v, _ in els], dtype=object)[keep]
        slope = np.array([s for _, s in els], dtype=object)[keep]
        cases += reduced("hinge_embedding_loss", f"margin={margin:g}", (x[keep], y[keep]), {"margin": margin},
                         value, {0: slope})
    return cases


# --- soft_margin_loss ------------------------------------------------------------------------------


def _logits(dtype):
    fi = np.finfo(dtype)
    mags = [0.0, float(fi.smallest_subnormal), 1e-30, 1e-8, 0.5, 1.0, 20.0, 40.0, 88.0, 89.0, 100.0, 1e4, 1e30,
            float(fi.max) / 256]
    if dtype == np.float64:
        mags += [700.0, 710.0, 750.0]
    return mags + [-v for v in mags[1:]]


def _soft_margin_cases(dtype) -> list[Case]:
    pairs = [(x, y) for x in _logits(dtype) for y in (1.0, -1.0)]
    x, y = rounded([p[0] for p in pairs], dtype), rounded([p[1] for p in pairs], dtype)
    mx, my = mparray(x), mparray(y)
    value = np.array([_sp(-b * a) for a, b in zip(mx, my)], dtype=object)
    slope = np.array([-b * _sig(-b * a) for a, b in zip(mx, my)], dtype=object)
    keep = np.array([_fits(dtype, v) for v in value])
    return reduced("soft_margin_loss", "logits", (x[keep], y[keep]), {}, value[keep], {0: slope[keep]})


# --- multilabel_soft_margin_loss -------------------------------------------------------------------


def _mlsm_rows(x, y, w):
    """``(value per row, dl/dx, dl/dy, scale of dl/dx)`` for (N, C) object arrays."""
    n, c = x.shape
    value = np.array([mp.fsum(w[j] * (y[i, j] * _sp(-x[i, j]) + (1 - y[i, j]) * _sp(x[i, j])) for j in range(c)) / c
                      for i in range(n)], dtype=object)
    gx = np.array([[w[j] * (_sig(x[i, j]) - y[i, j]) / c for j in range(c)] for i in range(n)], dtype=object)
    gy = np.array([[-w[j] * x[i, j] / c for j in range(c)] for i in range(n)], dtype=object)
    scale = np.array([[float(abs(w[j]) * (_sig(x[i, j]) + abs(y[i, j])) / c) for j in range(c)] for i in range(n)])
    return value, gx, gy, scale


def _mlsm_cases(dtype) -> list[Case]:
    fi = np.finfo(dtype)
    big = float(fi.max) / 1024
    x = rounded([[0.0, 20.0, -20.0, 1e-30, 40.0],
                 [100.0, -100.0, 1e4, -1e4, 0.5],
                 [1e30, -1e30, 89.0, -89.0, float(fi.smallest_subnormal)],
                 [big, -big, -40.0, 3.0, -0.25]], dtype)
    labels = {
        "hard": [[1, 0, 1, 0, 1], [0, 1, 1, 0, 0], [1, 0, 1, 0, 1], [0, 1, 0, 1, 1]],
        "soft": [[0.5, 1e-30, 1 - float(fi.eps), 0.3, 0.0], [1.0, 0.25, 1e-30, 0.75, 0.5],
                 [1e-30, 0.3, 0.5, 1.0, 0.5], [1e-30, 1.0 - float(fi.eps), 0.5, 0.1, 0.9]],
    }
    cases = []
    for name, yl in labels.items():
        y = rounded(yl, dtype)
        for weighted in (False, True):
            w = rounded([1.0, 0.0, 2.5, 1e-30, 1e3], dtype) if weighted else None
            mw = mparray(w) if weighted else np.full(5, mp.mpf(1), dtype=object)
            value, gx, gy, sx = _mlsm_rows(mparray(x), mparray(y), mw)
            keep = np.array([_fits(dtype, v) for v in value])
            kwargs = {"weight": w} if weighted else {}
            cases += reduced("multilabel_soft_margin_loss", f"{name}-weighted={weighted}", (x[keep], y[keep]), kwargs,
                             value[keep], {0: gx[keep], 1: gy[keep]}, scales={0: sx[keep]})
    return cases


# --- multilabel_margin_loss ------------------------------------------------------------------------


def _mlm_row(x, t):
    """Value and gradient of one row (``x`` mpf, ``t`` ints ending at the first -1)."""
    c = len(x)
    targets = []
    for v in t:
        if v == -1:
            break
        targets.append(int(v))
    in_s = set(targets)
    total, grad = mp.mpf(0), [mp.mpf(0)] * c
    for j in targets:
        for i in range(c):
            if i in in_s:
                continue
            m = 1 - x[j] + x[i]
            if m > 0:
                total += m
                grad[i] += mp.mpf(1) / c
                grad[j] -= mp.mpf(1) / c
    return total / c, grad


def _mlm_cases(dtype) -> list[Case]:
    fi = np.finfo(dtype)
    big = float(fi.max) / 256
    near = _near(dtype, 1.0)  # x[y] - x[i] on 1 or an ulp from it: the term's kink
    rows = [
        ([1e30, -1e30, 0.0, 1.0], [0, -1, 1, 2]),
        ([-1e30, 1e30, 0.0, 1.0], [0, -1, 0, 0]),
        ([2.0, 1.0, 0.5, 3.0], [0, 3, -1, 1]),  # 1 - 2 + 1 = 0: the kink itself, inactive
        ([0.9, 0.2, 0.4, 0.8], [3, 0, -1, 1]),
        ([0.5, -0.5, 0.25, 0.0], [1, 1, -1, 0]),  # a repeated target counts twice
        ([0.5, -0.5, 0.25, 0.0], [-1, 1, 2, 3]),  # no targets
        ([0.5, -0.5, 0.25, 0.0], [0, 1, 2, 3]),  # every class a target
        ([big, -big, 0.0, 1.0], [1, -1, 0, 0]),
        ([float(fi.smallest_subnormal), 0.0, -float(fi.smallest_subnormal), 1.0 - float(fi.eps)], [0, 2, -1, 0]),
    ]
    rows += [([a, b, b - 1.0, a - 1.0], [0, -1, 0, 0]) for a, b in near]
    # x[i] within an ulp of x[y] - 1 for a small x[y]: 1 - x[y] rounds before x[i] cancels it
    ulp = float(fi.eps)
    for c in (1e-3 / 3, 0.3, 1e-30):
        below = float(rounded(c - 1.0, dtype))
        rows.append(([c, below, below * (1 + ulp), below * (1 - ulp)], [0, -1, 0, 0]))
    x = rounded([r[0] for r in rows], dtype)
    t = np.array([r[1] for r in rows], dtype=np.int64)
    els = [_mlm_row(list(xr), tr) for xr, tr in zip(mparray(x), t)]
    value = np.array([v for v, _ in els], dtype=object)
    grad = np.array([g for _, g in els], dtype=object)
    keep = np.array([_fits(dtype, v) for v in value])
    return reduced("multilabel_margin_loss", "rows", (x[keep], t[keep]), {}, value[keep], {0: grad[keep]})


# --- multi_margin_loss -----------------------------------------------------------------------------


def _mm_row(x, y, p, margin, w):
    c = len(x)
    total, grad = mp.mpf(0), [mp.mpf(0)] * c
    for i in range(c):
        if i == y:
            continue
        z = margin - x[y] + x[i]
        if z > 0:
            total += z**p
            h = w * p * z ** (p - 1) / c
            grad[i] += h
            grad[y] -= h
    return w * total / c, grad


def _mm_cases(dtype) -> list[Case]:
    fi = np.finfo(dtype)
    cases = []
    for p in (1, 2):
        big = float(fi.max) / 256 if p == 1 else float(np.sqrt(fi.max)) / 16
        for margin in (1.0, 0.1, 0.0, 1e-30, 1e10):
            m = _margin(margin, dtype)
            rows = [
                ([1e30, -1e30, 0.0, 1.0], 0), ([-1e30, 1e30, 0.0, 1.0], 0), ([2.0, 1.0, 0.5, 3.0], 3),
                ([0.9, 0.2, 0.4, 0.8], 1), ([big, -big, 0.0, 1.0], 1), ([-big, big, 0.0, 1.0], 1),
                ([float(fi.smallest_subnormal), 0.0, 1e-30, -1e-30], 2), ([0.0, 0.0, 0.0, 0.0], 0),
            ]
            rows += [([a, b, b - 0.5, a - float(m)], 0) for a, b in _near(dtype, margin)]  # x[0] - x[1] ~ margin
            x = rounded([r[0] for r in rows], dtype)
            t = np.array([r[1] for r in rows], dtype=np.int64)
            for weighted in (False, True):
                w = rounded([1.0, 1e-30, 2.5, 1e3], dtype) if weighted else None
                mw = mparray(w) if weighted else [mp.mpf(1)] * 4
                els = [_mm_row(list(xr), int(tr), p, m, mw[int(tr)]) for xr, tr in zip(mparray(x), t)]
                value = np.array([v for v, _ in els], dtype=object)
                grad = np.array([g for _, g in els], dtype=object)
                keep = np.array([_fits(dtype, v, *g) for v, g in zip(value, grad)])
                kwargs = {"p": p, "margin": margin, **({"weight": w} if weighted else {})}
                cases += reduced("multi_margin_loss", f"p={p}-margin={margin:g}-weighted={weighted}", (x[keep], t[keep]),
                                 kwargs, value[keep], {0: grad[keep]})
    return cases


@functools.cache
def cases() -> list[Case]:
    out = []
    for dtype in DTYPES:
        out += _ranking_cases(dtype) + _hinge_cases(dtype) + _soft_margin_cases(dtype)
        out += _mlsm_cases(dtype) + _mlm_cases(dtype) + _mm_cases(dtype)
    return out


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_accurate(case):
    assert_accurate(case)


# --- the hand-derived gradients agree with mpmath's numerical derivative ----------------------------


def test_soft_margin_reference_gradient():
    for y in (1, -1):
        check_derivative(lambda x: _sp(-y * x), lambda x: -y * _sig(-y * x), [-30.0, -2.5, 0.0, 0.3, 7.0, 45.0])


def test_multilabel_soft_margin_reference_gradients():
    x0, y0 = mp.mpf("0.7"), mp.mpf("0.3")
    w = [mp.mpf(2)]

    def row(x, y):
        return _mlsm_rows(np.array([[x]], dtype=object), np.array([[y]], dtype=object), w)

    for xv in (-4.0, 0.2, 9.0):
        check_derivative(lambda x: row(x, y0)[0][0], lambda x: row(x, y0)[1][0, 0], [xv])
    check_derivative(lambda y: row(x0, y)[0][0], lambda y: row(x0, y)[2][0, 0], [0.1, 0.6])


def test_piecewise_linear_reference_gradients():
    # away from the kinks, each reference's gradient is its numerical derivative
    m = mp.mpf("0.5")
    for x1, x2, y in [(0.3, 1.2, 1), (2.0, -1.0, -1), (0.1, 0.2, -1)]:
        check_derivative(lambda a: _ranking(a, mp.mpf(x2), y, m)[0], lambda a: _ranking(a, mp.mpf(x2), y, m)[1][0], [x1])
        check_derivative(lambda b: _ranking(mp.mpf(x1), b, y, m)[0], lambda b: _ranking(mp.mpf(x1), b, y, m)[1][1], [x2])
    for x, y in [(0.2, -1), (3.0, -1), (0.7, 1)]:
        check_derivative(lambda a: _hinge(a, y, m)[0], lambda a: _hinge(a, y, m)[1], [x])
    xs = [mp.mpf(v) for v in (0.9, 0.2, 0.4, 0.8)]
    for k in range(4):
        def f(v, k=k, fn=None):
            row = list(xs)
            row[k] = v
            return fn(row)
        check_derivative(lambda v: f(v, fn=lambda r: _mlm_row(r, [3, 0, -1, 1])[0]),
                         lambda v: f(v, fn=lambda r: _mlm_row(r, [3, 0, -1, 1])[1][k]), [xs[k]])
        for p in (1, 2):
            check_derivative(lambda v: f(v, fn=lambda r: _mm_row(r, 1, p, m, mp.mpf(3))[0]),
                             lambda v: f(v, fn=lambda r: _mm_row(r, 1, p, m, mp.mpf(3))[1][k]), [xs[k]])
