"""Loss modules of the focal family.

``FocalLoss`` is the seeds' module with torch-style options; ``SigmoidFocalLoss`` is losskit's
own module around ``torchvision.ops.sigmoid_focal_loss`` (torchvision has the function only).
"""

from __future__ import annotations

from typing import Any

from .._checks import class_weight, integer, number
from .._functional import focal as _F
from .losses import _WeightedLoss
from .modules import Module

__all__ = ["FocalLoss", "SigmoidFocalLoss"]


class SigmoidFocalLoss(Module):
    __doc__ = (
        "losskit's module for :func:`losskit.functional.sigmoid_focal_loss` "
        "(torchvision provides the function only).\n\n" + (_F.sigmoid_focal_loss.__doc__ or "")
    )

    def __init__(self, alpha: float = 0.25, gamma: float = 2, reduction: str = "none") -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.reduction = _F.sigmoid_reduction(reduction)
        number(gamma, "gamma", low=0.0)
        number(alpha, "alpha")

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, gamma={self.gamma}, reduction={self.reduction!r}"

    def forward(self, inputs: Any, targets: Any) -> Any:
        return _F.sigmoid_focal_loss(inputs, targets, self.alpha, self.gamma, self.reduction)


class FocalLoss(_WeightedLoss):
    __doc__ = _F.focal_loss.__doc__

    def __init__(
        self, weight: Any = None, gamma: float = 2.0, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(weight, reduction=reduction)
        class_weight(weight, None)
        number(gamma, "gamma", low=0.0)
        integer(ignore_index, "ignore_index")
        self.gamma = gamma
        self.ignore_index = ignore_index

    def extra_repr(self) -> str:
        return f"gamma={self.gamma}, ignore_index={self.ignore_index}, reduction={self.reduction!r}"

    def forward(self, input: Any, target: Any) -> Any:
        return _F.focal_loss(
            input,
            target,
            weight=self.weight,
            gamma=self.gamma,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
        )
