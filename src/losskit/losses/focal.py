r"""Focal losses: torchvision's sigmoid focal loss, and the multi-class focal loss of the seeds.

Sigmoid focal loss (``torchvision.ops.sigmoid_focal_loss``)
------------------------------------------------------------
For logits ``x`` and targets ``t`` in [0, 1], with ``s = sigmoid(x)``, ``s' = sigmoid(-x) = 1 - s``::

    ce  = (1 - t) softplus(x) + t softplus(-x)      (binary cross entropy with logits)
    q   = 1 - p_t = (1 - t) s + t s'                (p_t = s t + (1 - s)(1 - t))
    a_t = alpha t + (1 - alpha)(1 - t)              (1 when alpha < 0: no weighting)
    l   = a_t ce q^gamma

``q`` is a convex combination of ``s`` and ``s'``, so ``q > 0`` for every finite ``x``: it is
0 in torch only because ``1 - p_t`` is formed as a difference and rounds to 0 (``x = 50, t = 1``:
``p_t = 1.0`` even in float64, so torch's loss is 0 and, for ``gamma < 1``, its gradient nan).
Here nothing is a difference of nearly equal numbers. With ``e = exp(-|x|)`` and the weights
``a`` of the larger sigmoid and ``b`` of the smaller one (``a = 1 - t, b = t`` for ``x >= 0``,
swapped for ``x < 0``)::

    q (1 + e) = d = a + b e                         (a sum of nonnegative terms)
    log q     = log d - log1p(e),   log d = log1p(b expm1(-|x|)) where d >= 1/2, log(d) below,
                                          and exactly -|x| for a hard target on the wrong side
                                          (a = 0), where d = e may underflow
    q^gamma   = q ** gamma where q is a normal number, exp(gamma log q) where it underflows;
                for gamma >= 1, q ** gamma everywhere (then q^gamma <= q: it underflows with q)

``ce`` comes from softplus, exact for large ``|x|`` (torch's ``ce`` at ``x = -40, t = 0`` is 0,
the exact value 4.2e-18).

Gradients, derived by hand (``g`` the reduction's scale, ``F = q^gamma``)::

    dl/dx = g a_t F [ (1 - t) s - t s' + gamma ce r (1 - 2t) ],   r = s s' / q = e / ((1 + e) d)
    dl/dt = g F [ (2 alpha - 1) ce + a_t ( -x + gamma (ce / d) c ) ]   ((2 alpha - 1) ce if alpha >= 0)
            with c = (s' - s)(1 + e) = expm1(-|x|) for x >= 0 and -expm1(-|x|) for x < 0

using ``dce/dx = (1 - t) s - t s'``, ``dce/dt = softplus(-x) - softplus(x) = -x``,
``dq/dx = s s' (1 - 2t)``, ``dq/dt = s' - s`` and ``d(q^gamma) = gamma q^gamma d(log q)``.
Written with ``q^gamma`` times ``d log q``, the factor ``q^(gamma - 1)`` that is infinite at
``q = 0`` for ``0 < gamma < 1`` never appears: ``r <= max(s, s') <= 1`` and ``ce / d <= 2|x| + 2``
are bounded, so the gradient is finite everywhere. Where ``d`` underflows to 0 (``a = 0``, ``e``
below the smallest subnormal) the limits are taken: ``r = 1`` and ``ce / d = log1p(e)/e = 1``.
For ``gamma >= 1``, ``F r = q^(gamma - 1) s s'`` and ``F / d = q^(gamma - 1) / (1 + e)`` need
neither a division by ``d`` nor a limit.
``gamma = 0`` is the alpha-weighted binary cross entropy with logits (``F = 1``).

Multi-class focal loss (the seeds' ``FocalLoss``)
--------------------------------------------------
Per sample, ``c_n`` is cross entropy with ``reduction='none'`` (class weight and ignore_index
exactly as :mod:`.classification`: ``c_n = w_{t_n} (-log p_{n,t_n})``, 0 where ignored; or
``-sum_c w_c y_nc log p_nc`` for probability targets), and::

    l_n = (1 - exp(-c_n))^gamma c_n = u^gamma c_n,   u = -expm1(-c_n)

``u`` is computed with expm1, so a confidently right sample keeps its digits: the logits
``[50, 0]`` with target 0 give ``c = 1.9e-22`` (``log p = (z - max z) - log1p(S)``, the shift
subtracted first; torch's ``z - logsumexp(z)`` gives ``c = 0``) and, for ``gamma = 0.5``,
``l = 2.7e-33`` where torch gives 0. 'mean' is the seeds' ``loss.mean()``: the sum over all
samples, ignored ones included (as zeros), divided by their number; not cross_entropy's
division by the sum of target weights.

Gradient: ``dl/dc = h'(c) = u^gamma (1 + gamma c / expm1(c))``, the derivative of ``u^gamma c``
written so that ``u^(gamma - 1)``, infinite at ``c = 0`` for ``gamma < 1``, never appears
(``c / expm1(c)`` is 1 at ``c = 0``, and ``c exp(-c) / u`` above ``c = 1``, where expm1 could
overflow). At ``c = 0`` (ignored samples) ``h'`` is the limit 0 for ``gamma > 0``. Autograd of
the seeds' formula gives nan (``0 * inf``) wherever ``c`` of a sample that is not ignored rounds
to 0, as for the logits ``[50, 0]`` above. Then the cross entropy chain:
``dl/dz = g h'(c) (p A - a)``, computed as ``a expm1(log p) + p (A - a)`` so that the target
class keeps its digits where ``p`` rounds to 1, and, for probability targets,
``dl/dy_c = -g h'(c) w_c log p_c``, with the coefficients ``a``, ``A = sum_c a_c`` of
:mod:`.classification`.
"""

