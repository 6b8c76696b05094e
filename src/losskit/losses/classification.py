r"""Cross entropy and negative log-likelihood over a class axis.

Shapes (torch's): input ``(C)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``; the class axis is 1, or 0
for unbatched input. Class-index targets drop the class axis; probability targets have the
input's shape.

Every variant is ``l_n = -sum_c a_nc log p_nc`` for nonnegative coefficients ``a``:

* class indices ``t`` with class weights ``w`` and label smoothing ``eps``:
  ``a_nc = (1 - eps) w_t [c = t_n] + (eps / C) w_c``, and ``a = 0`` where ``t_n == ignore_index``;
  'mean' divides the sum by ``sum_n w_{t_n}`` over the targets not ignored (torch's definition:
  all targets ignored gives nan);
* probabilities ``y``: ``a_nc = w_c ((1 - eps) y_nc + eps / C)``; 'mean' divides by the number
  of samples ``N d1 ... dk``.

So the gradient with respect to the logits is one formula, ``dl_n/dz_nj = p_nj A_n - a_nj`` with
``A_n = sum_c a_nc``, where ``p = softmax(z)`` comes with ``log p`` from one log-sum-exp.
A zero coefficient contributes exactly 0 even where ``log p = -inf`` (``0 log 0 = 0``; torch
gives nan there).

``nll_loss`` is the same with ``log p`` given as the input and ``eps = 0``:
``dl_n/dx_nj = -a_nj``.

Torch's conventions where 'mean' has nothing to divide by (every target ignored, or every
target's class weight 0): the value is nan (0/0, also with label smoothing, where the sum itself
may be positive), the gradient of an ignored target is exactly 0, and that of a target not
ignored is nan (for ``nll_loss`` only at the target's own class).
"""

from __future__ import annotations

import math

from .. import _array, _reduction
from .._blocks import map_rows
from ._op import Op
from .activations import _softmax_terms, log_softmax_forward


def class_axis(ndim: int) -> int:
    return 1 if ndim >= 2 else 0


def _broadcast_weight(xp, weight, ndim, axis):
    """Class weights ``(C,)`` shaped to broadcast along ``axis`` of an ``ndim``-d input."""
    shape = [1] * ndim
    shape[axis] = weight.shape[0]
    return xp.reshape(weight, tuple(shape))


def target_weights(xp, target, weight, ignore_index, dtype):
    """The per-sample target weight ``w_t = weight[target]`` (1 without weights), 0 if ignored;
    ``sum(w_t)`` is the 'mean' denominator."""
    ignored = target == ignore_index
    safe = xp.where(ignored, 0, target)
    if weight is None:
        return xp.astype(~ignored, dtype), safe
    return xp.where(ignored, 0.0, xp.reshape(xp.take(weight, xp.reshape(safe, (-1,)), axis=0), safe.shape)), safe


def _pick(xp, x, safe, axis):
    """``x`` at each sample's target class: a gather, the class axis dropped."""
    return xp.squeeze(_array.take_along_axis(xp, x, xp.expand_dims(safe, axis=axis), axis=axis), axis=axis)


def _mean_total(xp, w_t):
    """The 'mean' denominator ``sum(w_t)``, nan where it is 0 (torch: the mean is then nan)."""
    total = xp.sum(w_t)
    return xp.where(total == 0, math.nan, total)


def _neg_weighted_sum(xp, a, logp, axis):
    """``-sum_c a_c log p_c`` with ``0 * log 0 = 0``."""
    return -xp.sum(xp.where(a == 0, 0.0, a * logp), axis=axis)


