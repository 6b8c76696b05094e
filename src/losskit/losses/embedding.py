r"""Similarities and distances between embeddings, and the losses built on them.

All vector reductions run along one axis (``axis`` for the cosine similarity, the last one
otherwise), with every norm computed *scaled*: ``||x|| = s ||x / s||`` with ``s = max |x_i|``
(``min |x_i|`` for a negative ``p``), so no square, power or product overflows or underflows
where the result itself is representable. The scaling costs passes over the data, so the
2-norms (pairwise distance, cosine similarity and embedding loss) first try the plain sum of
squares and keep it where it is known to be safe in every row (finite, and large enough that
no underflowed square matters: ``_plain_sum_squares``); the scaled path runs otherwise, and
always on traced or lazy arrays, whose values cannot be inspected.

``cosine_similarity`` (torch's definition, the vectors normalised first):
``c = sum_i u1_i u2_i`` with ``u = x / max(||x||_2, eps)``. Where ``||x|| >= eps``,
``u = w / ||w||`` with ``w = x / s`` (never overflows). Gradient, per input::

    dc/dx1 = (u2 - c u1) / ||x1||     where ||x1|| >= eps
    dc/dx1 = u2 / eps                 where ||x1|| <  eps (the clamp is constant: c is linear in x1)

(torch clamps the norm under no_grad and differentiates as if it had not been clamped, a
gradient that disagrees with its own values for ``0 < ||x|| < eps``; see the deviations page).

``pairwise_distance``: ``||d||_p`` with ``d = x1 - x2 + eps`` along the last axis.
``p = 0`` counts nonzeros, ``p = +-inf`` is the largest / smallest ``|d_i|``, any other ``p``
(negative included, as in torch) ``(sum |d_i|^p)^(1/p)``. ``dn/dd_i`` is
``sign(d_i) (|d_i| / n)^(p - 1)`` (0 where ``d_i = 0`` or ``n = 0``, torch's convention),
``sign(d_i) [|d_i| = n] / #{j : |d_j| = n}`` for ``p = +-inf`` (ties share), 0 for ``p = 0``;
``dn/dx1 = dn/dd`` and ``dn/dx2 = -dn/dd``. ``d`` is ``(x1 - x2) + eps`` from the exact
``x1 - x2`` (:func:`two_sum`), rounded once where ``x1 - x2`` nearly cancels ``eps``; the
ratios ``|d_i| / n`` are taken from the scaled entries, since ``n`` may be a rounded subnormal.
For ``p = 2`` the plain ``fl(fl(x1 - x2) + eps)`` is used wherever it is provably within a few
ulp (``_plain_distance``), and not kept: backward recomputes it in its own output array.

``cosine_embedding_loss``: ``cos = x1.x2 / sqrt((|x1|^2 + E)(|x2|^2 + E))`` with torch's
``E = float32(1e-12)`` for every dtype (ATen's ``EPSILON``), computed as
``cos = (w1.w2) (s1 / r1) (s2 / r2)``, ``r = hypot(||x||, sqrt(E))``: no factor exceeds 1,
so nothing overflows (torch forms ``x1.x2`` and ``|x1|^2 |x2|^2`` and returns nan or a wrong
cosine for large vectors). ``l = 1 - cos`` where ``y = 1``, ``max(cos - margin, 0)`` where
``y = -1``, 0 for any other label. ``1 - cos`` is ``(|u1 - u2|^2 + E / r1^2 + E / r2^2) / 2``
with ``u = x / r`` (``|u|^2 = 1 - E / r^2``), non-negative terms only: exact for ``x1 = x2``,
where ``1 - cos`` rounds to 0 or an ulp of 1 (the exact value ``E / (|x|^2 + E)`` is ``5e-33``
for ``x = [1e10, 1e10]``). ``dcos/dx1 = (x2 / r2 - cos x1 / r1) / r1``, each fraction
bounded by 1; ``dl/dcos = -1`` (``y = 1``), ``[cos - margin >= 0]`` (``y = -1``).

``triplet_margin``: ``l = max(margin + d_pos - d_neg, 0)`` of precomputed distances, with
``d_neg = min(d_neg, d_swap)`` under ``swap``. ``dl/dd_pos = [z >= 0]`` (``z`` the clamped
argument; torch's ``clamp_min`` passes the gradient at ``z = 0``), ``dl/dd_neg = -[z >= 0]``,
split as torch's ``minimum`` does: all to the smaller, half each on a tie. ``z`` is computed
as ``(d_pos - d_neg) + margin``: equal distances cancel exactly (torch's ``margin + d_pos -
d_neg`` loses the margin to rounding when the distances are large, e.g. ``1e30``).
``triplet_margin_loss`` is one op (the distances and this margin): the anchor's gradient is
then formed once from the two others', each a fresh array.
"""

