"""Accuracy of cosine_similarity, pairwise_distance and the embedding losses at the extremes.

References, written from torch's definitions (``eps`` and ``margin`` rounded to the dtype, as
torch's kernels use them; ``E = float32(1e-12)`` for every dtype, ATen's ``EPSILON``):

* cosine_similarity: ``c = sum_i (x1_i / max(|x1|, eps)) (x2_i / max(|x2|, eps))``; gradient
  ``(u2 - c u1) / |x1|`` where ``|x1| >= eps`` (``u = x / |x|``), ``u2 / eps`` where the clamp
  holds (the derivative of the clamped definition; see the deviations page).
* pairwise_distance: ``n = ||d||_p``, ``d = x1 - x2 + eps`` (exact, from the rounded inputs);
  ``dn/dd_i = sign(d_i) (|d_i| / n)^(p-1)`` (0 where ``d_i = 0``), ties sharing for ``+-inf``,
  0 for ``p = 0``.
* cosine_embedding_loss: ``cos = x1.x2 / sqrt((|x1|^2 + E)(|x2|^2 + E))``; ``1 - cos`` where
  ``y = 1``, ``max(cos - margin, 0)`` where ``y = -1``; ``dcos/dx1 = x2 / (r1 r2) - cos x1 / r1^2``.
* triplet_margin_loss and triplet_margin_with_distance_loss (default distance):
  ``max(margin + d(a, p) - d(a, n), 0)``, ``d(a, n)`` replaced by ``min(d(a, n), d(p, n))`` under
  ``swap`` (torch's ``minimum``: the gradient to the smaller, half each on a tie).

A gradient that is a difference of terms (``u2 - c u1``, the two distances' gradients in the
anchor) is judged with the magnitude of those terms as its scale. Gradients by hand, checked
against mpmath's numerical derivative below.

Left out, with the reason (ill-conditioned at the working precision, ``kappa > 16``): a cosine
that is a cancellation of its products (near-orthogonal vectors, ``kappa = sum |x1_i x2_i| /
|x1.x2|``); ``1 - cos`` of near-parallel vectors that are not equal (``1 - cos ~ theta^2 / 2``, and
an input's relative change ``delta`` moves it by ``theta delta``: ``kappa ~ 2 / theta``); hinges
``cos - margin`` and ``margin + d(a, p) - d(a, n)`` that cancel (their terms are irrational,
each rounded). Equal vectors are kept (``1 - cos = E / (|x|^2 + E)`` exactly, and equal distances
cancel exactly). For ``p = +-inf``, rows whose largest ``|d_i|`` is unique in exact arithmetic but
tied after rounding ``d`` to the dtype are left out: the gradient is discontinuous there, and the
exact ``d`` is not representable. Inputs whose exact results overflow the dtype are left out.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from harness import Case, assert_accurate
from mpref import DTYPES, as_float, check_derivative, mp, mparray, reduced, rounded

KAPPA = 16
TIE = 2.0**-20  # relative gap between two distances below which rounding may reorder them (float32 and float64)
E = mp.mpf(float(np.float32(1e-12)))


def _fits(dtype, *values) -> bool:
    limit = mp.mpf(float(np.finfo(dtype).max)) / 64
    return all(not mp.isfinite(v) or abs(v) <= limit for v in values)


def _scalar(v, dtype):
    return mparray(rounded(v, dtype))[()]


def _norm2(v):
    return mp.sqrt(mp.fsum(t * t for t in v))


def _rows(dtype, rows):
    """Float rows rounded to ``dtype`` and their exact mpmath entries."""
    x = rounded(rows, dtype)
    return x, mparray(x)


# --- cosine_similarity -----------------------------------------------------------------------------


def _cosine(x1, x2, eps):
    """``(c, dc/dx1, dc/dx2, scales, kappa)`` of torch's clamped-norm definition."""
    n1, n2 = _norm2(x1), _norm2(x2)
    m1, m2 = max(n1, eps), max(n2, eps)
    u1 = [v / m1 for v in x1]
    u2 = [v / m2 for v in x2]
    c = mp.fsum(a * b for a, b in zip(u1, u2))
    size = mp.fsum(abs(a * b) for a, b in zip(u1, u2))
    kappa = mp.inf if (c == 0 and size > 0) else (size / abs(c) if c != 0 else 1)

    def grad(u, n, other):
        if n < eps:
            return [o / eps for o in other], [abs(o / eps) for o in other]
        return [(o - c * a) / n for a, o in zip(u, other)], [(abs(o) + abs(c * a)) / n for a, o in zip(u, other)]

    g1, s1 = grad(u1, n1, u2)
    g2, s2 = grad(u2, n2, u1)
    return c, g1, g2, (s1, s2), kappa


