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
from ._op import Op


def _pointwise(name, value, slope, *, mean_over_weight):
    def forward(xp, inputs, reduction, **params):
        x, y, w = inputs
        d = x - y
        # The weight goes inside each formula: w (d d) loses a subnormal d d that (w d) d keeps.
        loss = value(xp, d, w, **params)
        total = None
        if w is not None and mean_over_weight and reduction == "mean":
            total = xp.sum(w)
        return _reduction.reduce(xp, loss, reduction, total), (d, w, total)

    def backward(xp, res, g, needs, reduction, **params):
        d, w, total = res
        gx = slope(xp, d, **params)
        if w is not None:
            gx = gx * w  # before the 1/n of 'mean', which could underflow a tiny slope times a huge w
        gx = gx * _reduction.scale(xp, g, reduction, total, _array.size(d))
        return (gx if needs[0] else None, -gx if needs[1] else None, None)

    return Op(name, forward, backward, differentiable=(0, 1))


def _abs(xp, d, w):
    return xp.abs(d) if w is None else w * xp.abs(d)


def _sign(xp, d):
    return xp.sign(d)


def _square(xp, d, w):
    return d * d if w is None else (w * d) * d


def _twice(xp, d):
    return 2.0 * d


def _huber(xp, d, w, delta):
    ad = xp.abs(d)
    excess = ad - 0.5 * delta  # at least delta / 2 where it is used
    if w is None:
        return xp.where(ad < delta, (0.5 * d) * d, delta * excess)
    # w delta excess: w joins delta when w >= 1 and excess when w < 1, so that the first product
    # neither underflows (tiny w and delta) nor overflows (huge delta and excess) where w delta
    # excess does not.
    linear = xp.where(w >= 1.0, (w * delta) * excess, (w * excess) * delta)
    return xp.where(ad < delta, (0.5 * w * d) * d, linear)


def _huber_slope(xp, d, delta):
    return xp.clip(d, min=-delta, max=delta)


def _smooth_l1(xp, d, w, beta):  # (torch's smooth_l1_loss takes no weight: w is None)
    ad = xp.abs(d)
    # d (d / beta), not d^2 / beta: d^2 underflows or overflows for tiny or huge beta
    return xp.where(ad < beta, 0.5 * d * (d / beta), ad - 0.5 * beta)


def _smooth_l1_slope(xp, d, beta):
    return xp.clip(d / beta, min=-1.0, max=1.0)


l1 = _pointwise("L1LossBackward0", _abs, _sign, mean_over_weight=True)
mse = _pointwise("MseLossBackward0", _square, _twice, mean_over_weight=True)
huber = _pointwise("HuberLossBackward0", _huber, _huber_slope, mean_over_weight=False)
smooth_l1 = _pointwise("SmoothL1LossBackward0", _smooth_l1, _smooth_l1_slope, mean_over_weight=False)