from __future__ import annotations

import math

import array_api_compat

from .. import _array, _checks, _reduction
from ._compensated import two_diff, two_sum
from ._op import Op

# ATen's ``static const float EPSILON = 1e-12`` (Loss.cpp), i.e. float32(1e-12) as a double.
EPSILON = 9.999999960041972e-13
SQRT_EPSILON = math.sqrt(EPSILON)


def _named(names, forward, backward, differentiable):
    """One Op per reduction, so that ``grad_fn`` carries torch's name for each."""
    return {red: Op(name, forward, backward, differentiable) for red, name in names.items()}


# --- scaled norms ---------------------------------------------------------------------------------


def _scaled(xp, x, axis):
    """``(s, w)``: ``s = max |x|`` along ``axis`` (kept; 1 where it is 0 or nan) and ``w = x / s``."""
    if x.shape[axis] == 0:
        return xp.sum(xp.abs(x), axis=axis, keepdims=True) + 1.0, x
    s = xp.max(xp.abs(x), axis=axis, keepdims=True)
    s = xp.where(s > 0.0, s, 1.0)
    return s, x / s


def pnorm(xp, d, p):
    """``||d||_p`` along the last axis, kept; see the module docstring for the cases."""
    a = xp.abs(d)
    if d.shape[-1] == 0:  # finite p >= 0 only (the public layer rejects the others)
        return xp.sum(a, axis=-1, keepdims=True)
    if p == 0.0:
        return xp.sum(xp.astype(d != 0.0, d.dtype), axis=-1, keepdims=True)
    if p == math.inf:
        return xp.max(a, axis=-1, keepdims=True)
    if p == -math.inf:
        return xp.min(a, axis=-1, keepdims=True)
    if p == 1.0:
        return xp.sum(a, axis=-1, keepdims=True)
    s, s_safe, regular, q = _scaled_pnorm(xp, a, p)
    return xp.where(regular, s_safe * q, s)


def _scaled_pnorm(xp, a, p):
    """``(s, s_safe, regular, q)`` with ``||a||_p = s q`` where ``regular``: ``s`` the entry that
    dominates the sum (``max |a|``, ``min |a|`` for ``p < 0``), so that every term lies in [0, 1]."""
    s = xp.max(a, axis=-1, keepdims=True) if p > 0.0 else xp.min(a, axis=-1, keepdims=True)
    regular = (s > 0.0) & (s < math.inf)  # s = 0 or inf is the answer itself; nan stays nan
    s_safe = xp.where(regular, s, 1.0)
    t = xp.where(regular, a / s_safe, 1.0)
    if p == 2.0:
        q = xp.sqrt(xp.sum(t * t, axis=-1, keepdims=True))
    else:
        q = xp.sum(t**p, axis=-1, keepdims=True) ** (1.0 / p)
    return s, s_safe, regular, q


def pnorm_grad(xp, d, n, p):
    """``d||d||_p / dd`` (``n`` the kept norm), with torch's conventions at zeros and ties."""
    if p == 0.0 or d.shape[-1] == 0:
        return xp.zeros_like(d)
    if p == 1.0:
        return xp.sign(d)
    if p == math.inf or p == -math.inf:
        a = xp.abs(d)
        hit = (a == n) | xp.isnan(a)
        count = xp.sum(xp.astype(hit, d.dtype), axis=-1, keepdims=True)
        return xp.where(hit, xp.sign(d) / count, 0.0)
    a = xp.abs(d)
    _, s_safe, regular, q = _scaled_pnorm(xp, a, p)
    # |d| / n from the scaled entries (q > 0 there): n itself may be a subnormal rounded, even to 0
    zero = (d == 0.0) | (xp.logical_not(regular) & (n == 0.0))
    n_safe = xp.where(n == 0.0, 1.0, n)
    t = xp.where(zero, 1.0, xp.where(regular, (a / s_safe) / q, a / n_safe))
    if p == 2.0:
        return xp.where(zero, 0.0, xp.sign(d) * t)
    return xp.where(zero, 0.0, xp.sign(d) * t ** (p - 1.0))


