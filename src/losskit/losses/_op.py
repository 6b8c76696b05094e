"""The loss-op pattern: one loss, one pair of pure functions over the Array API.

``forward(xp, inputs, **options) -> (value, residuals)`` computes the (reduced) value and whatever
the gradient needs; ``backward(xp, residuals, grad_output, needs, **options) -> grads`` returns
one gradient per input (``None`` where an input is not differentiable or not needed). ``needs``
is a tuple of booleans, one per input, so that backward skips work nobody asked for.

Ops assume valid input: the public layer (``losskit.functional``) checks arguments once.
Inside an op: no NumPy calls, no boolean-mask indexing, no data-dependent shapes, constants as
Python scalars (which take the array's dtype under the standard's promotion rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Op:
    """A differentiable function of arrays with one analytic gradient rule.

    ``name`` is the ``grad_fn`` name shown on results (torch's, where torch has the node);
    ``differentiable`` lists the positions of inputs that can receive a gradient.
    """

    name: str
    forward: Callable[..., tuple[Any, Any]]
    backward: Callable[..., tuple[Any, ...]]
    differentiable: tuple[int, ...] = (0,)

    def __repr__(self) -> str:
        return f"Op({self.name})"
