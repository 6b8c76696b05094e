"""Hands an op to the autodiff system that fits its inputs.

* any ``losskit.Tensor`` among the inputs: losskit's own engine records a graph node;
* torch tensors: a ``torch.autograd.Function`` running the op (:mod:`losskit.backends.torch`);
* JAX arrays: a ``jax.custom_vjp`` function running the op (:mod:`losskit.backends.jax`);
* otherwise plain arrays of any Array API library: forward evaluation, an array of that kind back.

Optional libraries are imported only when the user's arrays come from them.

Every forward and backward runs silenced for NumPy's floating-point warnings: as in torch, an
inf or nan an op produces is its answer, not a warning.
"""

from __future__ import annotations

from typing import Any, Sequence

import array_api_compat

from . import _array
from .autograd.tensor import Tensor, apply
from .losses._op import Op


def call(op: Op, inputs: Sequence[Any], **options: Any) -> Any:
    if any(isinstance(v, Tensor) for v in inputs):
        return apply(op, inputs, **options)
    arrays = [v for v in inputs if _array.is_array(v)]
    if any(array_api_compat.is_torch_array(v) for v in arrays):
        from .backends import torch as torch_backend

        return torch_backend.apply(op, inputs, options)
    if any(array_api_compat.is_jax_array(v) for v in arrays):
        from .backends import jax as jax_backend

        return jax_backend.apply(op, inputs, options)
    xp = _array.namespace(*arrays)
    with _array.quiet(xp):
        value, _ = op.forward(xp, tuple(inputs), **options)
    return _array.as_result(xp, value)
