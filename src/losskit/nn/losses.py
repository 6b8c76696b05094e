"""Loss modules with torch.nn's names and constructors: each stores its options and calls
:mod:`losskit.functional`, the one place where a loss is defined.

torch's legacy ``size_average``/``reduce`` are resolved into ``reduction`` once, at
construction, with torch's DeprecationWarning. Options are checked at construction too (torch
checks most of them at the first call): a bad option fails where it is written.
"""

from __future__ import annotations

from typing import Any

from .. import _checks, _reduction
from .. import functional as F
from .modules import Module

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "L1Loss",
    "MSELoss",
    "NLLLoss",
    "SmoothL1Loss",
]


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _reduction.resolve(reduction, size_average, reduce)

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    """A loss with a per-class (or per-element) ``weight``: a constant, not a parameter.

    Its shape is checked against the input at each call; here only that it is a floating array.
    """

    def __init__(self, weight: Any = None, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        if weight is not None:
            _checks.floating(weight, "weight")
        self.weight = weight


class L1Loss(_Loss):
    __doc__ = F.l1_loss.__doc__

    def forward(self, input: Any, target: Any) -> Any:
        return F.l1_loss(input, target, reduction=self.reduction)


class MSELoss(_Loss):
    __doc__ = F.mse_loss.__doc__

    def forward(self, input: Any, target: Any) -> Any:
        return F.mse_loss(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    __doc__ = F.huber_loss.__doc__

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        _checks.number(delta, "delta", low=0.0, low_open=True)
        self.delta = delta

    def forward(self, input: Any, target: Any) -> Any:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class SmoothL1Loss(_Loss):
    __doc__ = F.smooth_l1_loss.__doc__

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        _checks.number(beta, "beta", low=0.0)
        self.beta = beta

    def forward(self, input: Any, target: Any) -> Any:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class BCELoss(_WeightedLoss):
    __doc__ = F.binary_cross_entropy.__doc__

    def forward(self, input: Any, target: Any) -> Any:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    __doc__ = F.binary_cross_entropy_with_logits.__doc__

    def __init__(self, weight: Any = None, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        if pos_weight is not None:
            _checks.floating(pos_weight, "pos_weight")
        self.pos_weight = pos_weight

    def forward(self, input: Any, target: Any) -> Any:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class CrossEntropyLoss(_WeightedLoss):
    __doc__ = F.cross_entropy.__doc__

    def __init__(self, weight: Any = None, size_average: bool | None = None, ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        _checks.class_weight(weight, None)
        _checks.integer(ignore_index, "ignore_index")
        _checks.number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Any, target: Any) -> Any:
        return F.cross_entropy(
            input,
            target,
            weight=self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_WeightedLoss):
    __doc__ = F.nll_loss.__doc__

    def __init__(self, weight: Any = None, size_average: bool | None = None, ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        _checks.class_weight(weight, None)
        _checks.integer(ignore_index, "ignore_index")
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Any:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)
