"""Shared fixtures for the loss and activation tests.

Helpers that several modules need live here as fixtures, so that no test module imports another.
Tolerances are per dtype: float64 comparisons are tight (both sides compute the same formula up
to rounding), float32 ones allow for a different summation order.
"""

from __future__ import annotations

import numpy as np
import pytest

RTOL = {np.dtype(np.float32): 2e-5, np.dtype(np.float64): 1e-10}
ATOL = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-12}


def _assert_close(actual, expected, dtype=None, *, rtol=None, atol=None, scale=True, err_msg=""):
    """``actual`` equals ``expected`` within the dtype's tolerance (nan equal to nan).

    ``atol`` is relative to the largest finite magnitude of ``expected`` when ``scale`` is true,
    so that sums of many terms get an absolute tolerance in proportion to their size.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    dt = np.dtype(dtype) if dtype is not None else np.dtype(expected.dtype)
    if dt not in RTOL:
        dt = np.dtype(np.float64)
    rtol = RTOL[dt] if rtol is None else rtol
    atol = ATOL[dt] if atol is None else atol
    if scale:
        finite = np.abs(expected[np.isfinite(expected)]) if expected.size else np.zeros(0)
        atol = atol * max(1.0, float(finite.max()) if finite.size else 1.0)
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape} {err_msg}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=err_msg)


@pytest.fixture(autouse=True)
def _mpmath_precision():
    """mpmath's precision is global and modules set it at import (the last one imported wins): every
    test starts from 80 significant digits, whatever ran before it."""
    try:
        import mpmath
    except ImportError:
        yield
        return
    with mpmath.mp.workdps(80):
        yield


@pytest.fixture
def assert_close():
    """``assert_close(actual, expected, dtype=None, *, rtol=None, atol=None, scale=True)``."""
    return _assert_close


@pytest.fixture
def rng():
    """A fresh, seeded generator per test, so every test is reproducible on its own."""
    return np.random.default_rng(20240522)


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def dtype(request):
    return np.dtype(request.param)


# --- differential tests against torch -----------------------------------------------------------


def _to_torch(torch, value, requires_grad=False):
    if isinstance(value, np.ndarray):
        t = torch.from_numpy(value.copy())
        return t.requires_grad_(requires_grad) if requires_grad else t
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], np.ndarray):
        return type(value)(_to_torch(torch, v) for v in value)
    return value


def _check_against_torch(
    lk_fn,
    torch_fn,
    args,
    kwargs=None,
    *,
    grad=(0,),
    torch_kwargs=None,
    rtol=None,
    atol=None,
    cotangent_seed=0,
):
    """Value and gradients of ``lk_fn(*args, **kwargs)`` equal ``torch_fn``'s on the same data.

    ``args`` are NumPy arrays (or scalars); those at positions ``grad`` require gradients on both
    sides. The output's cotangent is random (not ones), so that a wrong scale or a wrong
    broadcast in a gradient cannot hide. Array-valued kwargs (weight, pos_weight...) are passed to
    torch as tensors. Also checks that the plain-array call gives the Tensor call's value.
    Returns ``(losskit_value, torch_value)`` as NumPy arrays.
    """
    import losskit

    torch = pytest.importorskip("torch")
    kwargs = dict(kwargs or {})
    torch_kwargs = dict(kwargs if torch_kwargs is None else torch_kwargs)
    lk_args = [losskit.Tensor(a, requires_grad=True) if i in grad else a for i, a in enumerate(args)]
    t_args = [_to_torch(torch, a, requires_grad=i in grad) for i, a in enumerate(args)]
    t_kwargs = {k: _to_torch(torch, v) for k, v in torch_kwargs.items()}

    out = lk_fn(*lk_args, **kwargs)
    t_out = torch_fn(*t_args, **t_kwargs)
    expected = t_out.detach().numpy()
    dtype = expected.dtype
    _assert_close(out.data, expected, dtype, rtol=rtol, atol=atol, err_msg="value")
    assert out.data.dtype == expected.dtype, f"dtype {out.data.dtype} != torch's {expected.dtype}"

    plain = lk_fn(*args, **kwargs)
    assert isinstance(plain, np.ndarray), f"plain call returned {type(plain).__name__}"
    np.testing.assert_array_equal(plain, out.data, err_msg="plain call differs from Tensor call")

    if grad and t_out.requires_grad:
        cot = np.random.default_rng(cotangent_seed).uniform(0.5, 1.5, expected.shape).astype(dtype)
        out.backward(cot)
        t_out.backward(torch.from_numpy(cot))
        for i in grad:
            t_grad = t_args[i].grad
            t_grad = np.zeros_like(args[i]) if t_grad is None else t_grad.numpy()
            _assert_close(lk_args[i].grad.data, t_grad, dtype, rtol=rtol, atol=atol, err_msg=f"grad of arg {i}")
    return np.asarray(out.data), expected


@pytest.fixture
def check_against_torch():
    """``check_against_torch(lk_fn, torch_fn, args, kwargs=None, *, grad=(0,), ...)``."""
    pytest.importorskip("torch")
    return _check_against_torch


# --- finite differences ---------------------------------------------------------------------------


def _check_finite_differences(fn, args, *, grad=(0,), eps=1e-6, rtol=1e-6, atol=1e-7, cotangent_seed=0):
    """losskit's gradients of ``fn`` equal central differences, in float64.

    The output is contracted with a random cotangent ``v``; each gradient entry is compared with
    ``(f(x + eps e_i) - f(x - eps e_i)) . v / (2 eps)``. Keep inputs away from kinks by at
    least ``eps``.
    """
    import losskit

    lk_args = [losskit.Tensor(a, requires_grad=True) if i in grad else a for i, a in enumerate(args)]
    out = fn(*lk_args)
    v = np.random.default_rng(cotangent_seed).uniform(0.5, 1.5, out.shape)
    out.backward(v)
    for i in grad:
        x = np.array(args[i], dtype=np.float64)
        numeric = np.zeros_like(x)
        for j in np.ndindex(x.shape):
            hi, lo = x.copy(), x.copy()
            hi[j] += eps
            lo[j] -= eps
            f = [np.sum(np.asarray(fn(*[h if k == i else a for k, a in enumerate(args)])) * v) for h in (hi, lo)]
            numeric[j] = (f[0] - f[1]) / (2 * eps)
        analytic = lk_args[i].grad.data
        scale = max(1.0, float(np.max(np.abs(numeric))) if numeric.size else 1.0)
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol * scale, err_msg=f"grad of arg {i}")


@pytest.fixture
def check_finite_differences():
    """``check_finite_differences(fn, args, *, grad=(0,), eps=1e-6)``: float64 only."""
    return _check_finite_differences


# --- the strictest Array API namespace ------------------------------------------------------------


@pytest.fixture
def strict():
    """array_api_strict with boolean indexing and data-dependent shapes switched off."""
    xps = pytest.importorskip("array_api_strict")
    xps.set_array_api_strict_flags(boolean_indexing=False, data_dependent_shapes=False)
    try:
        yield xps
    finally:
        xps.reset_array_api_strict_flags()


def _run_op_on(xp, op, inputs, options, cotangent):
    """Forward and backward of ``op`` on namespace ``xp``; results back as NumPy arrays."""

    def conv(a):
        return xp.asarray(a) if isinstance(a, np.ndarray) else a

    xs = tuple(conv(a) for a in inputs)
    value, res = op.forward(xp, xs, **options)
    g = xp.asarray(np.broadcast_to(cotangent, tuple(value.shape)).copy())
    needs = tuple(i in op.differentiable for i in range(len(xs)))
    grads = op.backward(xp, res, g, needs, **options)
    back = [None if gr is None else np.asarray(gr) for gr in grads]
    return np.asarray(value), back


def _check_strict_op(strict_xp, op, inputs, **options):
    """``op`` runs forward and backward on array_api_strict and gives NumPy's numbers."""
    import array_api_compat.numpy as np_xp

    # as dispatch does: an op's inf or nan (an empty 'mean') is its answer, not a warning
    with np.errstate(all="ignore"):
        ref_value, ref_grads = _run_op_on(np_xp, op, inputs, options, 0.75)
        value, grads = _run_op_on(strict_xp, op, inputs, options, 0.75)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12, atol=0, equal_nan=True)
    for g, r in zip(grads, ref_grads):
        assert (g is None) == (r is None)
        if g is not None:
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-300, equal_nan=True)


@pytest.fixture
def check_strict_op(strict):
    """``check_strict_op(op, inputs, **options)``: the op on array_api_strict equals NumPy."""
    return lambda op, inputs, **options: _check_strict_op(strict, op, inputs, **options)
