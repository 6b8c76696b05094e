r"""The activations fused into losses: log-sum-exp, (log-)softmax, (log-)sigmoid, softplus.

The stable forms, each used in one place:

* ``logsumexp(x) = m + log1p(sum_{i != argmax} exp(x_i - m))`` with ``m = max(x)``: the shift
  keeps ``exp`` from overflowing, and ``log1p`` keeps the digits of a sum that is ``1 + tiny``
  (where ``log(1 + tiny)`` would round to 0 and ``log_softmax`` of the top class would be 0
  instead of ``-tiny``). A non-finite maximum is the answer itself (``+inf``, ``-inf``, nan).
* ``softplus(x) = max(x, 0) + log1p(exp(-|x|))``: never overflows, exact for ``x << 0``. With a
  ``beta`` that is not a power of two, ``beta x`` is rounded; its rounding error (Dekker's
  two-product) is added to first order, since ``softplus(z) ~ e^z`` magnifies it ``|z|`` times.
* ``log_sigmoid(x) = -softplus(-x)``; ``sigmoid(x)`` from ``e = exp(-|x|)`` as ``1 / (1 + e)``
  or ``e / (1 + e)``, so neither branch overflows; ``sigmoid'(x) = e / (1 + e)^2``.
"""

from __future__ import annotations

import math

from .._blocks import map_rows
from .._array import device, exp_own, is_numpy_namespace, sum_excluding, take_along_axis
from ._op import Op


def _softmax_terms(xp, x, axis, keep_exp=True):
    """``(m, e, r)`` along ``axis`` (kept): ``m = max(x)``, ``e = exp(x - m)`` and
    ``r = log1p(...)`` of the module docstring, so that ``logsumexp(x) = m + r`` where ``m`` is
    finite; ``None`` for an empty axis. ``x - m`` is not kept: one array fewer at the peak.

    ``keep_exp=False``: ``e`` may be ``None`` (on NumPy, where each block's exponentials then
    stay in the cache and are never written out; a caller that needs them recomputes them)."""
    if not (isinstance(axis, int) and is_numpy_namespace(xp)):
        # a compiler (XLA) fuses the mask, the where and the count into the sum's own loop
        return _softmax_terms_masked(xp, x, axis)
    if x.shape[axis] == 0:
        return None
    if axis % x.ndim == 0:
        return _softmax_terms_argmax(xp, x, axis)
    # rows are independent: on large NumPy arrays, blocks of rows on every core
    if keep_exp:
        return map_rows(xp, lambda rows: _softmax_terms_argmax(xp, rows, axis), (x,))
    m, r = map_rows(xp, lambda rows: _softmax_terms_argmax(xp, rows, axis)[0::2], (x,))
    return m, None, r


def _softmax_terms_argmax(xp, x, axis):
    # NumPy runs one pass per call: one maximum per row, found by argmax, contributes exactly 1
    # (exp(0)) and is summed apart by a one-element scatter, so that 1 + tiny keeps the tiny
    # digits; other entries equal to the maximum count 1 each in the rest.
    top = xp.argmax(x, axis=axis, keepdims=True)
    m = take_along_axis(xp, x, top, axis)
    e = exp_own(xp, x - m)
    return m, e, xp.log1p(sum_excluding(xp, e, top, axis))


def _softmax_terms_masked(xp, x, axis):
    """:func:`_softmax_terms` with every maximum summed apart by a mask (any axis or axes)."""
    axes = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
    axes = {a % x.ndim for a in axes} if x.ndim else set()
    if any(x.shape[a] == 0 for a in axes):
        return None
    m = xp.max(x, axis=axis, keepdims=True)
    e = xp.exp(x - m)
    # exp(0) = 1 exactly at each maximum (and where x - m rounds exp to 1: the same term, 1), so
    # the rest is the sum of the entries below 1. Where some maximum is tied, rest + ties >= 1 and
    # the plain sum minus 1 is as accurate; the plain sum is s = 1 + ties + rest, so s - rest is
    # about 1 without a tie and >= 2 with one. Two plain reductions of e (tested on e, not on
    # x == m): a compiler (XLA) fuses each into one loop instead of materialising the broadcast
    # maximum, the mask and its count.
    rest = xp.sum(xp.where(e == 1.0, 0.0, e), axis=axis, keepdims=True)
    total = xp.sum(e, axis=axis, keepdims=True)
    return m, e, xp.log1p(xp.where(total - rest > 1.5, total - 1.0, rest))


