"""JAX arrays in, JAX arrays out, differentiable by ``jax.grad`` through ``jax.custom_vjp``.

The op and its options are ``nondiff_argnums`` (options as a sorted tuple of items: hashable and
static under ``jax.jit``). The forward's residuals may hold Python values next to arrays (an axis,
an element count); those ride in the pytree's static structure, so that under ``jit`` the
backward sees them as the Python values the op produced, not as traced arrays.
"""

from __future__ import annotations

import functools
from typing import Any, Sequence

import array_api_compat
import jax

from ..losses._op import Op


@jax.tree_util.register_pytree_node_class
class _Static:
    """A non-array residual, kept out of the traced leaves."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def tree_flatten(self) -> tuple:
        return (), self.value

    @classmethod
    def tree_unflatten(cls, aux: Any, children: tuple) -> "_Static":
        return cls(aux)

    def __hash__(self) -> int:
        return hash(self.value)

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _Static) and self.value == other.value


def _wrap(tree: Any) -> Any:
    if isinstance(tree, (tuple, list)):
        return type(tree)(_wrap(t) for t in tree)
    if tree is None or isinstance(tree, jax.Array):
        return tree
    return _Static(tree)


def _unwrap(tree: Any) -> Any:
    if isinstance(tree, _Static):
        return tree.value
    if isinstance(tree, (tuple, list)):
        return type(tree)(_unwrap(t) for t in tree)
    return tree


def _xp(inputs: Sequence[Any]) -> Any:
    return array_api_compat.array_namespace(*(x for x in inputs if x is not None))


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _run(op: Op, options: tuple, *inputs: Any) -> Any:
    value, _ = op.forward(_xp(inputs), inputs, **dict(options))
    return value


def _fwd(op: Op, options: tuple, *inputs: Any) -> tuple:
    value, residuals = op.forward(_xp(inputs), inputs, **dict(options))
    shapes = tuple(None if x is None else (tuple(x.shape), x.dtype) for x in inputs)
    return value, (_wrap(residuals), _Static(shapes))


def _bwd(op: Op, options: tuple, saved: tuple, g: Any) -> tuple:
    from ..autograd.tensor import _sum_to_shape

    residuals, shapes = _unwrap(saved[0]), saved[1].value
    needs = tuple(
        s is not None and i in op.differentiable and jax.numpy.issubdtype(s[1], jax.numpy.floating)
        for i, s in enumerate(shapes)
    )
    xp = array_api_compat.array_namespace(g)
    grads = op.backward(xp, residuals, g, needs, **dict(options))
    out = []
    for grad, need, s in zip(grads, needs, shapes):
        out.append(_sum_to_shape(xp, grad, s[0]) if (need and grad is not None) else None)
    return tuple(out)


_run.defvjp(_fwd, _bwd)


def apply(op: Op, inputs: Sequence[Any], options: dict) -> Any:
    return _run(op, tuple(sorted(options.items())), *inputs)
