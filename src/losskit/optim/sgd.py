"""Stochastic gradient descent with torch's update rule, step for step.

With ``g = grad (+ weight_decay * p)`` (negated first when ``maximize``): ``b = g`` on the first
step, then ``b = momentum * b + (1 - dampening) * g``; the step direction is ``b``, or
``g + momentum * b`` with ``nesterov``; ``p = p - lr * direction``.
"""

from __future__ import annotations

from typing import Any, Iterable

from .. import _checks
from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=bool(nesterov), maximize=bool(maximize),
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if _checks.number(group["momentum"], "momentum") < 0.0:
            raise ValueError(f"momentum must be >= 0, got {group['momentum']}")
        _checks.number(group["dampening"], "dampening")
        if group["nesterov"] and (group["momentum"] <= 0.0 or group["dampening"] != 0.0):
            raise ValueError("nesterov momentum requires momentum > 0 and dampening = 0")

    def _update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> Any:
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0.0:
            grad = grad + group["weight_decay"] * param
        momentum = group["momentum"]
        if momentum != 0.0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = grad
            else:
                buf = momentum * buf + (1.0 - group["dampening"]) * grad
            state["momentum_buffer"] = buf
            grad = grad + momentum * buf if group["nesterov"] else buf
        return param - group["lr"] * grad