def _ce_fwd(xp, inputs, reduction, ignore_index, label_smoothing, probabilities):
    z, target, weight = inputs
    if probabilities:
        return _ce_probabilities_fwd(xp, z, target, weight, reduction, label_smoothing)
    axis = class_axis(z.ndim)
    n_classes = z.shape[axis]
    eps = label_smoothing
    # NumPy recomputes exp(z - m) in backward's blocks, where it is used at once: cheaper than
    # writing it out and reading it back, and one array of z's size fewer at the peak. A compiler
    # (XLA) keeps it, written once by the fused forward.
    terms = _softmax_terms(xp, z, axis, keep_exp=not _array.is_numpy_namespace(xp))
    if terms is None:  # no class: a class index cannot be valid, the loss has nothing to sum
        m = r = xp.zeros_like(xp.sum(z, axis=axis, keepdims=True))
        e = z
    else:
        m, e, r = terms
        r = xp.where(xp.isfinite(m), r, 0.0)  # a row whose maximum is not finite: x - max as is
    live = target != ignore_index
    w_t, safe = target_weights(xp, target, weight, ignore_index, z.dtype)
    r_rows = xp.squeeze(r, axis=axis)
    # log p at the target, (z_t - m) - r: the same roundings as log_softmax's, on one entry per row
    logp_t = (_pick(xp, z, safe, axis) - xp.squeeze(m, axis=axis)) - r_rows
    # Only the target's class and (with smoothing) every class have a coefficient: a gather and
    # a row sum, never a dense (N, C) coefficient array. 0 log 0 = 0 where a coefficient is 0.
    c_t = (1.0 - eps) * w_t
    loss = xp.where(c_t == 0, 0.0, -c_t * logp_t)
    logp = None
    if eps:
        # -sum_c (eps / C) w_c log p_c, with log p = shifted - r split (both parts <= 0: no
        # cancellation) and the coefficients applied before the sum, which could overflow.
        spread = eps / n_classes
        shifted = z - m
        if weight is None:
            smoothed = xp.sum(spread * shifted, axis=axis) - eps * r_rows
        else:
            b = spread * _broadcast_weight(xp, weight, z.ndim, axis)
            smoothed = xp.sum(xp.where(b == 0, 0.0, b * shifted), axis=axis) - spread * xp.sum(weight) * r_rows
        loss = loss - xp.where(live, smoothed, 0.0)
        # the dense gradient keeps the digits of a p near 1 through expm1(log p)
        logp = shifted
        logp -= r  # in place: shifted is this function's own, and no longer needed
    total = _mean_total(xp, w_t) if reduction == "mean" else None
    # softmax p = e exp(-r) is formed in backward, in the pass that writes the gradient
    res = (z, m, e, r_rows, logp, logp_t, safe, w_t, live, weight, total, _array.size(loss), axis)
    return _reduction.reduce(xp, loss, reduction, total), res


def _exp_shifted(xp, z, m, e):
    """``e`` if kept, else ``exp(z - m)`` anew."""
    return _array.exp_own(xp, z - m) if e is None else e


def _ce_bwd(xp, res, g, needs, reduction, ignore_index, label_smoothing, probabilities):
    if probabilities:
        return _ce_probabilities_bwd(xp, res, g, needs, reduction, label_smoothing)
    z, m, e, r_rows, logp, logp_t, safe, w_t, live, weight, total, size, axis = res
    if not needs[0]:
        return None, None, None
    eps = label_smoothing
    n_classes = z.shape[axis]
    scale = _reduction.scale(xp, g, reduction, total, size)
    # dl/dz = p A - a, as a (p - 1) + p (A - a) with p - 1 = expm1(log p): for a top class with
    # p = 1 - 1e-22 the naive form cancels to 0, this one keeps -1e-22 a. An ignored target's
    # gradient is 0, even when the mean is nan (scale masked per sample).
    s = xp.where(live, scale * xp.ones_like(w_t), 0.0)
    target = xp.expand_dims(safe, axis=axis)
    if eps:
        p = _exp_shifted(xp, z, m, e)
        p *= xp.astype(xp.expand_dims(xp.exp(-r_rows), axis=axis), p.dtype)  # (a fresh array)
        p_t = _pick(xp, p, safe, axis)
        w_c = 1.0 if weight is None else _broadcast_weight(xp, weight, p.ndim, axis)
        spread = eps / n_classes
        b_t = spread * (1.0 if weight is None else w_t)  # the smoothing part of a at the target
        big_a = (1.0 - eps) * w_t + (eps if weight is None else spread * xp.sum(weight))
        a_t = (1.0 - eps) * w_t + b_t
        b = spread * w_c
        rows = xp.expand_dims(s, axis=axis)
        dense = rows * (b * xp.expm1(logp) + p * (xp.expand_dims(big_a, axis=axis) - b))
        at_target = s * (a_t * xp.expm1(logp_t) + p_t * (big_a - a_t))
        return _array.put_along_axis(xp, dense, target, xp.expand_dims(at_target, axis=axis), axis), None, None
    # a = A = w_t at the target class only: s w_t expm1(log p_t) there, s w_t p = s w_t e exp(-r)
    # elsewhere: one pass over e with a per-row factor, then one entry per row.
    sw = s * w_t
    factor = xp.astype(xp.expand_dims(sw * xp.exp(-r_rows), axis=axis), z.dtype)  # (g may be wider)
    at_target = xp.astype(xp.expand_dims(sw * xp.expm1(logp_t), axis=axis), z.dtype)

    def rows(z, m, e, factor, target, at_target):
        gz = _exp_shifted(xp, z, m, e)
        gz = gz * factor if e is not None else _reduction.apply_scale(gz, factor)  # (never e itself)
        return (_array.put_along_axis(xp, gz, target, at_target, axis),)

    if z.ndim < 2:
        return rows(z, m, e, factor, target, at_target)[0], None, None
    if e is None:
        return map_rows(xp, lambda *a: rows(a[0], a[1], None, *a[2:]), (z, m, factor, target, at_target))[0], None, None
    return map_rows(xp, rows, (z, m, e, factor, target, at_target))[0], None, None


