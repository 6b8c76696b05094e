r"""Margin losses: ranking, hinge embedding, soft margin, multi-label and multi-class margins.

Unreduced values and their gradients (``[P]`` is 1 where ``P`` holds, else 0; ``g`` the incoming
gradient, already scaled by the reduction):

* ``margin_ranking``: ``u = -y (x1 - x2) + margin``, ``l = max(u, 0)``.
  ``dl/dx1 = -y [u >= 0]``, ``dl/dx2 = y [u >= 0]``, ``dl/dy = -(x1 - x2) [u >= 0]``.
  At the kink ``u = 0`` the gradient is the active branch's, as torch's ``clamp_min`` gives.
  ``u`` is computed from the exact ``x1 - x2`` (a rounded difference and its rounding error,
  :func:`two_sum`), so it is rounded once even where ``y (x1 - x2)`` is within an ulp of the
  margin, and the kink is decided on the exact sign (torch: ``x1 = 1e30, x2 = 0.1, y = 1,
  margin = 1e30`` gives ``0`` for ``0.1``).
* ``hinge_embedding``: torch's rule for any target value,
  ``l = [y != 1] max(margin - x, 0) + [y != -1] x``: ``x`` for ``y = 1``,
  ``max(margin - x, 0)`` for ``y = -1``, and the sum of both for any other ``y``.
  ``dl/dx = -[y != 1] [margin - x >= 0] + [y != -1]``.
* ``soft_margin``: ``l = log(1 + exp(-y x)) = softplus(z)``, ``z = -y x``, computed as
  ``max(z, 0) + log1p(exp(-|z|))``: no overflow (torch's ``log1p(exp(z))`` is inf from
  ``z ~ 89`` in float32), and exact for ``z << 0``. ``dl/dx = -y sigmoid(z)``.
* ``multilabel_soft_margin``: class axis last, ``C`` classes,
  ``l_n = (1/C) sum_c w_c [y softplus(-x) + (1 - y) softplus(x)]_c``
  (``-log sigmoid(x) = softplus(-x)``).
  ``dl_n/dx_c = (w_c / C) [(1 - y_c) sigmoid(x_c) - y_c sigmoid(-x_c)]``,
  ``dl_n/dy_c = (w_c / C) (softplus(-x_c) - softplus(x_c)) = -w_c x_c / C`` (exactly).
* ``multilabel_margin``: row ``n`` has targets ``y_j`` for the positions ``j`` before its first
  ``-1``; ``S`` is the set of those classes. With ``m_ji = 1 - x[y_j] + x[i]``,
  ``l_n = (1/C) sum_{j valid} sum_{i not in S} max(m_ji, 0)`` (a repeated target counts twice,
  as in torch). With ``a_ji = [j valid] [i not in S] [m_ji > 0]``:
  ``dl_n/dx_i = (1/C) (sum_j a_ji - sum_j [y_j = i] sum_k a_jk)``.
  Vectorised with no data-dependent shape: the first ``-1`` is a ``min`` over positions, and the
  classes are matched by comparing with ``arange(C)`` (an ``(N, C, C)`` one-hot).
* ``multi_margin``: ``z_i = margin - x[y] + x[i]``,
  ``l_n = (w_y / C) sum_{i != y} max(z_i, 0)^p``, ``p`` in {1, 2}. With
  ``h_i = [i != y] [z_i > 0] (1 if p == 1 else 2 z_i) w_y / C``:
  ``dl_n/dx_i = h_i - [i = y] sum_k h_k``.

The last two use torch's strict ``> 0`` at their kinks (its loops add a term only when
``z > 0``); their ``m_ji`` and ``z_i`` are formed from the exact ``x[i] - x[y]`` as above. Reductions: 'mean' divides by the number of unreduced values (elements for the
pointwise losses, samples for the others). ``weight`` (where a loss has one) is a constant.
"""

from __future__ import annotations

from .. import _array, _reduction
from ._compensated import two_sum
from ._op import Op
from .activations import sigmoid_parts, softplus_from

# --- pointwise: margin ranking, hinge embedding, soft margin -----------------------------------


