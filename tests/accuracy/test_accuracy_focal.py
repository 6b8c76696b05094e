"""Accuracy of sigmoid_focal_loss, focal_loss and linear_cross_entropy at extreme logits.

References, written from the definitions:

* ``sigmoid_focal_loss`` (torchvision): ``l = a_t ce q^gamma`` with ``ce = (1 - t) softplus(x) +
  t softplus(-x)``, ``q = 1 - p_t = (1 - t) s + t s'`` (``s = sigmoid(x)``, ``s' = sigmoid(-x)``),
  ``a_t = alpha t + (1 - alpha)(1 - t)`` (1 for ``alpha < 0``). Gradients by hand, checked
  against mpmath's derivative below::

      dl/dx = a_t [((1 - t) s - t s') q^g + g ce q^(g - 1) s s' (1 - 2t)]
      dl/dt = (2 alpha - 1) ce q^g + a_t [-x q^g + g ce q^(g - 1) (s' - s)]

  (``dce/dt = softplus(-x) - softplus(x) = -x``, ``s' - s = -tanh(x / 2)``: identities, so that
  the reference does not cancel at tiny ``x``). Both are sums of terms of either sign for soft
  targets; their bound is 64 ulp of the largest term.
* ``focal_loss`` (the seeds'): ``l_n = (1 - e^{-c_n})^g c_n`` with ``c_n`` the cross entropy of
  sample ``n`` (class weights, ignore_index, probabilities); ``dl_n/dz = h'(c) (p A - a)`` with
  ``h'(c) = (1 - e^{-c})^g + g (1 - e^{-c})^(g - 1) e^{-c} c`` (0 at ``c = 0``). 'mean' divides by
  the number of samples.
* ``linear_cross_entropy``: cross entropy of the logits ``z_n = W x_n + b``, with the inputs
  chosen so that every logit is exact in the dtype (``x_n`` a power of two times a unit vector,
  the bias only next to logits it adds to exactly): a logit of size ``|z|`` rounded by half an ulp
  moves every softmax probability by ``|z|/2`` ulp, which no chunking can undo, so such inputs
  would judge the matrix product, not the loss. ``dL/dx_n = sum_c G_nc W_c`` (a dot product of
  terms of both signs: its bound is 64 ulp of the sum of their magnitudes) and ``dL/dW_c =
  sum_n G_nc x_n``.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness import Case, assert_accurate

from losskit.catalog import torch_focal_loss, torch_sigmoid_focal_loss
from mpref import DTYPES, WORK_DPS, check_derivative, log_softmax, mp, mparray, reduced, rounded, sigmoid, softplus


# --- sigmoid_focal_loss -----------------------------------------------------------------------------


def sigmoid_focal(x, t, alpha, gamma):
    """(value, dl/dx, dl/dt, scale of dl/dx, scale of dl/dt) of torchvision's definition."""
    s, s_neg = sigmoid(x), sigmoid(-x)
    ce = (1 - t) * softplus(x) + t * softplus(-x)
    q = (1 - t) * s + t * s_neg
    a_t = alpha * t + (1 - alpha) * (1 - t) if alpha >= 0 else mp.mpf(1)
    da_t = 2 * alpha - 1 if alpha >= 0 else 0
    f = q**gamma
    df = gamma * q ** (gamma - 1) if gamma else 0  # d(q^g)/dq
    dx_terms = [a_t * (1 - t) * s * f, -a_t * t * s_neg * f, a_t * ce * df * s * s_neg * (1 - 2 * t)]
    dt_terms = [da_t * ce * f, -a_t * x * f, a_t * ce * df * -mp.tanh(x / 2)]
    return (
        a_t * ce * f,
        mp.fsum(dx_terms),
        mp.fsum(dt_terms),
        float(max(abs(v) for v in dx_terms)),
        float(max(abs(v) for v in dt_terms)),
    )