# --- pairwise_distance ----------------------------------------------------------------------------


def _dot(xp, a, b, axis):
    """``sum(a * b)`` along ``axis`` (removed): one pass with no product array (``vecdot``), except
    on JAX, whose default float32 dot product rounds its inputs to TF32 or bfloat16 on GPU and TPU."""
    if array_api_compat.is_jax_namespace(xp):
        return xp.sum(a * b, axis=axis)
    return xp.vecdot(a, b, axis=axis - a.ndim if axis >= 0 else axis)  # the standard: axis < 0


def _plain_sum_squares(xp, x, axis=-1):
    """``sum x_i^2`` along ``axis`` (kept), or None where that plain sum could have
    overflowed or lost terms to underflow in some row (then a scaled path runs).

    A square below the smallest normal number is off by at most ``tiny 2^-p`` (``p`` the
    precision), so a sum of ``D`` squares of at least ``4 D tiny`` has lost under a quarter of
    an ulp to underflow; a finite sum had no overflowing (or nan) term.
    """
    ss = xp.expand_dims(_dot(xp, x, x, axis), axis=axis)
    floor = 4.0 * x.shape[axis] * float(xp.finfo(x.dtype).smallest_normal)
    if not _checks.all_true((ss >= floor) & (ss < math.inf)):
        return None
    return ss


def _plain_distance(xp, x1, x2, eps):
    """``(d, n)`` for ``p = 2`` with ``d = fl(fl(x1 - x2) + eps)`` and ``n`` its kept norm from a
    plain sum of squares, or None where that is not known to be within a few ulp in every row.

    ``d`` is off by at most ``u (|x1 - x2| + |d|)`` per entry (``u`` the unit roundoff), so ``n``
    by ``u (||x1 - x2|| + ||d||) <= u (2 n + |eps| sqrt(D))``: a few ulp wherever
    ``n >= 4 |eps| sqrt(D)``. Elsewhere ``x1 - x2`` nearly cancels ``eps`` in the whole row
    and the exact difference (:func:`two_diff`) is needed. Two passes and one vector dot product
    against the nine passes of the exact difference and the squares.
    """
    if x1.ndim == 0 and x2.ndim == 0:
        return None
    d = x1 - x2
    if d.shape[-1] == 0:
        return None
    d += eps
    ss = xp.expand_dims(_dot(xp, d, d, -1), axis=-1)
    floor = max(4.0 * d.shape[-1] * float(xp.finfo(d.dtype).smallest_normal), 16.0 * eps * eps * d.shape[-1])
    if not _checks.all_true((ss >= floor) & (ss < math.inf)):
        return None
    return d, xp.sqrt(ss)


def _pairwise_fwd(xp, inputs, p, eps, keepdim):
    x1, x2 = inputs
    plain = _plain_distance(xp, x1, x2, eps) if p == 2.0 else None
    if plain is not None:  # d is a temporary: backward recomputes it in its own output array
        n = plain[1]
        return (n if keepdim else xp.squeeze(n, axis=-1)), ((x1, x2, eps), n, False, True)
    hi, lo = two_diff(xp, x1, x2)
    # x1 - x2 + eps rounded once where x1 - x2 nearly cancels eps (lo is nan where hi is not
    # finite, a row the fast norm below declines and the general path recomputes)
    hi += eps
    hi += lo
    d, hi, lo = hi, None, None  # frees lo before the norm's temporaries
    scalar = d.ndim == 0
    if scalar:
        d = xp.reshape(d, (1,))
    ss = _plain_sum_squares(xp, d) if p == 2.0 and d.shape[-1] > 0 else None
    fast = ss is not None
    if fast:
        n = xp.sqrt(ss)
    if not fast:
        hi, lo = two_sum(xp, x1, -x2)
        d = (hi + eps) + lo
        if scalar:
            d = xp.reshape(d, (1,))
        n = pnorm(xp, d, p)
    out = n if keepdim and not scalar else xp.squeeze(n, axis=-1)
    return out, (d, n, scalar, fast)


