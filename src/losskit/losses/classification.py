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
from .._array import onehot
from ._op import Op
from .activations import log_softmax_forward


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


def _index_coefficients(xp, target, weight, ignore_index, n_classes, axis, dtype, smoothing):
    """``a`` for class-index targets, and the per-sample target weight ``w_t`` (0 if ignored)."""
    ignored = target == ignore_index
    w_t, safe = target_weights(xp, target, weight, ignore_index, dtype)
    hot = onehot(xp, safe, n_classes, axis, dtype)
    a = (1.0 - smoothing) * xp.expand_dims(w_t, axis=axis) * hot
    if smoothing:
        spread = smoothing / n_classes
        w_c = 1.0 if weight is None else _broadcast_weight(xp, weight, hot.ndim, axis)
        live = xp.expand_dims(xp.astype(~ignored, dtype), axis=axis)
        a = a + spread * w_c * live
    return a, w_t, safe


def _mean_total(xp, w_t):
    """The 'mean' denominator ``sum(w_t)``, nan where it is 0 (torch: the mean is then nan)."""
    total = xp.sum(w_t)
    return xp.where(total == 0, math.nan, total)


def _neg_weighted_sum(xp, a, logp, axis):
    """``-sum_c a_c log p_c`` with ``0 * log 0 = 0``."""
    return -xp.sum(xp.where(a == 0, 0.0, a * logp), axis=axis)


def _ce_fwd(xp, inputs, reduction, ignore_index, label_smoothing, probabilities):
    z, target, weight = inputs
    axis = class_axis(z.ndim)
    n_classes = z.shape[axis]
    logp, p = log_softmax_forward(xp, z, axis)
    total = live = None
    if probabilities:
        y = (1.0 - label_smoothing) * target + label_smoothing / n_classes if label_smoothing else target
        a = y if weight is None else y * _broadcast_weight(xp, weight, z.ndim, axis)
    else:
        a, w_t, _ = _index_coefficients(
            xp, target, weight, ignore_index, n_classes, axis, z.dtype, label_smoothing
        )
        live = xp.expand_dims(target != ignore_index, axis=axis)
        if reduction == "mean":
            total = _mean_total(xp, w_t)
    loss = _neg_weighted_sum(xp, a, logp, axis)
    size = _array.size(loss)
    return _reduction.reduce(xp, loss, reduction, total), (p, logp, a, weight, total, size, axis, live)


def _ce_bwd(xp, res, g, needs, reduction, ignore_index, label_smoothing, probabilities):
    p, logp, a, weight, total, size, axis, live = res
    scale = _reduction.scale(xp, g, reduction, total, size)
    if reduction == "none":
        scale = xp.expand_dims(scale, axis=axis)
    gz = gy = None
    if needs[0]:
        # p A - a written as a (p - 1) + p (A - a), with p - 1 = expm1(log p): for a top class
        # with p = 1 - 1e-22 the naive form cancels to 0, this one keeps -1e-22 a.
        A = xp.sum(a, axis=axis, keepdims=True)
        gz = scale * (a * xp.expm1(logp) + p * (A - a))
        if live is not None:
            gz = xp.where(live, gz, 0.0)  # an ignored target's gradient is 0, even when the mean is nan
    if needs[1] and probabilities:
        # d l / d y_c = -(1 - eps) w_c log p_c
        w_c = 1.0 if weight is None else _broadcast_weight(xp, weight, p.ndim, axis)
        gy = -(1.0 - label_smoothing) * scale * w_c * logp
    return gz, gy, None


cross_entropy = Op("CrossEntropyLossBackward0", _ce_fwd, _ce_bwd, (0, 1))


def _nll_fwd(xp, inputs, reduction, ignore_index):
    x, target, weight = inputs
    axis = class_axis(x.ndim)
    n_classes = x.shape[axis]
    _, w_t, safe = _index_coefficients(xp, target, weight, ignore_index, n_classes, axis, x.dtype, 0.0)
    picked = xp.squeeze(_array.take_along_axis(xp, x, xp.expand_dims(safe, axis=axis), axis=axis), axis=axis)
    loss = xp.where(w_t == 0, 0.0, -w_t * picked)
    total = _mean_total(xp, w_t) if reduction == "mean" else None
    # The one entry per target that receives a gradient: the target's class, unless ignored.
    hit = onehot(xp, safe, n_classes, axis, xp.bool) & xp.expand_dims(target != ignore_index, axis=axis)
    return _reduction.reduce(xp, loss, reduction, total), (hit, w_t, total, _array.size(loss), axis)


def _nll_bwd(xp, res, g, needs, reduction, ignore_index):
    hit, w_t, total, size, axis = res
    scale = _reduction.scale(xp, g, reduction, total, size)
    return (xp.where(hit, xp.expand_dims(-w_t * scale, axis=axis), 0.0), None, None)


nll_loss = Op("NllLossBackward0", _nll_fwd, _nll_bwd, (0,))