def _cosine_cases(dtype) -> list[Case]:
    fi = np.finfo(dtype)
    big, sub = float(fi.max) / 4, float(fi.smallest_subnormal)
    pairs = [
        ([1e30, 1e30, 0.0], [1e30, 0.0, 0.0]),
        ([1e-30, 1e-30, 0.0], [1e-30, 0.0, 1e-30]),
        ([3e-9, 4e-9, 0.0], [1.0, 2.0, 0.0]),
        ([6.01e-9, 8.01e-9, 0.0], [1.0, 0.0, 0.0]),  # |x1| just above eps = 1e-8
        ([5.99e-9, 7.99e-9, 0.0], [1.0, 0.0, 0.0]),  # and just below (the gradient jumps at eps)
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
        ([1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]),
        ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
        ([big, big, 0.0], [big, 0.0, big / 2]),
        ([sub, sub, 0.0], [sub, 0.0, 0.0]),
        ([1e30, 1e-30, 1.0], [1.0, 1e30, 1e-30]),
        ([0.0, 0.0, 0.0], [1.0, 2.0, 3.0]),
        ([0.3, -0.7, 20.0], [1e-3, 5.0, 0.25]),
        ([-1e20, 3e19, 1e18], [2e-20, 7e-20, -3e-21]),
    ]
    cases = []
    for eps in (1e-8, 0.0):
        e = _scalar(eps, dtype)
        kept = []
        for a, b in pairs:
            x1, mx1 = _rows(dtype, a)
            x2, mx2 = _rows(dtype, b)
            if eps == 0.0 and (_norm2(mx1) == 0 or _norm2(mx2) == 0):
                continue  # 0 / 0: undefined
            c, g1, g2, (s1, s2), kappa = _cosine(list(mx1), list(mx2), e)
            if kappa > KAPPA or not _fits(dtype, c, *g1, *g2):
                continue
            kept.append((a, b, c, g1, g2, s1, s2))
        x1 = rounded([k[0] for k in kept], dtype)
        x2 = rounded([k[1] for k in kept], dtype)
        value = np.array([k[2] for k in kept], dtype=object)
        g1 = np.array([k[3] for k in kept], dtype=object)
        g2 = np.array([k[4] for k in kept], dtype=object)
        s1 = as_float(np.array([k[5] for k in kept], dtype=object))
        s2 = as_float(np.array([k[6] for k in kept], dtype=object))
        for dim, t in ((1, lambda a: a), (0, lambda a: a.T)):
            args = (np.ascontiguousarray(t(x1)), np.ascontiguousarray(t(x2)))
            cases += reduced("cosine_similarity", f"dim={dim}-eps={eps:g}-none", args, {"dim": dim, "eps": eps},
                             value, {0: t(g1), 1: t(g2)}, scales={0: t(s1), 1: t(s2)}, reductions=["none"])
            cases[-1].kwargs.pop("reduction")
    return cases


# --- pairwise_distance -----------------------------------------------------------------------------


def _pnorm(d, p):
    a = [abs(v) for v in d]
    if p == 0:
        return mp.mpf(sum(1 for v in d if v != 0))
    if p == math.inf:
        return max(a)
    if p == -math.inf:
        return min(a)
    if p < 0 and min(a) == 0:
        return mp.mpf(0)  # (inf)^(1/p)
    return mp.fsum(v**p for v in a) ** (1 / mp.mpf(p))


