r"""Connectionist temporal classification (CTC): the forward-backward algorithm in log space.

Notation (Graves et al. 2006, 0-based). Sample ``n`` has log-probabilities ``x_t(c)`` for
``t < L`` (its input length) and a target ``l`` of length ``S``; the extended target
``l' = (b, l_1, b, l_2, ..., l_S, b)`` has ``2S + 1`` states, ``b`` the blank. A path moves from
state ``s`` at time ``t - 1`` to ``s``, ``s + 1``, or ``s + 2`` when ``l'_{s+2} != l'_s`` (a
label can skip the blank before a different label, never before a repeat of itself), starts in
state 0 or 1 and ends in state ``2S`` or ``2S - 1``. The loss is ``-log p`` with
``p = sum over paths of prod_t exp(x_t(l'_{s_t}))``.

* ``alpha_t(s)``: log-probability of the prefixes up to ``t`` that are in state ``s`` at ``t``,
  emission at ``t`` included. Starting from the virtual ``alpha_{-1} = (0, -inf, -inf, ...)``,
  ``alpha_t(s) = lse(alpha_{t-1}(s), alpha_{t-1}(s-1), [skip] alpha_{t-1}(s-2)) + x_t(l'_s)``
  gives the textbook initialisation at ``t = 0`` (the skip 0 -> 2 is blank -> blank: never
  allowed), and an input length of 0 gives ``p = 1`` for an empty target and ``p = 0``
  otherwise, as in torch.
* ``beta_t(s)``: log-probability of the suffixes after ``t`` given state ``s`` at ``t``,
  emission at ``t`` excluded: ``beta_{L-1}(s) = 0`` for ``s in {2S-1, 2S}``, ``-inf`` elsewhere;
  ``beta_t(s) = lse over s' in {s, s+1, [skip] s+2} of beta_{t+1}(s') + x_{t+1}(l'_{s'})``.
* ``log p = lse(alpha_{L-1}(2S), alpha_{L-1}(2S-1))`` and ``p = sum_s exp(alpha_t(s) +
  beta_t(s))`` for every ``t < L``.

Gradient (the true partial derivative in the log-probabilities, which need not be normalised).
``p`` is linear in each ``y_t(k) = exp(x_t(k))`` (a path visits time ``t`` once), so
``dp/dx_t(k) = y_t(k) dp/dy_t(k) = sum_{s: l'_s = k} exp(alpha_t(s) + beta_t(s))`` and

    d loss / d x_t(k) = -sum_{s: l'_s = k} exp(alpha_t(s) + beta_t(s) - log p)   for t < L,

0 for ``t >= L``. Because ``beta`` excludes the emission at ``t`` there is no division by
``y_t(k)``: an entry ``x_t(k) = -inf`` gets the exact gradient 0 (torch: nan). torch's own
``CtcLossBackward0`` returns ``exp(x) + (the above)``: it assumes ``x`` is a ``log_softmax``
output and folds that Jacobian in; composed with ``log_softmax`` both give the same gradient in
the logits. An infeasible sample (``p = 0``, loss ``+inf``) has gradient nan at ``t < L`` (the
loss is ``+inf`` on a whole neighbourhood), as torch, or 0 with ``zero_infinity``.

Shifted emissions. Each addition in the recursions is rounded relative to the size of its
terms, so carrying ``alpha`` and ``beta`` as plain log-probabilities (sums of up to ``T`` terms
``x_t``) would give a posterior ``exp(alpha + beta - log p)`` a relative error growing like
``T |x|`` ulps: hundreds of ulps for a sequence of a few dozen steps whose every path is
improbable. Instead each step subtracts the largest emission ``m_t = max_s x_t(l'_s)`` (exact
where the two are close) and then the largest new ``alpha_t(s)`` among the target's states
``s <= 2S`` (the padding states of a shorter target also collect paths, but never end one), so
the recursions only see differences between paths, which is what the posteriors depend on.
The shifts, summed, give ``log p = lse(alpha_{L-1}(2S), alpha_{L-1}(2S-1)) + sum_t shift_t``.
``beta`` is shifted by its largest entry at each step, and each time step's posteriors are
divided by their own total ``sum_s exp(alpha_t(s) + beta_t(s))``, which is ``p`` times the
(common) shifts, so no shift needs to be carried into the backward pass.

Everything is ``lse`` of two terms at a time, ``max + log1p(exp(min - max))`` with the max
replaced by the dtype's most negative finite number where it is ``-inf``: exact,
overflow-free, and never ``-inf - -inf``. The recursions are vectorised over the batch and the
``2S + 1`` states with a Python loop over time only; per-sample input lengths are
``where(t < L, ...)``, no boolean indexing, no data-dependent shape.

Speed (NumPy runs one small array call at a time, so the loop over time is the cost). Each step
is about twenty array calls on ``(N, 2S+1)`` arrays: the transitions ``s-1``/``s-2`` are slices
of one padded copy, the skip rule and the real states are additive ``0``/``-inf`` masks made
once. The emissions of a whole segment come from one gather, shifted in one pass. In the
backward pass beta is written with its states in reverse order, where its recursion has
alpha's form (``s + 1``, ``s + 2`` become ``s - 1``, ``s - 2``; its emission is added before
the ``lse``, alpha's after), so the alpha of one segment and the beta of the same segment,
swept from its other end, advance as one ``(2N, 2S+1)`` array: one loop of ``T`` steps instead
of two. (Carrying alpha as ``alpha_t - x_t(l'_s)`` instead, to add both emissions alike, costs
10 more ulp on the worst float64 posterior of tests/accuracy: not done.) The posteriors, their
per-step totals and the scatter to classes are vectorised over a segment after its sweep.

Memory. Keeping every ``alpha_t`` would cost ``T N (2S+1)`` numbers. The forward pass keeps
only the ``alpha`` before each segment of ``k = ceil(sqrt(T))`` steps; the backward pass
recomputes one segment's alphas at a time while ``beta`` sweeps it from its end. Beyond the
input and its gradient the op holds ``O(sqrt(T) N S)`` numbers: ``ceil(T / k)`` checkpoints and
a few segment-sized ``(k, N, 2S+1)`` arrays, plus one gradient block ``(k, N, C)`` (and its
gather positions) before it is written, ``(N, C)`` class positions and at most ``log2 S``
masks of ``(N, S)`` booleans; the price is a second forward sweep (measured in tests/test_ctc.py with tracemalloc: at ``T = 1024, N = 2,
S = 15`` the extra peak is about a quarter of ``T N (2S+1)`` numbers, and 4x the steps take
about 2x the memory). ``O(N S)`` with ``O(T)`` time would need the alpha recursion run
backwards, which divides by probabilities and cancels (the transition matrix is triangular, its
inverse not positive); multi-level checkpointing would give ``O(N S log T)`` memory for
``O(T log T)`` time. Neither is done.

Gradient scatter. The states of one class are gathered to that class's column without a
scatter-add and without a ``(N, S, C)`` one-hot: each target's labels are sorted once (stable
argsort), the per-state terms are summed within runs of equal labels by a segmented doubling
scan (``log2 S`` steps, fewer when the labels are known now and no run is that long; additions
of nonnegative numbers only, so no cancellation), and each class reads its run's total at the
run's first position (found by ``searchsorted`` on keys ``n (C + 1) + label``), or a zero when
it does not occur; the blank reads the sum over the blank states.
"""

