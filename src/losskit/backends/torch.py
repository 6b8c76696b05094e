"""PyTorch tensors in, PyTorch tensors out, differentiable by torch autograd.

One generic ``torch.autograd.Function`` runs any losskit op: its forward is the op's forward on
the tensors (through array_api_compat's torch namespace), its backward the op's own backward.
It is written in the ``setup_context`` style with ``generate_vmap_rule``, so ``torch.func``'s
``grad`` and ``vmap`` compose with it. losskit's backward rules are first-order only, hence
``once_differentiable``: a double backward raises torch's clear error instead of a silent zero.

The op's residuals (any nesting of tuples, tensors, numbers and None) travel from forward to
backward as extra, non-differentiable outputs, the only route ``setup_context`` allows; their
structure rides along in a small box passed as an argument.
"""

from __future__ import annotations

from typing import Any, Sequence

import array_api_compat
import torch
from torch.autograd.function import once_differentiable

from ..autograd.tensor import _sum_to_shape
from ..losses._op import Op


class _Box:
    """Carries the residuals' structure from forward to setup_context."""

    __slots__ = ("spec",)


def _flatten(tree: Any, inputs: Sequence[Any], value: Any, tensors: list) -> Any:
    """Replace each tensor leaf by ("in", i) when it is input i, ("value", 0) when it is the
    op's value (which must stay differentiable: it cannot also be a non-differentiable extra
    output), else ("out", k)."""
    if isinstance(tree, (tuple, list)):
        return type(tree)(_flatten(t, inputs, value, tensors) for t in tree)
    if isinstance(tree, torch.Tensor):
        if tree is value:
            return ("__value__", 0)
        for i, x in enumerate(inputs):
            if tree is x:
                return ("__in__", i)
        tensors.append(tree)
        return ("__out__", len(tensors) - 1)
    return tree


def _unflatten(spec: Any, inputs: Sequence[Any], value: Any, tensors: Sequence[Any]) -> Any:
    if isinstance(spec, tuple) and len(spec) == 2 and spec[0] in ("__in__", "__out__", "__value__"):
        return {"__in__": inputs, "__out__": tensors, "__value__": (value,)}[spec[0]][spec[1]]
    if isinstance(spec, (tuple, list)):
        return type(spec)(_unflatten(s, inputs, value, tensors) for s in spec)
    return spec


class _LosskitOp(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(op: Op, options: tuple, box: _Box, *inputs: Any) -> Any:
        xp = array_api_compat.array_namespace(*(x for x in inputs if isinstance(x, torch.Tensor)))
        value, residuals = op.forward(xp, inputs, **dict(options))
        extra: list = []
        box.spec = _flatten(residuals, inputs, value, extra)
        return (value, *extra)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        op, options, box, *args = inputs
        extra = output[1:]
        ctx.mark_non_differentiable(*extra)
        ctx.op, ctx.options, ctx.spec = op, options, box.spec
        tensor_inputs = [a if isinstance(a, torch.Tensor) else None for a in args]
        ctx.non_tensor_inputs = [None if isinstance(a, torch.Tensor) else a for a in args]
        ctx.shapes = [tuple(a.shape) if isinstance(a, torch.Tensor) else None for a in args]
        ctx.n_inputs = len(args)
        ctx.save_for_backward(*[t for t in tensor_inputs if t is not None], output[0], *extra)
        ctx.tensor_positions = [i for i, t in enumerate(tensor_inputs) if t is not None]

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_output: Any, *_: Any) -> tuple:
        saved = ctx.saved_tensors
        n = len(ctx.tensor_positions)
        inputs = list(ctx.non_tensor_inputs)
        for pos, t in zip(ctx.tensor_positions, saved[:n]):
            inputs[pos] = t
        residuals = _unflatten(ctx.spec, inputs, saved[n], saved[n + 1 :])
        needs = tuple(ctx.needs_input_grad[3:])
        xp = array_api_compat.array_namespace(grad_output)
        grads = ctx.op.backward(xp, residuals, grad_output, needs, **dict(ctx.options))
        out = []
        for g, need, shape in zip(grads, needs, ctx.shapes):
            out.append(_sum_to_shape(xp, g, shape) if (g is not None and need) else None)
        return (None, None, None, *out)


def apply(op: Op, inputs: Sequence[Any], options: dict) -> Any:
    """Run ``op`` on torch tensors, recording it for torch autograd when any input needs it."""
    key = tuple(sorted(options.items()))
    if torch.is_grad_enabled() and any(isinstance(x, torch.Tensor) and x.requires_grad for x in inputs):
        return _LosskitOp.apply(op, key, _Box(), *inputs)[0]
    xp = array_api_compat.array_namespace(*(x for x in inputs if isinstance(x, torch.Tensor)))
    with torch.no_grad():
        value, _ = op.forward(xp, tuple(inputs), **options)
    return value
