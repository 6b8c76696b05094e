"""Reduction modes, torch's legacy ``size_average``/``reduce`` mapping, and reduction gradients.

One place for each: every loss validates its ``reduction`` here, reduces here, and scales its
gradient here.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from . import _array, _checks

REDUCTIONS = ("none", "mean", "sum")


def resolve(
    reduction: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    *,
    allowed: tuple[str, ...] = REDUCTIONS,
) -> str:
    """The effective reduction string, as torch computes it.

    ``size_average``/``reduce`` (deprecated in torch) override ``reduction`` when either is given:
    both default to True; ``reduce=False`` means 'none', else ``size_average`` picks mean or sum.
    """
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = ("mean" if size_average else "sum") if reduce else "none"
        warnings.warn(
            "size_average and reduce are deprecated (as in torch); "
            f"use reduction={reduction!r} instead",
            DeprecationWarning,
            stacklevel=3,
        )
    if reduction == "elementwise_mean":
        warnings.warn(
            "reduction='elementwise_mean' is deprecated; use reduction='mean'",
            DeprecationWarning,
            stacklevel=3,
        )
        reduction = "mean"
    if not isinstance(reduction, str) or reduction not in allowed:
        raise ValueError(
            f"reduction must be one of {', '.join(repr(r) for r in allowed)}, got {reduction!r}"
        )
    return reduction


def reduce(xp: Any, loss: Any, reduction: str, total: Any = None) -> Any:
    """Reduce an unreduced loss. ``total`` is the 'mean' denominator; default: the element count.

    An empty 'mean' is nan and an empty 'sum' is 0, as in torch.
    """
    if reduction == "none":
        return loss
    if reduction == "sum":
        return xp.sum(loss)
    denominator = _array.size(loss) if total is None else total
    summed = xp.sum(loss)
    if _checks.concrete(summed) and math.isfinite(float(summed)):
        return summed / denominator  # empty: 0/0 = nan, as in torch
    # The sum of losses near the dtype's maximum overflows where their mean does not: divide
    # first (always where the sum's value cannot be read now: traced or lazy arrays).
    return xp.sum(loss / denominator) if _array.size(loss) else summed / denominator


def scale(xp: Any, grad_output: Any, reduction: str, total: Any = None, size: int = 1) -> Any:
    """The factor d(reduced)/d(loss element) times ``grad_output``, broadcastable to the loss.

    For 'none' that is ``grad_output`` itself (of the loss's shape); for 'sum' the 0-d
    ``grad_output``; for 'mean' ``grad_output / total`` (``total`` defaulting to ``size``).
    """
    if reduction == "mean":
        return grad_output / (size if total is None else total)
    return grad_output


def apply_scale(grad: Any, factor: Any) -> Any:
    """``grad * factor`` (``factor`` from :func:`scale`), in place where that changes neither the
    shape nor the dtype of ``grad``: for a fresh gradient the caller owns, a pass without a new
    array. Libraries without in-place updates (JAX, Dask) fall back to ``grad * factor``."""
    same_dtype = getattr(factor, "dtype", None) == grad.dtype
    if same_dtype and tuple(factor.shape) in ((), tuple(grad.shape)):
        grad *= factor
        return grad
    return grad * factor