from __future__ import annotations

import math

import array_api_compat

from .. import _array, _checks, _reduction
from .._array import device as _device
from ._op import Op

NEG_INF = -math.inf


def _lse2(xp, a, b, lowest=None):
    """``log(exp(a) + exp(b))``: exact, no overflow, ``-inf`` when both are ``-inf`` (no nan).

    ``lowest`` (``_lowest``): the dtype's most negative finite number, which stands for the max
    where that is ``-inf`` (``-inf - lowest = -inf``, never ``-inf - -inf``). (Not
    ``xp.logaddexp``: the same formula, but element by element in NumPy, 10x slower.)"""
    hi = xp.maximum(a, b)
    lo = xp.minimum(a, b)
    if lowest is None:
        lowest = _lowest(xp, hi)
    return hi + xp.log1p(xp.exp(lo - xp.maximum(hi, lowest)))


def _lowest(xp, like):
    return xp.asarray(xp.finfo(like.dtype).min, dtype=like.dtype, device=_device(like))


def _shift(xp, x, d, fill):
    """``x`` moved ``d`` places along the last axis (right if ``d > 0``), ``fill`` coming in."""
    width = x.shape[-1]
    n = min(abs(d), width)
    if n == 0:
        return x
    pad = xp.full(tuple(x.shape[:-1]) + (n,), fill, dtype=x.dtype, device=_device(x))
    if d > 0:
        return xp.concat([pad, x[..., : width - n]], axis=-1)
    return xp.concat([x[..., n:], pad], axis=-1)


