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
  terms are summed per target *class* ``c`` (weighted by how often ``c`` is a target: one
  sort and one search, see ``_target_counts``), in blocks of rows that keep the
  ``(block, C, C)`` margins in cache, never an ``(N, C, C)`` tensor; the gradient (counts of
  active terms, summed by ``matmul``) is accumulated in the same pass and kept as the residual.
* ``multi_margin``: ``z_i = margin - x[y] + x[i]``,
  ``l_n = (w_y / C) sum_{i != y} max(z_i, 0)^p``, ``p`` in {1, 2}. With
  ``h_i = [i != y] [z_i > 0] (1 if p == 1 else 2 z_i) w_y / C``:
  ``dl_n/dx_i = h_i - [i = y] sum_k h_k``. In blocks of rows (temporaries in cache), with the
  hinge ``max(z, 0)`` times a 0/1 mask rather than selected (``where`` is slow on a random
  mask), falling back to the select in a block whose sums are not finite.

The last two use torch's strict ``> 0`` at their kinks (its loops add a term only when
``z > 0``); their ``m_ji`` and ``z_i`` are ``(x[i] + hi) + lo`` with ``hi + lo = margin - x[y]``
exactly (:func:`two_sum`, once per sample): the sign is exact, the value within a few ulp (see
``_minus_split``). Reductions: 'mean' divides by the number of unreduced values (elements for
the pointwise losses, samples for the others). ``weight`` (where a loss has one) is a constant.
"""

from __future__ import annotations

import math

from .. import _array, _checks, _reduction
from ._compensated import two_diff, two_sum
from .._blocks import map_elementwise
from ._op import Op
from .binary import logits_slope
from .embedding import _dot

# --- pointwise: margin ranking, hinge embedding, soft margin -----------------------------------


def _margin_ranking_fwd(xp, inputs, reduction, margin):
    x1, x2, y = inputs

    def elements(x1, x2, y):
        d, d_err = two_diff(xp, x1, x2)
        # two_sum's error, 0 where x1 - x2 overflows; the select (as costly as ten
        # multiplications in NumPy) only where that is possible.
        if not (_checks.concrete(d) and bool(xp.all(xp.isfinite(d)))):
            d_err = xp.where(xp.isfinite(d), d_err, 0.0)
        # x1 - x2 = d + d_err exactly: margin - y d cancels exactly where u is near 0
        u = (margin - y * d) - y * d_err
        return xp.maximum(u, 0.0), d, u >= 0.0

    loss, d, active = map_elementwise(xp, elements, (x1, x2, y), like=x1)
    # the slope of max(u, 0) as booleans (a quarter of a float array), multiplied in backward
    return _reduction.reduce(xp, loss, reduction), (y, d, active)


def _margin_ranking_bwd(xp, res, g, needs, reduction, margin):
    y, d, active = res
    scale = _reduction.scale(xp, g, reduction, size=_array.size(d))

    def grads(y, d, active, scale):
        on = xp.astype(active, d.dtype)  # a product, not a select
        gy_s = _reduction.apply_scale(y * on, scale)
        out = []
        if needs[0]:
            out.append(-gy_s)
        if needs[1]:
            out.append(gy_s)
        if needs[2]:
            out.append(xp.where(active, -d * (scale * on), 0.0))  # no inf * 0 where x1 - x2 overflows
        return tuple(out)

    out = list(map_elementwise(xp, grads, (y, d, active, scale), like=d))
    return tuple(out.pop(0) if need else None for need in needs)


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
    (loss,) = map_elementwise(xp, lambda x, y: (_soft_margin_elements(xp, x, y),), (x, y), like=x)
    # (z and exp(-|z|) are recomputed in backward, in its own blocks: two arrays fewer kept)
    return _reduction.reduce(xp, loss, reduction), (x, y)


def _soft_margin_terms(xp, x, y):
    """``(z, exp(-|z|))`` with ``z = -y x``."""
    z = y * x
    z *= -1.0  # -y x, in place
    e = xp.abs(z)
    e *= -1.0
    return z, xp.exp(e)


def _soft_margin_elements(xp, x, y):
    z, e = _soft_margin_terms(xp, x, y)
    loss = xp.log1p(e)
    loss += xp.maximum(z, 0.0)  # softplus(z), as activations.softplus_from
    return loss


def _soft_margin_bwd(xp, res, g, needs, reduction):
    x, y = res
    factor = -_reduction.scale(xp, g, reduction, size=_array.size(x))

    def grads(x, y, factor):
        z, e = _soft_margin_terms(xp, x, y)
        # sigmoid(z) = exp(min(z, 0)) / (1 + exp(-|z|)): exp(z) / (1 + exp(z)) for z < 0, 1 / (1 +
        # exp(-z)) otherwise, without a select (np.where costs about five arithmetic passes).
        s = xp.exp(xp.minimum(z, 0.0))
        e += 1.0
        s /= e
        s *= y
        return (_reduction.apply_scale(s, factor),)

    return map_elementwise(xp, grads, (x, y, factor), like=x)[0], None


soft_margin = Op("SoftMarginLossBackward0", _soft_margin_fwd, _soft_margin_bwd, (0,))


# --- multi-label soft margin ---------------------------------------------------------------------


def _multilabel_soft_fwd(xp, inputs, reduction):
    x, y, w = inputs
    if x.ndim < 2:  # one sample: its classes are the only axis, summed whole
        loss = _multilabel_soft_rows(xp, x, y, w)
    else:
        (loss,) = map_elementwise(xp, lambda *a: (_multilabel_soft_rows(xp, *a),), (x, y, w), like=x)
    return _reduction.reduce(xp, loss, reduction), (x, y, w, _array.size(loss))


def _multilabel_soft_rows(xp, x, y, w):
    """The loss of each sample (the class axis, the last, summed)."""
    # y softplus(-x) + (1 - y) softplus(x) = (1 - y) max(x, 0) + y max(-x, 0) + log1p(exp(-|x|))
    # (softplus(+-x) = max(+-x, 0) + log1p(exp(-|x|)), y + (1 - y) = 1): nonnegative terms, in
    # place and without a select (np.where costs about five arithmetic passes).
    per_class = xp.abs(x)
    per_class *= -1.0
    per_class = xp.log1p(xp.exp(per_class))
    part = xp.maximum(x, 0.0)
    part *= 1.0 - y
    per_class += part
    part = xp.minimum(x, 0.0)  # -max(-x, 0)
    part *= y
    per_class -= part
    del part
    if w is not None:
        per_class = per_class * w
    return xp.sum(per_class, axis=-1) / x.shape[-1]


def _multilabel_soft_bwd(xp, res, g, needs, reduction):
    x, y, w, size = res
    scale = _reduction.scale(xp, g, reduction, size=size)
    if reduction == "none":
        scale = xp.expand_dims(scale, axis=-1)
    scale = scale / x.shape[-1]
    if w is not None:
        scale = scale * w
    grads = map_elementwise(xp, lambda *a: _multilabel_soft_grads(xp, needs, *a), (x, y, scale), like=x)
    return (grads[0] if needs[0] else None), (grads[-1] if needs[1] else None), None


def _multilabel_soft_grads(xp, needs, x, y, scale):
    grads = []
    if needs[0]:
        gx = logits_slope(xp, x, y)  # (1 - y) sigmoid(x) - y sigmoid(-x)
        grads.append(_reduction.apply_scale(gx, scale))
    if needs[1]:
        grads.append(-scale * x)
    return tuple(grads)


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
_BLOCK = 1 << 18


def _target_counts(xp, target, n_classes, dtype):
    """``k[n, c]``: how often class ``c`` is one of row ``n``'s targets (``-1``: none; a repeated
    target counts twice, as in torch). Each row's sorted targets, offset by ``row (C + 1)``,
    make one sorted 1-D array; ``k[n, c]`` is the number of its keys up to ``(n, c)`` less
    those up to ``(n, c - 1)``: one search, no ``(N, C, C)`` comparison."""
    n = target.shape[0]
    device = _array.device(target)
    offsets = xp.reshape(xp.arange(n, dtype=xp.int64, device=device) * (n_classes + 1), (n, 1))
    keys = xp.reshape(xp.sort(xp.astype(target, xp.int64), axis=1) + (offsets + 1), (-1,))
    queries = offsets + xp.arange(n_classes + 1, dtype=xp.int64, device=device)  # classes -1 .. C-1
    upto = xp.reshape(xp.searchsorted(keys, xp.reshape(queries, (-1,)), side="right"), (n, n_classes + 1))
    return xp.astype(upto[:, 1:] - upto[:, :-1], dtype)


def _multilabel_margin_fwd(xp, inputs, reduction):
    x, t = inputs
    x2 = _as_rows(xp, x)
    t2 = _as_rows(xp, t)
    n, n_classes = x2.shape
    positions = xp.arange(n_classes, dtype=t2.dtype)
    # valid[n, j]: position j comes before row n's first -1.
    first_stop = xp.min(xp.where(t2 == -1, positions, n_classes), axis=1, keepdims=True)
    target = xp.where(positions < first_stop, t2, -1)  # -1 matches no class
    count = _target_counts(xp, target, n_classes, x2.dtype)
    one_hi, one_lo = _minus_split(xp, 1.0, x2)
    # finite x: every margin below is finite or +-inf, never nan, so max(m, 0) is the hinge
    # (one pass; torch's loop skips a nan margin, which the general where keeps out)
    finite = _checks.all_true(xp.isfinite(x2))
    # blocks of rows whose (row, target class, class) margins stay in cache
    rows = max(1, _BLOCK // max(n_classes * n_classes, 1))
    ones = xp.ones((n_classes, 1), dtype=x2.dtype, device=_array.device(x2))
    losses, grads = [], []
    for r in range(0, max(n, 1), rows):  # one (empty) block for an empty batch
        b = slice(r, min(r + rows, n))
        x_b, hi_b, lo_b, k = x2[b, :], one_hi[b, :], one_lo[b, :], count[b, :]
        in_s = k > 0.0
        # m[n, c, i] = 1 - x[c] + x[i] for the target classes c and the classes i outside S
        # (x[i] = -inf for the others, 1 - x[c] = -inf where c is no target: m = -inf or nan there)
        m = xp.expand_dims(xp.where(in_s, -math.inf, x_b), axis=1) + xp.expand_dims(
            xp.where(in_s, hi_b, -math.inf), axis=2
        )
        m += xp.expand_dims(lo_b, axis=2)
        hinge = xp.maximum(m, 0.0) if finite else xp.where(m > 0.0, m, 0.0)
        losses.append(xp.sum(k * _dot(xp, hinge, ones[:, 0], -1), axis=1))  # sum over i
        # dl/dx_i (times C): sum_j a_ji - sum_j [y_j = i] sum_k a_jk, the target rows j by class;
        # counts of 0/1 entries weighted by small integers: the products below are exact sums
        a = xp.astype(hinge > 0.0, x2.dtype)
        g = xp.matmul(xp.expand_dims(k, axis=1), a)[:, 0, :]
        g -= k * xp.matmul(a, ones)[:, :, 0]
        grads.append(g)
    loss = xp.concat(losses, axis=0) / n_classes
    grad = xp.concat(grads, axis=0)
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
    n, n_classes = x2.shape
    t_col = xp.reshape(t, (-1, 1))
    x_t = _array.take_along_axis(xp, x2, t_col, axis=1)
    hi, lo = _minus_split(xp, margin, x_t)
    w_t = None
    if w is not None:
        w_t = xp.reshape(xp.take(w, xp.reshape(t_col, (-1,)), axis=0), (-1, 1))
    positions = xp.reshape(xp.arange(n_classes, dtype=t_col.dtype), (1, n_classes))

    def block(x2, hi, lo, t_col, w_b):
        z = x2 + hi
        z += lo  # margin - x[y] + x[i]
        others = t_col != positions
        # max(z, 0) on the classes i != y, the mask multiplied in: a select (where) is several
        # times slower on an unpredictable mask. Exact wherever the row sums are finite; an inf
        # or nan (torch's loop skips a nan z, and inf * 0 is nan) takes the select instead.
        k = xp.maximum(z, 0.0)
        k *= xp.astype(others, k.dtype)
        rows = _multi_margin_rows(xp, k, p, w_b)
        if not _checks.all_true(xp.isfinite(rows)):
            k = xp.where(others & (z > 0.0), z, 0.0)
            rows = _multi_margin_rows(xp, k, p, w_b)
        return rows, (k > 0.0 if p == 1 else k)  # z where active, else 0: all backward needs

    # blocks of rows whose temporaries stay in cache, on every core (_blocks)
    sums, kept = map_elementwise(xp, block, (x2, hi, lo, t_col, w_t), like=x2)
    loss = xp.reshape(sums / n_classes, t.shape)
    return _reduction.reduce(xp, loss, reduction), (x.shape, t_col, kept, w_t, _array.size(loss))


def _multi_margin_rows(xp, kept, p, w_t):
    """``sum_i w_y max(z_i, 0)^p`` per row, from ``kept = max(z, 0)`` (0 at ``i = y``)."""
    h = kept if p == 1 else kept * kept
    if w_t is not None:
        h = h * w_t
    return xp.sum(h, axis=1)


def _multi_margin_bwd(xp, res, g, needs, reduction, p, margin):
    shape, t_col, kept, w_t, size = res
    n, n_classes = kept.shape
    scale = _reduction.scale(xp, g, reduction, size=size)
    if reduction == "none":
        scale = xp.reshape(scale, (n, 1))
    coef = scale / n_classes if w_t is None else (scale / n_classes) * w_t
    if coef.ndim < 2 or coef.shape[0] != n:
        coef = coef * xp.ones((n, 1), dtype=coef.dtype, device=_array.device(coef))
    positions = xp.reshape(xp.arange(n_classes, dtype=t_col.dtype), (1, n_classes))

    def block(kept, coef, t_col):
        if p == 1:  # the mask multiplied in, not selected: see the forward
            h = xp.astype(kept, coef.dtype)
            h *= coef
        else:
            h = kept * (2.0 * coef)
        return (xp.where(t_col != positions, h, -xp.sum(h, axis=1, keepdims=True)),)

    (gx,) = map_elementwise(xp, block, (kept, coef, t_col), like=kept)
    return xp.reshape(gx, shape), None, None


multi_margin = Op("MultiMarginLossBackward0", _multi_margin_fwd, _multi_margin_bwd, (0,))