def _margin_ranking_fwd(xp, inputs, reduction, margin):
    x1, x2, y = inputs
    d, d_err = two_sum(xp, x1, -x2)
    # x1 - x2 = d + d_err exactly: margin - y d cancels exactly where u is near 0
    u = (margin - y * d) - y * d_err
    loss = xp.maximum(u, 0.0)
    return _reduction.reduce(xp, loss, reduction), (y, d, u >= 0.0)


def _margin_ranking_bwd(xp, res, g, needs, reduction, margin):
    y, d, active = res
    s = xp.where(active, _reduction.scale(xp, g, reduction, size=_array.size(d)), 0.0)
    gy_s = y * s
    return (
        -gy_s if needs[0] else None,
        gy_s if needs[1] else None,
        xp.where(active, -d * s, 0.0) if needs[2] else None,  # no inf * 0 where x1 - x2 overflows
    )


margin_ranking = Op("MarginRankingLossBackward0", _margin_ranking_fwd, _margin_ranking_bwd, (0, 1, 2))


def _hinge_fwd(xp, inputs, reduction, margin):
    x, y = inputs
    not_pos = y != 1
    not_neg = y != -1
    gap = margin - x
    loss = xp.where(not_pos, xp.maximum(gap, 0.0), 0.0) + xp.where(not_neg, x, 0.0)
    slope = xp.astype(not_neg, x.dtype) - xp.astype(not_pos & (gap >= 0.0), x.dtype)
    return _reduction.reduce(xp, loss, reduction), (slope,)


def _hinge_bwd(xp, res, g, needs, reduction, margin):
    (slope,) = res
    return slope * _reduction.scale(xp, g, reduction, size=_array.size(slope)), None


hinge_embedding = Op("HingeEmbeddingLossBackward0", _hinge_fwd, _hinge_bwd, (0,))


def _soft_margin_fwd(xp, inputs, reduction):
    x, y = inputs
    z = -y * x
    e, s, _ = sigmoid_parts(xp, z)
    loss = softplus_from(xp, z, e)
    return _reduction.reduce(xp, loss, reduction), (y, s)


def _soft_margin_bwd(xp, res, g, needs, reduction):
    y, s = res  # s = sigmoid(-y x)
    return -y * s * _reduction.scale(xp, g, reduction, size=_array.size(s)), None


soft_margin = Op("SoftMarginLossBackward0", _soft_margin_fwd, _soft_margin_bwd, (0,))


# --- multi-label soft margin ---------------------------------------------------------------------


def _multilabel_soft_fwd(xp, inputs, reduction):
    x, y, w = inputs
    e, s_pos, s_neg = sigmoid_parts(xp, x)
    sp_pos = softplus_from(xp, x, e)  # -log sigmoid(-x)
    sp_neg = softplus_from(xp, -x, e)  # -log sigmoid(x)
    per_class = y * sp_neg + (1.0 - y) * sp_pos
    if w is not None:
        per_class = per_class * w
    n_classes = x.shape[-1]
    loss = xp.sum(per_class, axis=-1) / n_classes
    return _reduction.reduce(xp, loss, reduction), (x, y, w, s_pos, s_neg, _array.size(loss))


def _multilabel_soft_bwd(xp, res, g, needs, reduction):
    x, y, w, s_pos, s_neg, size = res
    scale = _reduction.scale(xp, g, reduction, size=size)
    if reduction == "none":
        scale = xp.expand_dims(scale, axis=-1)
    scale = scale / x.shape[-1]
    if w is not None:
        scale = scale * w
    gx = scale * ((1.0 - y) * s_pos - y * s_neg) if needs[0] else None
    gy = -scale * x if needs[1] else None
    return gx, gy, None


multilabel_soft_margin = Op(
    "MultilabelSoftMarginLossBackward0", _multilabel_soft_fwd, _multilabel_soft_bwd, (0, 1)
)


# --- multi-label margin --------------------------------------------------------------------------


def _as_rows(xp, x):
    """``(N, C)`` view of an input of shape ``()``, ``(C)`` or ``(N, C)``."""
    if x.ndim == 2:
        return x
    return xp.reshape(x, (1, x.shape[0] if x.ndim == 1 else 1))


