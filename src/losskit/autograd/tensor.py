"""losskit's reverse-mode autograd engine: ``Tensor``, graph nodes, and the backward walk.

A Tensor wraps an array of any Array API library (NumPy first; CuPy and others work unchanged).
Every operation is an :class:`~losskit.losses._op.Op`; applying one to Tensors that require
gradients records a :class:`Node` holding the op's residuals. ``backward`` walks the nodes in
reverse topological order, calls each op's one gradient rule, sums each gradient back to its
input's shape (the single place where broadcasting is undone) and accumulates into leaves'
``.grad``.
"""

from __future__ import annotations

import math
import numbers
import sys
import threading
from typing import Any, Iterable, Sequence

import numpy as np

from .. import _array
from ..losses._op import Op
from . import ops
from .grad_mode import is_grad_enabled

_FREED = object()

# Graphs built in different threads are independent, but they may share leaves (one model trained
# from several threads): adding into a leaf's .grad is a read-modify-write, done under this lock
# so that no thread's gradient is lost (torch accumulates atomically too).
_ACCUMULATE = threading.Lock()

_DTYPES = {
    "float16": np.float16,
    "float32": np.float32,
    "float64": np.float64,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}


class Node:
    """One recorded op application: the op, its residuals, and the Tensors it was applied to."""

    __slots__ = ("op", "xp", "residuals", "options", "parents", "needs")

    def __init__(self, op: Op, xp: Any, residuals: Any, options: dict, parents: tuple, needs: tuple):
        self.op = op
        self.xp = xp
        self.residuals = residuals
        self.options = options
        self.parents = parents
        self.needs = needs

    def name(self) -> str:
        return self.op.name

    @property
    def next_functions(self) -> tuple:
        return tuple(
            (p.grad_fn if isinstance(p, Tensor) else None, 0) for p in self.parents
        )

    def __repr__(self) -> str:
        return f"<{self.op.name} object>"

    def run(self, grad_output: Any) -> tuple:
        residuals = self.residuals  # read once: another thread's backward may free them meanwhile
        if residuals is _FREED:
            raise RuntimeError(
                f"Trying to backward through the graph a second time ({self.op.name}'s saved "
                "values were freed by the first backward). Pass retain_graph=True to the first "
                "backward() if you need to backward through the graph again."
            )
        with _array.quiet(self.xp):
            return self.op.backward(self.xp, residuals, grad_output, self.needs, **self.options)

    def free(self) -> None:
        self.residuals = _FREED


