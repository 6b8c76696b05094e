"""Loss modules of the probabilistic family: thin, torch's constructors, the functional's docs."""

from __future__ import annotations

from typing import Any

from .. import _checks, _reduction
from .. import functional as F
from .losses import _Loss
from .modules import Module

__all__ = ["GaussianNLLLoss", "KLDivLoss", "PoissonNLLLoss"]


class PoissonNLLLoss(_Loss):
    __doc__ = F.poisson_nll_loss.__doc__

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        size_average: bool | None = None,
        eps: float = 1e-8,
        reduce: bool | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        _checks.flag(log_input, "log_input")
        _checks.flag(full, "full")
        _checks.number(eps, "eps")
        self.log_input = log_input
        self.full = full
        self.eps = eps

    def forward(self, log_input: Any, target: Any) -> Any:
        return F.poisson_nll_loss(
            log_input, target, log_input=self.log_input, full=self.full, eps=self.eps, reduction=self.reduction
        )


class GaussianNLLLoss(_Loss):
    __doc__ = F.gaussian_nll_loss.__doc__

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(None, None, reduction)
        _checks.flag(full, "full")
        _checks.number(eps, "eps")
        self.full = full
        self.eps = eps

    def forward(self, input: Any, target: Any, var: Any) -> Any:
        return F.gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)


class KLDivLoss(_Loss):
    __doc__ = F.kl_div.__doc__

    def __init__(
        self,
        size_average: bool | None = None,
        reduce: bool | None = None,
        reduction: str = "mean",
        log_target: bool = False,
    ) -> None:
        Module.__init__(self)  # _Loss would reject 'batchmean'
        self.reduction = _reduction.resolve(
            reduction, size_average, reduce, allowed=("none", "batchmean", "sum", "mean")
        )
        self.log_target = _checks.flag(log_target, "log_target")

    def forward(self, input: Any, target: Any) -> Any:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
