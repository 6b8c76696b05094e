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

from .. import _array, _checks, _reduction
from .._blocks import map_elementwise
from ._op import Op

LOG_CLAMP = -100.0
# The largest float64 below e^-100: log x rounds to -100 for a few float64 x on either side of
# e^-100, where the sign of x - e^-100 decides whether log x is clamped (its derivative 0).
X_CLAMP = 3.7200759760208356e-44


def _bce_fwd(xp, inputs, reduction):
    x, y, w = inputs
    interior = _interior(xp, x)
    out = map_elementwise(xp, lambda *a: _bce_elements(xp, interior, *a), (x, y, w), like=x)
    # backward's interior path needs no log
    logs = (None, None) if interior else out[1:]
    return _reduction.reduce(xp, out[0], reduction), (x, y, w, interior) + tuple(logs)


def _bce_elements(xp, interior, x, y, w):
    """``(loss,)`` inside (no clamp active), else ``(loss, log x, log(1 - x))`` clamped."""
    # -(w y log x + w (1 - y) log(1 - x)) = w (y - 1) log(1 - x) - w y log x with the same
    # roundings (y - 1 = -(1 - y)), in place on fresh arrays, one log at a time (memory). The
    # weight joins y before the logs: w (y log x) loses a subnormal y log x that (w y) log x keeps.
    log_1mx = xp.log1p(-x)
    if not interior:  # no clamp is active inside: a pass saved there
        log_1mx = xp.maximum(log_1mx, LOG_CLAMP)
    loss = y - 1.0 if w is None else w * (y - 1.0)
    loss *= log_1mx
    wy = y if w is None else w * y
    if interior:
        del log_1mx
        log_x = xp.log(x)
        log_x *= wy
        loss -= log_x
        return (loss,)
    log_x = xp.maximum(xp.log(x), LOG_CLAMP)
    loss -= wy * log_x
    return loss, log_x, log_1mx


def _bce_bwd(xp, res, g, needs, reduction):
    x, y, w, interior, log_x, log_1mx = res
    scale = _reduction.scale(xp, g, reduction, size=_array.size(x))
    if w is not None:
        scale = scale * w
    grads = map_elementwise(
        xp, lambda *a: _bce_grads(xp, needs, interior, *a), (x, y, scale, log_x, log_1mx), like=x
    )
    return (grads[0] if needs[0] else None), (grads[-1] if needs[1] else None), None


def _bce_grads(xp, needs, interior, x, y, scale, log_x, log_1mx):
    """The requested gradients among (input's, target's), as a tuple."""
    gx, gy = _bce_grad_pair(xp, needs, interior, x, y, scale, log_x, log_1mx)
    return tuple(g for g, need in zip((gx, gy), needs) if need)


def _bce_grad_pair(xp, needs, interior, x, y, scale, log_x, log_1mx):
    gx = gy = None
    if interior:
        # The general formulas below where both logs are live and nothing overflows, without
        # selects, in place on fresh arrays, three arrays of x's size at a time (memory).
        if needs[1]:
            # log(1 - x) - log(x) = sign(1 - 2x) log1p(|1 - 2x| / min(x, 1 - x)): 1 - 2x is exact
            # from x = 1/4 up, and 1 - x from x = 1/2 up (below, min is x); the ratio is at least
            # 2 where 1 - 2x is rounded, so log1p keeps its digits everywhere, also near x = 1/2
            # where the difference of logs cancels.
            smaller = xp.minimum(x, 1.0 - x)
            one_minus_2x = x * -2.0
            one_minus_2x += 1.0
            ratio = xp.abs(one_minus_2x)
            ratio /= smaller
            del smaller
            log_ratio = xp.log1p(ratio)
            del ratio
            gy = xp.copysign(log_ratio, one_minus_2x)
            del log_ratio, one_minus_2x
            gy = _reduction.apply_scale(gy, scale)
        if needs[0]:
            one_minus_x = 1.0 - x
            gx = x - y
            gx /= one_minus_x
            del one_minus_x
            gx /= x
            gx = _reduction.apply_scale(gx, scale)
        return gx, gy
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
    return gx, gy


def _interior(xp, x):
    """Whether every x is known now to lie in [2^-96, 1): no log is clamped there, and
    (x - y) / (1 - x) / x stays below 2^(96 + 53) (2^(96 + 24) in float32), finite."""
    if not _checks.concrete(x) or _array.size(x) == 0:
        return False
    return bool(xp.min(x) >= 2.0**-96) and bool(xp.max(x) < 1.0)