def _padded_targets(xp, targets, target_lengths, n_batch, width, blank):
    """Targets as ``(N, width)`` int64, padding (and everything past each length) set to blank."""
    dev = _device(target_lengths)
    tl = xp.astype(target_lengths, xp.int64)
    j = xp.reshape(xp.arange(width, dtype=xp.int64, device=dev), (1, width))
    valid = j < xp.reshape(tl, (n_batch, 1))
    if targets.ndim == 2:
        t = xp.astype(targets[:, :width], xp.int64)
    elif targets.shape[0] == 0 or width == 0:
        t = xp.zeros((n_batch, width), dtype=xp.int64, device=dev)
    else:  # concatenated: sample n's labels start at sum(target_lengths[:n])
        start = xp.cumulative_sum(tl, include_initial=True)[:-1]
        index = xp.where(valid, xp.reshape(start, (n_batch, 1)) + j, 0)
        t = xp.reshape(xp.take(xp.astype(targets, xp.int64), xp.reshape(index, (-1,)), axis=0), (n_batch, width))
    return xp.where(valid, t, blank)


def _extended(xp, labels, blank):
    """``l'`` of shape ``(N, 2S+1)`` and the mask of states ``s`` reachable from ``s - 2``."""
    n_batch, width = labels.shape
    blanks = xp.full((n_batch, width), blank, dtype=xp.int64, device=_device(labels))
    pairs = xp.reshape(xp.stack([blanks, labels], axis=2), (n_batch, 2 * width))
    ext = xp.concat([pairs, xp.full((n_batch, 1), blank, dtype=xp.int64, device=_device(labels))], axis=1)
    # l'_s != l'_{s-2}: false at blanks (blank == blank); states 0 and 1 have no s - 2.
    s = xp.reshape(xp.arange(2 * width + 1, dtype=xp.int64, device=_device(labels)), (1, -1))
    skip = (ext != _shift(xp, ext, 2, -1)) & (s >= 2)
    return ext, skip


def _gate(xp, mask, dtype):
    """0 where ``mask`` holds, ``-inf`` elsewhere: a mask applied by one addition."""
    return xp.where(mask, 0.0, xp.full(mask.shape, NEG_INF, dtype=dtype, device=_device(mask)))


def _step(xp, prev, pre, post, into, among, live, pad, lowest):
    """One step ``r(s) = lse(q(s), q(s-1), q(s-2) + into(s)) + post(s)`` of ``q = prev + pre``,
    shifted by its largest entry among the states where ``among`` is 0, on the rows where
    ``live`` holds (the others keep ``prev``); and that shift.

    Both recursions take this form: alpha with ``post`` its emissions, beta (its states in
    reverse order, so ``s + 1`` and ``s + 2`` become ``s - 1`` and ``s - 2``) with ``pre`` the
    emissions of the step after; they run stacked as one array in the backward pass.
    """
    q = xp.concat([pad, prev if pre is None else prev + pre], axis=1)
    r = _lse2(xp, _lse2(xp, q[:, 2:], q[:, 1:-1], lowest), q[:, :-2] + into, lowest)
    if post is not None:
        r = r + post
    c = xp.max(r + among, axis=1, keepdims=True)
    c = xp.where(xp.isfinite(c), c, 0.0)
    return xp.where(live, r - c, prev), c


def _flat_index(xp, index, rows, width):
    """Positions in a flattened ``(rows, N, width)`` array of entry ``index[n, j]`` of each
    ``(N, width)`` slab: ``(rows, N, J)``. A 1-d ``take`` at them is ``take_along_axis`` at
    ``index`` broadcast over the rows, 3-5x faster in NumPy (no broadcast index grid)."""
    n = index.shape[0]
    dev = _device(index)
    within = xp.reshape(xp.arange(n, dtype=xp.int64, device=dev), (n, 1)) * width + index
    # one broadcast of a (rows, 1, 1) column, not of a (rows, N, 1) one: 4x faster in NumPy
    return xp.reshape(xp.arange(rows, dtype=xp.int64, device=dev) * (n * width), (rows, 1, 1)) + within