def _sigmoid_focal_cases(dtype: np.dtype) -> list[Case]:
    fi = np.finfo(dtype)
    mags = [0.0, float(fi.smallest_subnormal), 1e-30, 1e-5, 0.5, 2.0, 10.0, 20.0, 40.0, 50.0, 89.0, 100.0, 700.0, 1e4, 1e30]
    ts = [0.0, 1.0, 0.5, 0.1, 1 - 2**-20]
    cases = []
    # Logits near the dtype's maximum, unreduced only (a sum of their losses would overflow).
    for huge, reductions in [(False, ("none", "mean", "sum")), (True, ("none",))]:
        xs = [float(fi.max) / 4, -float(fi.max) / 4] if huge else sorted({-m for m in mags} | set(mags))
        x = rounded([a for a in xs for _ in ts], dtype)
        t = rounded([b for _ in xs for b in ts], dtype)
        mx, mt = mparray(x), mparray(t)
        for alpha, gamma in [(0.25, 2.0), (-1.0, 2.0), (0.25, 0.0), (0.5, 0.5), (0.8, 1.5), (0.25, 5.0)]:
            a, g = mp.mpf(alpha), mp.mpf(gamma)
            parts = [sigmoid_focal(u, v, a, g) for u, v in zip(mx, mt)]
            value, gx, gt, sx, st = (np.array(col, dtype=object) for col in zip(*parts))
            # gamma = 5 at x = max/4, t = 0.5: dl/dt = -5 max/16 - ... is beyond the dtype: left out
            keep = np.array([max(abs(u), abs(v), abs(w)) <= float(fi.max) for u, v, w in zip(value, gx, gt)])
            cases += reduced(
                "sigmoid_focal_loss", f"alpha={alpha:g}-gamma={gamma:g}" + ("-huge" if huge else ""),
                (x[keep], t[keep]), {"alpha": alpha, "gamma": gamma},
                value[keep], {0: gx[keep], 1: gt[keep]}, scales={0: sx[keep].astype(float), 1: st[keep].astype(float)},
                reductions=reductions, torch_fn=torch_sigmoid_focal_loss,
            )
    return cases


# --- focal_loss -------------------------------------------------------------------------------------


def focal_row(z, a, gamma, y_weight=None):
    """(value, dl/dz, dl/dy or None, scale of dl/dz) of one sample with coefficients ``a``."""
    logp, _ = log_softmax(z)
    with mp.workdps(WORK_DPS):  # p_t A - a_t and 1 - e^-c cancel for a confident sample
        p = [mp.exp(v) for v in logp]
        c = -mp.fsum([ac * lp for ac, lp in zip(a, logp) if ac != 0])
        u = 1 - mp.exp(-c)
        if gamma == 0:
            h = mp.mpf(1)
        elif c == 0:
            h = mp.mpf(0)
        else:
            h = u**gamma + gamma * u ** (gamma - 1) * mp.exp(-c) * c
        total = mp.fsum(a)
        grad = [h * (pj * total - aj) for pj, aj in zip(p, a)]
        gy = None if y_weight is None else [-h * wc * lp for wc, lp in zip(y_weight, logp)]
        return u**gamma * c, grad, gy, [float(abs(h) * max(pj * total, aj)) for pj, aj in zip(p, a)]


def _logit_rows(dtype: np.dtype) -> list[list[float]]:
    eps = float(np.finfo(dtype).eps)
    return [
        [0.0, 0.0, 0.0, 0.0],
        [0.0, -40.0, -40.0, -40.0],
        [50.0, 0.0, 0.0, 0.0],
        [0.0, -1e4, -1e4, 5.0],
        [1e30, -1e30, 0.0, 1e30],
        [20.0, 20.0 - 1e-3, 19.0, -20.0],
        [1.0, 1.0 + eps, 1.0 + 2 * eps, 1.0 - eps],
        [-100.0, 100.0, 89.0, -89.0],
        [700.0, -700.0, 0.0, 300.0],
        [0.1, 0.2, 0.3, 0.4],
    ]