from __future__ import annotations

from .. import _array, _reduction
from ._op import Op
from .classification import _ce_bwd, _ce_fwd

# --- sigmoid focal loss -------------------------------------------------------------------------


def _modulating_factor(xp, x, e, a, b, d, gamma):
    """``q^gamma`` for ``q = d / (1 + e)``, exact also where ``q`` underflows (for ``gamma < 1``;
    from ``gamma = 1`` up ``q**gamma`` is, see ``_sfl_fwd``)."""
    q = d / (1.0 + e)
    ax = xp.abs(x)
    near_one = d >= 0.5
    # d = 1 + b expm1(-|x|): log1p near 1; log below 1/2; -|x| exactly where a = 0 (d = e)
    log_near_one = xp.log1p(xp.where(near_one, b * xp.expm1(-ax), 0.0))
    log_below = xp.log(xp.where(near_one | (d == 0), 1.0, d))
    log_d = xp.where(a == 0, -ax, xp.where(near_one, log_near_one, log_below))
    log_q = log_d - xp.log1p(e)
    normal = q >= xp.finfo(x.dtype).smallest_normal
    return xp.where(normal, xp.where(normal, q, 1.0) ** gamma, xp.exp(gamma * log_q))


def _sfl_fwd(xp, inputs, alpha, gamma, reduction):
    x, t = inputs
    t1 = 1.0 - t
    # Without a select (np.where costs about five arithmetic passes): with E1 = exp(min(x, 0)) and
    # E2 = exp(-max(x, 0)), one of them 1, e = E1 E2 = exp(-|x|), and the sigmoids are
    # s = E1 / (1 + e), s' = E2 / (1 + e), each with a relative error of a few roundings.
    relu = xp.maximum(x, 0.0)
    neg_part = xp.minimum(x, 0.0)  # -max(-x, 0)
    e1 = xp.exp(neg_part)
    e2 = xp.exp(-relu)
    e = e1 * e2
    # ce = t1 softplus(x) + t softplus(-x) with softplus(+-x) = max(+-x, 0) + log1p(e) and t1 + t = 1:
    # nonnegative terms, in place.
    ce = relu
    ce *= t1
    neg_part *= t
    ce -= neg_part
    del neg_part
    ce += xp.log1p(e)
    d = t1 * e1
    d += t * e2  # (1 - p_t)(1 + e) = t1 E1 + t E2, without cancellation
    q = f = None
    if gamma >= 1:
        # q^gamma straight from q: where q is subnormal, q^gamma <= q, and its error (gamma
        # q^(gamma - 1) <= gamma times that of q) stays below a unit in the last place.
        q = d / (1.0 + e)
        d = None  # backward needs only q
        loss = q**gamma
        loss *= ce
    elif gamma > 0:
        pos = x >= 0
        # the weights of the larger and the smaller sigmoid
        f = _modulating_factor(xp, x, e, xp.where(pos, t1, t), xp.where(pos, t, t1), d, gamma)
        loss = f * ce
    else:
        loss = ce
    del e
    alpha_t = None
    if alpha >= 0:
        alpha_t = alpha * t
        alpha_t += (1.0 - alpha) * t1
        if loss is ce:
            loss = loss * alpha_t
        else:
            loss *= alpha_t  # a fresh array (t has x's shape and dtype: the public layer checks it)
    # The sigmoids are formed in backward from E1, E2: arrays fewer to keep (d and f only for
    # gamma < 1).
    res = (x, t, e1, e2, d, q, ce, f, alpha_t, _array.size(loss))
    return _reduction.reduce(xp, loss, reduction), res


