r"""Linear layer and cross entropy in one op, computed in chunks of the batch.

Inputs ``(x, W, t, b, w)``: ``x`` of shape ``(N, H)`` (or ``(H,)``, one sample), the linear
weight ``W`` of shape ``(C, d1, ..., dK, H)``, the target ``t`` (class indices of shape
``(N, d1, ..., dK)`` or probabilities of the logits' shape ``(N, C, d1, ..., dK)``), the linear
bias ``b`` of shape ``(C, d1, ..., dK)`` or None, and class weights ``w`` of shape ``(C,)`` or
None. With ``W`` flattened to ``(C D, H)`` (``D = d1 ... dK``), the logits of sample ``n`` are

    ``z_n = W x_n + b``, reshaped to ``(C, d1, ..., dK)``,

and ``l_n`` is :mod:`.classification`'s cross entropy of ``z_n`` (class axis first), with its
coefficients ``a_n`` (class weights, label smoothing, ignore_index) and its gradient
``G_n = dl_n/dz_n = p_n A_n - a_n``. The chain rule through the linear map gives, for the
output's cotangent folded into a per-sample scale ``s_n`` (``g`` for 'sum', ``g / total`` for
'mean', ``g_n`` for 'none'):

    ``dL/dx_n = s_n G_n W``,   ``dL/dW = sum_n s_n G_n^T x_n``,   ``dL/db = sum_n s_n G_n``,

and for probability targets ``dL/dy_nc = -(1 - eps) s_n w_c log p_nc``.

The batch is processed ``chunk_size`` rows at a time, so that no more than ``(chunk_size, C D)``
logits (and the few arrays of that shape that the softmax needs) exist at once, in forward and
in backward:

* 'mean' and 'sum': the forward forms the unscaled gradients ``G_n W`` (one row per sample),
  ``sum_n G_n^T x_n`` and ``sum_n G_n`` chunk by chunk, for the inputs that the option
  ``precompute = (x, W, b)`` marks (the public layer sets it for the inputs that will need a
  gradient), and keeps only those as residuals; the backward multiplies them by the scalar ``s``. So the logits are computed once (three matrix products in all, as
  without chunking) and the residuals are gradient-sized.
* 'none' (the scale differs per row, so ``sum_n s_n G_n^T x_n`` cannot be formed before ``g`` is
  known), and any gradient not precomputed: the backward recomputes each chunk's logits.

A 'mean' whose denominator is 0 has the value nan (or inf with label smoothing) and, as torch's
reference path (``options=None``) gives, zero gradients when no target counts (every target
ignored, or an empty batch) and nan gradients when the targets' class weights are all 0.
"""

from __future__ import annotations

import math

from .. import _array, _reduction
from .._array import device as _device
from ._op import Op
from .classification import _ce_bwd, _ce_fwd


def _target_weight_total(xp, target, weight, ignore_index, dtype):
    """'mean''s denominator for class indices, ``sum_n w_{t_n}`` over the targets not ignored,
    and the number of those targets."""
    live = target != ignore_index
    count = xp.sum(xp.astype(live, dtype))
    if weight is None:
        return count, count
    safe = xp.where(live, target, 0)
    w_t = xp.reshape(xp.take(weight, xp.reshape(safe, (-1,)), axis=0), safe.shape)
    return xp.sum(xp.where(live, w_t, 0.0)), count


def _batched(xp, x, target):
    """One sample ``(H,)`` as a batch of one; the target gains the batch axis too."""
    if x.ndim == 1:
        return xp.reshape(x, (1, x.shape[0])), xp.expand_dims(target, axis=0)
    return x, target


def _chunk_forward(xp, xc, tc, w2, b2, weight, tail, options):
    """Logits of one chunk of rows and their cross entropy (unreduced) with its residuals."""
    z = xp.matmul(xc, xp.matrix_transpose(w2))
    if b2 is not None:
        z = z + b2
    z = xp.reshape(z, (xc.shape[0], *tail))
    return _ce_fwd(
        xp,
        (z, tc, weight),
        reduction="none",
        ignore_index=options["ignore_index"],
        label_smoothing=options["label_smoothing"],
        probabilities=options["probabilities"],
    )


