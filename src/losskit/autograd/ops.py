"""Primitive ops of the engine, each with exactly one gradient rule.

Each op is an :class:`~losskit.losses._op.Op` like every loss: a pure forward returning
``(value, residuals)`` and a backward returning one gradient per input. Gradients are returned in
the shape of the broadcast result; the engine sums them back to each input's shape in one place.
"""

from __future__ import annotations

import numpy as np

from .._array import device, is_numpy_namespace
from ..losses._op import Op


# --- arithmetic -------------------------------------------------------------------------------


def _add_fwd(xp, inputs):
    a, b = inputs
    return a + b, None


def _add_bwd(xp, res, g, needs):
    return (g if needs[0] else None, g if needs[1] else None)


def _sub_fwd(xp, inputs):
    a, b = inputs
    return a - b, None


def _sub_bwd(xp, res, g, needs):
    return (g if needs[0] else None, -g if needs[1] else None)


def _mul_fwd(xp, inputs):
    a, b = inputs
    return a * b, (a, b)


def _mul_bwd(xp, res, g, needs):
    a, b = res
    return (g * b if needs[0] else None, g * a if needs[1] else None)


def _div_fwd(xp, inputs):
    a, b = inputs
    return a / b, (a, b)


def _div_bwd(xp, res, g, needs):
    a, b = res
    ga = g / b if needs[0] else None
    gb = -g * a / (b * b) if needs[1] else None
    return ga, gb


def _pow_fwd(xp, inputs):
    a, p = inputs
    out = a**p
    return out, (a, p, out)


def _pow_bwd(xp, res, g, needs):
    a, p, out = res
    ga = gp = None
    if needs[0]:
        # p * a**(p-1), written so that p = 0 gives exactly 0 (not 0 * inf at a = 0), as torch.
        ga = g * xp.where(p == 0, 0.0, p * a ** (p - 1))
    if needs[1]:
        # d(a**p)/dp = a**p log a; torch's convention: 0 where a = 0 and p >= 0.
        safe_a = xp.where(a == 0, 1.0, a)
        gp = g * xp.where((a == 0) & (p >= 0), 0.0, out * xp.log(safe_a))
    return ga, gp


def _neg_fwd(xp, inputs):
    return -inputs[0], None


def _neg_bwd(xp, res, g, needs):
    return (-g,)


def _matmul_fwd(xp, inputs):
    a, b = inputs
    return a @ b, (a, b)


def _matmul_bwd(xp, res, g, needs):
    a, b = res
    a2 = xp.expand_dims(a, axis=0) if a.ndim == 1 else a
    b2 = xp.expand_dims(b, axis=-1) if b.ndim == 1 else b
    # Restore the axes a 1-d operand dropped from the product (..., m, p): p first, then m, so
    # that a 0-d g (vector @ vector) becomes (1, 1).
    g2 = xp.expand_dims(g, axis=-1) if b.ndim == 1 else g
    g2 = xp.expand_dims(g2, axis=-2) if a.ndim == 1 else g2
    ga = gb = None
    if needs[0]:
        ga = g2 @ xp.matrix_transpose(b2)
        if a.ndim == 1:
            ga = ga[..., 0, :]
    if needs[1]:
        gb = xp.matrix_transpose(a2) @ g2
        if b.ndim == 1:
            gb = gb[..., 0]
    return ga, gb


# --- elementwise functions --------------------------------------------------------------------


def _exp_fwd(xp, inputs):
    out = xp.exp(inputs[0])
    return out, out


def _exp_bwd(xp, out, g, needs):
    return (g * out,)


def _log_fwd(xp, inputs):
    return xp.log(inputs[0]), inputs[0]


def _log_bwd(xp, x, g, needs):
    return (g / x,)


def _log1p_fwd(xp, inputs):
    return xp.log1p(inputs[0]), inputs[0]


def _log1p_bwd(xp, x, g, needs):
    return (g / (1.0 + x),)


def _sqrt_fwd(xp, inputs):
    out = xp.sqrt(inputs[0])
    return out, out


def _sqrt_bwd(xp, out, g, needs):
    return (g / (2.0 * out),)


def _abs_fwd(xp, inputs):
    return xp.abs(inputs[0]), inputs[0]


def _abs_bwd(xp, x, g, needs):
    return (g * xp.sign(x),)


def _clamp_fwd(xp, inputs, min=None, max=None):
    x = inputs[0]
    return xp.clip(x, min=min, max=max), x


def _clamp_bwd(xp, x, g, needs, min=None, max=None):
    # The gradient passes where min <= x <= max (both ends included), as in torch.
    inside = xp.ones_like(x, dtype=xp.bool)
    if min is not None:
        inside = inside & (x >= min)
    if max is not None:
        inside = inside & (x <= max)
    return (xp.where(inside, g, 0.0),)


def _where_fwd(xp, inputs):
    cond, a, b = inputs
    return xp.where(cond, a, b), cond


