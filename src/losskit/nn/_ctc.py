"""Loss modules of the ctc family: ``CTCLoss``."""

from __future__ import annotations

from typing import Any

from .. import _checks
from .._functional.ctc import ctc_loss
from .losses import _Loss

__all__ = ["CTCLoss"]


class CTCLoss(_Loss):
    __doc__ = ctc_loss.__doc__

    def __init__(self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> None:
        super().__init__(reduction=reduction)
        # blank < C is checked at the call, where C is known
        _checks.number(_checks.integer(blank, "blank"), "blank", low=0)
        _checks.flag(zero_infinity, "zero_infinity")
        self.blank = blank
        self.zero_infinity = zero_infinity

    def forward(self, log_probs: Any, targets: Any, input_lengths: Any, target_lengths: Any) -> Any:
        return ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            blank=self.blank,
            reduction=self.reduction,
            zero_infinity=self.zero_infinity,
        )