def _pnorm_grad(d, n, p):
    if p == 0:
        return [mp.mpf(0)] * len(d)
    if p in (math.inf, -math.inf):
        hits = [abs(v) == n for v in d]
        return [mp.sign(v) / sum(hits) if h else mp.mpf(0) for v, h in zip(d, hits)]
    if p == 1:
        return [mp.sign(v) for v in d]
    return [mp.mpf(0) if v == 0 or n == 0 else mp.sign(v) * (abs(v) / n) ** (p - 1) for v in d]


def _rounding_ties(d, p, dtype) -> bool:
    """For ``p = +-inf``: the set of extreme ``|d_i|`` differs once ``d`` is rounded to ``dtype``."""
    if p not in (math.inf, -math.inf):
        return False
    pick = max if p == math.inf else min
    exact = [abs(v) == pick(abs(w) for w in d) for v in d]
    r = [abs(float(rounded(float(v), dtype))) for v in d]
    return exact != [v == pick(r) for v in r]


PAIRWISE_PS = (2.0, 1.0, 3.0, 0.5, 50.0, math.inf, -math.inf, 0.0, -1.5)


def _pairwise_pairs(dtype):
    fi = np.finfo(dtype)
    big, sub = float(fi.max) / 256, float(fi.smallest_subnormal)
    return [
        ([1e30, 1e30, 0.0], [-1e30, 0.0, 0.0]),
        ([1e-30, 0.0, 0.0], [0.0, 1e-30, 0.0]),
        ([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]),
        ([3.3e-7, 0.0, 5.0], [1.33e-6, 1.0, 5.0]),  # x1 - x2 rounds next to -eps
        ([1e-7, 2e-7, -3e-7], [1.1e-6, 1.2e-6, 7e-7]),
        ([10.0, 10.0, 0.0], [0.0, 0.0, 0.0]),
        ([big, -big, 0.0], [-big, big, 1.0]),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]),
        ([sub, 0.0, -sub], [0.0, sub, 0.0]),
        ([0.25, -3.0, 7.5], [1e-3, 2.0, -0.5]),
    ]


def _pairwise_cases(dtype) -> list[Case]:
    cases = []
    pairs = _pairwise_pairs(dtype)
    for eps in (1e-6, 0.0):
        e = _scalar(eps, dtype)
        for p in PAIRWISE_PS:
            kept = []
            for a, b in pairs:
                x1, mx1 = _rows(dtype, a)
                x2, mx2 = _rows(dtype, b)
                d = [u - v + e for u, v in zip(mx1, mx2)]
                if _rounding_ties(d, p, dtype):
                    continue
                n = _pnorm(d, p)
                g = _pnorm_grad(d, n, p)
                if not _fits(dtype, n, *g):
                    continue
                kept.append((a, b, n, g))
            x1 = rounded([k[0] for k in kept], dtype)
            x2 = rounded([k[1] for k in kept], dtype)
            value = np.array([k[2] for k in kept], dtype=object)
            g = np.array([k[3] for k in kept], dtype=object)
            case = reduced("pairwise_distance", f"p={p:g}-eps={eps:g}-none", (x1, x2), {"p": p, "eps": eps},
                           value, {0: g, 1: -g}, reductions=["none"])[0]
            case.kwargs.pop("reduction")
            cases.append(case)
    return cases


# --- cosine_embedding_loss -------------------------------------------------------------------------


