"""Adam (and AdamW through ``decoupled_weight_decay``) with torch's update rule, step for step.

At step ``t``, with ``g = grad`` (negated when ``maximize``; plus ``weight_decay * p`` unless the
decay is decoupled, in which case ``p`` is first scaled by ``1 - lr * weight_decay``):
``m = m + (1 - beta1) (g - m)``, ``v = beta2 v + (1 - beta2) g^2`` (``v_max = max(v_max, v)``
with ``amsgrad``), ``p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from .. import _array, _checks
from .optimizer import Optimizer


class Adam(Optimizer):
    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__"):
            raise TypeError(f"betas must be a pair of numbers, got {type(betas).__name__}")
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=bool(amsgrad),
            maximize=bool(maximize), decoupled_weight_decay=bool(decoupled_weight_decay),
        )
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        if _checks.number(group["eps"], "eps") < 0.0:
            raise ValueError(f"eps must be >= 0, got {group['eps']}")
        if len(group["betas"]) != 2:
            raise ValueError(f"betas must be a pair, got {group['betas']!r}")
        for i, b in enumerate(group["betas"]):
            if not 0.0 <= _checks.number(b, f"betas[{i}]") < 1.0:
                raise ValueError(f"betas[{i}] must be in [0, 1), got {b}")

    def _update(self, param: Any, grad: Any, state: dict[str, Any], group: dict[str, Any]) -> Any:
        xp = _array.namespace(param)
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(param)
        if group["maximize"]:
            grad = -grad
        if wd != 0.0:
            if group["decoupled_weight_decay"]:
                param = param * (1.0 - lr * wd)
            else:
                grad = grad + wd * param
        state["step"] += 1
        t = state["step"]
        m = state["exp_avg"]
        m = m + (1.0 - beta1) * (grad - m)  # torch's lerp, for weights below 1/2
        v = beta2 * state["exp_avg_sq"] + (1.0 - beta2) * (grad * grad)
        state["exp_avg"], state["exp_avg_sq"] = m, v
        if group["amsgrad"]:
            v = state["max_exp_avg_sq"] = xp.maximum(state["max_exp_avg_sq"], v)
        step_size = lr / (1.0 - beta1**t)
        denom = xp.sqrt(v) / math.sqrt(1.0 - beta2**t) + group["eps"]
        return param - step_size * (m / denom)
