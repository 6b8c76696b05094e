"""Margin losses with ``torch.nn.functional``'s names, signatures and semantics.

The math (values, gradients, kinks) is in :mod:`losskit.losses.margin`. Real-valued targets may
hold integers (torch promotes them; here they are converted to the input's dtype) or floats of
the input's dtype. Shapes must match exactly: torch broadcasts input against target, losskit
raises.
"""

from __future__ import annotations

from typing import Any

from .. import _array, _checks, _reduction
from ..dispatch import call
from ..losses import margin as ops

__all__ = [
    "hinge_embedding_loss",
    "margin_ranking_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "soft_margin_loss",
]


def _class_rows_input(input: Any) -> Any:
    """``input`` of shape ``()``, ``(C)`` or ``(N, C)`` with ``C > 0`` (torch's rule)."""
    x = _checks.floating(input, "input")
    if x.ndim > 2 or (x.ndim >= 1 and x.shape[-1] == 0):
        raise ValueError(
            f"input must have shape (C) or (N, C) with C > 0 classes (or be 0-d), got {tuple(x.shape)}"
        )
    return x


def _integer_target(target: Any) -> Any:
    t = _checks.array(target, "target")
    if not _array.is_integral(_array.namespace(t), t):
        raise TypeError(f"target must hold integer class indices, got dtype {t.dtype}")
    return t


def _check_range(t: Any, low: int, high: int, what: str) -> None:
    """Every value of ``t`` lies in ``[low, high)``; else IndexError naming the first offender."""
    if not (_checks.concrete(t) and _array.size(t)):
        return
    xp = _array.namespace(t)
    bad = (t < low) | (t >= high)
    if bool(xp.any(bad)):
        flat = xp.reshape(bad, (-1,))
        first = int(xp.argmax(xp.astype(flat, xp.int8)))
        offender = int(xp.reshape(t, (-1,))[first])
        raise IndexError(f"target {offender} is out of bounds: {what}")


# --- pointwise ------------------------------------------------------------------------------------


