r"""Negative log-likelihoods and the Kullback-Leibler divergence.

``poisson_nll_loss`` (``x`` the input, ``y`` the target count)::

    log_input=True:   l = exp(x) - y x                 dl/dx = exp(x) - y          dl/dy = -x
    log_input=False:  l = x - y log(x + eps)           dl/dx = 1 - y / (x + eps)   dl/dy = -log(x + eps)
    full=True adds, where y > 1 only (torch's mask; 0 and slope 0 elsewhere):
                      s = y log y - y + log(2 pi y) / 2                            ds/dy = log y + 1 / (2 y)

  ``y x`` and ``y log(x + eps)`` are 0 where ``y = 0`` unless the log is nan (xlogy semantics:
  ``0 log 0 = 0``, a Poisson of rate 0 observes 0 with probability 1); torch gives nan for
  ``y = 0, x = -inf`` (log_input) and for ``y = 0, x + eps = 0``. The full term's derivative is
  0 where it is masked (torch: nan for ``y <= 0``, from differentiating the masked-out nan).
  The Stirling term is computed from one ``log y``. ``log(x + eps)`` is ``log1p((x - 1) + eps)``
  for ``x`` in [0.5, 1.5]: ``x + eps`` rounds ``eps = 1e-8`` away next to 1 (``x = 1`` would give
  ``log 1 = 0`` instead of ``1e-8``, in the target's gradient and, times a large ``y``, the value).

``gaussian_nll_loss`` (``d = x - y``, ``v = max(var, eps)`` clamped as in torch, i.e. the clamp
is invisible to the gradient, which is taken at ``v`` as if ``var`` had not been clamped)::

    l = (log v + d^2 / v) / 2  [+ log(2 pi) / 2 when full]
    dl/dx = d / v = -dl/dy     dl/dvar = (1 - d^2 / v) / (2 v)

  ``d^2 / v`` is computed as ``d (d / v)`` so that ``d^2`` cannot overflow on its own, and as
  ``(d d) / v`` where ``d / v`` overflows (a subnormal ``v``). A ``var`` one dimension short of
  the input is unsqueezed at the end (torch's homoscedastic case) and its gradient summed back.

``kl_div`` (``x`` log-probabilities, ``y`` the target)::

    log_target=False:  l = y (log y - x)          dl/dx = -y       dl/dy = log y + 1 - x
    log_target=True:   l = exp(y) (y - x)         dl/dx = -exp(y)  dl/dy = exp(y) (y - x + 1)

  A zero-probability target (``y = 0``, resp. ``y = -inf``) contributes exactly 0 whatever ``x``
  is, even ``x = -inf`` (xlogy semantics; only a nan ``x`` stays nan); torch gives nan there. With ``log_target=True`` its
  gradient is 0 too (``exp(y) y -> 0``); with ``log_target=False`` ``dl/dy`` is the one-sided
  derivative ``log 0 = -inf`` (torch: nan). ``y (log y - x)`` is one product of one difference
  (torch: ``xlogy(y, y) - y x``, two rounded products that cancel as ``x`` nears ``log y``).
  ``exp(y)`` is formed as ``h h`` with ``h = exp(y / 2)``, and ``l = h (h (y - x))``: where
  ``exp(y)`` alone is subnormal (``y < -87`` in float32) and ``y - x`` is large, the product is a
  normal number that ``exp(y) (y - x)`` would get with a subnormal's few digits.

Reductions: 'none', 'sum', 'mean' over all elements; ``divisor`` (kl_div's 'batchmean' = 'sum'
divided by the batch size) divides the reduced value and the gradient once more.
"""

from __future__ import annotations

import math

from .. import _array, _checks, _reduction
from ._op import Op

HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _all_finite(xp, a):
    """Whether every element of ``a`` is known now to be finite (False where the values cannot be
    read: traced or lazy arrays): a select that only non-finite values need can then be skipped."""
    return _checks.concrete(a) and bool(xp.all(xp.isfinite(a)))


# --- Poisson ----------------------------------------------------------------------------------


def _poisson_fwd(xp, inputs, reduction, log_input, full, eps):
    x, y = inputs
    if log_input:
        rate = xp.exp(x)
        log_rate = x
    else:
        rate = x + eps
        # Near 1, x + eps rounds eps away; x - 1 is exact there (Sterbenz), so log1p keeps it.
        near_one = xp.abs(x - 1.0) <= 0.5
        log_rate = xp.where(near_one, xp.log1p((x - 1.0) + eps), xp.log(rate))
    # xlogy semantics: 0 * log(rate) = 0 where y = 0, unless the log is nan (rate < 0 or nan).
    # Only an infinite log makes y log(rate) differ from that (0 * inf): the select (as costly
    # as ten multiplications in NumPy) only where there can be one.
    y_log_rate = y * log_rate
    zero = None
    if not log_input or not _all_finite(xp, log_rate):
        zero = (y == 0) & xp.logical_not(xp.isnan(log_rate))  # (backward's too, not log_input)
        y_log_rate = xp.where(zero, 0.0, y_log_rate)
    loss = (rate if log_input else x) - y_log_rate
    del y_log_rate
    big = stirling_slope = None
    if full:
        big = xp.logical_not(y <= 1)  # torch's masked_fill(target <= 1, 0): a nan target stays nan
        ys = xp.where(big, y, 2.0)  # keeps log finite where the term is masked out
        log_y = xp.log(ys)
        loss = loss + xp.where(big, ys * (log_y - 1.0) + 0.5 * log_y + HALF_LOG_2PI, 0.0)
        stirling_slope = xp.where(big, log_y + 0.5 / ys, 0.0)
    value = _reduction.reduce(xp, loss, reduction)
    return value, (y, zero, rate, log_rate, stirling_slope)


