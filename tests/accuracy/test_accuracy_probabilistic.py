"""Accuracy of poisson_nll_loss, gaussian_nll_loss and kl_div at the extremes of each dtype.

References, per element, written from torch's definitions (``eps`` rounded to the dtype, as
torch's and losskit's kernels use it):

* poisson, ``log_input``: ``l = e^x - y x``, ``dl/dx = e^x - y``, ``dl/dy = -x``; otherwise
  ``l = x - y log(x + eps)``, ``dl/dx = 1 - y / (x + eps)``, ``dl/dy = -log(x + eps)``. ``full``
  adds ``s = y log y - y + log(2 pi y) / 2`` where ``y > 1`` (``ds/dy = log y + 1 / (2y)``).
  ``y x`` and ``y log(x + eps)`` are 0 where ``y = 0`` (``0 log 0 = 0``, losskit's documented
  convention where torch's formula gives nan).
* gaussian: ``v = max(var, eps)``, ``l = (log v + d^2 / v) / 2 [+ log(2 pi) / 2]``, ``d = x - y``;
  ``dl/dx = d / v = -dl/dy``, ``dl/dvar = (1 - d^2 / v) / (2 v)`` (torch's clamp passes the
  gradient through, so this holds below ``eps`` too); a broadcast ``var`` sums its gradient.
* kl_div: ``y (log y - x)`` (``dl/dx = -y``, ``dl/dy = log y + 1 - x``, ``-inf`` at ``y = 0``);
  with ``log_target``: ``e^y (y - x)`` (``dl/dx = -e^y``, ``dl/dy = e^y (y - x + 1)``). A
  zero-probability target contributes 0 whatever ``x`` is.

Gradients by hand, checked against mpmath's numerical derivative below. A gradient that is a
difference of terms (``e^x - y``, ``1 - d^2 / v``, ``log y + 1 - x``) is judged with the
magnitude of those terms as its scale (the issue's rule for exact zeros made of O(1) terms).

Left out, with the reason: elements whose exact *value* is a cancellation between the terms of
the definition, ``kappa = sum |terms| / |l| > 16`` (``e^x ~ y x``, ``log v ~ -d^2 / v``,
``log y ~ x``). There the value is ill-conditioned at the working precision: ``e^x``, ``log v``
and ``log y`` are transcendental, each correctly rounded result is off by up to half an ulp of
the term, and ``kappa`` of those half-ulps exceed the bound; only extended-precision logarithms
and exponentials could meet it. Also left out: elements whose exact value or gradient overflows
the dtype (nothing to judge).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from harness import Case, assert_accurate
from mpref import DTYPES, as_float, check_derivative, mp, mparray, reduced, rounded

KAPPA = 16

# kl_div's 'mean' warns (as torch does) that it is not 'batchmean'; the cases use it on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")


def _fits(dtype: np.dtype, *values) -> bool:
    """Every finite exact number of ``values`` is representable in ``dtype`` (with room for a
    sum of a few dozen of them)."""
    limit = mp.mpf(float(np.finfo(dtype).max)) / 64
    return all(not mp.isfinite(v) or abs(v) <= limit for v in values)


def _conditioned(value, terms) -> bool:
    """The exact value is not a cancellation of its terms (``kappa <= 16``)."""
    size = mp.fsum(abs(t) for t in terms if mp.isfinite(t))
    return not mp.isfinite(value) or size == 0 or abs(value) * KAPPA >= size


def _filtered(dtype, elements):
    """Keep the elements ``(inputs, value, value_terms, grads, grad_scales)`` that can be judged."""
    kept = []
    for el in elements:
        _, value, terms, grads, _ = el
        if _fits(dtype, value, *grads) and _conditioned(value, terms):
            kept.append(el)
    return kept


def _columns(elements, n_inputs):
    inputs = [[el[0][i] for el in elements] for i in range(n_inputs)]
    value = np.array([el[1] for el in elements], dtype=object)
    grads = [np.array([el[3][i] for el in elements], dtype=object) for i in range(len(elements[0][3]))]
    scales = [np.array([float(el[4][i]) for el in elements]) for i in range(len(elements[0][4]))]
    return inputs, value, grads, scales


# --- poisson_nll_loss ------------------------------------------------------------------------------


def _stirling(y):
    """torch's ``full`` term and its slope: ``y log y - y + log(2 pi y) / 2`` where ``y > 1``."""
    if y > 1:
        return [y * mp.log(y), -y, mp.log(2 * mp.pi * y) / 2], [mp.log(y), 1 / (2 * y)]
    return [], []