def _cos_embed(x1, x2, y, margin):
    """``(l, dl/dx1, dl/dx2, scales, kappa)``."""
    r1 = mp.sqrt(mp.fsum(v * v for v in x1) + E)
    r2 = mp.sqrt(mp.fsum(v * v for v in x2) + E)
    dot = mp.fsum(a * b for a, b in zip(x1, x2))
    cos = dot / (r1 * r2)
    dc1 = [b / (r1 * r2) - cos * a / (r1 * r1) for a, b in zip(x1, x2)]
    dc2 = [a / (r1 * r2) - cos * b / (r2 * r2) for a, b in zip(x1, x2)]
    s1 = [abs(b) / (r1 * r2) + abs(cos * a) / (r1 * r1) for a, b in zip(x1, x2)]
    s2 = [abs(a) / (r1 * r2) + abs(cos * b) / (r2 * r2) for a, b in zip(x1, x2)]
    dot_size = mp.fsum(abs(a * b) for a, b in zip(x1, x2))
    kappa_dot = dot_size / abs(dot) if dot != 0 else (mp.inf if dot_size > 0 else 1)
    if y == 1:
        value, slope = 1 - cos, -1
        # theta^2 / 2 = 1 - cos: kappa ~ 2 / theta (equal vectors are exact; see the module docstring)
        kappa = 1 if list(x1) == list(x2) else 2 / mp.sqrt(2 * abs(value))
    elif y == -1:
        hinge = cos - margin
        value, slope = max(hinge, 0), 1 if hinge >= 0 else 0
        kappa = max(kappa_dot, (abs(cos) + abs(margin)) / abs(hinge) if hinge != 0 else mp.inf)
    else:
        return mp.mpf(0), [mp.mpf(0)] * len(x1), [mp.mpf(0)] * len(x1), ([0] * len(x1), [0] * len(x1)), 1
    g1 = [slope * v for v in dc1]
    g2 = [slope * v for v in dc2]
    return value, g1, g2, (s1, s2), kappa


def _cos_embed_cases(dtype) -> list[Case]:
    fi = np.finfo(dtype)
    big, sub = float(fi.max) / 4, float(fi.smallest_subnormal)
    pairs = [
        ([1e10, 1e10, 0.0], [1e10, 1e10, 0.0]),
        ([1.0, 1.0, 0.0], [1.0, 1.0, 0.0]),
        ([0.3, -0.7, 20.0], [0.3, -0.7, 20.0]),
        ([1e-7, 2e-7, 0.0], [1e-7, 2e-7, 0.0]),  # |x|^2 below E
        ([1e30, 1e30, 0.0], [1e30, 0.0, 0.0]),
        ([big, big, 0.0], [big, 0.0, big / 2]),
        ([1e-30, 1e-30, 0.0], [1e-30, 0.0, 1e-30]),
        ([sub, sub, 0.0], [sub, 0.0, 0.0]),
        ([1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]),
        ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
        ([0.3, -0.7, 20.0], [1e-3, 5.0, 0.25]),
        ([1e30, 1e-30, 1.0], [1.0, 1e30, 1e-30]),
        ([-1e20, 3e19, 1e18], [-2e-20, 7e-21, 3e-21]),
        ([0.0, 0.0, 0.0], [1.0, 2.0, 3.0]),
    ]
    cases = []
    for margin in (0.0, 0.5, -0.5):
        m = _scalar(margin, dtype)
        kept = []
        for a, b in pairs:
            x1, mx1 = _rows(dtype, a)
            x2, mx2 = _rows(dtype, b)
            for y in (1, -1, 0):
                value, g1, g2, (s1, s2), kappa = _cos_embed(list(mx1), list(mx2), y, m)
                if kappa > KAPPA or not _fits(dtype, value, *g1, *g2):
                    continue
                kept.append((a, b, y, value, g1, g2, s1, s2))
        x1 = rounded([k[0] for k in kept], dtype)
        x2 = rounded([k[1] for k in kept], dtype)
        y = np.array([k[2] for k in kept], dtype=np.int64)
        value = np.array([k[3] for k in kept], dtype=object)
        grads = {0: np.array([k[4] for k in kept], dtype=object), 1: np.array([k[5] for k in kept], dtype=object)}
        scales = {0: as_float(np.array([k[6] for k in kept], dtype=object)),
                  1: as_float(np.array([k[7] for k in kept], dtype=object))}
        cases += reduced("cosine_embedding_loss", f"margin={margin:g}", (x1, x2, y), {"margin": margin}, value, grads,
                         scales=scales)
    return cases


# --- triplet losses --------------------------------------------------------------------------------


