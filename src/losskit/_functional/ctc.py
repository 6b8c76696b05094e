"""Public functions of the ctc family: ``ctc_loss``."""

from __future__ import annotations

import numbers
from typing import Any

from .. import _array, _checks, _reduction
from ..autograd.tensor import Tensor
from ..dispatch import call
from ..losses import ctc as _ctc

__all__ = ["ctc_loss"]


def _lengths(value: Any, name: str, n_batch: int, batched: bool) -> Any:
    """``input_lengths``/``target_lengths`` as Python ints, one per sample; or, for an array whose
    values cannot be read now (traced by jax.jit or vmap, a lazy dask array), the array itself,
    after the checks of its dtype and size.

    Accepted as torch does (a tuple or list of ints, an integer array of any shape holding N
    values), plus a plain int for unbatched input.
    """
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, bool):
        raise TypeError(f"{name} must hold integers, got a bool")
    if isinstance(value, numbers.Integral):
        if batched:
            raise TypeError(
                f"{name} must be a tuple, list or integer array of N={n_batch} lengths, got an int "
                "(a single int is accepted for unbatched (T, C) input only)"
            )
        values = [int(value)]
    elif _array.is_array(value):
        ns = _array.namespace(value)
        if not _array.is_integral(ns, value):
            raise TypeError(f"{name} must be an integer array, got dtype {value.dtype}")
        flat = ns.reshape(value, (-1,))
        if not _checks.concrete(flat):
            if flat.shape[0] != n_batch:
                raise ValueError(f"{name} must hold one length per sample (batch size {n_batch}), got {flat.shape[0]}")
            return flat
        values = [int(flat[i]) for i in range(flat.shape[0])]
    elif isinstance(value, (list, tuple)):
        for v in value:
            if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{name} must hold integers, got an element of type {type(v).__name__}")
        values = [int(v) for v in value]
    else:
        raise TypeError(
            f"{name} must be a tuple, list or integer array of lengths, got {type(value).__name__}"
        )
    if len(values) != n_batch:
        raise ValueError(f"{name} must hold one length per sample (batch size {n_batch}), got {len(values)}")
    return values


def _check_target_values(t: Any, tl: list[int], n_classes: int, blank: int) -> None:
    """Labels within each target's length must be class indices in [0, C) other than blank."""
    if not (_checks.concrete(t) and _array.size(t)):
        return
    xp = _array.namespace(t)
    if t.ndim == 2:
        j = xp.reshape(xp.arange(t.shape[1], device=_array.device(t)), (1, -1))
        lengths = xp.reshape(xp.asarray(tl, device=_array.device(t)), (-1, 1))
        used = j < lengths
    else:
        used = xp.ones(t.shape, dtype=xp.bool, device=_array.device(t))
    out = used & ((t < 0) | (t >= n_classes))
    if bool(xp.any(out)):
        high = int(xp.max(xp.where(out, t, -1)))
        offender = high if high >= n_classes else int(xp.min(xp.where(out, t, 0)))
        raise IndexError(f"targets value {offender} is out of bounds: labels must be class indices in [0, {n_classes})")
    if bool(xp.any(used & (t == blank))):
        raise ValueError(
            f"targets must not contain the blank index {blank} (torch's documented requirement; "
            "torch does not check it and treats it as a label)"
        )