def _poisson(x, y, log_input, full, eps):
    """``(value, value terms, (dl/dx, dl/dy), (their term sizes))`` of one element."""
    if log_input:
        rate_term, log_rate = mp.exp(x), x
        yx = 0 if y == 0 else y * x
        terms, gx_terms, gy_terms = [rate_term, -yx], [mp.exp(x), -y], [-x]
    else:
        rate = x + eps
        log_rate = mp.log(rate) if rate > 0 else -mp.inf
        ylog = 0 if y == 0 else y * log_rate
        terms = [x, -ylog]
        gx_terms = [mp.mpf(1), 0 if y == 0 else -y / rate if rate > 0 else -mp.inf]
        gy_terms = [-log_rate]
    if full:
        s_terms, s_slope = _stirling(y)
        terms, gy_terms = terms + s_terms, gy_terms + s_slope
    value = mp.fsum(terms)
    gx, gy = mp.fsum(gx_terms), mp.fsum(gy_terms)
    scale_x = mp.fsum(abs(t) for t in gx_terms)
    scale_y = mp.fsum(abs(t) for t in gy_terms if mp.isfinite(t))
    return value, terms, (gx, gy), (scale_x, scale_y)


def _poisson_grid(dtype, log_input):
    fi = np.finfo(dtype)
    sub = float(fi.smallest_subnormal)
    ys = [0.0, sub, 1e-30, 0.5, 1.0, 1.0 + float(fi.eps), 1.5, 7.0, 1e6, 1e30]
    if log_input:
        xs = [-1e4, -100.0, -20.0, -1.0, -1e-30, 0.0, 1e-30, 0.5, 20.0, 80.0]
        if dtype == np.float64:
            xs += [-1e200, 700.0]
    else:
        xs = [0.0, sub, 1e-30, 1e-9, 1e-8, 0.5, 1.0 - float(fi.eps), 1.0, 1.0 + float(fi.eps), 1.01, 2.0, 1e6, 1e30]
    return [(x, y) for x in xs for y in ys]


def _poisson_cases(dtype) -> list[Case]:
    cases = []
    for log_input in (True, False):
        for full in (False, True):
            for eps in ((1e-8,) if log_input else (1e-8, 1e-3, 0.0)):
                grid = _poisson_grid(dtype, log_input)
                x = rounded([p[0] for p in grid], dtype)
                y = rounded([p[1] for p in grid], dtype)
                e = mparray(rounded(eps, dtype))[()]
                elements = []
                for xi, yi, mx, my in zip(x, y, mparray(x), mparray(y)):
                    value, terms, grads, scales = _poisson(mx, my, log_input, full, e)
                    elements.append(((xi, yi), value, terms, grads, scales))
                elements = _filtered(dtype, elements)
                (xs, ys), value, (gx, gy), (sx, sy) = _columns(elements, 2)
                args = (np.array(xs, dtype), np.array(ys, dtype))
                kwargs = {"log_input": log_input, "full": full, "eps": eps}
                label = f"log_input={log_input}-full={full}-eps={eps:g}"
                cases += reduced(
                    "poisson_nll_loss", label, args, kwargs, value, {0: gx, 1: gy}, scales={0: sx, 1: sy}
                )
    return cases


# --- gaussian_nll_loss -----------------------------------------------------------------------------


def _gaussian(x, y, var, full, eps):
    v = max(var, eps)
    d = x - y
    sq = d * d / v
    terms = [mp.log(v) / 2, sq / 2] + ([mp.log(2 * mp.pi) / 2] if full else [])
    gv = (1 - sq) / (2 * v)
    return mp.fsum(terms), terms, (d / v, -d / v, gv), (abs(d / v), abs(d / v), (1 + sq) / (2 * v))


def _gaussian_grid(dtype):
    fi = np.finfo(dtype)
    root = float(np.sqrt(fi.max)) / 8  # d^2 of this overflows nothing; 4 root overflows d^2
    pairs = [
        (0.0, 0.0), (1.0, 1.0), (0.5, -0.25), (1.0, 1.0 + float(fi.eps)), (1e-20, 0.0), (0.0, -1e-30),
        (3.0, -4.0), (1e10, 0.0), (1e20, -1e20), (root * 8, -root * 8), (-1e30, 1e30),
    ]
    variances = [float(fi.smallest_subnormal), 1e-37, 1e-30, 1e-7, 1e-6, 0.01, 0.5, 1.0, 3.0, 1e10, 1e30, float(fi.max) / 4]
    return [(x, y, v) for x, y in pairs for v in variances]


