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
