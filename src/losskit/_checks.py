"""Argument validation at the public boundary, with messages that name the argument.

Ops assume valid input; every check happens here, once. Each error is a ValueError (a wrong
shape or value), a TypeError (a wrong type or dtype, arrays of different libraries) or an
IndexError (an index out of range), and its message names the argument, what was received and
what was expected. Checks of values (class indices in range, probabilities in [0, 1]) run only on
arrays whose values are at hand: not on lazy Dask arrays nor on JAX tracers inside jit.
"""

from __future__ import annotations

import numbers
from typing import Any

import array_api_compat
import numpy as np

from . import _array
from .autograd.tensor import Tensor


def data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def array(x: Any, name: str) -> Any:
    """``x`` must be an array or a Tensor; returns its array."""
    d = data(x)
    if not _array.is_array(d):
        raise TypeError(f"{name} must be an array or a losskit.Tensor, got {type(x).__name__}")
    return d


def kind(d: Any) -> str:
    """An array's library and type, as the errors name it: ``numpy.ndarray``, ``torch.Tensor``."""
    return f"{type(d).__module__.split('.')[0]}.{type(d).__name__}"


def same_library(first_name: str, first: Any, **others: Any) -> None:
    """Every array argument comes from ``first``'s array library; else a TypeError naming it.

    Arguments that are None or not arrays are skipped: the checks that follow say what is
    wrong with them.
    """
    ref = data(first)
    if not _array.is_array(ref):
        return
    for name, value in others.items():
        d = data(value)
        if value is None or not _array.is_array(d):
            continue
        try:
            _array.namespace(ref, d)
        except TypeError:
            raise TypeError(
                f"{name} is {kind(d)} but {first_name} is {kind(ref)}: all arrays of one call must "
                "come from one array library"
            ) from None


def optional_array(x: Any, name: str) -> Any:
    return None if x is None else array(x, name)


def floating(x: Any, name: str) -> Any:
    d = array(x, name)
    if not _array.is_floating(_array.namespace(d), d):
        raise TypeError(f"{name} must have a real floating-point dtype, got {d.dtype}")
    return d


def same_dtype(x: Any, name: str, like: Any, like_name: str = "input") -> Any:
    d = floating(x, name)
    if d.dtype != like.dtype:
        raise TypeError(f"{name} must have {like_name}'s dtype {like.dtype}, got {d.dtype}")
    return d


def same_shape(x: Any, name: str, like: Any, like_name: str = "input") -> None:
    if tuple(x.shape) != tuple(like.shape):
        raise ValueError(
            f"{name} shape {tuple(x.shape)} must match {like_name} shape {tuple(like.shape)} "
            "(losskit does not broadcast input against target)"
        )


def broadcastable_to(x: Any, name: str, shape: tuple[int, ...]) -> None:
    """``x`` must broadcast to ``shape`` without enlarging it."""
    xs = tuple(x.shape)
    ok = len(xs) <= len(shape) and all(
        a == b or a == 1 for a, b in zip(reversed(xs), reversed(shape))
    )
    if not ok:
        raise ValueError(f"{name} of shape {xs} must broadcast to the input's shape {tuple(shape)}")