def _unwrap(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def apply(op: Op, inputs: Sequence[Any], **options: Any) -> "Tensor":
    """Run ``op`` on Tensors (and plain arrays or Python scalars) and record it if needed."""
    datas = tuple(_unwrap(v) for v in inputs)
    xp = _array.namespace(*(d for d in datas if _array.is_array(d)))
    with _array.quiet(xp):
        value, residuals = op.forward(xp, datas, **options)
    value = _array.as_result(xp, value)
    needs = tuple(
        i in op.differentiable and isinstance(v, Tensor) and v.requires_grad
        for i, v in enumerate(inputs)
    )
    if not (any(needs) and is_grad_enabled()):
        return Tensor(value)
    node = Node(op, xp, residuals, options, tuple(inputs), needs)
    out = Tensor(value)
    out.requires_grad = True
    out.grad_fn = node
    return out


def _sum_to_shape(xp: Any, grad: Any, shape: tuple[int, ...]) -> Any:
    """Undo broadcasting: sum ``grad`` over the axes that broadcasting added or stretched."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = xp.sum(grad, axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = xp.sum(grad, axis=stretched, keepdims=True)
    return xp.reshape(grad, shape)


def _topological_order(root: Node) -> list[Node]:
    """Nodes reachable from ``root``, each after every node that consumes its output."""
    order: list[Node] = []
    seen = {id(root)}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        stack.append((node, True))
        for parent in node.parents:
            fn = parent.grad_fn if isinstance(parent, Tensor) else None
            if fn is not None and id(fn) not in seen:
                seen.add(id(fn))
                stack.append((fn, False))
    order.reverse()
    return order


def _references(grad: Any) -> int:
    return sys.getrefcount(grad)


def _unshared_references() -> int:
    def accumulate(grad: Any) -> int:  # _accumulate's call structure
        return _references(grad)

    grad = np.empty(1)
    return accumulate(grad)


def _unshared_base_references() -> int:
    base = np.empty(4)
    view = base.reshape(2, 2)
    del base
    return _references(view.base)


# The reference counts that _accumulate sees for an array only its caller's one variable holds,
# and for the base of a view that nothing but the view holds (measured, not assumed: they depend
# on the interpreter).
_UNSHARED = _unshared_references()
_UNSHARED_BASE = _unshared_base_references()


def _owned(grad: Any) -> bool:
    """True for a NumPy array that nothing else holds and that owns its memory, or is a view of
    the whole of a base that nothing else holds (an op's reshape of its own fresh array)."""
    base = grad.base
    if base is not None and not (
        type(base) is np.ndarray and base.base is None and base.size == grad.size
        and _references(base) <= _UNSHARED_BASE + 1  # (+1: the local name)
    ):
        return False
    return _references(grad) <= _UNSHARED + 1  # (+1: _owned's own parameter)


def _accumulate(leaf: "Tensor", xp: Any, grad: Any) -> None:
    if grad.dtype != leaf.data.dtype:
        grad = xp.astype(grad, leaf.data.dtype)
    # A gradient nobody else holds (no residual kept by retain_graph, no other input's gradient,
    # not the caller's own array) and that owns its memory becomes the leaf's .grad as it is; any
    # other is copied, so that .grad never aliases another array. Torch's AccumulateGrad makes
    # the same reference-count check. Saves a pass and an input-sized array per leaf.
    owned = type(grad) is np.ndarray and _owned(grad)
    with _ACCUMULATE:
        if leaf.grad is None:
            leaf.grad = Tensor(grad if owned else xp.asarray(grad, copy=True))
        else:
            leaf.grad = Tensor(leaf.grad.data + grad)


def run_backward(root: "Tensor", gradient: Any, retain_graph: bool) -> None:
    if root.grad_fn is None:
        _accumulate(root, _array.namespace(root.data), gradient)
        return
    pending: dict[int, Any] = {id(root.grad_fn): gradient}
    for node in _topological_order(root.grad_fn):
        grad = pending.pop(id(node), None)
        if grad is None:
            continue
        input_grads = list(node.run(grad))
        if not retain_graph:
            node.free()
        for i, parent in enumerate(node.parents):
            # Each gradient is held by one variable only from here on (see _accumulate).
            g, input_grads[i] = input_grads[i], None
            if g is None or not isinstance(parent, Tensor) or not parent.requires_grad:
                continue
            g = _sum_to_shape(node.xp, g, tuple(parent.shape))
            if parent.grad_fn is None:
                _accumulate(parent, node.xp, g)
            else:
                key = id(parent.grad_fn)
                pending[key] = g if key not in pending else pending[key] + g


def _as_array(data: Any, dtype: Any, copy: bool | None) -> Any:
    if isinstance(data, Tensor):
        data = data.data
    if _array.is_array(data) and not isinstance(data, np.generic):
        xp = _array.namespace(data)
        if dtype is not None:
            data = xp.astype(data, _resolve_dtype(xp, dtype), copy=bool(copy))
            return data
        return xp.asarray(data, copy=copy)
    # Python data: torch's defaults, floats as float32 and ints as int64.
    arr = np.asarray(data)
    if dtype is not None:
        return np.array(arr, dtype=_resolve_dtype(np, dtype), copy=copy)
    if arr.dtype == np.float64 and not isinstance(data, np.ndarray | np.generic):
        return arr.astype(np.float32)
    if arr.dtype.kind in "iu" and not isinstance(data, np.ndarray | np.generic):
        return arr.astype(np.int64)
    return np.array(arr, copy=copy) if copy else arr


def _resolve_dtype(xp: Any, dtype: Any) -> Any:
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise TypeError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        return getattr(xp, dtype)
    return dtype


class Tensor:
    """An array that can record the operations applied to it and differentiate through them.

    ``Tensor(data)`` wraps ``data`` without copying; use :func:`losskit.tensor` to copy.
    """

    __slots__ = ("data", "grad", "grad_fn", "_requires_grad", "__weakref__")
    __array_priority__ = 1000  # so that ndarray <op> Tensor defers to Tensor's reflected op

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        if isinstance(data, Tensor):
            data = data.data
        if not _array.is_array(data) or isinstance(data, np.generic):
            data = np.asarray(data)
        if isinstance(data, np.ndarray) and data.dtype.kind not in "biufc":
            raise TypeError(f"data must hold numbers (bool, int, float or complex), got dtype {data.dtype}")
        self.data = data
        self.grad: Tensor | None = None
        self.grad_fn: Node | None = None
        self._requires_grad = False
        if requires_grad:
            self.requires_grad = True

    # --- autograd state --------------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None and not value:
            raise RuntimeError(
                "requires_grad can only be changed on leaf Tensors; use detach() for a "
                "non-leaf Tensor"
            )
        if value and not _array.is_floating(_array.namespace(self.data), self.data):
            raise TypeError(
                f"only floating-point Tensors can require gradients, got dtype {self.dtype}"
            )
        self._requires_grad = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad`` that requires gradients."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a Tensor that does not require grad and has no grad_fn: "
                "nothing in its history requires gradients"
            )
        xp = _array.namespace(self.data)
        if gradient is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient is only defined for one-element outputs; "
                    f"this one has shape {tuple(self.shape)}: pass gradient="
                )
            gradient = xp.ones_like(self.data)
        else:
            gradient = _unwrap(gradient)
            if not _array.is_array(gradient):
                if isinstance(gradient, bool) or not isinstance(gradient, numbers.Number):
                    raise TypeError(
                        f"gradient must be an array, a Tensor or a number, got {type(gradient).__name__}"
                    )
                gradient = xp.asarray(gradient, dtype=self.data.dtype)
            if tuple(gradient.shape) != tuple(self.shape):
                raise ValueError(
                    f"gradient must have the output's shape {tuple(self.shape)}, "
                    f"got {tuple(gradient.shape)}"
                )
        run_backward(self, gradient, retain_graph)

    def detach(self) -> "Tensor":
        return Tensor(self.data)

    def zero_(self) -> "Tensor":
        self.data = _array.namespace(self.data).zeros_like(self.data)
        return self

    # --- array protocol --------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape)

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return math.prod(self.data.shape)

    def numel(self) -> int:
        return self.size

    def dim(self) -> int:
        return self.ndim

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d Tensor")
        return self.shape[0]

    def item(self) -> float | int | bool:
        if self.size != 1:
            raise ValueError(f"item() needs a one-element Tensor, got shape {self.shape}")
        return np.asarray(self.data).reshape(()).item()

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shares memory for NumPy-backed Tensors)."""
        return np.asarray(self.data)

    def tolist(self) -> Any:
        return np.asarray(self.data).tolist()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            return np.asarray(self.data, dtype=dtype, copy=False)
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return np.asarray(self.data, dtype=dtype)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __repr__(self) -> str:
        body = np.array2string(np.asarray(self.data), separator=", ", precision=4, prefix="tensor(")
        extra = ""
        if self.grad_fn is not None:
            extra = f", grad_fn=<{self.grad_fn.name()}>"
        elif self.requires_grad:
            extra = ", requires_grad=True"
        return f"tensor({body}{extra})"

    # --- operations ------------------------------------------------------------------------

    def __add__(self, other: Any) -> "Tensor":
        return apply(ops.add, (self, other))

    def __radd__(self, other: Any) -> "Tensor":
        return apply(ops.add, (other, self))

    def __sub__(self, other: Any) -> "Tensor":
        return apply(ops.sub, (self, other))

    def __rsub__(self, other: Any) -> "Tensor":
        return apply(ops.sub, (other, self))

    def __mul__(self, other: Any) -> "Tensor":
        return apply(ops.mul, (self, other))

    def __rmul__(self, other: Any) -> "Tensor":
        return apply(ops.mul, (other, self))

    def __truediv__(self, other: Any) -> "Tensor":
        return apply(ops.div, (self, other))

    def __rtruediv__(self, other: Any) -> "Tensor":
        return apply(ops.div, (other, self))

    def __pow__(self, other: Any) -> "Tensor":
        return apply(ops.pow, (self, other))

    def __rpow__(self, other: Any) -> "Tensor":
        return apply(ops.pow, (other, self))

    def __matmul__(self, other: Any) -> "Tensor":
        return apply(ops.matmul, (self, other))

    def __rmatmul__(self, other: Any) -> "Tensor":
        return apply(ops.matmul, (other, self))

    def __neg__(self) -> "Tensor":
        return apply(ops.neg, (self,))

    def __abs__(self) -> "Tensor":
        return self.abs()

    def __pos__(self) -> "Tensor":
        return self

    def __getitem__(self, index: Any) -> "Tensor":
        return apply(ops.getitem, (self,), index=_unwrap_index(index))

    # Comparisons give plain boolean Tensors: they have no gradient.
    def _compare(self, other: Any, fn: str) -> "Tensor":
        return Tensor(getattr(self.data, fn)(_unwrap(other)))

    def __lt__(self, other: Any) -> "Tensor":
        return self._compare(other, "__lt__")

    def __le__(self, other: Any) -> "Tensor":
        return self._compare(other, "__le__")

    def __gt__(self, other: Any) -> "Tensor":
        return self._compare(other, "__gt__")

    def __ge__(self, other: Any) -> "Tensor":
        return self._compare(other, "__ge__")

    def __eq__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._compare(other, "__eq__")

    def __ne__(self, other: Any) -> "Tensor":  # type: ignore[override]
        return self._compare(other, "__ne__")

    __hash__ = object.__hash__

    def exp(self) -> "Tensor":
        return apply(ops.exp, (self,))

    def log(self) -> "Tensor":
        return apply(ops.log, (self,))

    def log1p(self) -> "Tensor":
        return apply(ops.log1p, (self,))

    def sqrt(self) -> "Tensor":
        return apply(ops.sqrt, (self,))

    def abs(self) -> "Tensor":
        return apply(ops.abs, (self,))

    def clamp(self, min: float | None = None, max: float | None = None) -> "Tensor":
        return clamp(self, min, max)

    def sum(self, dim: int | tuple[int, ...] | None = None, keepdim: bool = False) -> "Tensor":
        return apply(ops.sum, (self,), axis=_dims(dim), keepdims=keepdim)

    def mean(self, dim: int | tuple[int, ...] | None = None, keepdim: bool = False) -> "Tensor":
        return apply(ops.mean, (self,), axis=_dims(dim), keepdims=keepdim)

    def max(self, dim: int | None = None, keepdim: bool = False) -> Any:
        return max(self, dim, keepdim)

    def reshape(self, *shape: Any) -> "Tensor":
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(ops.reshape, (self,), shape=tuple(int(s) for s in shape))

    view = reshape

    def transpose(self, dim0: int, dim1: int) -> "Tensor":
        return transpose(self, dim0, dim1)

    @property
    def T(self) -> "Tensor":
        return apply(ops.permute, (self,), axes=tuple(reversed(range(self.ndim))))

    def matmul(self, other: Any) -> "Tensor":
        return apply(ops.matmul, (self, other))


def _unwrap_index(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_unwrap(i) for i in index)
    return _unwrap(index)


def _dims(dim: Any) -> Any:
    if isinstance(dim, list):
        return tuple(dim)
    return dim


# --- public functions (torch's names) ---------------------------------------------------------


def _as_tensor_arg(x: Any) -> Any:
    return x if isinstance(x, Tensor) else Tensor(x)


def exp(x: Any) -> Tensor:
    return apply(ops.exp, (_as_tensor_arg(x),))


def log(x: Any) -> Tensor:
    return apply(ops.log, (_as_tensor_arg(x),))


def log1p(x: Any) -> Tensor:
    return apply(ops.log1p, (_as_tensor_arg(x),))


def sqrt(x: Any) -> Tensor:
    return apply(ops.sqrt, (_as_tensor_arg(x),))


def abs(x: Any) -> Tensor:
    return apply(ops.abs, (_as_tensor_arg(x),))


def clamp(x: Any, min: float | None = None, max: float | None = None) -> Tensor:
    if min is None and max is None:
        raise ValueError("clamp needs at least one of min and max")
    return apply(ops.clamp, (_as_tensor_arg(x),), min=min, max=max)


def sum(x: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _as_tensor_arg(x).sum(dim, keepdim)


def mean(x: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    return _as_tensor_arg(x).mean(dim, keepdim)


class MaxResult(tuple):
    """``(values, indices)``, as torch.max(x, dim) returns."""

    @property
    def values(self) -> Tensor:
        return self[0]

    @property
    def indices(self) -> Tensor:
        return self[1]


def max(x: Any, dim: int | None = None, keepdim: bool = False) -> Any:
    """The largest element, or with ``dim`` the pair (values, indices) along it, as in torch."""
    x = _as_tensor_arg(x)
    if dim is None:
        return apply(ops.max, (x,))
    values = apply(ops.max, (x,), axis=dim, keepdims=keepdim)
    xp = _array.namespace(x.data)
    indices = Tensor(xp.argmax(x.data, axis=dim, keepdims=keepdim))
    return MaxResult((values, indices))


def reshape(x: Any, shape: Iterable[int]) -> Tensor:
    return _as_tensor_arg(x).reshape(tuple(shape))


def transpose(x: Any, dim0: int, dim1: int) -> Tensor:
    x = _as_tensor_arg(x)
    axes = list(range(x.ndim))
    axes[dim0], axes[dim1] = axes[dim1], axes[dim0]
    return apply(ops.permute, (x,), axes=tuple(axes))


def matmul(a: Any, b: Any) -> Tensor:
    return apply(ops.matmul, (_as_tensor_arg(a), b))


def where(condition: Any, x: Any, y: Any) -> Tensor:
    return apply(ops.where, (_unwrap(condition), x, y))


def zero_grads(params: Iterable[Tensor], set_to_none: bool = True) -> None:
    """Reset the ``.grad`` of each Tensor (for Module.zero_grad and Optimizer.zero_grad)."""
    for p in params:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad.zero_()


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A new leaf Tensor holding a copy of ``data`` (torch.tensor's defaults for Python data)."""
    return Tensor(_as_array(data, dtype, copy=True), requires_grad=requires_grad)


def as_tensor(data: Any, dtype: Any = None) -> Tensor:
    """A Tensor sharing ``data``'s memory where it can (an existing Tensor is returned as is)."""
    if isinstance(data, Tensor) and dtype is None:
        return data
    return Tensor(_as_array(data, dtype, copy=None))
