"""Public functions of the embedding family: similarities, distances and the losses built on them.

``cosine_similarity`` and ``pairwise_distance`` broadcast ``x1`` against ``x2`` as torch does (it
is their documented contract); the losses require inputs of one shape (torch's documented shapes;
torch would silently broadcast them). Norms are computed scaled, so vectors of any representable
size give the exact cosine or distance (torch overflows); see ``losskit/losses/embedding.py``.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from .. import _array, _checks, _reduction
from ..autograd.tensor import Tensor
from ..dispatch import call
from ..losses import embedding as ops

__all__ = [
    "cosine_embedding_loss",
    "cosine_similarity",
    "pairwise_distance",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]


# --- argument checks private to this family -------------------------------------------------------


def _pair(x1: Any, x2: Any, names: tuple[str, str] = ("x1", "x2")) -> tuple[int, ...]:
    """Two floating arrays of one dtype that broadcast together; returns the broadcast shape."""
    _checks.same_library(names[0], x1, **{names[1]: x2})
    a = _checks.floating(x1, names[0])
    b = _checks.same_dtype(x2, names[1], a, names[0])
    sa, sb = tuple(a.shape), tuple(b.shape)
    shape = []
    for i in range(1, max(len(sa), len(sb)) + 1):
        m = sa[-i] if i <= len(sa) else 1
        n = sb[-i] if i <= len(sb) else 1
        if m != n and m != 1 and n != 1:
            raise ValueError(
                f"{names[0]} shape {sa} and {names[1]} shape {sb} cannot be broadcast together "
                f"(size {m} against {n} at dimension -{i})"
            )
        shape.append(m if n == 1 else n)
    return tuple(reversed(shape))


def _like(x: Any, name: str, first: Any, first_name: str) -> None:
    """``x`` is a floating array of ``first``'s dtype and shape."""
    d = _checks.same_dtype(x, name, first, first_name)
    if tuple(d.shape) != tuple(first.shape):
        raise ValueError(
            f"{name} shape {tuple(d.shape)} must match {first_name} shape {tuple(first.shape)} "
            "(the losses do not broadcast their inputs)"
        )


def _same_shaped(arrays: tuple[Any, ...], names: tuple[str, ...]) -> Any:
    """Floating arrays of the first one's dtype and shape; returns the first one's data."""
    _checks.same_library(names[0], arrays[0], **dict(zip(names[1:], arrays[1:])))
    first = _checks.floating(arrays[0], names[0])
    for x, name in zip(arrays[1:], names[1:]):
        _like(x, name, first, names[0])
    return first


def _norm_order(p: Any, last: int) -> float:
    """torch's ``p``: any real number (0, negative and +-inf included), with a nonempty last
    dimension where the norm has no value on an empty one (negative and infinite ``p``)."""
    p = _checks.number(p, "p")
    if last == 0 and (p < 0.0 or math.isinf(p)):
        raise ValueError(f"the p={p} norm of an empty last dimension is undefined (only p >= 0 finite)")
    return p


def _margin(margin: Any) -> float:
    return _checks.number(margin, "margin", low=0.0, low_open=True)


# --- similarities and distances ---------------------------------------------------------------------


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Any:
    r"""Cosine similarity along ``dim``: ``sum(x1 * x2) / (max(||x1||, eps) max(||x2||, eps))``.

    As in torch each vector is first divided by its clamped norm, so the result lies in
    [-1, 1]. ``x1`` and ``x2`` broadcast together; ``dim`` indexes the broadcast shape and is
    removed from the result. Norms are computed scaled: ``x = 1e30`` in float32 gives the exact
    cosine (torch: 0). Below ``eps`` the norm is the constant ``eps``, and the gradient is that
    of this constant (torch differentiates as if the norm were not clamped).

    >>> import numpy as np, losskit.functional as F
    >>> F.cosine_similarity(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([1.0, 1.0]))
    array([0.70710678, 1.        ])
    """
    shape = _pair(x1, x2)
    dim = _checks.integer(dim, "dim")
    ndim = max(len(shape), 1)
    if not -ndim <= dim < ndim:
        raise IndexError(
            f"dim {dim} is out of range for x1 and x2 broadcast to shape {shape} "
            f"(expected {-ndim} <= dim < {ndim})"
        )
    eps = _checks.number(eps, "eps", low=0.0)
    return call(ops.cosine_similarity, (x1, x2), axis=dim % ndim, eps=eps)


