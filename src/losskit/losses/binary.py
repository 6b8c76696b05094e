r"""Binary cross entropy, on probabilities and on logits.

``binary_cross_entropy``: ``l = -w [y max(log x, -100) + (1 - y) max(log(1 - x), -100)]``,
the clamp at -100 being torch's definition (it keeps ``0 * log 0`` finite). ``log(1 - x)`` is
computed as ``log1p(-x)``, exact for small ``x``. The gradient is the derivative of that
definition: ``(x - y) / (x (1 - x))`` where neither log is clamped, and each term's own
derivative (``-y / x`` or ``(1 - y) / (1 - x)``) where the other is clamped. Torch instead divides
by ``max(x (1 - x), 1e-12)``, which is wrong for ``x < 1e-12`` (see the deviations page).

``binary_cross_entropy_with_logits``: ``l = w [p y softplus(-x) + (1 - y) softplus(x)]`` with
``p`` the pos_weight; ``softplus(-x) = -log sigmoid(x)``. Written this way no term cancels: for
``y = 0, x = -40`` the value is ``softplus(-40) = 4.2e-18`` (torch's fused formula gives 0 in
float32). ``dl/dx = w [(1 - y) sigmoid(x) - p y sigmoid(-x)]``, again without cancellation for
hard labels; ``dl/dy = w [p softplus(-x) - softplus(x)] = w [(p - 1) softplus(-x) - x]``, the
second form exact at ``x`` near 0 where the first cancels. ``binary_cross_entropy``'s
``dl/dy = w [log(1 - x) - log x]`` is ``log1p((1 - 2x) / x)`` on ``[1/4, 3/4]``, where the
difference of logs cancels.
"""

from __future__ import annotations

from .. import _array, _reduction
from ._op import Op
from .activations import sigmoid_parts, softplus_from

LOG_CLAMP = -100.0
# The largest float64 below e^-100: log x rounds to -100 for a few float64 x on either side of
# e^-100, where the sign of x - e^-100 decides whether log x is clamped (its derivative 0).
X_CLAMP = 3.7200759760208356e-44


def _bce_fwd(xp, inputs, reduction):
    x, y, w = inputs
    log_x = xp.maximum(xp.log(x), LOG_CLAMP)
    log_1mx = xp.maximum(xp.log1p(-x), LOG_CLAMP)
    # The weight joins y before the logs: w (y log x) loses a subnormal y log x that w y log x keeps.
    wy, w1y = (y, 1.0 - y) if w is None else (w * y, w * (1.0 - y))
    loss = -(wy * log_x + w1y * log_1mx)
    return _reduction.reduce(xp, loss, reduction), (x, y, w, log_x, log_1mx)


def _bce_bwd(xp, res, g, needs, reduction):
    x, y, w, log_x, log_1mx = res
    scale = _reduction.scale(xp, g, reduction, size=_array.size(x))
    if w is not None:
        scale = scale * w
    gx = gy = None
    if needs[0]:
        # Where the clamp is active, that term's derivative is 0.
        live_x = (log_x > LOG_CLAMP) | ((log_x == LOG_CLAMP) & (x > X_CLAMP))
        live_1mx = log_1mx > LOG_CLAMP
        safe_x = xp.where(live_x, x, 1.0)
        safe_1mx = xp.where(live_1mx, 1.0 - x, 1.0)
        # The part divided by x: -y where only log x is live (x = 1), and where both are live
        # the combined (x - y) / (1 - x), which does not cancel when y is close to x.
        num = xp.where(live_1mx, (x - y) / safe_1mx, -y)
        slope = xp.where(live_x, num / safe_x, (1.0 - y) / safe_1mx)
        # num / x overflows for subnormal x (float32) where scale num / x need not.
        gx = xp.where(xp.isinf(slope), (scale * num) / safe_x, scale * slope)
    if needs[1]:
        # log(1 - x) - log(x) = log1p((1 - 2x) / x), which does not cancel near x = 1/2 (1 - 2x is
        # exact there; the difference of logs is 150 ulp off with JAX's float64 log); no clamp is
        # active on [1/4, 3/4].
        middle = (x >= 0.25) & (x <= 0.75)
        safe_mid = xp.where(middle, x, 0.5)
        gy = scale * xp.where(middle, xp.log1p((1.0 - 2.0 * safe_mid) / safe_mid), log_1mx - log_x)
    return gx, gy, None


binary_cross_entropy = Op("BinaryCrossEntropyBackward0", _bce_fwd, _bce_bwd, (0, 1))


def _bce_logits_fwd(xp, inputs, reduction):
    x, y, w, pos_weight = inputs
    e, s_pos, s_neg = sigmoid_parts(xp, x)
    sp_pos = softplus_from(xp, x, e)  # -log(1 - sigmoid(x))
    sp_neg = softplus_from(xp, -x, e)  # -log(sigmoid(x))
    py = y if pos_weight is None else pos_weight * y
    loss = py * sp_neg + (1.0 - y) * sp_pos
    if w is not None:
        loss = loss * w
    return _reduction.reduce(xp, loss, reduction), (x, y, w, pos_weight, py, s_pos, s_neg, sp_neg)


def _bce_logits_bwd(xp, res, g, needs, reduction):
    x, y, w, pos_weight, py, s_pos, s_neg, sp_neg = res
    scale = _reduction.scale(xp, g, reduction, size=_array.size(y))
    if w is not None:
        scale = scale * w
    gx = scale * ((1.0 - y) * s_pos - py * s_neg) if needs[0] else None
    gy = None
    if needs[1]:
        # p softplus(-x) - softplus(x) = (p - 1) softplus(-x) - x: the difference of two numbers
        # near log 2 loses every digit of -x at x near 0.
        gy = scale * (-x if pos_weight is None else (pos_weight - 1.0) * sp_neg - x)
    return gx, gy, None, None


binary_cross_entropy_with_logits = Op(
    "BinaryCrossEntropyWithLogitsBackward0", _bce_logits_fwd, _bce_logits_bwd, (0, 1)
)
