"""Exact means across shards: the ``(weighted_sum, weight_total)`` pair behind any loss's 'mean'.

A 'mean' is a ratio, ``sum(w * l) / sum(w)``: per-element losses ``l`` and, for the class
losses, the weights ``w`` of their targets (0 where ``ignore_index``), else one per element.
A batch split across devices, processes or gradient-accumulation steps has the exact global
mean only as the ratio of the summed numerators to the summed denominators, never as a mean of
per-shard means (they differ as soon as the shards hold different weight totals: a different
number of ignored targets, say). :func:`mean_parts` returns the pair for one shard.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable

from . import _array, _checks
from .autograd.tensor import Tensor

__all__ = ["mean_parts"]

# losses whose 'mean' divides by the total weight of the (non-ignored) target classes, with
# their default ignore_index
_CLASS_WEIGHTED = {"cross_entropy": -100, "nll_loss": -100, "linear_cross_entropy": -100}
# losses whose 'mean' with torch 2.13's elementwise weight divides by sum(weight)
_ELEMENT_WEIGHTED = ("l1_loss", "mse_loss")


def mean_parts(loss: Callable, *args: Any, reduction: str = "mean", **kwargs: Any) -> tuple[Any, Any]:
    """``(weighted_sum, weight_total)`` such that ``loss(*args, reduction=reduction, **kwargs)``
    equals ``weighted_sum / weight_total``.

    ``loss`` is a loss of :mod:`losskit.functional`, called with its usual arguments.
    ``weighted_sum`` is differentiable like the loss itself (a ``losskit.Tensor``, a torch tensor
    with a graph, a JAX array under ``jax.grad``, a lazy dask array); ``weight_total`` is a 0-d
    array of the input's library and dtype, not differentiable. For shards ``k`` of one batch,
    ``sum_k weighted_sum_k / sum_k weight_total_k`` is the mean of the whole batch, exactly as
    one call would give it:

    * cross_entropy, nll_loss, linear_cross_entropy with class indices: ``sum_n w_{y_n} l_n``
      and ``sum_n w_{y_n}`` over targets other than ``ignore_index`` (``w = 1`` unweighted);
    * l1_loss and mse_loss with an elementwise ``weight``: ``sum(w l)`` and ``sum(w)``;
    * kl_div with ``reduction='batchmean'``: the sum and the batch size;
    * ctc_loss: ``sum_n l_n / max(target_length_n, 1)`` and the batch size;
    * every other loss (and probability targets): the sum and the number of loss elements.

    >>> import numpy as np, losskit, losskit.functional as F
    >>> x = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [1.0, -1.0, 0.0], [0.0, 3.0, 1.0]])
    >>> t = np.array([0, -100, -100, 1])          # shard 1 ignores two targets, shard 2 none
    >>> s1, n1 = losskit.mean_parts(F.cross_entropy, x[:2], t[:2])
    >>> s2, n2 = losskit.mean_parts(F.cross_entropy, x[2:], t[2:])
    >>> float(n1), float(n2)
    (1.0, 1.0)
    >>> bool(np.isclose((s1 + s2) / (n1 + n2), F.cross_entropy(x, t)))
    True
    """
    name = getattr(loss, "__name__", None)
    from . import functional

    if not callable(loss) or getattr(functional, str(name), None) is not loss or name not in _losses():
        raise TypeError(f"loss must be a loss function of losskit.functional (e.g. F.cross_entropy), got {loss!r}")
    allowed = ("mean", "batchmean") if name == "kl_div" else ("mean",)
    if reduction not in allowed:
        raise ValueError(f"reduction must be one of {allowed} for {name}'s mean parts, got {reduction!r}")
    for legacy in ("size_average", "reduce"):
        if kwargs.get(legacy) is not None:
            raise ValueError(f"{legacy} cannot be combined with mean_parts: it chooses the reduction itself")
    bound = inspect.signature(loss).bind(*args, **kwargs)
    bound.apply_defaults()
    arguments = bound.arguments

    if name == "ctc_loss":
        log_probs = _checks.data(arguments["log_probs"])
        n = log_probs.shape[1] if log_probs.ndim == 3 else 1
        return loss(*args, reduction="mean", **kwargs) * n, _total(log_probs, n)

    per_element = loss(*args, reduction="none", **kwargs)
    weighted_sum = _sum(per_element)
    values = _checks.data(per_element)
    if name in _CLASS_WEIGHTED and _is_integral(arguments["target"]):
        from .losses.classification import target_weights

        ignore = arguments.get("ignore_index")
        ignore = _CLASS_WEIGHTED[name] if ignore is None else ignore
        target = _checks.data(arguments["target"])
        weight = arguments.get("weight")
        weight = None if weight is None else _checks.data(weight)
        xp = _array.namespace(target)
        w_t, _ = target_weights(xp, target, weight, ignore, values.dtype)
        return weighted_sum, xp.sum(w_t)
    if name in _ELEMENT_WEIGHTED and arguments.get("weight") is not None:
        w = _checks.data(arguments["weight"])
        return weighted_sum, _array.namespace(w).sum(w)
    if name == "kl_div" and reduction == "batchmean":
        x = _checks.data(arguments["input"])
        return weighted_sum, _total(values, x.shape[0] if x.ndim else 1)
    return weighted_sum, _total(values, _array.size(values))


def _losses() -> set[str]:
    from .catalog import losses

    return {e.name for e in losses()}


def _is_integral(target: Any) -> bool:
    d = _checks.data(target)
    return _array.is_array(d) and _array.is_integral(_array.namespace(d), d)


def _sum(values: Any) -> Any:
    if isinstance(values, Tensor):
        return values.sum()
    return _array.namespace(values).sum(values)


def _total(like: Any, count: int) -> Any:
    xp = _array.namespace(like)
    return xp.asarray(count, dtype=like.dtype, device=_array.device(like))