def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Any:
    r"""The ``p``-norm of ``x1 - x2 + eps`` along the last dimension (of the broadcast shape).

    ``p = 0`` counts the nonzero entries, ``p = inf`` (``-inf``) takes the largest (smallest)
    ``|d_i|``, any other real ``p`` gives ``(sum |d_i|^p)^(1/p)``; norms are computed scaled, so
    they never overflow where the distance is representable. ``keepdim`` keeps the reduced
    dimension with size 1.

    >>> import numpy as np, losskit.functional as F
    >>> F.pairwise_distance(np.array([[0.0, 0.0], [1.0, 2.0]]), np.array([3.0, 4.0]), eps=0.0)
    array([5.        , 2.82842712])
    """
    shape = _pair(x1, x2)
    p = _norm_order(p, shape[-1] if shape else 1)
    eps = _checks.number(eps, "eps")
    keepdim = _checks.flag(keepdim, "keepdim")
    return call(ops.pairwise_distance, (x1, x2), p=p, eps=eps, keepdim=keepdim)


# --- losses --------------------------------------------------------------------------------------


def cosine_embedding_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""``l_n = 1 - cos(x1_n, x2_n)`` where ``y_n = 1``, ``max(0, cos(x1_n, x2_n) - margin)``
    where ``y_n = -1`` (0 for any other label, as in torch).

    ``cos = x1.x2 / sqrt((|x1|^2 + E)(|x2|^2 + E))`` with torch's ``E = float32(1e-12)`` for every
    dtype, computed without forming the squares or the product (torch overflows: float32 inputs
    of size ``1e10`` give it a cosine of 0, of size ``1e30`` nan). Inputs ``(N, D)`` with target
    ``(N)``, or ``(D)`` with target ``()``; the target holds labels of any real or bool dtype.

    >>> import numpy as np, losskit.functional as F
    >>> x1 = np.array([[0.3, 0.5, 0.7], [0.3, 0.5, 0.7]])
    >>> x2 = np.array([[0.1, 0.3, 0.5], [0.1, 0.3, 0.5]])
    >>> F.cosine_embedding_loss(x1, x2, np.array([1, -1]), reduction='none')
    array([0.01666205, 0.98333795])
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.same_library("input1", input1, target=target)
    x = _same_shaped((input1, input2), ("input1", "input2"))
    if x.ndim not in (1, 2):
        raise ValueError(f"input1 and input2 must have shape (N, D) or (D), got shape {tuple(x.shape)}")
    t = _checks.array(target, "target")
    xp = _array.namespace(t)
    if not (xp.isdtype(t.dtype, "bool") or xp.isdtype(t.dtype, ("integral", "real floating"))):
        raise TypeError(f"target must hold labels 1 and -1 of a real or bool dtype, got {t.dtype}")
    expected = tuple(x.shape[:1]) if x.ndim == 2 else ()
    if tuple(t.shape) != expected:
        raise ValueError(
            f"target shape {tuple(t.shape)} must be {expected} for inputs of shape {tuple(x.shape)} "
            "(losskit does not broadcast input against target)"
        )
    margin = _checks.number(margin, "margin")
    return call(ops.cosine_embedding_loss[reduction], (input1, input2, target), margin=margin, reduction=reduction)




