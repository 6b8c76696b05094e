r"""Pointwise regression losses of the difference ``d = input - target``.

=============  ===========================================================  ======================
loss           unreduced value ``l(d)``                                     ``dl/dd``
=============  ===========================================================  ======================
l1             ``|d|``                                                      ``sign(d)``
mse            ``d^2``                                                      ``2 d``
huber          ``d^2 / 2`` if ``|d| < delta`` else ``delta (|d| - delta/2)``  ``clip(d, -delta, delta)``
smooth_l1      ``d^2 / (2 beta)`` if ``|d| < beta`` else ``|d| - beta/2``     ``clip(d / beta, -1, 1)``
=============  ===========================================================  ======================

With torch 2.13's elementwise ``weight`` (same shape as the input) the loss is ``w * l(d)``; its
'mean' is ``sum(w l) / sum(w)`` for l1 and mse but ``mean(w l)`` for huber, as in torch.
The gradient with respect to the target is minus the gradient with respect to the input.
"""

from __future__ import annotations

from .. import _array, _reduction
from .._blocks import map_elementwise
from ._op import Op


def _pointwise(name, value, slope, *, mean_over_weight, slope_scale=1.0):
    # Speed: the residuals are the inputs, not d: backward recomputes d = x - y (one pass) rather
    # than keeping an extra array of the loss's size alive, as torch does. ``value`` and ``slope``
    # form d themselves, the only holders of that fresh array, so that they may update it in place
    # (fewer passes, no page faults of new large arrays) or drop it early; where in-place updates
    # do not apply (JAX, Dask) Python falls back to the out-of-place operation.
    def forward(xp, inputs, reduction, **params):
        x, y, w = inputs
        # The weight goes inside each formula: w (d d) loses a subnormal d d that (w d) d keeps.
        (loss,) = map_elementwise(xp, lambda x, y, w: (value(xp, x, y, w, **params),), (x, y, w), like=x)
        total = None
        if w is not None and mean_over_weight and reduction == "mean":
            total = xp.sum(w)
        return _reduction.reduce(xp, loss, reduction, total), (x, y, w, total)

    def backward(xp, res, g, needs, reduction, **params):
        x, y, w, total = res
        factor = _reduction.scale(xp, g, reduction, total, _array.size(x))
        if slope_scale != 1.0:
            factor = factor * slope_scale  # a constant of the slope (a power of 2): one pass fewer

        def grads(x, y, w, factor):
            gx = slope(xp, x, y, **params)
            if w is not None:
                gx = gx * w  # before the 1/n of 'mean', which could underflow a tiny slope times a huge w
            gx = _reduction.apply_scale(gx, factor)
            return (gx, -gx) if needs[1] else (gx,)

        out = map_elementwise(xp, grads, (x, y, w, factor), like=x)
        return (out[0] if needs[0] else None, out[1] if needs[1] else None, None)

    return Op(name, forward, backward, differentiable=(0, 1))


def _abs(xp, x, y, w):
    d = x - y
    return xp.abs(d) if w is None else w * xp.abs(d)


def _sign(xp, x, y):
    d = x - y
    return xp.sign(d)


def _square(xp, x, y, w):
    d = x - y
    if w is None:
        d *= d
        return d
    wd = w * d
    wd *= d
    return wd


def _difference(xp, x, y):  # mse's slope 2 d, its 2 joining the reduction's scale
    return x - y


def _huber(xp, x, y, w, delta):
    d = x - y
    ad = xp.abs(d)
    if w is None:
        del d  # free it now: two arrays of the loss's size at a time
        # q (|d| - q/2) with q = min(|d|, delta): (|d|/2) |d| inside, delta (|d| - delta/2)
        # outside, each with the roundings of its own formula, in place and without a select.
        # -2 (-q/2) is q again, except where q/2 is subnormal and rounded, but there the product
        # underflows to 0 either way.
        q = xp.clip(ad, max=delta)  # not minimum(ad, scalar): torch.compile cannot trace its dtype promotion
        q *= -0.5
        ad += q
        q *= -2.0
        ad *= q
        return ad
    excess = ad - 0.5 * delta  # at least delta / 2 where it is used
    # w delta excess: w joins delta when w >= 1 and excess when w < 1, so that the first product
    # neither underflows (tiny w and delta) nor overflows (huge delta and excess) where w delta
    # excess does not.
    linear = xp.where(w >= 1.0, (w * delta) * excess, (w * excess) * delta)
    return xp.where(ad < delta, (0.5 * w * d) * d, linear)


def _huber_slope(xp, x, y, delta):
    return xp.clip(x - y, min=-delta, max=delta)


def _smooth_l1(xp, x, y, w, beta):  # (torch's smooth_l1_loss takes no weight: w is None; beta > 0)
    ad = xp.abs(x - y)
    # (q / beta)(|d| - q/2), q = min(|d|, beta): inside, (|d| / beta)(|d| / 2), not d^2 / beta,
    # which underflows or overflows for tiny or huge beta; outside, 1 (|d| - beta/2) exactly.
    # In place; -2 (-q/2) is q again (see _huber).
    q = xp.clip(ad, max=beta)  # as in _huber
    q *= -0.5
    ad += q
    q *= -2.0
    if beta != 1.0:  # (a pass saved for the default beta)
        q /= beta
    ad *= q
    return ad


def _smooth_l1_slope(xp, x, y, beta):
    # clip(d / beta, -1, 1), clipped first: beta / beta is exactly 1, and d / beta cannot overflow.
    s = xp.clip(x - y, min=-beta, max=beta)
    if beta != 1.0:
        s /= beta
    return s


l1 = _pointwise("L1LossBackward0", _abs, _sign, mean_over_weight=True)
mse = _pointwise("MseLossBackward0", _square, _difference, mean_over_weight=True, slope_scale=2.0)
huber = _pointwise("HuberLossBackward0", _huber, _huber_slope, mean_over_weight=False)
smooth_l1 = _pointwise("SmoothL1LossBackward0", _smooth_l1, _smooth_l1_slope, mean_over_weight=False)
