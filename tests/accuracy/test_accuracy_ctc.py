"""Accuracy of ctc_loss: peaked distributions over long sequences, blanks, infeasible targets.

Reference (written from the definition, not from losskit's log-space recursion): the
forward-backward algorithm in *probability* space with mpmath at 80 digits, whose exponent range
is unbounded, so path probabilities of ``e^-4000`` are just numbers. For sample ``n`` with input
length ``L``, the extended target ``l' = (b, l_1, b, ..., l_S, b)`` and ``y_t(c) = e^{x_t(c)}``:
``alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip] alpha_{t-1}(s-2)) y_t(l'_s)``,
``p = alpha_{L-1}(2S) + alpha_{L-1}(2S-1)``, ``loss = -log p`` (``+inf`` for ``p = 0``, 0 with
``zero_infinity``). 'mean' divides each loss by its target length clamped to 1, then averages.

Values are judged on raw ``log_probs`` (the dtype-rounded ``log_softmax`` of logits, so they
are the normalised inputs torch documents), through long sequences (``T`` up to 200). Gradients
are judged through a ``log_softmax`` (``ctc_loss(log_softmax(z))`` in ``z``, as tests/test_ctc.py
compares with torch, whose CTC backward assumes normalised inputs): with ``beta_t(s)`` the
suffix probability after ``t`` (emission at ``t`` excluded), the posterior of class ``k`` at ``t``
is ``post_t(k) = sum_{s: l'_s = k} alpha_t(s) beta_t(s) / p`` and the gradient in the logits is
``softmax_t(k) - post_t(k)`` for ``t < L``, 0 after (the posteriors of one ``t`` sum to 1). That
is a difference of O(1) terms, judged with the scale ``softmax + post``. The posterior formula is
checked against mpmath's numerical derivative below.

Gradients are judged up to ``T = 100`` (values up to ``T = 200``). losskit's recursions run
in log space (nothing underflows) on shifted emissions and shifted alphas (see
losskit/losses/ctc.py), so a posterior's error grows with the number of steps and with the
log-probability gaps between the paths, not with the log-probabilities themselves: at ``T = 100``
the worst element is about 42 ulp (float64), 38 ulp (float32), under the bound; at ``T = 150``
(random logits of standard deviation 2) it reaches about 60 ulp in float32, too close to the
bound to be a stable test, so longer gradient cases are left out. (Before the shifts, a
posterior was ``exp(alpha + beta - log p)`` of unshifted sums: off by up to 160 ulp already at
``T = 8`` for a sequence whose every path is improbable, 1300 ulp at ``T = 150``.)
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness import Case, assert_accurate
from mpref import DTYPES, as_float, mp, mparray, rounded

import losskit.functional as F


# --- the mpmath reference --------------------------------------------------------------------------


def _extended(target, blank):
    ext = [blank]
    for label in target:
        ext += [label, blank]
    return ext


def _can_skip(ext, s, blank):
    """A path may enter state ``s`` from ``s - 2`` (a label differing from the one before)."""
    return s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]


def ctc_reference(x, target, length, blank):
    """``(p, post)``: the probability of ``target`` and the posteriors ``post[t][k]`` (``t < L``).

    ``x``: rows of mpmath log-probabilities (at least ``length`` of them).
    """
    n_classes = len(x[0])
    ext = _extended(target, blank)
    n_states = len(ext)
    if length == 0:
        return (mp.mpf(1) if not target else mp.mpf(0)), []
    y = [[mp.exp(v) for v in row] for row in x[:length]]
    alpha = [[mp.mpf(0)] * n_states for _ in range(length)]
    alpha[0][0] = y[0][ext[0]]
    if n_states > 1:
        alpha[0][1] = y[0][ext[1]]
    for t in range(1, length):
        for s in range(n_states):
            a = alpha[t - 1][s] + (alpha[t - 1][s - 1] if s >= 1 else 0)
            if _can_skip(ext, s, blank):
                a += alpha[t - 1][s - 2]
            alpha[t][s] = a * y[t][ext[s]]
    p = alpha[length - 1][n_states - 1] + (alpha[length - 1][n_states - 2] if n_states > 1 else 0)
    beta = [[mp.mpf(0)] * n_states for _ in range(length)]
    for s in (n_states - 1, n_states - 2):
        if s >= 0:
            beta[length - 1][s] = mp.mpf(1)
    for t in range(length - 2, -1, -1):
        for s in range(n_states):
            b = beta[t + 1][s] * y[t + 1][ext[s]]
            if s + 1 < n_states:
                b += beta[t + 1][s + 1] * y[t + 1][ext[s + 1]]
            if s + 2 < n_states and _can_skip(ext, s + 2, blank):
                b += beta[t + 1][s + 2] * y[t + 1][ext[s + 2]]
            beta[t][s] = b
    post = [[mp.mpf(0)] * n_classes for _ in range(length)]
    if p > 0:
        for t in range(length):
            for s in range(n_states):
                post[t][ext[s]] += alpha[t][s] * beta[t][s] / p
    return p, post


def _loss(p):
    return -mp.log(p) if p > 0 else mp.inf


def _log_softmax(row):
    m = max(row)
    lse = m + mp.log(mp.fsum(mp.exp(v - m) for v in row))
    return [v - lse for v in row]


# --- stress batches --------------------------------------------------------------------------------


def _peaked_logits(classes_over_time, n_classes, peak, base=0.0):
    """Logits ``(T, C)``: ``peak`` on the given class at each time, ``base`` elsewhere."""
    z = np.full((len(classes_over_time), n_classes), base)
    for t, k in enumerate(classes_over_time):
        z[t, k] = peak
    return z


def _alignment(target, length, blank):
    """A path of ``length`` steps that collapses to ``target`` (each label held, blanks between)."""
    steps = []
    for i, label in enumerate(target):
        if i and target[i - 1] == label:
            steps.append(blank)
        steps.append(label)
    extra = length - len(steps)
    assert extra >= 0
    out = []
    per = extra // (len(steps) + 1)
    for s in steps:
        out += [blank] * per + [s]
    return out + [blank] * (length - len(out))


def _value_batches(dtype):
    """``(label, logits (T, N, C), targets, input_lengths, target_lengths, blank)`` stress batches."""
    batches = []
    C = 5
    for blank in (0, C - 1):
        labels = [c for c in range(C) if c != blank]
        tgt = [labels[0], labels[1], labels[1], labels[2]]  # a repeat: needs a blank between
        for T, peak in ((60, 40.0), (200, 20.0), (100, 100.0)):
            right = _peaked_logits(_alignment(tgt, T, blank), C, peak)
            wrong = _peaked_logits([labels[3]] * T, C, peak)  # certain of a label not in the target
            half = _peaked_logits(_alignment(tgt[:2], T, blank), C, peak)
            z = np.stack([right, wrong, half], axis=1)
            batches.append((f"peaked-T={T}-peak={peak:g}-blank={blank}", z, [tgt, tgt, tgt[:2]], [T, T - 7, T // 2], blank))
        T = 50
        uniform = np.zeros((T, 3, C))
        batches.append((f"uniform-T={T}-blank={blank}", uniform, [tgt, [labels[0]], []], [T, 3, T], blank))
        # infeasible: a repeat in 2 steps; the empty input; an empty target
        z = np.random.default_rng(5).normal(size=(6, 3, C)) * 3
        batches.append((f"lengths-blank={blank}", z, [[labels[1], labels[1]], [], [labels[0]]], [2, 0, 6], blank))
        # log-probabilities of -inf: a class that cannot occur at some times
        z = np.random.default_rng(6).normal(size=(8, 2, C))
        z[2:5, :, labels[2]] = -np.inf
        z[6, 1, blank] = -np.inf
        batches.append((f"minus-inf-blank={blank}", z, [[labels[0], labels[2]], [labels[2], labels[0], labels[1]]], [8, 8], blank))
    return batches


def _padded(targets, fill):
    width = max(1, max(len(t) for t in targets))
    return np.array([t + [fill] * (width - len(t)) for t in targets], dtype=np.int64)


def _mean_divisor(target_lengths):
    return [mp.mpf(max(n, 1)) for n in target_lengths]


def _value_cases(dtype) -> list[Case]:
    cases = []
    for label, z, targets, il, blank in _value_batches(dtype):
        T, N, C = z.shape
        mz = [[[mp.mpf(float(v)) for v in z[t, n]] for t in range(T)] for n in range(N)]
        # the inputs: log_softmax of the logits, rounded to the dtype; the exact loss uses those
        x = np.empty(z.shape, dtype)
        for n in range(N):
            for t in range(T):
                x[t, n] = rounded([float(v) for v in _log_softmax(mz[n][t])], dtype)
        mx = mparray(x)
        losses = [_loss(ctc_reference([list(mx[t, n]) for t in range(T)], targets[n], il[n], blank)[0]) for n in range(N)]
        tl = [len(t) for t in targets]
        padded = _padded(targets, 1 if blank != 1 else 2)
        for zero_infinity in (False, True):
            ls = [mp.mpf(0) if (zero_infinity and v == mp.inf) else v for v in losses]
            for reduction in ("none", "sum", "mean"):
                if reduction == "none":
                    exact = as_float(np.array(ls, dtype=object))
                elif reduction == "sum":
                    exact = as_float(mp.fsum(ls))
                else:
                    exact = as_float(mp.fsum(v / d for v, d in zip(ls, _mean_divisor(tl))) / N)
                kwargs = {"blank": blank, "reduction": reduction, "zero_infinity": zero_infinity}
                cases.append(Case("ctc_loss", f"{label}-zero_infinity={zero_infinity}-{reduction}",
                                  (x, padded, tuple(il), tuple(tl)), kwargs, exact))
    return cases


# --- gradients through log_softmax -----------------------------------------------------------------


def _lk_ctc(z, *args, **kwargs):
    return F.ctc_loss(F.log_softmax(z, dim=-1), *args, **kwargs)


def _torch_ctc(z, *args, **kwargs):
    import torch

    return torch.nn.functional.ctc_loss(torch.log_softmax(z, -1), *args, **kwargs)


def _grad_batches():
    C = 4
    blank = 0
    rng = np.random.default_rng(7)
    out = []
    tgt = [1, 2, 2]
    out.append(("peaked-right", np.stack([_peaked_logits(_alignment(tgt, 10, blank), C, 40.0),
                                          _peaked_logits(_alignment([3, 1], 10, blank), C, 20.0)], axis=1),
                [tgt, [3, 1]], [10, 7], blank))
    out.append(("peaked-wrong", np.stack([_peaked_logits([3] * 8, C, 30.0), _peaked_logits([1] * 8, C, 15.0)], axis=1),
                [[1, 2], [2]], [8, 6], blank))
    out.append(("moderate", rng.normal(size=(12, 2, C)) * 2, [[1, 3, 1], [2, 2]], [12, 9], blank))
    out.append(("blank-last", rng.normal(size=(6, 2, C)), [[0, 1], [2]], [6, 4], C - 1))
    out.append(("infeasible", rng.normal(size=(5, 2, C)), [[1, 1, 1], [2]], [4, 5], blank))
    out.append(("long-moderate", rng.normal(size=(100, 2, C)) * 2, [[1, 3, 1, 2, 2, 3, 1], [2, 2]], [100, 83], blank))
    out.append(("long-peaked-wrong", np.stack([_peaked_logits([3] * 60, C, 30.0), _peaked_logits([1] * 60, C, 15.0)], axis=1),
                [[1, 2, 2], [2]], [60, 50], blank))
    out.append(("long-peaked-right", np.stack([_peaked_logits(_alignment([1, 2, 2, 3], 80, blank), C, 40.0),
                                               _peaked_logits(_alignment([3], 80, blank), C, 20.0)], axis=1),
                [[1, 2, 2, 3], [3]], [80, 77], blank))
    return out


def _grad_cases(dtype) -> list[Case]:
    cases = []
    for label, z_raw, targets, il, blank in _grad_batches():
        z = rounded(z_raw, dtype)
        T, N, C = z.shape
        mz = mparray(z)
        tl = [len(t) for t in targets]
        losses, grads, scales = [], np.zeros((T, N, C), dtype=object), np.zeros((T, N, C))
        for n in range(N):
            x = [_log_softmax(list(mz[t, n])) for t in range(T)]
            p, post = ctc_reference(x, targets[n], il[n], blank)
            losses.append(_loss(p))
            for t in range(T):
                for k in range(C):
                    if t < il[n] and p > 0:
                        sm = mp.exp(x[t][k])
                        grads[t, n, k] = sm - post[t][k]
                        scales[t, n, k] = float(sm + post[t][k])
                    else:
                        grads[t, n, k] = mp.mpf(0)
        infeasible = any(v == mp.inf for v in losses)
        padded = _padded(targets, 1 if blank != 1 else 2)
        for zero_infinity in ((True, False) if not infeasible else (True,)):
            ls = [mp.mpf(0) if (zero_infinity and v == mp.inf) else v for v in losses]
            for reduction in ("none", "sum", "mean"):
                factor = [mp.mpf(1)] * N
                if reduction == "none":
                    exact = as_float(np.array(ls, dtype=object))
                elif reduction == "sum":
                    exact = as_float(mp.fsum(ls))
                else:
                    factor = [1 / (d * N) for d in _mean_divisor(tl)]
                    exact = as_float(mp.fsum(v * f for v, f in zip(ls, factor)))
                g = np.array([[[grads[t, n, k] * factor[n] for k in range(C)] for n in range(N)] for t in range(T)], dtype=object)
                s = scales * np.array([float(f) for f in factor])[None, :, None]
                kwargs = {"blank": blank, "reduction": reduction, "zero_infinity": zero_infinity}
                cases.append(Case("ctc_loss", f"grad-{label}-zero_infinity={zero_infinity}-{reduction}",
                                  (z, padded, tuple(il), tuple(tl)), kwargs, exact, {0: as_float(g)}, {0: s},
                                  torch_fn=_torch_ctc, losskit_fn=_lk_ctc))
    return cases


@functools.cache
def cases() -> list[Case]:
    out = []
    for dtype in DTYPES:
        out += _value_cases(dtype) + _grad_cases(dtype)
    return out


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.id)
def test_accurate(case):
    assert_accurate(case)


def test_posteriors_are_the_numerical_derivative():
    # d(-log p)/dx_t(k) = -post_t(k) in raw log-probabilities (p is linear in each e^{x_t(k)}).
    x0 = [[mp.mpf(v) for v in row] for row in ([-0.3, -1.9, -2.2], [-1.0, -0.7, -1.6], [-2.5, -0.2, -3.0], [-0.9, -1.1, -1.3])]
    for target, blank in (([1, 1], 0), ([2, 1], 0), ([0], 2)):
        _, post = ctc_reference(x0, target, 4, blank)
        for t in range(4):
            for k in range(3):
                def f(v, t=t, k=k):
                    x = [list(r) for r in x0]
                    x[t][k] = v
                    return _loss(ctc_reference(x, target, 4, blank)[0])
                numeric = mp.diff(f, x0[t][k])
                assert abs(numeric + post[t][k]) <= mp.mpf(10) ** -40, (target, t, k)


def test_reference_matches_path_counting():
    # Uniform 1/3 over T = 3 and target "1" (blank 0): 6 of the 27 paths collapse to "1"
    # (1bb, b1b, bb1, 11b, b11, 111), so p = 6/27 (the example of losskit's docstring).
    x = [[mp.log(mp.mpf(1) / 3)] * 3 for _ in range(3)]
    p, _ = ctc_reference(x, [1], 3, 0)
    assert abs(p - mp.mpf(6) / 27) < mp.mpf(10) ** -70