def margin_ranking_loss(
    input1: Any,
    input2: Any,
    target: Any,
    margin: float = 0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""Ranking hinge: ``l_n = max(0, -y_n (x1_n - x2_n) + margin)``.

    ``y = 1`` asks for ``x1`` to rank above ``x2`` by ``margin``, ``y = -1`` for the reverse.
    ``input1``, ``input2`` and ``target`` share one shape (any, 0-d included). Gradients reach
    both inputs and the target: ``-y``, ``y`` and ``-(x1 - x2)`` where the hinge is active
    (``u >= 0``, as torch's ``clamp_min``).

    >>> import numpy as np, losskit.functional as F
    >>> F.margin_ranking_loss(np.array([0.5, 0.2, 0.9]), np.array([0.1, 0.4, 0.0]), np.array([1.0, 1.0, -1.0]), margin=0.1)
    array(0.43333333)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.same_library("input1", input1, input2=input2, target=target)
    x1 = _checks.floating(input1, "input1")
    x2 = _checks.same_dtype(input2, "input2", x1, "input1")
    _checks.same_shape(x2, "input2", x1, "input1")
    target = _checks.matching_target(target, x1, "input1")
    margin = _checks.number(margin, "margin")
    return call(ops.margin_ranking, (input1, input2, target), reduction=reduction, margin=margin)


def hinge_embedding_loss(
    input: Any,
    target: Any,
    margin: float = 1.0,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""Hinge embedding: ``l_n = x_n`` if ``y_n = 1``, ``max(0, margin - x_n)`` if ``y_n = -1``.

    Torch's rule for any other target value, kept here: the sum of both,
    ``[y != 1] max(0, margin - x) + [y != -1] x`` (so ``y = 0`` gives ``max(margin, x)``).
    ``input`` is typically a distance; ``target`` has its shape. Gradient with respect to the
    input only.

    >>> import numpy as np, losskit.functional as F
    >>> F.hinge_embedding_loss(np.array([[1.0, 0.8, 0.5]]), np.array([[1, 1, -1]]))
    array(0.76666667)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.same_library("input", input, target=target)
    x = _checks.floating(input, "input")
    target = _checks.matching_target(target, x)
    margin = _checks.number(margin, "margin")
    return call(ops.hinge_embedding, (input, target), reduction=reduction, margin=margin)


def soft_margin_loss(
    input: Any,
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""Two-class logistic loss: ``l_n = log(1 + exp(-y_n x_n))``, ``y`` in {1, -1}.

    Computed as ``softplus(-y x)``, finite for every finite input: ``x = 100, y = -1`` gives
    ``100`` (torch: ``inf`` in float32). Gradient ``-y sigmoid(-y x)``, input only.

    >>> import numpy as np, losskit.functional as F
    >>> F.soft_margin_loss(np.array([[0.3, 0.7], [0.5, 0.5]]), np.array([[-1.0, 1.0], [1.0, -1.0]]))
    array(0.67642382)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.same_library("input", input, target=target)
    x = _checks.floating(input, "input")
    target = _checks.matching_target(target, x)
    return call(ops.soft_margin, (input, target), reduction=reduction)


# --- multi-label and multi-class ----------------------------------------------------------------


def multilabel_soft_margin_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""One-versus-all logistic loss over ``C`` labels (the last axis):

    ``l_n = -(1/C) sum_c w_c [y_nc log sigmoid(x_nc) + (1 - y_nc) log sigmoid(-x_nc)]``,
    each ``log sigmoid`` computed as ``-softplus``. ``input``: ``(C)``, ``(N, C)`` (or more
    leading axes); ``target`` of its shape (0/1 labels or probabilities); ``weight`` broadcasts
    to the input's shape (usually ``(C)``). Output ``'none'``: the input's shape without the last
    axis; 'mean' averages over samples. Gradients reach the input and the target.

    >>> import numpy as np, losskit.functional as F
    >>> F.multilabel_soft_margin_loss(np.array([[0.0, 2.0, -1.0]]), np.array([[1.0, 1.0, 0.0]]))
    array(0.37777896)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.same_library("input", input, target=target, weight=weight)
    x = _checks.floating(input, "input")
    if x.ndim == 0:
        raise IndexError("input must have at least one dimension (the class axis, last), got a 0-d array")
    target = _checks.matching_target(target, x)
    if weight is not None:
        w = _checks.same_dtype(weight, "weight", x)
        _checks.broadcastable_to(w, "weight", tuple(x.shape))
    return call(ops.multilabel_soft_margin, (input, target, weight), reduction=reduction)


def multilabel_margin_loss(
    input: Any,
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""Multi-label hinge: ``l_n = (1/C) sum_j sum_{i not in S} max(0, 1 - (x[y_j] - x[i]))``.

    ``input``: ``(C)`` or ``(N, C)``; ``target``: integer class indices of the input's shape,
    each row's targets ``y_j`` ending at its first ``-1`` (the rest ignored); ``S`` is the set of
    a row's targets. Values must lie in ``[-1, C)``. Output ``'none'``: ``()`` or ``(N)``;
    'mean' averages over samples (an empty batch gives nan, 'sum' 0).

    >>> import numpy as np, losskit.functional as F
    >>> F.multilabel_margin_loss(np.array([[0.9, 0.2, 0.4, 0.8]]), np.array([[3, 0, -1, 1]]))
    array(0.45)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.same_library("input", input, target=target)
    x = _class_rows_input(input)
    t = _integer_target(target)
    if tuple(t.shape) != tuple(x.shape):
        raise ValueError(
            f"target shape {tuple(t.shape)} must match input shape {tuple(x.shape)} "
            "(class indices padded with -1)"
        )
    n_classes = x.shape[-1] if x.ndim else 1
    _check_range(t, -1, n_classes, f"multilabel_margin_loss targets must be class indices in [0, {n_classes}) or -1 (end of the row's targets)")
    return call(ops.multilabel_margin, (input, target), reduction=reduction)


def multi_margin_loss(
    input: Any,
    target: Any,
    p: int = 1,
    margin: float = 1.0,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""Multi-class hinge: ``l_n = (w_y / C) sum_{i != y} max(0, margin - x[y] + x[i])^p``.

    ``p`` is 1 or 2; ``weight`` (``(C)``) scales each sample by its target class's weight;
    'mean' averages over samples (not weighted). ``input``: ``(C)`` or ``(N, C)``; ``target``:
    integer class indices in ``[0, C)`` of shape ``(N)`` (``()`` or ``(1)`` for one sample); the
    ``'none'`` output has the target's shape.

    >>> import numpy as np, losskit.functional as F
    >>> F.multi_margin_loss(np.array([[0.3, 0.7], [0.5, 0.5]]), np.array([0, 1]))
    array(0.6)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    if p != 1 and p != 2:
        raise ValueError(f"only p == 1 and p == 2 supported, got p={p!r}")
    p = int(p)
    margin = _checks.number(margin, "margin")
    _checks.same_library("input", input, target=target, weight=weight)
    x = _class_rows_input(input)
    if weight is not None and _checks.array(weight, "weight").ndim != 1:
        raise ValueError(f"weight must be one-dimensional, got shape {tuple(_checks.data(weight).shape)}")
    n_classes = x.shape[-1] if x.ndim else 1
    _checks.class_weight(weight, n_classes, x)
    t = _integer_target(target)
    n_samples = x.shape[0] if x.ndim == 2 else 1
    if t.ndim > 1 or _array.size(t) != n_samples:
        raise ValueError(
            f"target must have shape ({n_samples},) (one class index per sample) for input shape "
            f"{tuple(x.shape)}, got {tuple(t.shape)}"
        )
    _check_range(t, 0, n_classes, f"class indices must be in [0, {n_classes})")
    return call(ops.multi_margin, (input, target, weight), reduction=reduction, p=p, margin=margin)