def _focal_cases(dtype: np.dtype) -> list[Case]:
    z = rounded(_logit_rows(dtype), dtype)
    n, c = z.shape
    mz = mparray(z)
    w = rounded([1.0, 0.5, 3.0, 1e-3], dtype)
    top = [int(np.argmax(r)) for r in z]
    cases = []
    for gamma in (2.0, 0.5, 0.0):
        g = mp.mpf(gamma)
        for name, weighted, targets in [("top", False, top), ("other-weight-ignore", True, [(k + 1) % c for k in top])]:
            t = np.array(targets, dtype=np.int64)
            if weighted:
                t[::4] = -100
            wc = mparray(w) if weighted else [mp.mpf(1)] * c
            values, grads, scales = [], [], []
            for i in range(n):
                a = [mp.mpf(0)] * c
                if t[i] != -100:
                    a[t[i]] = wc[t[i]]
                v, gz, _, _ = focal_row(list(mz[i]), a, g)
                values.append(v)
                grads.append(gz)
            kwargs = {"gamma": gamma, **({"weight": w} if weighted else {})}
            cases += reduced(
                "focal_loss", f"gamma={gamma:g}-{name}", (z, t), kwargs, np.array(values, dtype=object),
                {0: np.array(grads, dtype=object)}, torch_fn=torch_focal_loss,
            )
        # probability targets: one-hot, uniform, nearly one-hot, two classes
        y = rounded([[[1.0, 0, 0, 0], [0.25] * 4, [1 - 3e-8, 1e-8, 1e-8, 1e-8], [0.5, 0.5, 0, 0]][i % 4] for i in range(n)], dtype)
        my = mparray(y)
        values, grads, gys, scales = [], [], [], []
        for i in range(n):
            v, gz, gy, s = focal_row(list(mz[i]), list(my[i]), g, [mp.mpf(1)] * c)
            values.append(v)
            grads.append(gz)
            gys.append(gy)
            scales.append(s)
        cases += reduced(
            "focal_loss", f"gamma={gamma:g}-probabilities", (z, y), {"gamma": gamma}, np.array(values, dtype=object),
            {0: np.array(grads, dtype=object), 1: np.array(gys, dtype=object)}, scales={0: np.array(scales)},
            torch_fn=torch_focal_loss,
        )
    return cases


# --- linear_cross_entropy ---------------------------------------------------------------------------


def _lce_cases(dtype: np.dtype) -> list[Case]:
    """x_n = 2^k_n e_n and W[:, n] = z_n / 2^k_n: every logit z_nc = W_cn x_nn is exact."""
    rows = _logit_rows(dtype)
    n, c = len(rows), len(rows[0])
    powers = [2.0 ** (k % 5 - 2) for k in range(n)]
    x = rounded(np.diag(powers), dtype)
    W = rounded(np.array([[rows[j][ci] / powers[j] for j in range(n)] for ci in range(c)]), dtype)
    # The bias, only where each logit plus its bias is exact (rows of moderate logits).
    b = rounded([0.5, -1.0, 2.0, 0.0], dtype)
    moderate = [i for i, r in enumerate(rows) if max(abs(v) for v in r) <= 1e4]
    mx, mW, mb = mparray(x), mparray(W), mparray(b)
    weight = rounded([1.0, 0.5, 3.0, 1e-3], dtype)
    cases = []
    for name, bias, weighted, eps, probabilities in [
        ("indices", False, False, 0.0, False),
        ("indices-bias-weight", True, True, 0.0, False),
        ("indices-smoothing=0.1", False, False, 0.1, False),
        ("indices-weight-smoothing=0.1-ignore", False, True, 0.1, False),
        ("probabilities", False, False, 0.0, True),
        ("probabilities-bias-smoothing=0.2", True, False, 0.2, True),
    ]:
        keep = moderate if bias else list(range(n))
        xs, ms = x[np.ix_(keep, range(n))], mx[np.ix_(keep, range(n))]
        logits = [[mp.fsum(mW[ci, h] * ms[r, h] for h in range(n)) + (mb[ci] if bias else 0) for ci in range(c)] for r in range(len(keep))]
        wc = mparray(weight) if weighted else [mp.mpf(1)] * c
        e = mp.mpf(eps)
        if probabilities:
            y = rounded([[[1.0, 0, 0, 0], [0.25] * 4, [0.5, 0.5, 0, 0], [1 - 3e-8, 1e-8, 1e-8, 1e-8]][r % 4] for r in range(len(keep))], dtype)
            my = mparray(y)
            coeffs = [[wc[k] * ((1 - e) * my[r, k] + e / c) for k in range(c)] for r in range(len(keep))]
            target = y
        else:
            target = np.array([int(np.argmax(rows[i])) for i in keep], dtype=np.int64)
            if name.endswith("ignore"):
                target[::3] = -100
            coeffs = [
                [mp.mpf(0)] * c if target[r] == -100 else
                [(1 - e) * wc[k] * int(k == target[r]) + e / c * wc[k] for k in range(c)]
                for r in range(len(keep))
            ]
        values, G, gys = [], [], []
        for r in range(len(keep)):
            logp, _ = log_softmax(logits[r])
            with mp.workdps(WORK_DPS):
                p = [mp.exp(v) for v in logp]
                A = mp.fsum(coeffs[r])
                G.append([p[k] * A - coeffs[r][k] for k in range(c)])
                values.append(-mp.fsum([a * lp for a, lp in zip(coeffs[r], logp) if a != 0]))
            gys.append([-(1 - e) * wc[k] * logp[k] for k in range(c)])
        G = np.array(G, dtype=object)
        gx = np.array([[mp.fsum(G[r, k] * mW[k, h] for k in range(c)) for h in range(n)] for r in range(len(keep))], dtype=object)
        sx = np.array([[float(mp.fsum(abs(G[r, k] * mW[k, h]) for k in range(c))) for h in range(n)] for r in range(len(keep))])
        gW = np.array([[mp.fsum(G[r, k] * ms[r, h] for r in range(len(keep))) for h in range(n)] for k in range(c)], dtype=object)
        sW = np.array([[float(mp.fsum(abs(G[r, k] * ms[r, h]) for r in range(len(keep)))) for h in range(n)] for k in range(c)])
        grads, scales = {0: gx, 1: gW}, {0: sx, 1: sW}
        if probabilities:
            grads[2] = np.array(gys, dtype=object)
        kwargs = {}
        if bias:
            kwargs["linear_bias"] = b
        if weighted:
            kwargs["weight"] = weight
        if eps:
            kwargs["label_smoothing"] = eps
        total = None
        if not probabilities:
            total = mp.fsum(wc[t] for t in target if t != -100)
        cases += reduced("linear_cross_entropy", name, (xs, W, target), kwargs, np.array(values, dtype=object),
                         grads, total=total, scales=scales)
    return cases