def _sfl_bwd(xp, res, g, needs, alpha, gamma, reduction):
    x, t, e1, e2, d, q, ce, f, alpha_t, size = res
    w = _reduction.scale(xp, g, reduction, size=size)
    # dl/dx = w a_t [F dce/dx + ce dF/dx], dF/dx = gamma F (1 - 2t) r, dF/dt = gamma F c / d (r = s s'
    # / q; see the module's docstring). From gamma = 1 up F = q q^(gamma - 1) and F r = q^(gamma - 1)
    # s s', F / d = q^(gamma - 1) / (1 + e): no division, and q^(gamma - 1) multiplies both terms.
    # Below 1, r = e / ((1 + e) d), 1 / (1 + e) in the limit d = 0. r ce and s s' ce stay below 1
    # (ce grows as |x| only where r and s s' fall as e^-|x|): gamma ce (1 - 2t) r cannot overflow,
    # and w a_t multiplies last, once.
    powered = None
    if gamma > 1:
        powered = q if gamma == 2 else q ** (gamma - 1.0)
    if 0 < gamma < 1:
        live = d > 0
        safe_d = xp.where(live, d, 1.0)
    gx = gt = None
    if needs[0]:
        inv = e1 * e2
        inv += 1.0
        inv = 1.0 / inv  # 1 / (1 + e)
        if 0 < gamma < 1:
            k = xp.where(live, (e1 * e2) * inv / safe_d, inv)  # r
        gx = e1 * inv  # sigmoid(x)
        s_neg = e2 * inv
        del inv  # (memory: four arrays of x's size at a time here)
        if gamma >= 1:
            k = gx * s_neg  # s s' = F r / q^(gamma - 1)
        t1 = 1.0 - t
        gx *= t1
        del t1
        s_neg *= t
        gx -= s_neg  # dce/dx
        del s_neg
        if gamma:
            if gamma >= 1:
                gx *= q
            k *= ce
            u = t * (-2.0 * gamma)
            u += gamma
            k *= u  # gamma (1 - 2t)
            del u
            gx += k
            del k
            factor = f if gamma < 1 else powered
            if factor is not None:
                gx *= factor
        if alpha_t is not None:
            gx *= alpha_t
        gx = _reduction.apply_scale(gx, w)
    if needs[1]:
        e = e1 * e2
        inv = 1.0 / (1.0 + e)
        pos = x >= 0
        wf = w if not gamma else w * (q**gamma if gamma >= 1 else f)  # w F
        wfa = wf if alpha_t is None else wf * alpha_t
        gt = wfa * -x
        if gamma:
            m = xp.expm1(-xp.abs(x))
            c = xp.where(pos, m, -m)  # (s' - s)(1 + e)
            if gamma >= 1:
                f_d = inv if powered is None else powered * inv  # F / d
                wa = w if alpha_t is None else w * alpha_t
                gt = gt + gamma * (wa * (f_d * (ce * c)))
            else:
                ce_d = xp.where(live, ce / safe_d, 1.0)
                gt = gt + gamma * (wfa * (ce_d * c))
        if alpha_t is not None:
            gt = gt + (2.0 * alpha - 1.0) * (wf * ce)
    return gx, gt


sigmoid_focal_loss = Op("SigmoidFocalLossBackward0", _sfl_fwd, _sfl_bwd, (0, 1))


# --- multi-class focal loss ---------------------------------------------------------------------


def _focal_fwd(xp, inputs, gamma, reduction, ignore_index, probabilities):
    # c_n is cross entropy per sample: its forward, and its backward with the scale h'(c) below.
    ce, ce_res = _ce_fwd(
        xp, inputs, reduction="none", ignore_index=ignore_index, label_smoothing=0.0,
        probabilities=probabilities,
    )
    u = None if gamma == 0 else -xp.expm1(-ce)  # 1 - exp(-ce) without cancellation
    loss = ce if u is None else u**gamma * ce
    return _reduction.reduce(xp, loss, reduction), (ce_res, ce, u, _array.size(loss))


def _focal_bwd(xp, res, g, needs, gamma, reduction, ignore_index, probabilities):
    ce_res, ce, u, size = res
    h = _reduction.scale(xp, g, reduction, size=size) * xp.ones_like(ce)
    if u is not None:
        # c / expm1(c) (1 at c = 0), as c exp(-c) / u above c = 1 so that expm1 cannot overflow
        big = ce > 1.0
        small = xp.where(big, 1.0, ce)
        ratio = xp.where(
            big,
            ce * xp.exp(-xp.where(big, ce, 1.0)) / xp.where(big, u, 1.0),
            xp.where(small == 0, 1.0, small / xp.where(small == 0, 1.0, xp.expm1(small))),
        )
        h = h * (u**gamma * (1.0 + gamma * ratio))
    return _ce_bwd(
        xp, ce_res, h, needs, reduction="none", ignore_index=ignore_index, label_smoothing=0.0,
        probabilities=probabilities,
    )


focal_loss = Op("FocalLossBackward0", _focal_fwd, _focal_bwd, (0, 1))