def _shifted_logsumexp(xp, x, axis):
    """``(m0, r)`` with ``logsumexp(x) = m0 + r`` along ``axis`` (kept): ``m0`` the finite maximum
    (0 where the maximum is not finite, and ``r`` the maximum itself there), or ``None`` for an
    empty axis."""
    terms = _softmax_terms(xp, x, axis)
    if terms is None:
        return None
    m, _, r = terms
    finite = xp.isfinite(m)
    return xp.where(finite, m, 0.0), xp.where(finite, r, m)


def logsumexp_keepdims(xp, x, axis):
    """log(sum(exp(x), axis)) with the reduced axis kept; see the module docstring."""
    parts = _shifted_logsumexp(xp, x, axis)
    if parts is None:
        # An empty sum: log 0 = -inf, as torch (max has no identity, so it cannot go through max).
        axes = range(x.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
        axes = {a % x.ndim for a in axes}
        shape = tuple(1 if i in axes else n for i, n in enumerate(x.shape))
        return xp.full(shape, -math.inf, dtype=x.dtype, device=device(x))
    m0, r = parts
    return m0 + r


def softmax_parts(xp, x, axis):
    """``(m, r, p)`` along ``axis`` (kept): ``log_softmax(x) = (x - m) - r`` (``r`` is 0 where
    the maximum is not finite, whose row is ``x - max``: -inf or nan, as torch) and
    ``p = softmax(x)``; ``None`` for an empty axis.

    ``(x - m) - r`` rather than ``x - logsumexp(x)``: for logits ``[50, 0]`` the latter rounds
    ``50 + 1.9e-22`` to 50 and gives 0 for the top class, the former keeps ``-1.9e-22``. ``p`` is
    ``exp(x - m) exp(-r)``, reusing the exponentials of the sum.
    """
    terms = _softmax_terms(xp, x, axis)
    if terms is None:
        return None
    m, p, r = terms
    r = xp.where(xp.isfinite(m), r, 0.0)
    p *= xp.exp(-r)  # p is this call's own fresh exp(x - m)
    return m, r, p


def log_softmax_forward(xp, x, axis):
    """``(log_softmax(x), softmax(x))`` along ``axis``; see :func:`softmax_parts`."""
    parts = softmax_parts(xp, x, axis)
    if parts is None:  # an empty axis: nothing to normalise
        return x, xp.exp(x)
    m, r, p = parts
    logp = x - m
    logp -= r  # in place: logp is this function's own fresh array
    return logp, p


# --- logsumexp ----------------------------------------------------------------------------------


def _logsumexp_fwd(xp, inputs, axis, keepdims):
    x = inputs[0]
    parts = _shifted_logsumexp(xp, x, axis)
    lse = logsumexp_keepdims(xp, x, axis) if parts is None else parts[0] + parts[1]
    if keepdims:
        out = lse
    elif axis is None:  # every axis: a 0-d result
        out = xp.reshape(lse, ())
    else:
        out = xp.squeeze(lse, axis=axis)
    return out, (x, (0.0, lse) if parts is None else parts)


def _logsumexp_bwd(xp, res, g, needs, axis, keepdims):
    x, (m0, r) = res
    if not keepdims and axis is not None:  # (with axis None, a 0-d g broadcasts as it is)
        g = xp.expand_dims(g, axis=axis) if isinstance(axis, int) else _expand(xp, g, axis)
    # softmax as exp((x - m) - r), not exp(x - lse): lse = 1e30 + log 2 rounds to 1e30 in float32,
    # and e^(x - lse) to 1 for two tied maxima whose softmax is 1/2.
    return (g * xp.exp((x - m0) - r),)


def _expand(xp, g, axes):
    for a in sorted(axes):
        g = xp.expand_dims(g, axis=a)
    return g


logsumexp = Op("LogsumexpBackward0", _logsumexp_fwd, _logsumexp_bwd)


# --- softmax and log_softmax --------------------------------------------------------------------


def _log_softmax_fwd(xp, inputs, axis):
    logp, p = log_softmax_forward(xp, inputs[0], axis)
    return logp, p


def _log_softmax_bwd(xp, p, g, needs, axis):
    return (g - p * xp.sum(g, axis=axis, keepdims=True),)


def _softmax_fwd(xp, inputs, axis):
    parts = softmax_parts(xp, inputs[0], axis)
    p = xp.exp(inputs[0]) if parts is None else parts[2]
    return p, p


def _softmax_bwd(xp, p, g, needs, axis):
    gp = g * p
    return (gp - p * xp.sum(gp, axis=axis, keepdims=True),)


log_softmax = Op("LogSoftmaxBackward0", _log_softmax_fwd, _log_softmax_bwd)
softmax = Op("SoftmaxBackward0", _softmax_fwd, _softmax_bwd)


# --- sigmoid family -----------------------------------------------------------------------------


def sigmoid_parts(xp, x):
    """``(e, sigmoid(x), sigmoid(-x))`` with ``e = exp(-|x|)``: no overflow, no cancellation."""
    e = xp.exp(-xp.abs(x))
    inv = 1.0 / (1.0 + e)
    nonneg = x >= 0
    return e, xp.where(nonneg, inv, e * inv), xp.where(nonneg, e * inv, inv)


def softplus_from(xp, x, e):
    """softplus(x) = log(1 + exp(x)), given ``e = exp(-|x|)``."""
    return xp.maximum(x, 0.0) + xp.log1p(e)


def _sigmoid_fwd(xp, inputs):
    e, s, _ = sigmoid_parts(xp, inputs[0])
    return s, e


def _sigmoid_bwd(xp, e, g, needs):
    # sigmoid(x) * sigmoid(-x) = e / (1 + e)^2 for either sign of x.
    inv = 1.0 / (1.0 + e)
    return (g * e * inv * inv,)


def _logsigmoid_fwd(xp, inputs):
    x = inputs[0]
    e, _, s_neg = sigmoid_parts(xp, x)
    return -softplus_from(xp, -x, e), s_neg


def _logsigmoid_bwd(xp, s_neg, g, needs):
    return (g * s_neg,)


def _product_error(xp, x, beta, z):
    """``x beta - z`` for ``z``, the rounded ``x * beta`` (Dekker's two-product, exact unless a
    partial product under- or overflows; 0 where it is not finite)."""
    digits = round(-math.log2(xp.finfo(x.dtype).eps)) + 1
    split = 2.0 ** ((digits + 1) // 2) + 1.0

    def halves(a):
        c = split * a
        high = c - (c - a)
        return high, a - high

    x_hi, x_lo = halves(x)
    b_hi, b_lo = halves(xp.asarray(beta, dtype=x.dtype, device=device(x)))
    err = (((x_hi * b_hi - z) + x_hi * b_lo) + x_lo * b_hi) + x_lo * b_lo
    return xp.where(xp.isfinite(err), err, 0.0)


def _softplus_fwd(xp, inputs, beta, threshold):
    x = inputs[0]
    z = x * beta
    e, s, s_neg = sigmoid_parts(xp, z)
    value = softplus_from(xp, z, e)
    if abs(math.frexp(beta)[0]) != 0.5:
        # x beta is rounded: add its rounding error to first order. softplus(z) ~ e^z for z << 0
        # has relative condition |z|: without this, 256 ulp at x = -377.78, beta = 1.5 (float64).
        err = _product_error(xp, x, beta, z)
        value = value + s * err
        s = s + s * s_neg * err
    linear = z > threshold  # torch's definition: the identity above the threshold
    return xp.where(linear, x, value / beta), xp.where(linear, 1.0, s)


def _softplus_bwd(xp, slope, g, needs, beta, threshold):
    return (g * slope,)


sigmoid = Op("SigmoidBackward0", _sigmoid_fwd, _sigmoid_bwd)
logsigmoid = Op("LogSigmoidBackward0", _logsigmoid_fwd, _logsigmoid_bwd)
softplus = Op("SoftplusBackward0", _softplus_fwd, _softplus_bwd)