def _triplet(a, p, n, margin, order, eps, swap):
    """``(l, (dl/da, dl/dp, dl/dn), scales, kappa)``."""
    def dist(u, v):
        d = [s - t + eps for s, t in zip(u, v)]
        nrm = _pnorm(d, order)
        return nrm, _pnorm_grad(d, nrm, order)

    d_pos, g_pos = dist(a, p)
    d_neg, g_neg = dist(a, n)
    zero = [mp.mpf(0)] * len(a)
    w_neg, w_swap, g_swap = mp.mpf(1), mp.mpf(0), zero
    near_tie = False
    if swap:
        d_sw, g_swap = dist(p, n)
        # which distance is the smaller one may flip when both are rounded: the gradient jumps there
        near_tie = d_sw != d_neg and abs(d_sw - d_neg) <= 2 * TIE * max(d_sw, d_neg)
        if d_sw < d_neg:
            w_neg, w_swap = mp.mpf(0), mp.mpf(1)
        elif d_sw == d_neg:
            w_neg = w_swap = mp.mpf(0.5)
        d_neg_eff = min(d_neg, d_sw)
    else:
        d_neg_eff = d_neg
    z = margin + d_pos - d_neg_eff
    on = 1 if z >= 0 else 0
    # a: g_pos - w_neg g_neg; p: -g_pos - w_swap g_swap; n: w_neg g_neg + w_swap g_swap
    ga = [on * (gp - w_neg * gn) for gp, gn in zip(g_pos, g_neg)]
    gp_ = [on * (-gp - w_swap * gs) for gp, gs in zip(g_pos, g_swap)]
    gn_ = [on * (w_neg * gn + w_swap * gs) for gn, gs in zip(g_neg, g_swap)]
    sa = [on * (abs(gp) + abs(w_neg * gn)) for gp, gn in zip(g_pos, g_neg)]
    sp = [on * (abs(gp) + abs(w_swap * gs)) for gp, gs in zip(g_pos, g_swap)]
    sn = [on * (abs(w_neg * gn) + abs(w_swap * gs)) for gn, gs in zip(g_neg, g_swap)]
    if near_tie:
        kappa = mp.inf
    elif d_pos == d_neg_eff:
        kappa = 1  # equal distances (equal vectors) cancel exactly
    else:
        kappa = (margin + d_pos + d_neg_eff) / abs(z) if z != 0 else mp.inf
    return max(z, 0), (ga, gp_, gn_), (sa, sp, sn), kappa, (d_pos, d_neg)


def _triplets(dtype):
    fi = np.finfo(dtype)
    big = float(fi.max) / 1024
    return [
        ([0.0, 0.0, 0.0], [1e30, 1e30, 0.0], [1e30, 1e30, 0.0]),
        ([0.0, 0.0, 0.0], [2e30, 2e30, 0.0], [1e30, 1e30, 0.0]),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]),
        ([0.0, 0.0, 0.0], [3.0, 4.0, 0.0], [1.0, 0.0, 0.0]),
        ([0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [3.0, 4.0, 0.0]),
        ([1e-30, 0.0, 0.0], [0.0, 1e-30, 0.0], [0.0, 0.0, 1e-30]),
        ([big, -big, 0.0], [-big, big, 0.0], [0.0, 0.0, big]),
        ([0.5, -0.25, 2.0], [0.5, -0.25, 2.0], [0.5, -0.25, 2.0]),
        ([0.0, 1e20, 0.0], [1e20, 0.0, 0.0], [0.0, 0.0, 1e20]),
        ([0.3, 0.1, -7.0], [1e-3, 5.0, 0.25], [0.2, 0.4, -6.0]),
    ]


def _triplet_cases(dtype, loss) -> list[Case]:
    cases = []
    variants = ([(2.0, 1e-6)] if loss != "triplet_margin_loss"
                else [(2.0, 1e-6), (2.0, 0.0), (1.0, 1e-6), (math.inf, 1e-6), (3.0, 1e-6)])
    for order, eps in variants:
        e = _scalar(eps, dtype)
        for margin in (1.0, 0.1, 1e-30):
            m = _scalar(margin, dtype)
            for swap in (False, True):
                kept = []
                for a, p, n in _triplets(dtype):
                    (xa, ma), (xp_, mp_), (xn, mn) = (_rows(dtype, v) for v in (a, p, n))
                    if any(_rounding_ties([s - t + e for s, t in zip(u, v)], order, dtype)
                           for u, v in ((ma, mp_), (ma, mn), (mp_, mn))):
                        continue
                    value, grads, scales, kappa, _ = _triplet(list(ma), list(mp_), list(mn), m, order, e, swap)
                    if kappa > KAPPA or not _fits(dtype, value, *grads[0], *grads[1], *grads[2]):
                        continue
                    kept.append(((a, p, n), value, grads, scales))
                args = tuple(rounded([k[0][i] for k in kept], dtype) for i in range(3))
                value = np.array([k[1] for k in kept], dtype=object)
                grads = {i: np.array([k[2][i] for k in kept], dtype=object) for i in range(3)}
                scales = {i: as_float(np.array([k[3][i] for k in kept], dtype=object)) for i in range(3)}
                kwargs = {"margin": margin, "swap": swap}
                if loss == "triplet_margin_loss":
                    kwargs.update(p=order, eps=eps)
                label = f"p={order:g}-eps={eps:g}-margin={margin:g}-swap={swap}"
                cases += reduced(loss, label, args, kwargs, value, grads, scales=scales)
    return cases


