"""losskit: every torch.nn loss, exact numerics, hand-derived gradients, on any array library.

>>> import numpy as np, losskit
>>> x = losskit.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
>>> loss = losskit.nn.functional.cross_entropy(x, np.array([2]))
>>> loss.backward()
>>> x.grad.shape
(1, 3)
"""

from __future__ import annotations

from . import functional, nn, optim
from .autograd import (
    Tensor,
    abs,
    as_tensor,
    clamp,
    enable_grad,
    exp,
    grad,
    is_grad_enabled,
    log,
    log1p,
    matmul,
    max,
    mean,
    no_grad,
    reshape,
    set_grad_enabled,
    sqrt,
    sum,
    tensor,
    transpose,
    value_and_grad,
    where,
)
from ._blocks import get_num_threads, set_num_threads
from .functional import logsumexp, log_softmax, sigmoid, softmax
from .parts import mean_parts
from .random import manual_seed

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "abs",
    "as_tensor",
    "clamp",
    "enable_grad",
    "exp",
    "functional",
    "get_num_threads",
    "grad",
    "is_grad_enabled",
    "log",
    "log1p",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "manual_seed",
    "mean",
    "mean_parts",
    "nn",
    "no_grad",
    "optim",
    "reshape",
    "set_grad_enabled",
    "set_num_threads",
    "sigmoid",
    "softmax",
    "sqrt",
    "sum",
    "tensor",
    "transpose",
    "value_and_grad",
    "where",
]