def _pairwise_bwd(xp, res, g, needs, p, eps, keepdim):
    gd = _distance_grad(xp, res, g, p, keepdim)
    return (gd if needs[0] else None, -gd if needs[1] else None)


def _distance_grad(xp, res, g, p, keepdim):
    """``g dn/dx1`` (a fresh array; ``dn/dx2`` is its negative) from the forward's residuals."""
    d, n, scalar, fast = res
    if scalar:
        g = xp.reshape(g, (1,))
    elif not keepdim:
        g = xp.expand_dims(g, axis=-1)
    if isinstance(d, tuple):  # the plain distance's (x1, x2, eps): d again, in the output array
        x1, x2, eps = d
        d = x1 - x2
        d += eps
        row = g / n
        if row.dtype == d.dtype and _checks.all_true(xp.abs(row) < math.inf):
            d *= row
            return d
        return (d / n) * g
    if fast:  # n > 0 is a normal number: dn/dd = d / n
        row = g / n
        gd = d * row if _checks.all_true(xp.abs(row) < math.inf) else (d / n) * g
    else:
        gd = g * pnorm_grad(xp, d, n, p)
    if scalar:
        gd = xp.reshape(gd, ())
    return gd


pairwise_distance = Op("NormBackward1", _pairwise_fwd, _pairwise_bwd, (0, 1))


# --- cosine_similarity ----------------------------------------------------------------------------


def _unit(xp, x, axis, eps):
    """``(u, r_safe, s, clamped)``: ``u = x / max(||x||, eps)``, ``||x|| = s r``.

    Unused branches are guarded so no division warns; ``||x|| = 0`` with ``eps = 0`` is nan (0/0).
    """
    s, w = _scaled(xp, x, axis)
    r = xp.sqrt(xp.sum(w * w, axis=axis, keepdims=True))
    clamped = s * r < eps  # never true for eps = 0
    r_safe = xp.where(r > 0.0, r, 1.0)
    unclamped_u = xp.where(r > 0.0, w / r_safe, math.nan)
    u = xp.where(clamped, xp.where(clamped, x, 0.0) / (eps if eps > 0.0 else 1.0), unclamped_u)
    return u, r_safe, s, clamped


def _plain_norms(xp, x1, x2, axis, eps):
    """``(||x1||, ||x2||)`` (kept) from plain sums of squares, or None unless both are safe in
    every row and no norm is clamped to ``eps``: then ``u = x / ||x||`` with no scaling."""
    if x1.shape[axis] == 0:
        return None
    ss1 = _plain_sum_squares(xp, x1, axis)
    ss2 = None if ss1 is None else _plain_sum_squares(xp, x2, axis)
    if ss2 is None:
        return None
    n1, n2 = xp.sqrt(ss1), xp.sqrt(ss2)
    return (n1, n2) if _checks.all_true((n1 >= eps) & (n2 >= eps)) else None


def _cosine_similarity_fwd(xp, inputs, axis, eps):
    x1, x2 = xp.broadcast_arrays(*inputs)
    scalar = x1.ndim == 0
    if scalar:
        x1, x2, axis = xp.reshape(x1, (1,)), xp.reshape(x2, (1,)), 0
    norms = _plain_norms(xp, x1, x2, axis, eps)
    if norms is not None:
        n1, n2 = norms
        dot = _dot(xp, x1, x2, axis)
        c = (dot / xp.squeeze(n1, axis=axis)) / xp.squeeze(n2, axis=axis)
        return c, (True, x1, n1, x2, n2, c, axis, scalar)
    u1, r1, s1, c1 = _unit(xp, x1, axis, eps)
    u2, r2, s2, c2 = _unit(xp, x2, axis, eps)
    c = xp.sum(u1 * u2, axis=axis)
    return c, (False, (u1, r1, s1, c1), None, (u2, r2, s2, c2), None, c, axis, scalar)