def _gaussian_elementwise(dtype) -> list[Case]:
    cases = []
    grid = _gaussian_grid(dtype)
    x, y, var = (rounded([g[i] for g in grid], dtype) for i in range(3))
    for full in (False, True):
        for eps in (1e-6, 1e-30):
            e = mparray(rounded(eps, dtype))[()]
            elements = []
            for xi, yi, vi, mx, my, mv in zip(x, y, var, mparray(x), mparray(y), mparray(var)):
                value, terms, grads, scales = _gaussian(mx, my, mv, full, e)
                elements.append(((xi, yi, vi), value, terms, grads, scales))
            elements = _filtered(dtype, elements)
            (xs, ys, vs), value, grads, scales = _columns(elements, 3)
            args = tuple(np.array(a, dtype) for a in (xs, ys, vs))
            cases += reduced(
                "gaussian_nll_loss", f"elementwise-full={full}-eps={eps:g}", args, {"full": full, "eps": eps},
                value, dict(enumerate(grads)), scales=dict(enumerate(scales)),
            )
    return cases


def _gaussian_layouts(dtype) -> list[Case]:
    """``var`` of shape (N,) (unsqueezed), (N, 1) and a Python number, against (N, D) inputs."""
    x = rounded([[1e10, -3.0, 0.0], [0.5, 1e-20, 2.0], [1e20, 1e20, -1e20], [0.0, 0.0, 1e-30]], dtype)
    y = rounded([[0.0, 1.0, 0.0], [-0.25, 0.0, 2.0], [0.0, -1e20, 1e20], [0.0, 1e-30, 0.0]], dtype)
    rows = rounded([1e30, 1e-7, 1e35 if dtype == np.float32 else 1e300, 1e-30], dtype)
    eps = 1e-6
    e = mparray(rounded(eps, dtype))[()]
    cases = []
    for layout in ("rows", "column", "number"):
        mx, my, mrows = mparray(x), mparray(y), mparray(rows)
        if layout == "number":
            # one variance for all: the row of 1e20s would overflow d^2 / var, so it is left out
            x, y = x[[0, 1, 3]], y[[0, 1, 3]]
            mx, my = mparray(x), mparray(y)
            var_arg, mvar, var_label = 0.25, mparray(rounded(0.25, dtype))[()], "number"
        else:
            var_arg = rows if layout == "rows" else rows[:, None]
            var_label = layout
        for full in (False, True):
            value = np.empty(x.shape, dtype=object)
            gx = np.empty(x.shape, dtype=object)
            gvar_el = np.empty(x.shape, dtype=object)
            svar_el = np.empty(x.shape)
            for (i, j), _ in np.ndenumerate(x):
                v = mvar if layout == "number" else mrows[i]
                value[i, j], _, (gx[i, j], _, gvar_el[i, j]), (_, _, svar_el[i, j]) = _gaussian(
                    mx[i, j], my[i, j], v, full, e
                )
            grads = {0: gx, 1: -gx}
            scales = {0: np.abs(as_float(gx)), 1: np.abs(as_float(gx))}
            if layout != "number":
                gvar = np.array([mp.fsum(gvar_el[i]) for i in range(x.shape[0])], dtype=object)
                svar = svar_el.sum(axis=1)
                grads[2] = gvar if layout == "rows" else gvar[:, None]
                scales[2] = svar if layout == "rows" else svar[:, None]
            cases += reduced(
                "gaussian_nll_loss", f"var={var_label}-full={full}", (x, y, var_arg), {"full": full, "eps": eps},
                value, grads, scales=scales,
            )
    return cases


# --- kl_div ----------------------------------------------------------------------------------------


def _kl(x, y, log_target):
    if log_target:
        if y == -mp.inf:
            return mp.mpf(0), [], (mp.mpf(0), mp.mpf(0)), (0, 0)
        p = mp.exp(y)
        terms = [p * y, -p * x]
        gy_terms = [p * y, -p * x, p]
        return mp.fsum(terms), terms, (-p, mp.fsum(gy_terms)), (p, mp.fsum(abs(t) for t in gy_terms))
    if y == 0:
        # dl/dy = log y + 1 - x is the one-sided -inf, undefined (-inf + inf) where x = -inf.
        return mp.mpf(0), [], (mp.mpf(0), mp.nan if x == -mp.inf else -mp.inf), (0, 0)
    terms = [y * mp.log(y), -y * x]
    gy_terms = [mp.log(y), mp.mpf(1), -x]
    return mp.fsum(terms), terms, (-y, mp.fsum(gy_terms)), (y, mp.fsum(abs(t) for t in gy_terms))


def _kl_grid(dtype, log_target):
    fi = np.finfo(dtype)
    sub = float(fi.smallest_subnormal)
    if log_target:
        ys = [-math.inf, -1e4, -100.0, -20.0, -1.0, 0.0, 1e-30, 3.0, 80.0]
        xs = [-1e30, -100.0, -20.0, -1e-30, 0.0, 3.0]
        if dtype == np.float64:
            ys += [-700.0, 700.0]
    else:
        ys = [0.0, sub, 1e-30, 0.3, 1.0, 1e30]
        xs = [-math.inf, -1e30, -100.0, -20.0, -1e-30, 0.0, 5.0]
    return [(x, y) for x in xs for y in ys]