def ctc_loss(
    log_probs: Any,
    targets: Any,
    input_lengths: Any,
    target_lengths: Any,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Any:
    r"""Connectionist temporal classification loss: ``l_n = -log p(target_n | log_probs_n)``.

    ``p`` sums, over every alignment of length ``input_lengths[n]`` that collapses to the target
    (merge repeats, then drop blanks), the product of the aligned probabilities
    ``exp(log_probs[t, n, c])``. 'sum' adds the ``l_n``; 'mean' divides each ``l_n`` by its
    target length clamped to at least 1, then averages over the batch (torch's definition).
    ``zero_infinity`` replaces infinite losses (targets that no alignment fits) and their
    gradients by 0.

    Shapes: ``log_probs`` ``(T, N, C)`` or unbatched ``(T, C)``, the log-probabilities of ``C``
    classes (blank included) at ``T`` times. ``targets``: padded ``(N, S)`` with
    ``S >= max(target_lengths)``, or the targets concatenated, 1-D of length
    ``sum(target_lengths)``; unbatched ``(S)`` (all of it the target) or ``(1, S)``. Labels are
    integer class indices in ``[0, C)``, never ``blank``; padding is ignored.
    ``input_lengths``/``target_lengths``: tuples, lists or integer arrays of ``N`` values
    (``0 <= input_lengths <= T``), or ints for unbatched input. Result: ``(N)`` (``()``
    unbatched) for 'none', else a 0-d array.

    The forward-backward recursion runs in log space, vectorised over the batch and the
    ``2S + 1`` extended-label states, with memory ``O(sqrt(T) N S)`` beyond the input and its
    gradient (checkpointed alphas; see :mod:`losskit.losses.ctc` for the derivation and the
    bound). The gradient is the true partial derivative with respect to ``log_probs``, which need
    not be normalised: ``-(1/p) sum_{s: l'_s = k} alpha_t(s) beta_t(s)`` for ``t <
    input_lengths[n]``, 0 after. torch's ``ctc_loss`` instead returns that plus
    ``exp(log_probs)``, i.e. already composed with the Jacobian of a ``log_softmax``; after a
    ``log_softmax`` the two give the same gradient. Where ``log_probs`` is ``-inf`` the gradient
    is exactly 0 (torch: nan).

    >>> import numpy as np, losskit.functional as F
    >>> uniform = np.log(np.full((3, 1, 3), 1 / 3))  # 6 of the 27 paths give "1": -log(6/27)
    >>> F.ctc_loss(uniform, np.array([[1]]), [3], [1])
    array(1.5040774)
    """
    reduction = _reduction.resolve(reduction)
    _checks.same_library("log_probs", log_probs, targets=targets)
    x = _checks.floating(log_probs, "log_probs")
    if x.ndim not in (2, 3):
        raise ValueError(f"log_probs must have shape (T, N, C) or unbatched (T, C), got shape {tuple(x.shape)}")
    if _array.size(x) == 0:
        raise ValueError(f"log_probs must not be empty (as in torch), got shape {tuple(x.shape)}")
    batched = x.ndim == 3
    n_time, n_classes = x.shape[0], x.shape[-1]
    n_batch = x.shape[1] if batched else 1
    blank = _checks.integer(blank, "blank")
    if not 0 <= blank < n_classes:
        raise ValueError(f"blank must be a class index in [0, C) = [0, {n_classes}), got {blank}")
    zero_infinity = _checks.flag(zero_infinity, "zero_infinity")

    t = _checks.array(targets, "targets")
    if not _array.is_integral(_array.namespace(t), t):
        raise TypeError(f"targets must hold integer class indices, got dtype {t.dtype}")
    if t.ndim not in (1, 2):
        shapes = "(N, S) or concatenated (sum(target_lengths))" if batched else "(S) or (1, S)"
        raise ValueError(f"targets must have shape {shapes}, got shape {tuple(t.shape)}")

    il = _lengths(input_lengths, "input_lengths", n_batch, batched)
    tl = _lengths(target_lengths, "target_lengths", n_batch, batched)
    if not isinstance(tl, list) and t.ndim == 1:
        raise ValueError(
            "1-D (concatenated) targets need target_lengths whose values are known when the loss is "
            "built (a list, tuple or concrete array), not traced or lazy: they set the targets' split"
        )
    for n, v in enumerate(il if isinstance(il, list) else ()):
        if not 0 <= v <= n_time:
            raise ValueError(f"input_lengths must be in [0, T] = [0, {n_time}], got {v} for sample {n}")
    for n, v in enumerate(tl if isinstance(tl, list) else ()):
        if v < 0:
            raise ValueError(f"target_lengths must be >= 0, got {v} for sample {n}")
    max_target_length = None
    if not isinstance(tl, list):
        pass  # traced lengths: their values are checked where they are concrete (eager calls)
    elif t.ndim == 2:
        if t.shape[0] != n_batch:
            raise ValueError(
                f"targets batch size {t.shape[0]} must match log_probs batch size {n_batch} "
                f"(targets shape {tuple(t.shape)}, log_probs shape {tuple(x.shape)})"
            )
        if max(tl) > t.shape[1]:
            raise ValueError(
                f"target_lengths must be <= targets.shape[1] = {t.shape[1]} (padded targets), got {max(tl)}"
            )
    else:
        if t.shape[0] != sum(tl):
            raise ValueError(
                f"1-D (concatenated) targets must hold sum(target_lengths) = {sum(tl)} labels, "
                f"got {t.shape[0]}"
            )
        max_target_length = max(tl)
    if isinstance(tl, list):
        _check_target_values(t, tl, n_classes, blank)

    xp = _array.namespace(x)
    dev = _array.device(x)
    return call(
        _ctc.ctc_loss,
        (
            log_probs,
            targets,
            _as_int64(xp, il, dev),
            _as_int64(xp, tl, dev),
        ),
        blank=blank,
        reduction=reduction,
        zero_infinity=zero_infinity,
        max_target_length=max_target_length,
    )


def _as_int64(xp: Any, lengths: Any, device: Any) -> Any:
    if isinstance(lengths, list):
        return xp.asarray(lengths, dtype=xp.int64, device=device)
    return xp.astype(lengths, xp.int64)
