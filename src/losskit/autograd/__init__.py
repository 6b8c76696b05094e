"""The autograd engine: Tensor, grad modes, primitive functions, and function transforms."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import (
    Node,
    Tensor,
    abs,
    apply,
    as_tensor,
    clamp,
    exp,
    log,
    log1p,
    matmul,
    max,
    mean,
    reshape,
    sqrt,
    sum,
    tensor,
    transpose,
    where,
)


def _argnums(argnums: int | Sequence[int], nargs: int) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not isinstance(n, int) or not -nargs <= n < nargs:
            raise ValueError(f"argnums must index the {nargs} positional arguments, got {argnums!r}")
    return tuple(n % nargs for n in nums)


def value_and_grad(fun: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """``fun``'s value and its gradient with respect to the arguments ``argnums``.

    ``fun`` takes arrays and returns a one-element result computed with losskit functions; the
    returned function gives ``(value, grad)`` as plain arrays (a tuple of grads when ``argnums``
    is a sequence), like jax.value_and_grad.
    """

    def wrapped(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        nums = _argnums(argnums, len(args))
        leaves = {i: Tensor(tensor(args[i]).data, requires_grad=True) for i in nums}
        call_args = [leaves.get(i, a) for i, a in enumerate(args)]
        with enable_grad():
            out = fun(*call_args, **kwargs)
        if not isinstance(out, Tensor):
            raise TypeError(
                f"fun must return a losskit Tensor computed from its arguments, got {type(out).__name__}"
            )
        if out.size != 1:
            raise ValueError(f"fun must return a one-element result, got shape {out.shape}")
        if out.requires_grad:
            out.backward()
        grads = []
        for i in nums:
            g = leaves[i].grad
            xp_zero = leaves[i].data * 0
            grads.append(xp_zero if g is None else g.data)
        grad = grads[0] if isinstance(argnums, int) else tuple(grads)
        return out.data, grad

    return wrapped


def grad(fun: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The gradient of a one-element ``fun`` with respect to ``argnums``, as plain arrays."""
    vg = value_and_grad(fun, argnums)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    return wrapped


__all__ = [
    "Node",
    "Tensor",
    "abs",
    "apply",
    "as_tensor",
    "clamp",
    "enable_grad",
    "exp",
    "grad",
    "is_grad_enabled",
    "log",
    "log1p",
    "matmul",
    "max",
    "mean",
    "no_grad",
    "reshape",
    "set_grad_enabled",
    "sqrt",
    "sum",
    "tensor",
    "transpose",
    "value_and_grad",
    "where",
]