def _kl_cases(dtype) -> list[Case]:
    cases = []
    for log_target in (False, True):
        grid = _kl_grid(dtype, log_target)
        x = rounded([g[0] for g in grid], dtype)
        y = rounded([g[1] for g in grid], dtype)
        elements = []
        for xi, yi, mx, my in zip(x, y, mparray(x), mparray(y)):
            value, terms, grads, scales = _kl(mx, my, log_target)
            elements.append(((xi, yi), value, terms, grads, scales))
        elements = _filtered(dtype, elements)
        (xs, ys), value, (gx, gy), (sx, sy) = _columns(elements, 2)
        args = (np.array(xs, dtype), np.array(ys, dtype))
        kwargs = {"log_target": log_target}
        grads, scales = {0: gx, 1: gy}, {0: sx, 1: sy}
        cases += reduced("kl_div", f"log_target={log_target}", args, kwargs, value, grads, scales=scales, reductions=["none"])
        # Reduced: finite elements of one sign only (a sum of both signs can cancel to nothing).
        keep = np.array([mp.isfinite(v) and v >= 0 and mp.isfinite(g) for v, g in zip(value, gy)])
        rows = int(keep.sum()) // 3 * 3
        idx = np.nonzero(keep)[0][:rows]
        args = tuple(np.asarray(a)[idx].reshape(3, -1) for a in args)
        value = value[idx].reshape(3, -1)
        grads = {i: g[idx].reshape(3, -1) for i, g in grads.items()}
        scales = {i: s[idx].reshape(3, -1) for i, s in scales.items()}
        cases += reduced("kl_div", f"log_target={log_target}", args, kwargs, value, grads, scales=scales, reductions=["sum", "mean"])
        cases += reduced("kl_div", f"log_target={log_target}", args, kwargs, value, grads, scales=scales,
                         reductions=["mean"], total=mp.mpf(3))
        cases[-1].kwargs["reduction"] = "batchmean"
        cases[-1].label = cases[-1].label.replace("-mean", "-batchmean")
    return cases


@functools.cache
def cases() -> list[Case]:
    out = []
    for dtype in DTYPES:
        out += _poisson_cases(dtype) + _gaussian_elementwise(dtype) + _gaussian_layouts(dtype) + _kl_cases(dtype)
    return out


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_accurate(case):
    assert_accurate(case)


# --- the hand-derived gradients agree with mpmath's numerical derivative ----------------------------

POINTS = [(-3.7, 2.5), (0.2, 0.3), (1.9, 7.0), (-0.3, 1e-3), (4.0, 1e3)]


@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_reference_gradients(log_input, full):
    eps = mp.mpf("1e-8")
    for x0, y0 in POINTS:
        x0 = abs(x0) if not log_input else x0
        x0, y0 = mp.mpf(x0), mp.mpf(y0)
        check_derivative(lambda x: _poisson(x, y0, log_input, full, eps)[0], lambda x: _poisson(x, y0, log_input, full, eps)[2][0], [x0])
        check_derivative(lambda y: _poisson(x0, y, log_input, full, eps)[0], lambda y: _poisson(x0, y, log_input, full, eps)[2][1], [y0])


@pytest.mark.parametrize("full", [False, True])
def test_gaussian_reference_gradients(full):
    eps = mp.mpf("1e-6")
    for (x0, y0), v0 in zip(POINTS, [0.5, 2.0, 1e-3, 7.0, 1e4]):
        x0, y0, v0 = mp.mpf(x0), mp.mpf(y0), mp.mpf(v0)
        for k, f in enumerate((lambda t: _gaussian(t, y0, v0, full, eps), lambda t: _gaussian(x0, t, v0, full, eps),
                               lambda t: _gaussian(x0, y0, t, full, eps))):
            check_derivative(lambda t: f(t)[0], lambda t: f(t)[2][k], [(x0, y0, v0)[k]])


@pytest.mark.parametrize("log_target", [False, True])
def test_kl_reference_gradients(log_target):
    for x0, y0 in POINTS:
        x0, y0 = mp.mpf(x0), mp.mpf(y0)
        check_derivative(lambda x: _kl(x, y0, log_target)[0], lambda x: _kl(x, y0, log_target)[2][0], [x0])
        check_derivative(lambda y: _kl(x0, y, log_target)[0], lambda y: _kl(x0, y, log_target)[2][1], [y0])