def _take(xp, a, flat):
    """``a`` flattened, at the positions ``flat`` (``_flat_index``), in their shape."""
    return xp.reshape(xp.take(xp.reshape(a, (-1,)), xp.reshape(flat, (-1,)), axis=0), tuple(flat.shape))


def _emissions(xp, x, a, b, ext):
    """``(x_t(l'_s) - m_t, m_t)`` for ``a <= t < b``: the emissions ``(b - a, N, 2S+1)`` shifted by
    ``m_t`` ``(b - a, N, 1)``, their largest finite value (0 where none is finite); see "Shifted
    emissions" above. One gather for the whole segment."""
    e = _take(xp, x[a:b, ...], _flat_index(xp, ext, b - a, x.shape[2]))
    m = xp.max(e, axis=2, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0.0)
    e -= m  # in place on the gather's own fresh array where the library allows
    return e, m


def _segment(t_total: int) -> int:
    return max(1, math.isqrt(max(t_total - 1, 0)) + 1)


def _ctc_fwd(xp, inputs, blank, reduction, zero_infinity, max_target_length=None):
    log_probs, targets, input_lengths, target_lengths = inputs
    batched = log_probs.ndim == 3
    x = log_probs if batched else xp.reshape(log_probs, (log_probs.shape[0], 1, log_probs.shape[1]))
    n_time, n_batch, _ = x.shape
    if targets.ndim == 2:
        width = targets.shape[1]
    else:
        width = targets.shape[0] if max_target_length is None else int(max_target_length)
    dev = _device(x)
    il = xp.astype(xp.reshape(input_lengths, (n_batch,)), xp.int64)
    tl = xp.astype(xp.reshape(target_lengths, (n_batch,)), xp.int64)
    labels = _padded_targets(xp, targets, tl, n_batch, width, blank)
    ext, skip = _extended(xp, labels, blank)
    n_states = 2 * width + 1
    states = xp.reshape(xp.arange(n_states, dtype=xp.int64, device=dev), (1, n_states))
    real = _gate(xp, states <= xp.reshape(2 * tl, (n_batch, 1)), x.dtype)
    into = _gate(xp, skip, x.dtype)
    pad = xp.full((n_batch, 2), NEG_INF, dtype=x.dtype, device=dev)
    il3 = xp.reshape(il, (1, n_batch, 1))

    alpha = xp.where(states == 0, 0.0, xp.full((n_batch, n_states), NEG_INF, dtype=x.dtype, device=dev))
    k = _segment(n_time)
    lowest = _lowest(xp, x)
    checkpoints = []
    shift = xp.zeros((n_batch, 1), dtype=x.dtype, device=dev)  # sum of m_t + c_t over t < L
    for a in range(0, n_time, k):
        checkpoints.append(alpha)
        b = min(a + k, n_time)
        emit, m = _emissions(xp, x, a, b, ext)
        live = xp.reshape(xp.arange(a, b, dtype=xp.int64, device=dev), (b - a, 1, 1)) < il3
        c = []
        for j in range(b - a):
            alpha, c_t = _step(xp, alpha, None, emit[j, ...], into, real, live[j, ...], pad, lowest)
            c.append(c_t)
        # added in time order, not by xp.sum: a sample's loss must not depend on the batch's layout
        shifts = xp.where(live, m + xp.stack(c, axis=0), 0.0)
        for j in range(b - a):
            shift = shift + shifts[j, ...]

    last = xp.reshape(2 * tl, (n_batch, 1))
    end_blank = xp.squeeze(_array.take_along_axis(xp, alpha, last, axis=1), axis=1)
    end_label = xp.squeeze(_array.take_along_axis(xp, alpha, xp.where(last > 0, last - 1, 0), axis=1), axis=1)
    log_p_shifted = _lse2(xp, end_blank, xp.where(tl > 0, end_label, NEG_INF))
    loss = -(log_p_shifted + xp.squeeze(shift, axis=1))
    infinite = loss == math.inf
    if zero_infinity:
        loss = xp.where(infinite, 0.0, loss)
    if reduction == "mean":
        clamped = xp.astype(xp.where(tl > 1, tl, 1), x.dtype)
        value = _reduction.reduce(xp, loss / clamped, reduction)
    else:
        value = _reduction.reduce(xp, loss, reduction)
        clamped = None
    if reduction == "none" and not batched:
        value = xp.reshape(value, ())
    residuals = (x, batched, labels, ext, skip, il, tl, infinite, clamped, checkpoints, k)
    return value, residuals