def _multilabel_margin_fwd(xp, inputs, reduction):
    x, t = inputs
    x2 = _as_rows(xp, x)
    t2 = _as_rows(xp, t)
    n_classes = x2.shape[1]
    positions = xp.arange(n_classes, dtype=t2.dtype)
    # valid[n, j]: position j comes before row n's first -1.
    first_stop = xp.min(xp.where(t2 == -1, positions, n_classes), axis=1, keepdims=True)
    valid = positions < first_stop
    safe = xp.where(valid, t2, 0)
    # hot[n, j, i]: valid target j names class i; is_target[n, i]: class i is one of row n's.
    hot = (xp.expand_dims(safe, axis=2) == xp.reshape(positions, (1, 1, n_classes))) & xp.expand_dims(valid, axis=2)
    is_target = xp.any(hot, axis=1)
    x_t = _array.take_along_axis(xp, x2, safe, axis=1)
    # m[n, j, i] = 1 - x[y_j] + x[i], from the exact x[i] - x[y_j] = hi + lo (exact at the kink)
    hi, lo = two_sum(xp, xp.expand_dims(x2, axis=1), -xp.expand_dims(x_t, axis=2))
    m = (1.0 + hi) + lo
    active = xp.expand_dims(valid, axis=2) & xp.expand_dims(~is_target, axis=1) & (m > 0.0)
    loss = xp.sum(xp.where(active, m, 0.0), axis=(1, 2)) / n_classes
    if x.ndim < 2:
        loss = xp.reshape(loss, ())
    return _reduction.reduce(xp, loss, reduction), (x, hot, active, _array.size(loss))


def _multilabel_margin_bwd(xp, res, g, needs, reduction):
    x, hot, active, size = res
    n, _, n_classes = active.shape
    a = xp.astype(active, x.dtype)
    row = xp.sum(a, axis=2, keepdims=True)  # per target j: how many margins it loses
    gx = (xp.sum(a, axis=1) - xp.sum(xp.astype(hot, x.dtype) * row, axis=1)) / n_classes
    scale = _reduction.scale(xp, g, reduction, size=size)
    if reduction == "none":
        scale = xp.reshape(scale, (n, 1))
    return xp.reshape(gx * scale, x.shape), None


multilabel_margin = Op(
    "MultilabelMarginLossBackward0", _multilabel_margin_fwd, _multilabel_margin_bwd, (0,)
)


# --- multi-class margin --------------------------------------------------------------------------


def _multi_margin_fwd(xp, inputs, reduction, p, margin):
    x, t, w = inputs
    x2 = _as_rows(xp, x)
    n_classes = x2.shape[1]
    t_col = xp.reshape(t, (-1, 1))
    x_t = _array.take_along_axis(xp, x2, t_col, axis=1)
    hi, lo = two_sum(xp, x2, -x_t)
    z = (margin + hi) + lo  # margin - x[y] + x[i] rounded once where it cancels
    others = t_col != xp.reshape(xp.arange(n_classes, dtype=t_col.dtype), (1, n_classes))
    active = others & (z > 0.0)
    h = z if p == 1 else z * z
    w_t = None
    if w is not None:
        w_t = xp.reshape(xp.take(w, xp.reshape(t_col, (-1,)), axis=0), (-1, 1))
        h = h * w_t
    loss = xp.reshape(xp.sum(xp.where(active, h, 0.0), axis=1) / n_classes, t.shape)
    return _reduction.reduce(xp, loss, reduction), (x, z, active, others, w_t, _array.size(loss))


def _multi_margin_bwd(xp, res, g, needs, reduction, p, margin):
    x, z, active, others, w_t, size = res
    n, n_classes = z.shape
    scale = _reduction.scale(xp, g, reduction, size=size)
    if reduction == "none":
        scale = xp.reshape(scale, (n, 1))
    slope = 1.0 if p == 1 else 2.0 * z
    if w_t is not None:
        slope = slope * w_t
    h = xp.where(active, slope * (scale / n_classes), 0.0)
    gx = xp.where(others, h, -xp.sum(h, axis=1, keepdims=True))
    return xp.reshape(gx, x.shape), None, None


multi_margin = Op("MultiMarginLossBackward0", _multi_margin_fwd, _multi_margin_bwd, (0,))