def _where_bwd(xp, cond, g, needs):
    ga = xp.where(cond, g, 0.0) if needs[1] else None
    gb = xp.where(cond, 0.0, g) if needs[2] else None
    return None, ga, gb


# --- reductions and shape ---------------------------------------------------------------------


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in axes)) if ndim else ()


def _expand_reduced(xp, g, shape, axis, keepdims):
    """Broadcast the gradient of a reduction back over the reduced axes."""
    if not keepdims:
        for a in _axes(axis, len(shape)):
            g = xp.expand_dims(g, axis=a)
    return xp.broadcast_to(g, shape)


def _sum_fwd(xp, inputs, axis=None, keepdims=False):
    x = inputs[0]
    return xp.sum(x, axis=axis, keepdims=keepdims), x.shape


def _sum_bwd(xp, shape, g, needs, axis=None, keepdims=False):
    return (_expand_reduced(xp, g, shape, axis, keepdims),)


def _mean_fwd(xp, inputs, axis=None, keepdims=False):
    x = inputs[0]
    count = 1
    for a in _axes(axis, x.ndim):
        count *= x.shape[a]
    return xp.sum(x, axis=axis, keepdims=keepdims) / count, (x.shape, count)


def _mean_bwd(xp, res, g, needs, axis=None, keepdims=False):
    shape, count = res
    return (_expand_reduced(xp, g / count, shape, axis, keepdims),)


def _max_fwd(xp, inputs, axis=None, keepdims=False):
    x = inputs[0]
    out = xp.max(x, axis=axis, keepdims=keepdims)
    return out, (x, out)


def _max_bwd(xp, res, g, needs, axis=None, keepdims=False):
    x, out = res
    hit = x == _expand_reduced(xp, out, x.shape, axis, keepdims)
    if axis is None:
        # torch's max() without dim shares the gradient evenly among tied maxima.
        share = hit / xp.sum(xp.astype(hit, x.dtype))
    else:
        # with dim, torch sends it to the one index it returns: the first maximum.
        first = _first_true(xp, hit, axis)
        share = xp.astype(first, x.dtype)
    return (share * _expand_reduced(xp, g, x.shape, axis, keepdims),)


def _first_true(xp, hit, axis):
    """Mask of the first True along ``axis`` (cumulative count equal to one)."""
    counts = xp.cumulative_sum(xp.astype(hit, xp.int64), axis=axis)
    return hit & (counts == 1)


def _reshape_fwd(xp, inputs, shape):
    x = inputs[0]
    return xp.reshape(x, shape), x.shape


def _reshape_bwd(xp, in_shape, g, needs, shape):
    return (xp.reshape(g, in_shape),)


def _permute_fwd(xp, inputs, axes):
    return xp.permute_dims(inputs[0], axes), None


def _permute_bwd(xp, res, g, needs, axes):
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return (xp.permute_dims(g, tuple(inverse)),)


def _getitem_fwd(xp, inputs, index):
    x = inputs[0]
    return x[index], (x.shape, x.dtype, device(x))


def _getitem_bwd(xp, res, g, needs, index):
    shape, dtype, dev = res
    out = xp.zeros(shape, dtype=dtype, device=dev)
    if is_numpy_namespace(xp):
        np.add.at(out, index, g)  # repeated integer indices accumulate, as in torch
    else:
        out[index] = g
    return (out,)


add = Op("AddBackward0", _add_fwd, _add_bwd, (0, 1))
sub = Op("SubBackward0", _sub_fwd, _sub_bwd, (0, 1))
mul = Op("MulBackward0", _mul_fwd, _mul_bwd, (0, 1))
div = Op("DivBackward0", _div_fwd, _div_bwd, (0, 1))
pow = Op("PowBackward0", _pow_fwd, _pow_bwd, (0, 1))
neg = Op("NegBackward0", _neg_fwd, _neg_bwd)
matmul = Op("MmBackward0", _matmul_fwd, _matmul_bwd, (0, 1))
exp = Op("ExpBackward0", _exp_fwd, _exp_bwd)
log = Op("LogBackward0", _log_fwd, _log_bwd)
log1p = Op("Log1PBackward0", _log1p_fwd, _log1p_bwd)
sqrt = Op("SqrtBackward0", _sqrt_fwd, _sqrt_bwd)
abs = Op("AbsBackward0", _abs_fwd, _abs_bwd)
clamp = Op("ClampBackward1", _clamp_fwd, _clamp_bwd)
where = Op("WhereBackward0", _where_fwd, _where_bwd, (1, 2))
sum = Op("SumBackward1", _sum_fwd, _sum_bwd)
mean = Op("MeanBackward1", _mean_fwd, _mean_bwd)
max = Op("MaxBackward1", _max_fwd, _max_bwd)
reshape = Op("ViewBackward0", _reshape_fwd, _reshape_bwd)
permute = Op("PermuteBackward0", _permute_fwd, _permute_bwd)
getitem = Op("IndexBackward0", _getitem_fwd, _getitem_bwd)