def _poisson_bwd(xp, res, g, needs, reduction, log_input, full, eps):
    y, zero, rate, log_rate, stirling_slope = res
    s = _reduction.scale(xp, g, reduction, size=_array.size(y))
    gx = gy = None
    if needs[0]:
        if log_input:
            gx = _reduction.apply_scale(rate - y, s)
        else:
            gx = s * (1.0 - y / xp.where(zero, 1.0, rate))  # y / (x + eps), 0 where y = 0
    if needs[1]:
        slope = -log_rate if stirling_slope is None else stirling_slope - log_rate
        gy = _reduction.apply_scale(slope, s)
    return gx, gy


poisson_nll_loss = Op("PoissonNllLossBackward0", _poisson_fwd, _poisson_bwd, (0, 1))


# --- Gaussian ---------------------------------------------------------------------------------


def _gaussian_fwd(xp, inputs, reduction, full, eps, unsqueeze):
    x, y, var = inputs
    scalar = not _array.is_array(var)
    if scalar:
        var = xp.asarray(float(var), dtype=x.dtype, device=_array.device(x))
    v = xp.expand_dims(var, axis=-1) if unsqueeze else var
    # torch clamps under no_grad: the gradient ignores the clamp. (maximum, not NumPy's clip
    # through array-api-compat: a copy and boolean-mask assignments, ten passes for one.)
    v = xp.maximum(v, xp.asarray(eps, dtype=v.dtype, device=_array.device(v)))
    d = x - y
    q = d / v
    sq = d * q
    if not _all_finite(xp, q):  # d q overflows where q does (tiny v): d (d / v) there
        sq = xp.where(xp.isinf(q), (d * d) / v, sq)
    loss = 0.5 * (xp.log(v) + sq)
    if full:
        loss = loss + HALF_LOG_2PI
    value = _reduction.reduce(xp, loss, reduction)
    return value, (q, sq, v, None if scalar else tuple(var.shape))


def _gaussian_bwd(xp, res, g, needs, reduction, full, eps, unsqueeze):
    q, sq, v, var_shape = res
    s = _reduction.scale(xp, g, reduction, size=_array.size(q))
    gx = s * q if needs[0] or needs[1] else None
    gv = None
    if needs[2] and var_shape is not None:
        gv = s * (0.5 * ((1.0 - sq) / v))  # no 1/v - q^2: each can overflow alone
        gv = xp.broadcast_to(gv, tuple(q.shape))
        if unsqueeze:
            gv = xp.sum(gv, axis=-1)
        else:
            stretched = tuple(i for i, n in enumerate(var_shape) if n == 1 and q.shape[i] != 1)
            if stretched:
                gv = xp.sum(gv, axis=stretched, keepdims=True)
    return (gx if needs[0] else None), (-gx if needs[1] else None), gv


gaussian_nll_loss = Op("GaussianNllLossBackward0", _gaussian_fwd, _gaussian_bwd, (0, 1, 2))


# --- Kullback-Leibler -------------------------------------------------------------------------


def _kl_fwd(xp, inputs, reduction, log_target, divisor):
    x, y = inputs
    if log_target:
        dead = (y == -math.inf) & xp.logical_not(xp.isnan(x))  # a nan input stays nan
        ys = xp.where(dead, 0.0, y)
        # e^y = h h with h = e^(y/2): h stays normal where e^y alone is subnormal, so
        # h (h (y - x)) keeps the digits of a normal result that p (y - x) would lose.
        h = xp.where(dead, 0.0, xp.exp(0.5 * ys))
        loss = h * (h * xp.where(dead, 0.0, ys - x))  # also 0 for x = -inf
        res = (x, ys, h, dead)
    else:
        dead = (y == 0) & xp.logical_not(xp.isnan(x))
        if _checks.concrete(dead) and not bool(xp.any(dead)):
            # no zero target: the selects (each as costly as ten multiplications in NumPy) skipped
            log_y = xp.log(y)
            loss = log_y - x
            loss *= y
            res = (x, y, log_y, None)
        else:
            log_y = xp.log(xp.where(dead, 1.0, y))
            loss = y * xp.where(dead, 0.0, log_y - x)  # also 0 for x = -inf
            res = (x, y, log_y, dead)
    value = _reduction.reduce(xp, loss, reduction)
    if divisor is not None:
        value = value / divisor
    return value, res


def _kl_bwd(xp, res, g, needs, reduction, log_target, divisor):
    x, y, aux, dead = res
    s = _reduction.scale(xp, g, reduction, size=_array.size(x))
    if divisor is not None:
        s = s / divisor
    gx = gy = None
    if log_target:
        h = aux  # e^(y/2), see the forward
        if needs[0]:
            gx = -(s * (h * h))
        if needs[1]:
            gy = s * (h * (h * xp.where(dead, 0.0, y - x + 1.0)))
    else:
        if needs[0]:
            gx = -(s * y)
        if needs[1]:
            # log 0 = -inf: the one-sided derivative of y log y at 0
            log_y = aux if dead is None else xp.where(dead, -math.inf, aux)
            gy = s * (log_y + 1.0 - x)
    return gx, gy


kl_div = Op("KlDivBackward0", _kl_fwd, _kl_bwd, (0, 1))
