"""Accuracy of cross_entropy, nll_loss and the activations at extreme logits.

References, written from torch's definitions (``log p = z - log(sum_c e^{z_c})`` along the class
axis, :func:`mpref.log_softmax`):

* ``cross_entropy``: ``l_n = -sum_c a_nc log p_nc`` (``0 log 0 = 0``) with, for class indices
  ``t``, ``a_nc = (1 - eps) w_t [c = t] + (eps / C) w_c`` (0 for an ignored target; 'mean'
  divides by the sum of ``w_t`` over the targets not ignored), and for probabilities ``y``,
  ``a_nc = w_c ((1 - eps) y_nc + eps / C)`` ('mean' divides by the number of samples).
  Gradients by hand: ``dl_n/dz_nj = p_nj A_n - a_nj`` (``A_n = sum_c a_nc``) and
  ``dl_n/dy_nc = -(1 - eps) w_c log p_nc``.
* ``nll_loss``: ``l_n = -w_t x_{n,t}``, ``dl_n/dx_{n,t} = -w_t``.
* ``log_softmax``, ``softmax``, ``logsumexp`` (gradient of the sum of the output: ``1 - C p``,
  ``0``, ``p``), ``sigmoid`` (``s s'``), ``logsigmoid`` (``s'``) and ``softplus`` (torch's
  definition: ``x`` where ``beta x > threshold``, else ``log(1 + e^{beta x}) / beta``, with
  gradient 1 or ``sigmoid(beta x)``; ``beta`` rounded to the dtype, the product exact).

Where a gradient is softmax minus a soft target (probabilities, label smoothing) its bound is 64
ulp of the larger of ``p A`` and ``a``; the same for ``1 - C p`` (log_softmax) and ``p - p sum p``
(softmax, whose exact gradient is 0). Hard targets are judged relative to the exact gradient:
``p_t - 1 = -sum_{c != t} p_c`` needs no cancellation.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness import Case, assert_accurate
from mpref import WORK_DPS, DTYPES, as_float, check_derivative, log_softmax, mp, mparray, reduced, rounded, sigmoid, softplus

INF = float("inf")


def _rows(dtype: np.dtype) -> list[list[float]]:
    """Logit rows (C = 4): ties, dominant entries, huge and tiny gaps, the dtype's extremes."""
    fi = np.finfo(dtype)
    big, eps, sub = float(fi.max), float(fi.eps), float(fi.smallest_subnormal)
    return [
        [0.0, 0.0, 0.0, 0.0],
        [0.0, -40.0, -40.0, -40.0],
        [50.0, 0.0, 0.0, 0.0],
        [0.0, -1e4, -1e4, 5.0],
        [1e30, -1e30, 0.0, 1e30],
        [big / 8, big / 16, -big / 8, 0.0],  # log p = -big / 4: larger would overflow w log p
        [big, big, big * 0.75, 0.0],
        [-big, -big, -big, -big],
        [20.0, 20.0 - 1e-3, 19.0, -20.0],
        [1.0, 1.0 + eps, 1.0 + 2 * eps, 1.0 - eps],
        [sub, 0.0, -sub, 0.0],
        [-100.0, 100.0, 89.0, -89.0],
        [700.0, -700.0, 0.0, 300.0],
        [-INF, 0.0, 1.0, 2.0],
        [3.0, -INF, -INF, -INF],
        [0.1, 0.2, 0.3, 0.4],
        [-20.0, -40.0, -60.0, -89.0],
        [2.0, 2.0 - 1e-6, -1.0, 2.0],
    ]


