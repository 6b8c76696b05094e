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
  Vectorised with no data-dependent shape: the first ``-1`` is a ``min`` over positions; the
  terms are summed per target *class* ``c`` (weighted by how often ``c`` is a target), in
  blocks of classes that keep the ``(N, block, C)`` margins in cache, never an ``(N, C, C)``
  tensor; the gradient is accumulated in the same pass and kept as the residual.
* ``multi_margin``: ``z_i = margin - x[y] + x[i]``,
  ``l_n = (w_y / C) sum_{i != y} max(z_i, 0)^p``, ``p`` in {1, 2}. With
  ``h_i = [i != y] [z_i > 0] (1 if p == 1 else 2 z_i) w_y / C``:
  ``dl_n/dx_i = h_i - [i = y] sum_k h_k``.

The last two use torch's strict ``> 0`` at their kinks (its loops add a term only when
``z > 0``); their ``m_ji`` and ``z_i`` are ``(x[i] + hi) + lo`` with ``hi + lo = margin - x[y]``
exactly (:func:`two_sum`, once per sample): the sign is exact, the value within a few ulp (see
``_minus_split``). Reductions: 'mean' divides by the number of unreduced values (elements for
the pointwise losses, samples for the others). ``weight`` (where a loss has one) is a constant.
"""

from __future__ import annotations

import math

from .. import _array, _reduction
from ._compensated import two_sum
from ._op import Op

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
    e = -xp.abs(z)
    e = xp.exp(e)  # exp(-|z|)
    loss = xp.log1p(e)
    loss += xp.maximum(z, 0.0)  # softplus(z), as activations.softplus_from
    return _reduction.reduce(xp, loss, reduction), (y, z, e)


def _soft_margin_bwd(xp, res, g, needs, reduction):
    y, z, e = res
    s = xp.where(z < 0.0, e, 1.0)
    s /= 1.0 + e  # sigmoid(z) = exp(z) / (1 + exp(z)) for z < 0, 1 / (1 + exp(-z)) otherwise
    s *= _reduction.scale(xp, g, reduction, size=_array.size(s))
    return -y * s, None


soft_margin = Op("SoftMarginLossBackward0", _soft_margin_fwd, _soft_margin_bwd, (0,))


# --- multi-label soft margin ---------------------------------------------------------------------


def _multilabel_soft_fwd(xp, inputs, reduction):
    x, y, w = inputs
    a = xp.abs(x)
    e = xp.exp(-a)
    # y softplus(-x) + (1 - y) softplus(x) = log1p(e) + (y where x < 0, else 1 - y) |x|
    # (softplus(+-x) = max(+-x, 0) + log1p(exp(-|x|)), one of the two maxima is 0)
    per_class = xp.where(x < 0.0, y, 1.0 - y) * a
    per_class += xp.log1p(e)
    if w is not None:
        per_class = per_class * w
    n_classes = x.shape[-1]
    loss = xp.sum(per_class, axis=-1) / n_classes
    return _reduction.reduce(xp, loss, reduction), (x, y, w, e, _array.size(loss))


def _multilabel_soft_bwd(xp, res, g, needs, reduction):
    x, y, w, e, size = res
    scale = _reduction.scale(xp, g, reduction, size=size)
    if reduction == "none":
        scale = xp.expand_dims(scale, axis=-1)
    scale = scale / x.shape[-1]
    if w is not None:
        scale = scale * w
    gx = None
    if needs[0]:
        inv = 1.0 + e
        inv = 1.0 / inv
        small = e * inv  # sigmoid(-|x|); inv is sigmoid(|x|)
        nonneg = x >= 0.0
        s_pos, s_neg = xp.where(nonneg, inv, small), xp.where(nonneg, small, inv)
        gx = scale * ((1.0 - y) * s_pos - y * s_neg)
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


def _minus_split(xp, margin, x):
    """``margin - x`` as an unevaluated sum ``hi + lo`` (:func:`two_sum`, per sample: cheap).

    ``(x_i + hi) + lo`` is then ``margin - x + x_i`` with an error of a few ulp and the exact
    sign: where ``x_i + hi`` cancels it is exact (Sterbenz) and adding ``lo`` rounds once;
    elsewhere ``|x_i + hi| >= |hi| / 2`` dwarfs ``lo``. Two passes over the classes instead of
    the eight of a :func:`two_sum` per element.
    """
    return two_sum(xp, xp.full_like(x, margin), -x)


# elements per block of (sample, target class, class) margins: the blocks stay in cache
_BLOCK = 1 << 16


def _multilabel_margin_fwd(xp, inputs, reduction):
    x, t = inputs
    x2 = _as_rows(xp, x)
    t2 = _as_rows(xp, t)
    n, n_classes = x2.shape
    positions = xp.arange(n_classes, dtype=t2.dtype)
    # valid[n, j]: position j comes before row n's first -1.
    first_stop = xp.min(xp.where(t2 == -1, positions, n_classes), axis=1, keepdims=True)
    target = xp.where(positions < first_stop, t2, -1)  # -1 matches no class
    # count[n, c]: how often class c is one of row n's targets (a repeated target counts twice,
    # as in torch), one target position at a time: never the (N, C, C) one-hot.
    block = max(1, min(n_classes, _BLOCK // max(n * n_classes, 1)))
    count = xp.zeros(x2.shape, dtype=x2.dtype, device=_array.device(x2))
    for j in range(0, n_classes, block):
        hot = xp.expand_dims(target[:, j : j + block], axis=2) == positions
        count += xp.sum(xp.astype(hot, x2.dtype), axis=1)
    # m[n, c, i] = 1 - x[c] + x[i] for the target classes c and the classes i outside S
    # (x[i] = -inf for the others, 1 - x[c] = -inf where c is no target: m = -inf or nan there)
    x_open = xp.expand_dims(xp.where(count > 0.0, -math.inf, x2), axis=1)
    one_hi, one_lo = _minus_split(xp, 1.0, x2)
    one_hi = xp.where(count > 0.0, one_hi, -math.inf)
    sums, losing, grad = [], [], xp.zeros_like(x2)
    for c in range(0, n_classes, block):
        m = x_open + xp.expand_dims(one_hi[:, c : c + block], axis=2)
        m += xp.expand_dims(one_lo[:, c : c + block], axis=2)
        active = m > 0.0
        k = count[:, c : c + block]
        sums.append(k * xp.sum(xp.where(active, m, 0.0), axis=2))
        # dl/dx_i (times C): sum_j a_ji - sum_j [y_j = i] sum_k a_jk, the target rows j by class
        a = xp.where(active, xp.expand_dims(k, axis=2), 0.0)
        grad += xp.sum(a, axis=1)
        losing.append(xp.sum(a, axis=2))
    grad -= xp.concat(losing, axis=1)
    loss = xp.sum(xp.concat(sums, axis=1), axis=1) / n_classes
    if x.ndim < 2:
        loss = xp.reshape(loss, ())
    return _reduction.reduce(xp, loss, reduction), (x, grad, _array.size(loss))


def _multilabel_margin_bwd(xp, res, g, needs, reduction):
    x, grad, size = res
    n, n_classes = grad.shape
    scale = _reduction.scale(xp, g, reduction, size=size)
    if reduction == "none":
        scale = xp.reshape(scale, (n, 1))
    return xp.reshape(grad * (scale / n_classes), x.shape), None


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
    hi, lo = _minus_split(xp, margin, x_t)
    z = x2 + hi
    z += lo  # margin - x[y] + x[i]
    others = t_col != xp.reshape(xp.arange(n_classes, dtype=t_col.dtype), (1, n_classes))
    active = others & (z > 0.0)
    if p == 1:
        h, kept = xp.where(active, z, 0.0), active
    else:
        kept = xp.where(active, z, 0.0)  # z where active, else 0: all backward needs
        h = kept * kept
    w_t = None
    if w is not None:
        w_t = xp.reshape(xp.take(w, xp.reshape(t_col, (-1,)), axis=0), (-1, 1))
        h = h * w_t
    loss = xp.reshape(xp.sum(h, axis=1) / n_classes, t.shape)
    return _reduction.reduce(xp, loss, reduction), (x.shape, t_col, kept, w_t, _array.size(loss))


def _multi_margin_bwd(xp, res, g, needs, reduction, p, margin):
    shape, t_col, kept, w_t, size = res
    n, n_classes = kept.shape
    scale = _reduction.scale(xp, g, reduction, size=size)
    if reduction == "none":
        scale = xp.reshape(scale, (n, 1))
    coef = scale / n_classes if w_t is None else (scale / n_classes) * w_t
    h = xp.where(kept, coef, 0.0) if p == 1 else kept * (2.0 * coef)
    others = t_col != xp.reshape(xp.arange(n_classes, dtype=t_col.dtype), (1, n_classes))
    gx = xp.where(others, h, -xp.sum(h, axis=1, keepdims=True))
    return xp.reshape(gx, shape), None, None


multi_margin = Op("MultiMarginLossBackward0", _multi_margin_fwd, _multi_margin_bwd, (0,))