def _class_map(xp, labels, n_classes, blank):
    """Sort order of each row's labels, the same-run masks of the doubling scan, and for each
    class its run's first sorted position (``S``, a zero slot, when the class is absent).

    Runs of the blank (a shorter target's padding) are left out of the scan: padding states
    carry no posterior, and the blank's column is summed apart from them."""
    n_batch, width = labels.shape
    dev = _device(labels)
    order = xp.argsort(labels, axis=1, stable=True)
    ranked = _array.take_along_axis(xp, labels, order, axis=1)
    masks = []
    d = 1
    while d < width:
        same = (ranked[:, : width - d] == ranked[:, d:]) & (ranked[:, d:] != blank)
        if _checks.concrete(same) and not bool(xp.any(same)):
            break  # no run is longer than d (known now): the steps left would add nothing
        masks.append((d, same))
        d *= 2
    rows = xp.reshape(xp.arange(n_batch, dtype=xp.int64, device=dev), (n_batch, 1))
    keys = xp.reshape(rows * (n_classes + 1) + ranked, (-1,))
    classes = xp.reshape(xp.arange(n_classes, dtype=xp.int64, device=dev), (1, n_classes))
    queries = rows * (n_classes + 1) + classes
    if width == 0:
        first = xp.zeros((n_batch, n_classes), dtype=xp.int64, device=dev)
    else:
        pos = xp.reshape(xp.searchsorted(keys, xp.reshape(queries, (-1,)), side="left"), (n_batch, n_classes))
        found = xp.take(keys, xp.reshape(xp.where(pos < keys.shape[0], pos, 0), (-1,)), axis=0)
        found = (pos < keys.shape[0]) & (xp.reshape(found, (n_batch, n_classes)) == queries)
        first = xp.where(found, pos - rows * width, width)
    return order, masks, first