@functools.cache
def cases() -> list[Case]:
    out = []
    for dtype in DTYPES:
        out += _cosine_cases(dtype) + _pairwise_cases(dtype) + _cos_embed_cases(dtype)
        out += _triplet_cases(dtype, "triplet_margin_loss") + _triplet_cases(dtype, "triplet_margin_with_distance_loss")
    return out


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_accurate(case):
    assert_accurate(case)


# --- the hand-derived gradients agree with mpmath's numerical derivative ----------------------------

X1 = [mp.mpf(v) for v in (0.3, -0.7, 2.0)]
X2 = [mp.mpf(v) for v in (1.1, 0.4, -0.9)]


def _partials(fn, grad_of, x, k):
    """``fn`` as a function of ``x[k]`` alone, and its hand-derived partial."""
    def at(v):
        row = list(x)
        row[k] = v
        return row
    return (lambda v: fn(at(v))), (lambda v: grad_of(at(v))[k])


@pytest.mark.parametrize("eps", ["1e-8", "10"])  # unclamped, clamped x1 (|x1| < 10)
def test_cosine_reference_gradients(eps):
    e = mp.mpf(eps)
    for k in range(3):
        f, g = _partials(lambda r: _cosine(r, X2, e)[0], lambda r: _cosine(r, X2, e)[1], X1, k)
        check_derivative(f, g, [X1[k]])
        f, g = _partials(lambda r: _cosine(X1, r, e)[0], lambda r: _cosine(X1, r, e)[2], X2, k)
        check_derivative(f, g, [X2[k]])


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, 50.0, -1.5])
def test_pnorm_reference_gradients(p):
    d0 = [mp.mpf(v) for v in (0.3, -0.7, 2.0)]
    for k in range(3):
        f, g = _partials(lambda d: _pnorm(d, p), lambda d: _pnorm_grad(d, _pnorm(d, p), p), d0, k)
        check_derivative(f, g, [d0[k]])


@pytest.mark.parametrize("y", [1, -1])
def test_cosine_embedding_reference_gradients(y):
    m = mp.mpf("-0.5")
    for k in range(3):
        f, g = _partials(lambda r: _cos_embed(r, X2, y, m)[0], lambda r: _cos_embed(r, X2, y, m)[1], X1, k)
        check_derivative(f, g, [X1[k]])
        f, g = _partials(lambda r: _cos_embed(X1, r, y, m)[0], lambda r: _cos_embed(X1, r, y, m)[2], X2, k)
        check_derivative(f, g, [X2[k]])


@pytest.mark.parametrize("swap", [False, True])
def test_triplet_reference_gradients(swap):
    a, p, n = X1, X2, [mp.mpf(v) for v in (0.5, 0.5, 0.5)]
    m, e = mp.mpf(3), mp.mpf("1e-6")
    assert _triplet(a, p, n, m, 2.0, e, swap)[0] > 0  # the hinge is active here
    for k in range(3):
        for i, base in enumerate((a, p, n)):
            def fn(r, i=i):
                args = [a, p, n]
                args[i] = r
                return _triplet(*args, m, 2.0, e, swap)
            f, g = _partials(lambda r: fn(r)[0], lambda r, i=i: fn(r)[1][i], base, k)
            check_derivative(f, g, [base[k]])