def _prob_rows(z: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Probability targets, one per logit row: one-hot at the top class, uniform, the row's own
    softmax (the optimum: the gradient cancels), two-class, nearly one-hot."""
    out = []
    for i, row in enumerate(z):
        kind = i % 5
        if kind == 0:
            y = [0.0] * 4
            y[int(np.argmax(row))] = 1.0
        elif kind == 1:
            y = [0.25] * 4
        elif kind == 2:
            logp, _ = log_softmax(list(mparray(row)))
            y = [float(mp.exp(v)) for v in logp]
        elif kind == 3:
            y = [0.5, 0.5, 0.0, 0.0]
        else:
            y = [1 - 3e-8, 1e-8, 1e-8, 1e-8]
        out.append(y)
    return rounded(out, dtype)


# --- cross_entropy --------------------------------------------------------------------------------


def cross_entropy_row(z, a, smoothing_weight=None):
    """(value, dl/dz, dl/dy or None, gradient scale) of one sample with coefficients ``a``."""
    logp, _ = log_softmax(z)
    with mp.workdps(WORK_DPS):  # p_t A - a_t cancels to e^-700 where p_t = 1 - e^-700
        p = [mp.exp(v) for v in logp]
        total = mp.fsum(a)
        value = -mp.fsum([ac * lp for ac, lp in zip(a, logp) if ac != 0])
        grad = [pj * total - aj for pj, aj in zip(p, a)]
    gy = None if smoothing_weight is None else [-smoothing_weight[c] * logp[c] for c in range(len(z))]
    scale = [float(max(pj * total, aj)) for pj, aj in zip(p, a)]
    return value, grad, gy, scale


def _ce_cases(dtype: np.dtype) -> list[Case]:
    z = rounded(_rows(dtype), dtype)
    n, c = z.shape
    mz = mparray(z)
    w = rounded([1.0, 0.5, 3.0, 1e-3], dtype)
    mw = mparray(w)
    ones = [mp.mpf(1)] * c
    cases = []
    top = [int(np.argmax(r)) for r in z]
    other = [(t + 1 + i % 3) % c for i, t in enumerate(top)]
    for name, weighted, eps, ignore, targets in [
        ("top", False, 0.0, False, top),
        ("other-ignore", False, 0.0, True, other),
        ("top-weight", True, 0.0, False, top),
        ("other-weight", True, 0.0, False, other),
        ("top-smoothing=0.1", False, 0.1, False, top),
        ("other-weight-smoothing=0.1-ignore", True, 0.1, True, other),
        ("top-smoothing=1e-6", False, 1e-6, False, top),
    ]:
        t = np.array(targets, dtype=np.int64)
        if ignore:
            t[::5] = -100
        wc = mw if weighted else ones
        e = mp.mpf(eps)
        values, grads, scales, total = [], [], [], mp.mpf(0)
        for i in range(n):
            if t[i] == -100:
                a = [mp.mpf(0)] * c
            else:
                a = [(1 - e) * wc[k] * (k == t[i]) + e / c * wc[k] for k in range(c)]
                total += wc[t[i]]
            v, g, _, s = cross_entropy_row(list(mz[i]), a)
            values.append(v)
            grads.append(g)
            # Softmax minus a one-hot target does not cancel (p_t - 1 = -sum of the others).
            scales.append(s if eps else [0.0] * c)
        kwargs = {"label_smoothing": eps} if eps else {}
        if weighted:
            kwargs["weight"] = w
        value = np.array(values, dtype=object)
        cases += reduced(
            "cross_entropy", f"indices-{name}", (z, t), kwargs, value,
            {0: np.array(grads, dtype=object)}, total=total, scales={0: np.array(scales)},
        )
    y = _prob_rows(z, dtype)
    my = mparray(y)
    for name, weighted, eps in [("plain", False, 0.0), ("weight", True, 0.0), ("smoothing=0.1", False, 0.1), ("weight-smoothing=0.3", True, 0.3)]:
        wc = mw if weighted else ones
        e = mp.mpf(eps)
        values, grads, gys, scales = [], [], [], []
        for i in range(n):
            a = [wc[k] * ((1 - e) * my[i, k] + e / c) for k in range(c)]
            v, g, gy, s = cross_entropy_row(list(mz[i]), a, [(1 - e) * wk for wk in wc])
            values.append(v)
            grads.append(g)
            gys.append(gy)
            scales.append(s)
        kwargs = {"label_smoothing": eps} if eps else {}
        if weighted:
            kwargs["weight"] = w
        cases += reduced(
            "cross_entropy", f"probabilities-{name}", (z, y), kwargs, np.array(values, dtype=object),
            {0: np.array(grads, dtype=object), 1: np.array(gys, dtype=object)}, scales={0: np.array(scales)},
        )
    cases += _ce_kdim_cases(z, y, mz, my)
    return cases


def _ce_kdim_cases(z, y, mz, my) -> list[Case]:
    """(N, C, d) inputs: sample (n, k) is logit row n * d + k, along axis 1."""
    n, c = z.shape
    d = 2

    def to_kdim(a):  # (n, c, ...) rows -> (n / d, c, d, ...)
        a = np.asarray(a)
        return np.moveaxis(a.reshape(n // d, d, *a.shape[1:]), 1, 2) if a.ndim > 1 else a.reshape(n // d, d)

    t = np.array([int(np.argmax(r)) for r in z], dtype=np.int64)
    values, grads = [], []
    for i in range(n):
        v, g, _, _ = cross_entropy_row(list(mz[i]), [mp.mpf(int(k == t[i])) for k in range(c)])
        values.append(v)
        grads.append(g)
    cases = reduced(
        "cross_entropy", "indices-kdim", (np.ascontiguousarray(to_kdim(z)), to_kdim(t)), {},
        to_kdim(np.array(values, dtype=object)), {0: to_kdim(np.array(grads, dtype=object))},
    )
    values, grads, gys, scales = [], [], [], []
    for i in range(n):
        v, g, gy, s = cross_entropy_row(list(mz[i]), list(my[i]), [mp.mpf(1)] * c)
        values.append(v)
        grads.append(g)
        gys.append(gy)
        scales.append(s)
    cases += reduced(
        "cross_entropy", "probabilities-kdim", (np.ascontiguousarray(to_kdim(z)), np.ascontiguousarray(to_kdim(y))), {},
        to_kdim(np.array(values, dtype=object)),
        {0: to_kdim(np.array(grads, dtype=object)), 1: to_kdim(np.array(gys, dtype=object))},
        scales={0: to_kdim(np.array(scales))},
    )
    return cases


# --- nll_loss ---------------------------------------------------------------------------------------


def _nll_cases(dtype: np.dtype) -> list[Case]:
    fi = np.finfo(dtype)
    rows = [[v if abs(v) < float(fi.max) / 2 else v / 64 for v in r] for r in _rows(dtype)]
    x = rounded(rows, dtype)
    n, c = x.shape
    mx = mparray(x)
    w = rounded([1.0, 0.5, 3.0, 1e-3], dtype)
    cases = []
    for name, weighted in [("plain", False), ("weight-ignore", True)]:
        t = np.array([(i * 3 + 1) % c for i in range(n)], dtype=np.int64)
        if weighted:
            t[::4] = -100
        wc = mparray(w) if weighted else [mp.mpf(1)] * c
        values, grads, total = [], [], mp.mpf(0)
        for i in range(n):
            g = [mp.mpf(0)] * c
            if t[i] == -100:
                values.append(mp.mpf(0))
            else:
                values.append(-wc[t[i]] * mx[i, t[i]])
                g[t[i]] = -wc[t[i]]
                total += wc[t[i]]
            grads.append(g)
        kwargs = {"weight": w} if weighted else {}
        cases += reduced("nll_loss", name, (x, t), kwargs, np.array(values, dtype=object), {0: np.array(grads, dtype=object)}, total=total)
    return cases


# --- log_softmax, softmax, logsumexp ------------------------------------------------------------------


def _softmax_family_cases(dtype: np.dtype) -> list[Case]:
    z = rounded(_rows(dtype), dtype)
    n, c = z.shape
    logp_rows, p_rows, lse_rows = [], [], []
    for row in mparray(z):
        logp, lse = log_softmax(list(row))
        logp_rows.append(logp)
        p_rows.append([mp.exp(v) for v in logp])
        lse_rows.append(lse)
    logp, p = np.array(logp_rows, dtype=object), np.array(p_rows, dtype=object)
    pf = as_float(p)
    cases = []
    for dim, arr, tr in [(1, z, lambda a: a), (0, np.ascontiguousarray(z.T), lambda a: np.ascontiguousarray(np.asarray(a).T))]:
        cases.append(Case("log_softmax", f"dim={dim}", (arr,), {"dim": dim}, tr(as_float(logp)),
                          {0: tr(as_float(1 - c * p))}, {0: tr(np.maximum(1.0, c * pf))}))
        cases.append(Case("softmax", f"dim={dim}", (arr,), {"dim": dim}, tr(pf),
                          {0: tr(np.zeros_like(pf))}, {0: tr(pf)}))
        lse = np.array(lse_rows, dtype=object)
        cases.append(Case("logsumexp", f"dim={dim}", (arr,), {"dim": dim}, as_float(lse), {0: tr(pf)},
                          torch_fn=_torch_logsumexp))
    # Several rows at once, kept dims: the whole of a 2 x 4 block whose maxima tie.
    block = rounded([[1e30, -1e30, 0.0, 1e30], [1e30, 5.0, -1e30, 1e30 * (1 - float(np.finfo(dtype).eps))]], dtype)
    _, lse = log_softmax(list(mparray(block).ravel()))
    pb = np.array([mp.exp(v - lse) for v in mparray(block).ravel()], dtype=object).reshape(block.shape)
    cases.append(Case("logsumexp", "dim=(0,1)-keepdim", (block,), {"dim": (0, 1), "keepdim": True},
                      as_float(np.array([[lse]], dtype=object)), {0: as_float(pb)}, torch_fn=_torch_logsumexp))
    return cases


def _torch_logsumexp(x, dim, keepdim=False):
    import torch

    return torch.logsumexp(x, dim, keepdim)


# --- sigmoid, logsigmoid, softplus ------------------------------------------------------------------


def _pointwise_values(dtype: np.dtype) -> np.ndarray:
    fi = np.finfo(dtype)
    mags = [0.0, float(fi.smallest_subnormal), float(fi.smallest_normal), 1e-30, 1e-10, float(fi.eps), 0.5, 1.0,
            5.0, 15.0, 17.0, 19.5, 20.0, 20.5, 30.0, 40.0, 58.3217, 88.0, 89.0, 100.0, 456.789, 700.0, 1e4, 1e30,
            float(fi.max)]
    # beta x inexact and e^(beta x) normal in float64 (beta = 1.5: 256 ulp without the product's error)
    mags += [55.5555, 377.7777777, 466.6666666]
    return rounded(sorted({-m for m in mags} | set(mags)), dtype)


def softplus_torch(x, beta, threshold):
    """(value, gradient) of torch's softplus: x above the threshold, log(1 + e^{beta x}) / beta below."""
    z = beta * x
    if z > threshold:
        return x, mp.mpf(1)
    return softplus(z) / beta, sigmoid(z)


def _sigmoid_family_cases(dtype: np.dtype) -> list[Case]:
    x = _pointwise_values(dtype)
    mx = mparray(x)
    s = [sigmoid(v) for v in mx]
    s_neg = [sigmoid(-v) for v in mx]
    cases = [
        Case("sigmoid", "all", (x,), {}, as_float(s), {0: as_float([a * b for a, b in zip(s, s_neg)])}),
        Case("logsigmoid", "all", (x,), {}, as_float([-softplus(-v) for v in mx]), {0: as_float(s_neg)}),
    ]
    for beta, threshold in [(1.0, 20.0), (1.0, 1000.0), (2.0, 20.0), (0.5, 20.0), (1.5, 1000.0), (0.1, 20.0), (-1.5, 20.0)]:
        b = mparray(rounded(beta, dtype))[()]
        # x within rounding of threshold / beta: the rounded product could fall on either side
        # of the threshold, where torch's definition jumps; such x are left out.
        keep = [abs(b * v - threshold) > abs(threshold) * 1e-5 or b * v == threshold for v in mx]
        parts = [softplus_torch(v, b, threshold) for v, k in zip(mx, keep) if k]
        cases.append(Case("softplus", f"beta={beta:g}-threshold={threshold:g}", (x[keep],), {"beta": beta, "threshold": threshold},
                          as_float([v for v, _ in parts]), {0: as_float([g for _, g in parts])}))
    return cases


@functools.cache
def cases() -> list[Case]:
    out = []
    for dtype in DTYPES:
        out += _ce_cases(dtype) + _nll_cases(dtype) + _softmax_family_cases(dtype) + _sigmoid_family_cases(dtype)
    return out


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_accurate(case):
    assert_accurate(case)


def test_reference_gradients():
    # dl/dz_j = p_j A - a_j and dl/dy_c = -(1 - eps) w_c log p_c, against mpmath's derivative.
    z = [mp.mpf(v) for v in ("0.3", "-1.2", "2.5", "0.1")]
    a = [mp.mpf(v) for v in ("0.1", "0.7", "0", "1.3")]
    _, grad, gy, _ = cross_entropy_row(z, a, [mp.mpf(1)] * 4)
    for j in range(4):
        def along(t, j=j):
            return cross_entropy_row([t if k == j else z[k] for k in range(4)], a)[0]

        def along_y(t, j=j):
            return cross_entropy_row(z, [t if k == j else a[k] for k in range(4)])[0]

        check_derivative(along, lambda t, j=j: grad[j], [z[j]])
        check_derivative(along_y, lambda t, j=j: gy[j], [a[j]] if a[j] else ["1e-3"])
    for beta in (1, 2, "-1.5"):
        b = mp.mpf(beta)
        check_derivative(lambda v: softplus_torch(v, b, 20)[0], lambda v: softplus_torch(v, b, 20)[1], ["-30", "0.3", "5"])
    check_derivative(sigmoid, lambda v: sigmoid(v) * sigmoid(-v), ["-40", "0.5", "3"])
    check_derivative(lambda v: -softplus(-v), lambda v: sigmoid(-v), ["-40", "0.5", "3"])