def _ce_probabilities_fwd(xp, z, target, weight, reduction, label_smoothing):
    axis = class_axis(z.ndim)
    n_classes = z.shape[axis]
    logp, p = log_softmax_forward(xp, z, axis)
    eps = label_smoothing
    y = (1.0 - eps) * target + eps / n_classes if eps else target
    a = y if weight is None else y * _broadcast_weight(xp, weight, z.ndim, axis)
    loss = _neg_weighted_sum(xp, a, logp, axis)
    return _reduction.reduce(xp, loss, reduction), (p, logp, a, weight, _array.size(loss), axis)


def _ce_probabilities_bwd(xp, res, g, needs, reduction, label_smoothing):
    p, logp, a, weight, size, axis = res
    scale = _reduction.scale(xp, g, reduction, None, size)
    if reduction == "none":
        scale = xp.expand_dims(scale, axis=axis)
    gz = gy = None
    if needs[0]:
        # p A - a, as a (p - 1) + p (A - a): see _ce_bwd.
        big_a = xp.sum(a, axis=axis, keepdims=True)
        gz = scale * (a * xp.expm1(logp) + p * (big_a - a))
    if needs[1]:
        # d l / d y_c = -(1 - eps) w_c log p_c
        w_c = 1.0 if weight is None else _broadcast_weight(xp, weight, p.ndim, axis)
        gy = -(1.0 - label_smoothing) * scale * w_c * logp
    return gz, gy, None


cross_entropy = Op("CrossEntropyLossBackward0", _ce_fwd, _ce_bwd, (0, 1))


def _nll_fwd(xp, inputs, reduction, ignore_index):
    x, target, weight = inputs
    axis = class_axis(x.ndim)
    w_t, safe = target_weights(xp, target, weight, ignore_index, x.dtype)
    loss = xp.where(w_t == 0, 0.0, -w_t * _pick(xp, x, safe, axis))
    total = _mean_total(xp, w_t) if reduction == "mean" else None
    live = target != ignore_index
    res = (x, safe, live, w_t, total, _array.size(loss), axis)
    return _reduction.reduce(xp, loss, reduction, total), res


def _nll_bwd(xp, res, g, needs, reduction, ignore_index):
    x, safe, live, w_t, total, size, axis = res  # x only for its shape, dtype and device
    scale = _reduction.scale(xp, g, reduction, total, size)
    # The one entry per target that receives a gradient: the target's class, unless ignored.
    picked = xp.where(live, -w_t * scale, 0.0)
    gx = _array.zeros_with(xp, x, xp.expand_dims(safe, axis=axis), xp.expand_dims(picked, axis=axis), axis)
    return gx, None, None


nll_loss = Op("NllLossBackward0", _nll_fwd, _nll_bwd, (0,))