def number(value: Any, name: str, *, low: float | None = None, low_open: bool = False,
           high: float | None = None) -> float:
    """A real number (not a bool), within the bounds given; nan is outside any bound."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)
    # Written as "not inside" so that nan fails every bound, as torch's own checks reject it.
    if low is not None and not (v > low or (not low_open and v == low)):
        relation = ">" if low_open else ">="
        raise ValueError(f"{name} must be {relation} {low:g}, got {value!r}")
    if high is not None and not v <= high:
        raise ValueError(f"{name} must be <= {high:g}, got {value!r}")
    return v


def integer(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return int(value)


def optional_dim(value: Any, name: str = "dim") -> int | None:
    """A dimension index or None (the softmax modules' ``dim``)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise TypeError(f"{name} must be an int or None, got {type(value).__name__}")
    return value


def function(value: Any, name: str) -> Any:
    """A callable or None."""
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    return value


def concrete(x: Any) -> bool:
    """True when ``x``'s values can be inspected without computing a lazy graph or a trace."""
    if isinstance(x, (np.ndarray, np.generic)):
        return True
    if array_api_compat.is_dask_array(x):
        return False
    if array_api_compat.is_jax_array(x):
        import jax

        return not isinstance(x, jax.core.Tracer)
    if array_api_compat.is_torch_array(x):
        import torch

        # inside torch.func transforms (vmap, grad) or while torch.compile traces
        return not (torch.compiler.is_compiling() or torch._C._functorch.is_functorch_wrapped_tensor(x))
    return True


def any_true(x: Any) -> bool:
    """True when any element is true; False when that cannot be known now (under jax.jit, even
    operations on concrete arrays are staged)."""
    found = _array.namespace(x).any(x)
    return concrete(found) and bool(found)


def all_true(x: Any) -> bool:
    """True when every element is known now to be true; False when some is not, or when that
    cannot be known now (traced or lazy arrays): for an op choosing a fast path it may skip."""
    found = _array.namespace(x).all(x)
    return concrete(found) and bool(found)


def first_where(bad: Any, x: Any) -> Any:
    """The first element of ``x`` (in C order) where ``bad`` is true, as a Python number."""
    xp = _array.namespace(x)
    i = int(xp.argmax(xp.astype(xp.reshape(bad, (-1,)), xp.int8)))
    v = xp.reshape(x, (-1,))[i]
    return int(v) if _array.is_integral(xp, x) else float(v)


def in_unit_interval(x: Any, name: str) -> None:
    """Every element in [0, 1]; nan is not (torch's rule for BCE's input)."""
    if concrete(x) and _array.size(x):
        bad = ~((x >= 0) & (x <= 1))
        if any_true(bad):
            raise ValueError(
                f"all elements of {name} must be between 0 and 1 (probabilities), "
                f"got {first_where(bad, x)!r}"
            )


def class_weight(weight: Any, n_classes: int | None, like: Any = None) -> Any:
    """A 1-D floating array of ``C`` class weights (of ``like``'s dtype when given).

    ``n_classes=None`` checks all but the length (for a loss class's constructor, before any
    input is seen).
    """
    if weight is None:
        return None
    w = floating(weight, "weight") if like is None else same_dtype(weight, "weight", like)
    if w.ndim != 1 or (n_classes is not None and w.shape[0] != n_classes):
        length = "" if n_classes is None else f" of length C={n_classes}"
        raise ValueError(
            f"weight must be a 1-D array{length} (one weight per class), got shape {tuple(w.shape)}"
        )
    return w


def class_input(x: Any, name: str = "input") -> Any:
    d = floating(x, name)
    if d.ndim < 1:
        raise ValueError(f"{name} must have shape (C), (N, C) or (N, C, d1, ..., dk), got a 0-d array")
    return d


def class_index_target(target: Any, x: Any, ignore_index: int) -> Any:
    """Integer class indices of shape ``input.shape`` without the class axis, in [0, C)."""
    t = array(target, "target")
    xp = _array.namespace(t)
    if not _array.is_integral(xp, t):
        raise TypeError(
            f"target must hold integer class indices (or probabilities of the input's shape), "
            f"got dtype {t.dtype} and shape {tuple(t.shape)}"
        )
    axis = 1 if x.ndim >= 2 else 0
    expected = tuple(s for i, s in enumerate(x.shape) if i != axis)
    if tuple(t.shape) != expected:
        if x.ndim >= 2 and t.ndim >= 1 and t.shape[0] != x.shape[0]:
            raise ValueError(
                f"target batch size {t.shape[0]} must match input batch size {x.shape[0]} "
                f"(input shape {tuple(x.shape)}, target shape {tuple(t.shape)})"
            )
        raise ValueError(f"target shape {tuple(t.shape)} must be {expected} for input shape {tuple(x.shape)}")
    n_classes = x.shape[axis]
    # (the common case first: two reductions tell that every index is in range; under jax.jit
    # they are staged even for a concrete t, and the check is skipped as any_true skips it)
    if concrete(t) and _array.size(t) and not _known_in_range(xp, t, n_classes):
        bad = ((t < 0) | (t >= n_classes)) & (t != ignore_index)
        if any_true(bad):
            high = int(xp.max(xp.where(bad, t, -1)))
            offender = high if high >= n_classes else int(xp.min(xp.where(bad, t, 0)))
            raise IndexError(
                f"target {offender} is out of bounds: class indices must be in [0, {n_classes}) "
                f"or equal ignore_index={ignore_index}"
            )
    return t


def _known_in_range(xp: Any, t: Any, n: int) -> bool:
    """True when every element of ``t`` is in [0, n), or when that cannot be known now."""
    low, high = xp.min(t), xp.max(t)
    return not concrete(low) or (int(low) >= 0 and int(high) < n)


def class_target(target: Any, x: Any, ignore_index: int) -> bool:
    """A class-index target or a class-probability target for logits ``x``; True for the latter.

    Probabilities: the input's dtype and shape, and no ``ignore_index`` (torch's rule).
    Indices: as :func:`class_index_target`.
    """
    t = array(target, "target")
    if _array.is_floating(_array.namespace(t), t):
        same_dtype(target, "target", x)
        same_shape(t, "target (class probabilities)", x)
        if ignore_index >= 0:
            raise ValueError(
                f"ignore_index={ignore_index} is not supported with class-probability targets"
            )
        return True
    class_index_target(target, x, ignore_index)
    return False


def flag(value: Any, name: str) -> bool:
    """A bool option (torch's signatures reject ints and None with a TypeError)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def real_target(target: Any, like: Any, like_name: str = "input") -> Any:
    """A real-valued target: integers become an array of ``like``'s dtype (torch's values),
    floats must already have it."""
    t = array(target, "target")
    xp = _array.namespace(t)
    if _array.is_integral(xp, t):
        return xp.astype(t, like.dtype)
    same_dtype(target, "target", like, like_name)
    return target


def matching_target(target: Any, like: Any, like_name: str = "input") -> Any:
    """:func:`real_target` of ``like``'s shape as well."""
    target = real_target(target, like, like_name)
    same_shape(data(target), "target", like, like_name)
    return target