binary_cross_entropy = Op("BinaryCrossEntropyBackward0", _bce_fwd, _bce_bwd, (0, 1))


def _bce_logits_fwd(xp, inputs, reduction):
    x, y, w, pos_weight = inputs
    out = map_elementwise(xp, lambda *a: _bce_logits_elements(xp, *a), (x, y, w, pos_weight), like=x)
    sp_neg = out[1] if pos_weight is not None else None
    return _reduction.reduce(xp, out[0], reduction), (x, y, w, pos_weight, sp_neg)


def _bce_logits_elements(xp, x, y, w, pos_weight):
    """``(loss,)``, and softplus(-x) with ``pos_weight`` (its target gradient needs it)."""
    # softplus(+-x) = max(+-x, 0) + log1p(exp(-|x|)): one log1p for both, and max(-x, 0) =
    # max(x, 0) - x exactly. In place on fresh arrays, three of x's size at a time (the public
    # layer makes y of x's shape and dtype, and the weights broadcast to it without enlarging it).
    e = xp.abs(x)
    e *= -1.0
    log1p_e = xp.log1p(xp.exp(e))
    del e
    sp_pos = xp.maximum(x, 0.0)
    loss = sp_pos - x
    loss += log1p_e  # softplus(-x) = -log(sigmoid(x))
    sp_pos += log1p_e  # softplus(x) = -log(1 - sigmoid(x))
    del log1p_e
    # Residuals: softplus(-x) only where the target's gradient needs it (the sigmoids follow from x
    # in backward: nothing to keep).
    sp_neg = None if pos_weight is None else xp.asarray(loss, copy=True)
    if pos_weight is None:
        loss *= y
    else:
        loss = (pos_weight * y) * loss
    sp_pos *= 1.0 - y
    loss += sp_pos
    del sp_pos
    if w is not None:
        loss = loss * w
    return (loss,) if sp_neg is None else (loss, sp_neg)


def _bce_logits_bwd(xp, res, g, needs, reduction):
    x, y, w, pos_weight, sp_neg = res
    scale = _reduction.scale(xp, g, reduction, size=_array.size(y))
    if w is not None:
        scale = scale * w
    grads = map_elementwise(
        xp, lambda *a: _bce_logits_grads(xp, needs, *a), (x, y, scale, pos_weight, sp_neg), like=x
    )
    gx = grads[0] if needs[0] else None
    gy = grads[-1] if needs[1] else None
    return gx, gy, None, None


def logits_slope(xp, x, y, pos_weight=None):
    """``(1 - y) sigmoid(x) - p y sigmoid(-x)`` (``p = pos_weight``, 1 without), as a fresh array:
    d/dx of ``p y softplus(-x) + (1 - y) softplus(x)``.

    Each sigmoid without cancellation and without a select (np.where costs about five arithmetic
    passes): sigmoid(x) = E1 / (1 + E1 E2), sigmoid(-x) = E2 / (1 + E1 E2) with
    E1 = exp(min(x, 0)), E2 = exp(-max(x, 0)), one of them 1 (E1 E2 = exp(-|x|)).
    """
    s_neg = xp.maximum(x, 0.0)
    s_neg *= -1.0
    s_neg = xp.exp(s_neg)
    gx = xp.exp(xp.minimum(x, 0.0))
    den = gx * s_neg
    den += 1.0
    gx /= den
    s_neg /= den
    del den
    gx *= 1.0 - y
    s_neg *= y if pos_weight is None else pos_weight * y
    gx -= s_neg
    return gx


def _bce_logits_grads(xp, needs, x, y, scale, pos_weight, sp_neg):
    """The requested gradients among (input's, target's), as a tuple."""
    grads = []
    if needs[0]:
        gx = logits_slope(xp, x, y, pos_weight)
        gx = _reduction.apply_scale(gx, scale)
        grads.append(gx)
    if needs[1]:
        # p softplus(-x) - softplus(x) = (p - 1) softplus(-x) - x: the difference of two numbers
        # near log 2 loses every digit of -x at x near 0.
        if pos_weight is None:
            gy = -x
        else:
            gy = (pos_weight - 1.0) * sp_neg
            gy -= x
        gy = _reduction.apply_scale(gy, scale)
        grads.append(gy)
    return tuple(grads)


binary_cross_entropy_with_logits = Op(
    "BinaryCrossEntropyWithLogitsBackward0", _bce_logits_fwd, _bce_logits_bwd, (0, 1)
)