def triplet_margin_loss(
    anchor: Any,
    positive: Any,
    negative: Any,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""``l_n = max(d(a_n, p_n) - d(a_n, n_n) + margin, 0)``, ``d`` the :func:`pairwise_distance`
    with this ``p`` and ``eps`` (``||x - y + eps||_p`` along the last dimension).

    With ``swap``, ``d(a_n, n_n)`` is replaced by ``min(d(a_n, n_n), d(p_n, n_n))``. ``margin``
    must be > 0. Inputs of one shape, ``(N, D)`` or ``(D)`` (any number of leading dimensions
    works; the loss has the shape without the last one).

    >>> import numpy as np, losskit.functional as F
    >>> a, p, n = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0]]), np.array([[1.0, 0.0]])
    >>> F.triplet_margin_loss(a, p, n, eps=0.0)
    array(5.)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    margin = _margin(margin)
    x = _same_shaped((anchor, positive, negative), ("anchor", "positive", "negative"))
    p = _norm_order(p, x.shape[-1] if x.ndim else 1)
    eps = _checks.number(eps, "eps")
    swap = _checks.flag(swap, "swap")

    # one op for the distances and the margin: torch's graph, fused (fewer passes, no copies)
    return call(
        ops.triplet_margin_loss[reduction], (anchor, positive, negative),
        margin=margin, p=p, eps=eps, swap=swap, reduction=reduction,
    )


def triplet_margin_with_distance_loss(
    anchor: Any,
    positive: Any,
    negative: Any,
    *,
    distance_function: Callable[[Any, Any], Any] | None = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Any:
    r"""``l_n = max(d(a_n, p_n) - d(a_n, n_n) + margin, 0)`` for any distance callable ``d``.

    ``distance_function`` (default :func:`pairwise_distance`) is called with losskit Tensors when
    any input is a Tensor (so gradients flow through it) and with the plain arrays otherwise; its
    two (three, with ``swap``) results must be floating arrays of one shape and dtype. ``swap``
    uses ``min(d(a_n, n_n), d(p_n, n_n))``; ``margin`` must be > 0.

    >>> import numpy as np, losskit.functional as F
    >>> a, p, n = np.array([[1.0, 0.0]]), np.array([[1.0, 1.0]]), np.array([[0.0, 1.0]])
    >>> F.triplet_margin_with_distance_loss(
    ...     a, p, n, distance_function=lambda x, y: 1.0 - F.cosine_similarity(x, y))
    array(0.29289322)
    """
    reduction = _reduction.resolve(reduction)
    margin = _margin(margin)
    swap = _checks.flag(swap, "swap")
    _same_shaped((anchor, positive, negative), ("anchor", "positive", "negative"))
    if distance_function is None:  # torch's default, pairwise_distance(p=2, eps=1e-6): one fused op
        return call(
            ops.triplet_margin_loss[reduction], (anchor, positive, negative),
            margin=margin, p=2.0, eps=1e-6, swap=swap, reduction=reduction,
        )
    _checks.function(distance_function, "distance_function")
    inputs = (anchor, positive, negative)
    if any(isinstance(v, Tensor) for v in inputs):
        inputs = tuple(v if isinstance(v, Tensor) else Tensor(v) for v in inputs)
    names = ("anchor", "positive", "negative")
    pairs = ((0, 1), (0, 2), (1, 2)) if swap else ((0, 1), (0, 2))
    distances: list[Any] = []
    for i, j in pairs:
        d = distance_function(inputs[i], inputs[j])
        if isinstance(d, np.generic):  # NumPy reduces a 1-D input's distance to a scalar
            d = np.asarray(d)
        name = f"distance_function({names[i]}, {names[j]})"
        _checks.same_library("anchor", anchor, **{name: d})
        if not distances:
            first = _checks.floating(d, name)
        else:
            _like(d, name, first, "distance_function(anchor, positive)")
        distances.append(d)
    if not swap:
        distances.append(None)
    return call(ops.triplet_margin[reduction], tuple(distances), margin=margin, reduction=reduction)
