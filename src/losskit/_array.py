"""Array namespace resolution and the few helpers every op shares.

Everything in ``losses/`` is written against the Python Array API standard: the namespace ``xp``
is resolved once, at the public boundary, and passed down.
"""

from __future__ import annotations

import contextlib
from typing import Any

import array_api_compat
import array_api_compat.numpy
import numpy as np


def is_array(obj: Any) -> bool:
    """True for an array of any Array API library (NumPy, torch, JAX, CuPy, Dask, strict)."""
    if type(obj) is np.ndarray:
        return True
    return array_api_compat.is_array_api_obj(obj) and not isinstance(obj, (bool, int, float))


def namespace(*arrays: Any) -> Any:
    """The Array API namespace shared by ``arrays`` (``None`` entries are skipped).

    Raises TypeError when the arrays come from different libraries.
    """
    present = [a for a in arrays if a is not None]
    if present and all(type(a) is np.ndarray for a in present):
        return _NUMPY  # the common case, without array_api_compat's general search (per call)
    try:
        return array_api_compat.array_namespace(*present)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in present})
        raise TypeError(
            f"all arrays of one call must come from one array library, got {', '.join(kinds)}"
        ) from exc


def _along(indices: Any, axis: int) -> tuple | None:
    """A fancy index equal to take_along_axis's for a 2-d array along axis 1 (the usual (N, C)
    case), without NumPy's general index construction (a per-call cost on small inputs)."""
    if indices.ndim == 2 and axis in (1, -1):
        return (np.arange(indices.shape[0]).reshape(-1, 1), indices)
    return None