def _sweep(xp, x, w2, target, b2, weight, tail, options, *, want_loss, want, scale_of):
    """One pass over the chunks of rows.

    ``want = (x, W, b, y)`` says which gradients to form; ``scale_of(start, stop)`` gives the
    cotangent of the chunk's unreduced losses and the reduction that ``_ce_bwd`` applies to it
    (``("sum", scalar)`` or ``("none", per-row array)``). Returns the unreduced loss (or None)
    and the four gradients (None where not wanted), ``W``'s and ``b``'s flattened.
    """
    n, h = x.shape
    cd = w2.shape[0]
    rows = options["chunk_size"]
    dev = _device(x)
    losses, gx, gy = [], [], []
    # W's gradient is accumulated transposed, (H, C D): x_c^T G_c is the faster product for BLAS
    # (a long inner axis of few rows is slow the other way round). x's is G_c W for H <= 256 and
    # W^T G_c^T above (OpenBLAS, 256 rows, C D = 32000, min of 3: H = 8 1.7 vs 4.4 ms, and up to
    # 50 times slower and erratic the other way under load; H = 128 22 vs 37 ms; H = 512 249 vs 79).
    gw_t = xp.zeros((h, cd), dtype=x.dtype, device=dev) if want[1] else None
    gb = xp.zeros((cd,), dtype=x.dtype, device=dev) if want[2] else None
    need_z = want[0] or want[1] or want[2]
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        xc = x[start:stop, ...]
        loss, res = _chunk_forward(xp, xc, target[start:stop, ...], w2, b2, weight, tail, options)
        if want_loss:
            losses.append(loss)
        if not (need_z or want[3]):
            continue
        red, s = scale_of(start, stop)
        gz, gyc, _ = _ce_bwd(
            xp,
            res,
            s,
            (need_z, want[3], False),
            reduction=red,
            ignore_index=options["ignore_index"],
            label_smoothing=options["label_smoothing"],
            probabilities=options["probabilities"],
        )
        del res
        if need_z:
            gz = xp.reshape(gz, (stop - start, cd))
            if want[0]:
                if h <= 256:
                    gx.append(xp.matmul(gz, w2))
                else:
                    w2_t, gz_t = xp.matrix_transpose(w2), xp.matrix_transpose(gz)
                    gx.append(xp.matrix_transpose(xp.matmul(w2_t, gz_t)))
            if want[1]:
                gw_t += xp.matmul(xp.matrix_transpose(xc), gz)
            if want[2]:
                gb += xp.sum(gz, axis=0)
        if want[3]:
            gy.append(gyc)

    def joined(parts, shape):
        return xp.concat(parts, axis=0) if parts else xp.zeros(shape, dtype=x.dtype, device=dev)

    loss = joined(losses, (0, *tail[1:])) if want_loss else None
    return (
        loss,
        joined(gx, (0, h)) if want[0] else None,
        None if gw_t is None else xp.matrix_transpose(gw_t),
        gb,
        joined(gy, (0, *tail)) if want[3] else None,
    )


def _lce_fwd(xp, inputs, reduction, ignore_index, label_smoothing, probabilities, chunk_size, precompute):
    x_in, w, t_in, b, weight = inputs
    x, target = _batched(xp, x_in, t_in)
    tail = tuple(w.shape[:-1])  # (C, d1, ..., dK)
    w2 = xp.reshape(w, (-1, w.shape[-1]))
    b2 = None if b is None else xp.reshape(b, (-1,))
    options = dict(
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        probabilities=probabilities,
        chunk_size=chunk_size,
    )
    want = (False, False, False, False)
    if reduction != "none":
        want = (bool(precompute[0]), bool(precompute[1]), bool(precompute[2] and b is not None), False)
    loss, gx, gw, gb, _ = _sweep(
        xp, x, w2, target, b2, weight, tail, options,
        want_loss=True, want=want, scale_of=lambda start, stop: ("sum", 1.0),
    )
    total = None  # for 'mean' of class indices: (sum of target weights, number of targets)
    if reduction == "mean" and not probabilities:
        total = _target_weight_total(xp, target, weight, ignore_index, x.dtype)
    value = _reduction.reduce(xp, loss, reduction, None if total is None else total[0])
    if reduction == "none" and x_in.ndim == 1:
        value = xp.reshape(value, ())
    saved = (gx, gw, gb)
    return value, (x_in, w, t_in, b, weight, saved, total, _array.size(loss))


def _mean_scale(xp, g, total, size):
    """``g / total`` for 'mean'. A zero denominator (the value is then nan or inf) gives zero
    gradients when no target counts (all ignored, or no sample), nan otherwise: torch's
    reference path."""
    if total is None:
        return g / size if size else g * 0.0
    weights, count = total
    empty = weights == 0
    undefined = xp.where(count == 0, 0.0 * g, math.nan * g)
    return xp.where(empty, undefined, g / xp.where(empty, 1.0, weights))


def _lce_bwd(xp, res, g, needs, reduction, ignore_index, label_smoothing, probabilities, chunk_size, precompute):
    x_in, w, t_in, b, weight, saved, total, size = res
    x, target = _batched(xp, x_in, t_in)
    tail = tuple(w.shape[:-1])
    w2 = xp.reshape(w, (-1, w.shape[-1]))
    b2 = None if b is None else xp.reshape(b, (-1,))
    need = (needs[0], needs[1], needs[3] and b is not None, needs[2] and probabilities)
    if reduction == "none":
        rows_g = xp.reshape(g, (1,)) if x_in.ndim == 1 else g

        def scale_of(start, stop):
            return "none", rows_g[start:stop, ...]

        s = None
    else:
        s = _mean_scale(xp, g, total, size) if reduction == "mean" else g

        def scale_of(start, stop):
            return "sum", s

    grads = [None, None, None, None]  # x, W (flat), b (flat), y
    for i in range(3):
        if need[i] and saved[i] is not None:
            grads[i] = s * saved[i]
    missing = tuple(need[i] and grads[i] is None for i in range(4))
    if any(missing):
        options = dict(
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            probabilities=probabilities,
            chunk_size=chunk_size,
        )
        _, *swept = _sweep(
            xp, x, w2, target, b2, weight, tail, options,
            want_loss=False, want=missing, scale_of=scale_of,
        )
        for i in range(4):
            if missing[i]:
                grads[i] = swept[i]
    gx, gw, gb, gy = grads
    return (
        None if gx is None else xp.reshape(gx, tuple(x_in.shape)),
        None if gw is None else xp.reshape(gw, tuple(w.shape)),
        None if gy is None else xp.reshape(gy, tuple(t_in.shape)),
        None if gb is None else xp.reshape(gb, tuple(b.shape)),
        None,
    )


linear_cross_entropy = Op("LinearCrossEntropyBackward0", _lce_fwd, _lce_bwd, (0, 1, 2, 3))