def _cosine_similarity_bwd(xp, res, g, needs, axis, eps):
    plain, a1, n1, a2, n2, c, axis, scalar = res
    g = xp.expand_dims(g, axis=axis)
    c = xp.expand_dims(c, axis=axis)
    inv_eps = 1.0 / eps if eps > 0.0 else 0.0

    def grad_plain(x, n, other, n_other):  # g (other / n_other - c x / n) / n, per-row factors first
        f = g / n
        f_other, f_self = f / n_other, f * (c / n)
        if not _checks.all_true(xp.isfinite(f_other) & xp.isfinite(f_self)):
            return g * ((other / n_other - c * (x / n)) / n)
        out = other * f_other
        out -= x * f_self
        return out

    def grad(unit, other):
        u, r, s, clamped = unit
        return g * xp.where(clamped, other[0] * inv_eps, (other[0] - c * u) / r / s)

    if plain:
        g1 = grad_plain(a1, n1, a2, n2) if needs[0] else None
        g2 = grad_plain(a2, n2, a1, n1) if needs[1] else None
    else:
        g1 = grad(a1, a2) if needs[0] else None
        g2 = grad(a2, a1) if needs[1] else None
    if scalar:
        g1 = None if g1 is None else xp.reshape(g1, ())
        g2 = None if g2 is None else xp.reshape(g2, ())
    return g1, g2


cosine_similarity = Op("SumBackward1", _cosine_similarity_fwd, _cosine_similarity_bwd, (0, 1))


# --- cosine_embedding_loss ------------------------------------------------------------------------


def _label_masks(xp, y):
    """``(y == 1, y == -1)`` compared in the target's own dtype, as torch does."""
    if xp.isdtype(y.dtype, "bool"):
        return y, xp.zeros_like(y)
    if xp.isdtype(y.dtype, "unsigned integer"):
        return y == 1, y != y
    if xp.isdtype(y.dtype, "integral"):
        return y == 1, y == -1
    return y == 1.0, y == -1.0


def _eps_scaled(xp, x):
    """``(w, a, r)``: ``w = x / s``, ``r = sqrt(|x|^2 + E)``, ``a = s / r`` (so ``x / r = w a``);
    ``s = 1`` where the plain sum of squares is safe in every row."""
    ss = _plain_sum_squares(xp, x) if x.shape[-1] > 0 else None
    if ss is not None:
        r = xp.sqrt(ss + EPSILON)
        return x, 1.0 / r, r
    s, w = _scaled(xp, x, -1)
    n = s * xp.sqrt(xp.sum(w * w, axis=-1, keepdims=True))
    r = xp.hypot(n, xp.full_like(n, SQRT_EPSILON))
    return w, s / r, r


def _cosine_embedding_fwd(xp, inputs, margin, reduction):
    x1, x2, y = inputs
    w1, a1, r1 = _eps_scaled(xp, x1)
    w2, a2, r2 = _eps_scaled(xp, x2)
    cos = _dot(xp, w1, w2, -1) * xp.squeeze(a1 * a2, axis=-1)
    pos, neg = _label_masks(xp, y)
    if _checks.all_true(xp.logical_not(pos) | (cos <= 0.5)):
        one_minus_cos = 1.0 - cos  # no cancellation: within an ulp or two of 1 - cos
    else:
        # 1 - cos = (|u1 - u2|^2 + E / r1^2 + E / r2^2) / 2 with u = x / r (so |u|^2 = 1 - E / r^2):
        # a sum of non-negative terms, exact for x1 = x2, where 1 - cos would round to 0 or an ulp.
        e1, e2 = xp.squeeze(SQRT_EPSILON / r1, axis=-1), xp.squeeze(SQRT_EPSILON / r2, axis=-1)
        apart = w1 * a1
        apart -= w2 * a2
        one_minus_cos = 0.5 * (_dot(xp, apart, apart, -1) + (e1 * e1 + e2 * e2))
    hinge = cos - margin
    loss = xp.where(pos, one_minus_cos, 0.0) + xp.where(neg, xp.clip(hinge, min=0.0), 0.0)
    slope = xp.astype(neg & (hinge >= 0.0), cos.dtype) - xp.astype(pos, cos.dtype)
    return _reduction.reduce(xp, loss, reduction), (w1, a1, r1, w2, a2, r2, cos, slope)


