"""Public functions of the focal family: torchvision's sigmoid focal loss and the multi-class
focal loss of the seeds (the math and the gradients: :mod:`losskit.losses.focal`)."""

from __future__ import annotations

from typing import Any

from .. import _checks, _reduction
from ..dispatch import call
from ..losses import focal as _ops
from ..losses.classification import class_axis

__all__ = ["focal_loss", "sigmoid_focal_loss"]


def sigmoid_reduction(reduction: Any) -> str:
    """torchvision's reductions: 'none', 'mean', 'sum' and nothing else (no legacy aliases)."""
    if reduction == "elementwise_mean":
        raise ValueError(f"reduction must be one of 'none', 'mean', 'sum', got {reduction!r}")
    return _reduction.resolve(reduction)


def sigmoid_focal_loss(
    inputs: Any,
    targets: Any,
    alpha: float = 0.25,
    gamma: float = 2,
    reduction: str = "none",
) -> Any:
    r"""Focal loss of logits (``torchvision.ops.sigmoid_focal_loss``, Lin et al. 2017).

    ``l = a_t ce (1 - p_t)^gamma`` with ``ce`` the binary cross entropy with logits,
    ``p_t = p t + (1 - p)(1 - t)``, ``p = sigmoid(inputs)``, and ``a_t = alpha t + (1 - alpha)
    (1 - t)`` when ``alpha >= 0`` (a negative ``alpha``, e.g. -1, means no weighting). ``gamma
    = 0`` is the alpha-weighted binary cross entropy. ``targets`` has the inputs' shape and dtype
    and lies in [0, 1] (hard labels or soft ones; differentiable). ``reduction``: 'none' (the
    default, as torchvision), 'mean' or 'sum'.

    ``1 - p_t`` is computed without cancellation, so the value and the gradient are exact where
    torchvision's formula rounds ``1 - p_t`` to 0 (``inputs = 50, targets = 1``: torch gives 0 and,
    for ``gamma < 1``, a nan gradient); the gradient is finite for every ``gamma >= 0``.

    >>> import numpy as np, losskit.functional as F
    >>> F.sigmoid_focal_loss(np.array([2.0, -1.0, 0.5]), np.array([1.0, 0.0, 0.3]))
    array([0.00045089, 0.01699354, 0.14901774])
    >>> F.sigmoid_focal_loss(np.array([50.0]), np.array([1.0]), gamma=0.5)
    array([6.6965924e-34])
    """
    reduction = sigmoid_reduction(reduction)
    alpha = _checks.number(alpha, "alpha")
    gamma = _checks.number(gamma, "gamma", low=0.0)
    _checks.same_library("inputs", inputs, targets=targets)
    x = _checks.floating(inputs, "inputs")
    y = _checks.same_dtype(targets, "targets", x, "inputs")
    _checks.same_shape(y, "targets", x, "inputs")
    _checks.in_unit_interval(y, "targets")
    return call(_ops.sigmoid_focal_loss, (inputs, targets), alpha=alpha, gamma=gamma, reduction=reduction)


def focal_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    gamma: float = 2.0,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Any:
    r"""Multi-class focal loss of logits: ``l_n = (1 - exp(-c_n))^gamma c_n``.

    ``c_n`` is :func:`cross_entropy` with ``reduction='none'`` (same ``weight``, same
    ``ignore_index``: ``c_n = 0`` for an ignored target), so ``exp(-c_n)`` is the probability of
    the target class (raised to its class weight). Shapes as cross_entropy: ``input`` ``(C)``,
    ``(N, C)`` or ``(N, C, d1, ..., dk)``; ``target`` class indices of shape ``()``, ``(N)`` or
    ``(N, d1, ..., dk)``, or class probabilities of the input's shape. ``gamma = 0`` is cross
    entropy per sample. 'mean' is the seeds' ``loss.mean()``: the sum divided by the number of
    samples, ignored ones included (they count as zeros), not by the sum of target weights as
    cross_entropy does. 'none' returns one loss per sample.

    ``1 - exp(-c)`` is ``-expm1(-c)``, so confidently right samples keep their tiny loss, and the
    gradient is finite (0 at ``c = 0``) also for ``0 < gamma < 1``, where autograd of the formula
    gives nan once ``c`` rounds to 0 (logits ``[50, 0]``, target 0: torch's loss is 0, its
    gradient nan; here ``2.7e-33`` and ``[-4.0e-33, 4.0e-33]``).

    >>> import numpy as np, losskit.functional as F
    >>> logits = np.array([[0.121, 0.434, 0.2, 0.3343], [0.3, 0.342, 0.6, 0.123], [5., 2., -1., 3.]])
    >>> F.focal_loss(logits, np.array([1, 0, 3]))
    array(1.05471253)
    >>> F.focal_loss(logits, np.array([1, -100, 3]), gamma=0.5, reduction='none')
    array([1.03674158, 0.        , 2.04443985])
    """
    reduction = _reduction.resolve(reduction)
    _checks.same_library("input", input, target=target, weight=weight)
    x = _checks.class_input(input)
    gamma = _checks.number(gamma, "gamma", low=0.0)
    ignore_index = _checks.integer(ignore_index, "ignore_index")
    _checks.class_weight(weight, x.shape[class_axis(x.ndim)], x)
    probabilities = _checks.class_target(target, x, ignore_index)
    return call(
        _ops.focal_loss,
        (input, target, weight),
        gamma=gamma,
        reduction=reduction,
        ignore_index=ignore_index,
        probabilities=probabilities,
    )
