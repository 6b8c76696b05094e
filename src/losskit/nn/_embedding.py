"""Modules of the embedding family: similarity and distance layers, and their losses."""

from __future__ import annotations

from typing import Any, Callable

from .. import _checks
from .. import functional as F
from .losses import _Loss
from .modules import Module

__all__ = [
    "CosineEmbeddingLoss",
    "CosineSimilarity",
    "PairwiseDistance",
    "TripletMarginLoss",
    "TripletMarginWithDistanceLoss",
]


def _positive_margin(cls: str, margin: Any) -> None:
    """torch's constructor check: ``margin`` must be > 0."""
    if _checks.number(margin, "margin") <= 0:
        raise ValueError(f"{cls}: expected margin to be greater than 0, got {margin} instead")


class CosineSimilarity(Module):
    __doc__ = F.cosine_similarity.__doc__

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        _checks.integer(dim, "dim")
        _checks.number(eps, "eps", low=0.0)
        self.dim = dim
        self.eps = eps

    def forward(self, x1: Any, x2: Any) -> Any:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    __doc__ = F.pairwise_distance.__doc__

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        _checks.number(p, "p")
        _checks.number(eps, "eps")
        _checks.flag(keepdim, "keepdim")
        self.norm = p  # torch's attribute name
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1: Any, x2: Any) -> Any:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class CosineEmbeddingLoss(_Loss):
    __doc__ = F.cosine_embedding_loss.__doc__

    def __init__(self, margin: float = 0.0, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        _checks.number(margin, "margin")
        self.margin = margin

    def forward(self, input1: Any, input2: Any, target: Any) -> Any:
        return F.cosine_embedding_loss(input1, input2, target, margin=self.margin, reduction=self.reduction)


class TripletMarginLoss(_Loss):
    __doc__ = F.triplet_margin_loss.__doc__

    def __init__(self, margin: float = 1.0, p: float = 2.0, eps: float = 1e-6, swap: bool = False, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        _positive_margin("TripletMarginLoss", margin)
        _checks.number(p, "p")
        _checks.number(eps, "eps")
        _checks.flag(swap, "swap")
        self.margin = margin
        self.p = p
        self.eps = eps
        self.swap = swap

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Any:
        return F.triplet_margin_loss(
            anchor, positive, negative, margin=self.margin, p=self.p, eps=self.eps, swap=self.swap, reduction=self.reduction
        )


class TripletMarginWithDistanceLoss(_Loss):
    __doc__ = F.triplet_margin_with_distance_loss.__doc__

    def __init__(self, *, distance_function: Callable[[Any, Any], Any] | None = None, margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        _positive_margin("TripletMarginWithDistanceLoss", margin)
        _checks.function(distance_function, "distance_function")
        _checks.flag(swap, "swap")
        self.distance_function = distance_function if distance_function is not None else PairwiseDistance()
        self.margin = margin
        self.swap = swap

    def forward(self, anchor: Any, positive: Any, negative: Any) -> Any:
        return F.triplet_margin_with_distance_loss(
            anchor, positive, negative, distance_function=self.distance_function, margin=self.margin, swap=self.swap, reduction=self.reduction
        )