def _cosine_embedding_bwd(xp, res, g, needs, margin, reduction):
    w1, a1, r1, w2, a2, r2, cos, slope = res
    gc = xp.expand_dims(slope * _reduction.scale(xp, g, reduction, size=_array.size(cos)), axis=-1)
    c = xp.expand_dims(cos, axis=-1)

    def grad(w, a, r, w_other, a_other):  # gc (x_other / r_other - c x / r) / r, per-row factors first
        f = (gc * a_other) / r
        k = (c * a) / a_other
        if _checks.all_true(xp.isfinite(f) & xp.isfinite(k)):
            g = w * -k  # (w_other - k w) f: one fresh array updated in place, no temporary
            g += w_other
            g *= f
            return g
        g = w_other * f
        g -= w * ((gc * c * a) / r)
        return g

    g1 = grad(w1, a1, r1, w2, a2) if needs[0] else None
    g2 = grad(w2, a2, r2, w1, a1) if needs[1] else None
    return g1, g2, None


cosine_embedding_loss = _named(
    {"none": "AddBackward0", "mean": "MeanBackward0", "sum": "SumBackward0"},
    _cosine_embedding_fwd,
    _cosine_embedding_bwd,
    (0, 1),
)


# --- the triplet margin of precomputed distances ----------------------------------------------------


def _triplet_fwd(xp, inputs, margin, reduction):
    d_pos, d_neg, d_swap = inputs
    if d_swap is not None:
        d_neg_eff = xp.minimum(d_neg, d_swap)
    else:
        d_neg_eff = d_neg
    z = (d_pos - d_neg_eff) + margin  # equal distances cancel exactly before the margin is added
    loss = xp.clip(z, min=0.0)
    return _reduction.reduce(xp, loss, reduction), (z, d_neg, d_swap)


def _triplet_bwd(xp, res, g, needs, margin, reduction):
    z, d_neg, d_swap = res
    gz = xp.where(z >= 0.0, _reduction.scale(xp, g, reduction, size=_array.size(z)), 0.0)
    g_pos = gz if needs[0] else None
    if d_swap is None:
        return g_pos, -gz if needs[1] else None, None
    # torch's minimum: the gradient goes to the smaller argument, half to each on a tie.
    half = xp.where(d_neg == d_swap, 0.5 * gz, gz)
    g_neg = -xp.where(d_neg > d_swap, 0.0, half) if needs[1] else None
    g_swap = -xp.where(d_neg < d_swap, 0.0, half) if needs[2] else None
    return g_pos, g_neg, g_swap


triplet_margin = _named(
    {"none": "ClampMinBackward0", "mean": "MeanBackward0", "sum": "SumBackward0"},
    _triplet_fwd,
    _triplet_bwd,
    (0, 1, 2),
)


# --- triplet_margin_loss: the distances and the margin in one op -----------------------------------


def _triplet_loss_fwd(xp, inputs, margin, p, eps, swap, reduction):
    anchor, positive, negative = inputs
    pairs = ((anchor, positive), (anchor, negative)) + (((positive, negative),) if swap else ())
    distances, residuals = [], []
    for x1, x2 in pairs:
        d, res = _pairwise_fwd(xp, (x1, x2), p, eps, False)
        distances.append(d)
        residuals.append(res)
    if not swap:
        distances.append(None)
    value, res = _triplet_fwd(xp, tuple(distances), margin, reduction)
    return value, (residuals, res)


def _triplet_loss_bwd(xp, res, g, needs, margin, p, eps, swap, reduction):
    (res_pos, res_neg, *res_swap), res_margin = res
    g_pos, g_neg, g_swap = _triplet_bwd(xp, res_margin, g, (True, True, swap), margin, reduction)
    # each distance's gradient is computed once, as the fresh gradient of its second argument
    # (-g scales a row, not the data): the anchor's is minus their sum
    g_p = _distance_grad(xp, res_pos, -g_pos, p, False)
    g_n = _distance_grad(xp, res_neg, -g_neg, p, False)
    g_a = None
    if needs[0]:
        g_a = -g_p  # the sum of both distances' gradients (zeros keep torch's signs)
        g_a -= g_n
    if swap and (needs[1] or needs[2]):
        g_s = _distance_grad(xp, res_swap[0], g_swap, p, False)  # d(positive, negative)
        g_p += g_s
        g_n -= g_s
    return g_a, g_p if needs[1] else None, g_n if needs[2] else None


triplet_margin_loss = _named(
    {"none": "ClampMinBackward0", "mean": "MeanBackward0", "sum": "SumBackward0"},
    _triplet_loss_fwd,
    _triplet_loss_bwd,
    (0, 1, 2),
)