class _NumpyNamespace:
    """array_api_compat's NumPy namespace, with C-speed versions of the few shape functions ops
    call many times per loss (NumPy's own are Python code: on (32, 10) inputs they cost more than
    the arithmetic). Anything else is array_api_compat's, unchanged."""

    def __init__(self) -> None:
        self.__name__ = array_api_compat.numpy.__name__  # so that array_api_compat recognises it

    def __getattr__(self, name: str) -> Any:
        value = getattr(array_api_compat.numpy, name)
        setattr(self, name, value)
        return value

    @staticmethod
    def expand_dims(x: Any, /, *, axis: int = 0) -> Any:
        if not -x.ndim - 1 <= axis <= x.ndim:
            return array_api_compat.numpy.expand_dims(x, axis=axis)  # its error
        axis %= x.ndim + 1
        return x.reshape(x.shape[:axis] + (1,) + x.shape[axis:])

    @staticmethod
    def squeeze(x: Any, /, axis: Any) -> Any:
        if isinstance(axis, int) and -x.ndim <= axis < x.ndim and x.shape[axis] == 1:
            axis %= x.ndim
            return x.reshape(x.shape[:axis] + x.shape[axis + 1:])
        return array_api_compat.numpy.squeeze(x, axis=axis)

    # reductions as ndarray methods: NumPy's np.sum is a Python wrapper around the same call
    @staticmethod
    def sum(x: Any, /, *, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Any:
        if type(x) is np.ndarray:
            return x.sum(axis=axis, dtype=dtype, keepdims=keepdims)
        return np.sum(x, axis=axis, dtype=dtype, keepdims=keepdims)

    @staticmethod
    def max(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        if type(x) is np.ndarray:
            return x.max(axis=axis, keepdims=keepdims)
        return np.max(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def min(x: Any, /, *, axis: Any = None, keepdims: bool = False) -> Any:
        if type(x) is np.ndarray:
            return x.min(axis=axis, keepdims=keepdims)
        return np.min(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def clip(x: Any, /, min: Any = None, max: Any = None) -> Any:
        # array_api_compat's NumPy clip copies, selects through boolean masks and returns a view
        # (which the engine would copy again as a gradient): np.clip is one pass into a fresh array
        if type(x) is np.ndarray and x.dtype.kind == "f" and all(
            b is None or type(b) in (int, float) for b in (min, max)
        ):
            if min is None and max is None:
                return x.copy()
            return np.clip(x, min, max)
        return array_api_compat.numpy.clip(x, min=min, max=max)

    @staticmethod
    def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        if device not in (None, "cpu"):
            return array_api_compat.numpy.ones_like(x, dtype=dtype, device=device)  # its error
        return np.ones_like(x, dtype=dtype)

    @staticmethod
    def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> Any:
        if device not in (None, "cpu"):
            return array_api_compat.numpy.zeros_like(x, dtype=dtype, device=device)  # its error
        return np.zeros_like(x, dtype=dtype)

    @staticmethod
    def take_along_axis(x: Any, indices: Any, /, *, axis: int = -1) -> Any:
        index = _along(indices, axis) if x.ndim == 2 else None
        if index is None:
            return array_api_compat.numpy.take_along_axis(x, indices, axis=axis)
        return x[index]


_NUMPY = _NumpyNamespace()


def is_numpy_namespace(xp: Any) -> bool:
    return xp is _NUMPY or array_api_compat.is_numpy_namespace(xp)


def is_floating(xp: Any, x: Any) -> bool:
    if type(x) is np.ndarray:
        return x.dtype.kind == "f"
    return xp.isdtype(x.dtype, "real floating")


def is_integral(xp: Any, x: Any) -> bool:
    if type(x) is np.ndarray:
        return x.dtype.kind in "iu"
    return xp.isdtype(x.dtype, "integral")


@contextlib.contextmanager
def quiet(xp: Any):
    """Silence NumPy's floating-point warnings: like torch, an op's inf or nan is its answer.

    Every op runs inside this (see ``dispatch``), so 0/0 in an empty 'mean' gives a silent nan.
    Also for other namespaces: array_api_strict (and other wrappers) compute with NumPy too.
    """
    with np.errstate(all="ignore"):
        yield


def as_result(xp: Any, value: Any) -> Any:
    """NumPy turns 0-d results into scalars; losskit always returns arrays of the input's kind."""
    if is_numpy_namespace(xp) and not isinstance(value, np.ndarray):
        return np.asarray(value)
    return value


def onehot(xp: Any, index: Any, n: int, axis: int, dtype: Any) -> Any:
    """One-hot of integer ``index`` along a new axis ``axis`` of length ``n``, in ``dtype``.

    Built by comparison with an arange, so no scatter, no boolean mask, no data-dependent shape.
    """
    shape = [1] * (index.ndim + 1)
    shape[axis] = n
    classes = xp.reshape(xp.arange(n, dtype=index.dtype, device=_device(index)), tuple(shape))
    return xp.astype(xp.expand_dims(index, axis=axis) == classes, dtype)


def take_along_axis(xp: Any, x: Any, indices: Any, axis: int) -> Any:
    """``xp.take_along_axis``, or for a namespace without it (dask) the same gather as a sum over
    a comparison with an arange (memory: the output times the length of ``axis``)."""
    if hasattr(xp, "take_along_axis"):
        return xp.take_along_axis(x, indices, axis=axis)
    xm = xp.moveaxis(x, axis, -1)
    im = xp.moveaxis(indices, axis, -1)
    k = xp.arange(xm.shape[-1], dtype=im.dtype, device=_device(x))
    picked = xp.where(xp.expand_dims(im, axis=-1) == k, xp.expand_dims(xm, axis=-2), 0)
    return xp.moveaxis(xp.sum(picked, axis=-1, dtype=x.dtype), -1, axis)


# --- updates in place on NumPy -----------------------------------------------------------------
# NumPy computes one pass at a time, each into a fresh array (a page-faulting allocation); torch
# fuses. These helpers let an op update an array it created itself, and that nobody else holds
# yet, in place on NumPy; other libraries (immutable JAX, lazy Dask, the strict namespace) get the
# same value out of place. ``own`` always means: the calling op's own fresh array.


def _mutable(xp: Any, x: Any) -> bool:
    return is_numpy_namespace(xp) and isinstance(x, np.ndarray) and x.flags.writeable


def exp_own(xp: Any, own: Any) -> Any:
    """``exp(own)``, computed in place where the library allows."""
    if _mutable(xp, own):
        return np.exp(own, out=own)
    return xp.exp(own)


def put_along_axis(xp: Any, own: Any, indices: Any, values: Any, axis: int) -> Any:
    """``own`` with ``values`` written at ``indices`` along ``axis`` (``indices`` and ``values``
    shaped as for take_along_axis): a scatter in place on NumPy, a comparison with an arange and
    a ``where`` elsewhere."""
    if _mutable(xp, own):
        index = _along(indices, axis) if own.ndim == 2 else None
        if index is None:
            np.put_along_axis(own, indices, values, axis=axis)
        else:
            own[index] = values
        return own
    shape = [1] * own.ndim
    shape[axis] = own.shape[axis]
    positions = xp.reshape(xp.arange(own.shape[axis], dtype=indices.dtype, device=_device(own)), tuple(shape))
    return xp.where(indices == positions, values, own)


def zeros_with(xp: Any, like: Any, indices: Any, values: Any, axis: int) -> Any:
    """Zeros shaped and typed like ``like``, with ``values`` at ``indices`` along ``axis``."""
    return put_along_axis(xp, xp.zeros_like(like), indices, xp.astype(values, like.dtype), axis)


def sum_excluding(xp: Any, own: Any, indices: Any, axis: int) -> Any:
    """The sum of ``own`` along ``axis`` (kept) without the one entry per row at ``indices``.

    On NumPy that entry is zeroed for the sum and put back (two scatters of one element per row,
    instead of a mask and a ``where`` over the whole array)."""
    if _mutable(xp, own):
        index = _along(indices, axis) if own.ndim == 2 else None
        if index is None:
            saved = np.take_along_axis(own, indices, axis=axis)
            np.put_along_axis(own, indices, 0, axis=axis)
            total = own.sum(axis=axis, keepdims=True)
            np.put_along_axis(own, indices, saved, axis=axis)
            return total
        saved = own[index]
        own[index] = 0
        total = own.sum(axis=axis, keepdims=True)
        own[index] = saved
        return total
    return xp.sum(put_along_axis(xp, own, indices, 0.0, axis), axis=axis, keepdims=True)


def size(x: Any) -> int:
    """The element count. Not ``x.size``: on torch tensors that is a method."""
    return array_api_compat.size(x)


def _device(x: Any) -> Any:
    return array_api_compat.device(x)


device = _device
