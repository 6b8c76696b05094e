"""Loss modules of the linear_cross_entropy family: ``LinearCrossEntropyLoss`` and its options."""

from __future__ import annotations

import math
from typing import Any

from .. import _checks
from .. import functional as F
from .._functional.linear_cross_entropy import LinearCrossEntropyOptions
from .losses import _WeightedLoss
from .modules import Linear

__all__ = ["LinearCrossEntropyLoss", "LinearCrossEntropyOptions"]


class LinearCrossEntropyLoss(_WeightedLoss):
    """A linear layer to ``C`` class logits and cross entropy, as torch.nn.LinearCrossEntropyLoss.

    ``self.linear`` is a :class:`losskit.nn.Linear` with ``C * prod(out_features)`` outputs
    (torch's layout, so ``state_dict`` keys are ``linear.weight`` and ``linear.bias`` and a torch
    module's weights load with ``load_state_dict``), initialised as torch's Linear; ``forward``
    reshapes its weight to ``(C, *out_features, in_features)`` and calls
    :func:`losskit.functional.linear_cross_entropy`, which computes the logits in chunks of the
    batch. ``weight`` (class weights), ``reduction``, ``ignore_index``, ``label_smoothing`` and
    ``options`` are the functional's.

    >>> import numpy as np, losskit
    >>> _ = losskit.manual_seed(0)
    >>> loss = losskit.nn.LinearCrossEntropyLoss(4, 10)
    >>> out = loss(losskit.tensor(np.ones((3, 4), np.float32)), np.array([1, 2, 3]))
    >>> out.backward()
    >>> loss.linear.weight.grad.shape
    (10, 4)
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        out_features: tuple[int, ...] = (),
        bias: bool = False,
        device: Any = None,
        dtype: Any = None,
        reduction: str = "mean",
        weight: Any = None,
        ignore_index: int | None = None,
        label_smoothing: float = 0.0,
        options: Any = None,
    ) -> None:
        num_classes = _checks.integer(num_classes, "num_classes")
        out_features = tuple(_checks.integer(d, "out_features") for d in out_features)
        if num_classes < 0 or any(d < 0 for d in out_features):
            raise ValueError(f"num_classes and out_features must be >= 0, got {num_classes} and {out_features}")
        if weight is not None:
            w = _checks.floating(weight, "weight")
            if tuple(w.shape) != (num_classes,):
                raise ValueError(f"expected weight shape to be {(num_classes,)}, got {tuple(w.shape)}")
        label_smoothing = _checks.number(label_smoothing, "label_smoothing")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"expected label_smoothing to be in range [0, 1], got {label_smoothing}")
        if ignore_index is not None:
            ignore_index = _checks.integer(ignore_index, "ignore_index")
        super().__init__(weight=weight, reduction=reduction)
        self.num_classes = num_classes
        self.out_features = out_features
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing
        self.linear = Linear(
            in_features, math.prod(out_features, start=num_classes), bias=bias, device=device, dtype=dtype
        )
        self.options = options

    def forward(self, input: Any, target: Any) -> Any:
        linear_weight = self.linear.weight
        linear_bias = self.linear.bias
        if self.out_features:
            linear_weight = linear_weight.reshape((self.num_classes, *self.out_features, self.linear.in_features))
            if linear_bias is not None:
                linear_bias = linear_bias.reshape((self.num_classes, *self.out_features))
        return F.linear_cross_entropy(
            input,
            linear_weight,
            target,
            linear_bias=linear_bias,
            weight=self.weight,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
            options=self.options,
        )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.linear.in_features},"
            f" num_classes={self.num_classes},"
            f" out_features={self.out_features},"
            f" bias={self.linear.bias is not None},"
            f" reduction={self.reduction},"
            f" ignore_index={self.ignore_index},"
            f" label_smoothing={self.label_smoothing},"
            f" options={self.options}"
        )