def _ctc_bwd(xp, res, g, needs, blank, reduction, zero_infinity, max_target_length=None):
    if not needs[0]:
        return (None, None, None, None)
    x, batched, labels, ext, skip, il, tl, infinite, clamped, checkpoints, k = res
    n_time, n_batch, n_classes = x.shape
    width = labels.shape[1]
    dev = _device(x)
    dtype = x.dtype

    # d(value)/d(loss_n), shaped (1, N, 1) to scale a (k, N, C) block.
    if reduction == "none":
        scale = xp.reshape(g, (n_batch,))
    elif reduction == "sum":
        scale = xp.broadcast_to(xp.reshape(g, (1,)), (n_batch,))
    else:
        scale = _reduction.scale(xp, g, "mean", size=n_batch) / clamped
    scale = xp.reshape(scale, (1, n_batch, 1))
    bad = xp.reshape(infinite, (1, n_batch, 1))
    factor = xp.where(bad, 0.0 if zero_infinity else math.nan, -scale)
    order, masks, first = _class_map(xp, labels, n_classes, blank)
    is_blank = xp.reshape(xp.arange(n_classes, device=dev) == blank, (1, n_classes))
    odd = 2 * order + 1  # the label states, sorted
    pick = xp.where(is_blank, width + 1, first)  # each class's slot of the summed runs

    # alpha (rows :N) and beta with its states reversed (rows N:) advance together, one segment
    # at a time: alpha up from the segment's checkpoint, beta down from the segment's end.
    last = xp.reshape(2 * tl, (n_batch, 1))
    n_states = 2 * width + 1
    states = xp.reshape(xp.arange(n_states, dtype=xp.int64, device=dev), (1, -1))
    beta = xp.flip(_gate(xp, (states == last) | (states == last - 1), dtype), axis=1)
    among = xp.concat([_gate(xp, states <= last, dtype), xp.zeros((n_batch, n_states), dtype=dtype, device=dev)], axis=0)
    into = xp.concat([_gate(xp, skip, dtype), xp.flip(_gate(xp, _shift(xp, skip, -2, False), dtype), axis=1)], axis=0)
    pad = xp.full((2 * n_batch, 2), NEG_INF, dtype=dtype, device=dev)
    il3 = xp.reshape(il, (1, n_batch, 1))
    lowest = _lowest(xp, x)

    grad = xp.zeros((n_time, n_batch, n_classes), dtype=dtype, device=dev)
    for i in range(len(checkpoints) - 1, -1, -1):
        a, b = i * k, min(i * k + k, n_time)
        emit = _emissions(xp, x, a, min(b + 1, n_time), ext)[0]
        if b == n_time:  # beta_{T-1} is never live (L <= T): any emission will do for e_T
            emit = xp.concat([emit, emit[-1:, ...]], axis=0)
        # step j: alpha_{a+j} = lse(alpha_{a+j-1}) + e_{a+j}; beta_{b-1-j} = lse(beta_{b-j} + e_{b-j})
        # (states reversed): e is added after the lse to alpha's rows, before it to beta's
        reverse = xp.flip(emit, axis=2)
        zeros = xp.zeros((n_batch, n_states), dtype=dtype, device=dev)
        times = xp.reshape(xp.arange(a, b, dtype=xp.int64, device=dev), (b - a, 1, 1))
        live = xp.concat([times < il3, xp.flip(times, axis=0) < il3 - 1], axis=1)
        rows = xp.concat([checkpoints[i], beta], axis=0)
        sweep = xp.empty((b - a, 2 * n_batch, n_states), dtype=dtype, device=dev)
        for j in range(b - a):
            pre = xp.concat([zeros, reverse[b - a - j, ...]], axis=0)
            post = xp.concat([emit[j, ...], zeros], axis=0)
            rows = _step(xp, rows, pre, post, into, among, live[j, ...], pad, lowest)[0]
            sweep = _set_rows(xp, sweep, j, j + 1, xp.reshape(rows, (1, 2 * n_batch, n_states)))
        beta = rows[n_batch:, ...]
        gamma = sweep[:, :n_batch, ...] + xp.flip(sweep[:, n_batch:, ...], axis=(0, 2))
        del sweep, emit, reverse, pre, post
        # alpha and beta are shifted: divide each time step by its own total, which is p times
        # the shifts (>= 1 after the shift by the largest term; 0 only where no path exists)
        m = xp.max(gamma, axis=2, keepdims=True)
        gamma -= xp.where(xp.isfinite(m), m, 0.0)
        w = xp.exp(gamma)
        del gamma
        total = xp.sum(w, axis=2, keepdims=True)
        t_live = live[:, :n_batch, ...]
        w = xp.where(t_live, w / xp.where(total > 0.0, total, 1.0), 0.0)
        # each class's total: blanks summed into slot S + 1, labels by runs (see _class_map)
        blanks = xp.sum(w[..., 0::2], axis=2, keepdims=True)
        runs = _take(xp, w, _flat_index(xp, odd, b - a, n_states))
        del w
        for d, same in masks:
            # position i adds position i + d where both hold the same label
            runs = xp.concat([runs[..., : width - d] + xp.where(same, runs[..., d:], 0.0), runs[..., width - d:]], axis=2)
        runs = xp.concat([runs, xp.zeros((b - a, n_batch, 1), dtype=dtype, device=dev), blanks], axis=2)
        block = _take(xp, runs, _flat_index(xp, pick, b - a, width + 2))
        block *= xp.where(t_live, factor, 0.0)
        grad = _set_rows(xp, grad, a, b, block)
    if not batched:
        grad = xp.reshape(grad, (n_time, n_classes))
    return (grad, None, None, None)


def _set_rows(xp, out, a, b, block):
    """``out[a:b] = block`` on a fresh array of the op's own (in place where the library allows)."""
    if array_api_compat.is_jax_namespace(xp):
        return out.at[a:b].set(block)
    out[a:b, ...] = block
    return out


ctc_loss = Op("CtcLossBackward0", _ctc_fwd, _ctc_bwd, (0,))