@functools.cache
def cases() -> list[Case]:
    out = []
    for dtype in DTYPES:
        out += _sigmoid_focal_cases(dtype) + _focal_cases(dtype) + _lce_cases(dtype)
    return out


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_accurate(case):
    assert_accurate(case)


def test_reference_gradients():
    # The hand-derived gradients against mpmath's numerical derivative of the definitions.
    for alpha, gamma in [(mp.mpf("0.25"), mp.mpf(2)), (mp.mpf(-1), mp.mpf("0.5")), (mp.mpf("0.8"), mp.mpf(0))]:
        for t in (mp.mpf(0), mp.mpf("0.3"), mp.mpf(1)):
            check_derivative(
                lambda x: sigmoid_focal(x, t, alpha, gamma)[0], lambda x: sigmoid_focal(x, t, alpha, gamma)[1],
                ["-7", "0.2", "3"],
            )
        for x in (mp.mpf(-7), mp.mpf("0.2"), mp.mpf(3)):
            check_derivative(
                lambda t: sigmoid_focal(x, t, alpha, gamma)[0], lambda t: sigmoid_focal(x, t, alpha, gamma)[2], ["0.3", "0.6"]
            )
    z = [mp.mpf(v) for v in ("0.3", "-1.2", "2.5", "0.1")]
    a = [mp.mpf(v) for v in ("0.1", "0.7", "0", "1.3")]
    for gamma in (mp.mpf(2), mp.mpf("0.5")):
        _, grad, gy, _ = focal_row(z, a, gamma, [mp.mpf(1)] * 4)
        for j in range(4):
            check_derivative(lambda v, j=j: focal_row([v if k == j else z[k] for k in range(4)], a, gamma)[0], lambda v, j=j: grad[j], [z[j]])
            if a[j]:
                check_derivative(lambda v, j=j: focal_row(z, [v if k == j else a[k] for k in range(4)], gamma)[0], lambda v, j=j: gy[j], [a[j]])
