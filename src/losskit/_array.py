"""Array namespace resolution and the few helpers every op shares.

Everything in ``losses/`` is written against the Python Array API standard: the namespace ``xp``
is resolved once, at the public boundary, and passed down.
"""

from __future__ import annotations

import contextlib
from typing import Any

import array_api_compat
import numpy as np


def is_array(obj: Any) -> bool:
    """True for an array of any Array API library (NumPy, torch, JAX, CuPy, Dask, strict)."""
    return array_api_compat.is_array_api_obj(obj) and not isinstance(obj, (bool, int, float))


def namespace(*arrays: Any) -> Any:
    """The Array API namespace shared by ``arrays`` (``None`` entries are skipped).

    Raises TypeError when the arrays come from different libraries.
    """
    present = [a for a in arrays if a is not None]
    try:
        return array_api_compat.array_namespace(*present)
    except TypeError as exc:
        kinds = sorted({type(a).__module__.split(".")[0] + "." + type(a).__name__ for a in present})
        raise TypeError(
            f"all arrays of one call must come from one array library, got {', '.join(kinds)}"
        ) from exc


def is_numpy_namespace(xp: Any) -> bool:
    return array_api_compat.is_numpy_namespace(xp)


def is_floating(xp: Any, x: Any) -> bool:
    return xp.isdtype(x.dtype, "real floating")


def is_integral(xp: Any, x: Any) -> bool:
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
        np.put_along_axis(own, indices, values, axis=axis)
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
        saved = np.take_along_axis(own, indices, axis=axis)
        np.put_along_axis(own, indices, 0, axis=axis)
        total = np.sum(own, axis=axis, keepdims=True)
        np.put_along_axis(own, indices, saved, axis=axis)
        return total
    return xp.sum(put_along_axis(xp, own, indices, 0.0, axis), axis=axis, keepdims=True)


def size(x: Any) -> int:
    """The element count. Not ``x.size``: on torch tensors that is a method."""
    return array_api_compat.size(x)


def _device(x: Any) -> Any:
    return array_api_compat.device(x)


device = _device
