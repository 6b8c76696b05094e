"""A fuzz target over the public functional API, bounded for CI.

Each example picks a public function, starts from its valid call (``reliability_calls``) and
replaces one to three of its arguments by random values: arrays of random shapes (empty ones
included) and dtypes (floats, ints, uint8, bool) holding any values (nan, inf, huge, negative),
arrays shaped like the valid argument but holding random values, losskit Tensors, arrays of
another library, Python scalars, None, strings, lists. The call may succeed or fail, but:

* only ValueError, TypeError or IndexError may escape (never an AssertionError, a ZeroDivision,
  a NumPy AxisError or an IndexError's cousins from inside an op);
* no NumPy RuntimeWarning (overflow, invalid value) on the way;
* where it succeeds with Tensors that require gradients, ``backward`` succeeds too.

CI runs ``LOSSKIT_FUZZ_EXAMPLES`` examples (default 1000, a few seconds), derandomized so that a
run is reproducible; set it higher to fuzz longer, e.g. ``LOSSKIT_FUZZ_EXAMPLES=200000 pytest
tests/reliability/test_reliability_fuzz.py``, which also draws a fresh random sequence.
"""

from __future__ import annotations

import collections
import inspect
import os
import warnings
from typing import Any

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402
from reliability_calls import CALLS  # noqa: E402

import losskit  # noqa: E402

# CI's bounded, reproducible run; LOSSKIT_FUZZ_EXAMPLES=N runs N random (not derandomized) ones
_REQUESTED = os.environ.get("LOSSKIT_FUZZ_EXAMPLES")
EXAMPLES = int(_REQUESTED or 1000)
ALLOWED = (ValueError, TypeError, IndexError)
OUTCOMES: collections.Counter[str] = collections.Counter()

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_]


def _elements(dtype: Any) -> st.SearchStrategy:
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        special = st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, np.nan, np.inf, -np.inf, 1e30, -1e30, 1e-30, 100.0, -100.0])
        return st.one_of(special, st.floats(width=dtype.itemsize * 8, allow_nan=True, allow_infinity=True))
    if dtype.kind == "b":
        return st.booleans()
    info = np.iinfo(dtype)
    return st.one_of(st.integers(-3, 5).filter(lambda v: info.min <= v <= info.max), st.integers(info.min, info.max))


@st.composite
def random_arrays(draw, shape=None, dtype=None):
    dtype = draw(st.sampled_from(DTYPES)) if dtype is None else dtype
    if shape is None:
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    return draw(hnp.arrays(dtype, shape, elements=_elements(dtype)))


@st.composite
def values_like(draw, valid: Any):
    """A random replacement for the valid value ``valid`` of one argument: mostly of its kind
    (an array of its shape, a number of its type), sometimes anything."""
    if isinstance(valid, np.ndarray):
        kind = draw(st.sampled_from(["same shape"] * 4 + ["array", "tensor", "strict", "wild"]))
    elif isinstance(valid, bool):
        kind = draw(st.sampled_from(["bool", "bool", "wild"]))
    elif isinstance(valid, (int, float)):
        kind = draw(st.sampled_from(["number"] * 3 + ["wild"]))
    else:
        kind = draw(st.sampled_from(["array", "wild"]))
    if kind == "same shape":
        dtype = draw(st.sampled_from([valid.dtype] * 3 + DTYPES))
        return draw(random_arrays(shape=valid.shape, dtype=dtype))
    if kind == "array":
        return draw(random_arrays())
    if kind == "tensor":
        x = draw(random_arrays(shape=valid.shape, dtype=valid.dtype))
        return losskit.Tensor(x, requires_grad=x.dtype.kind == "f")
    if kind == "strict":
        return pytest.importorskip("array_api_strict").asarray(valid)
    if kind == "bool":
        return draw(st.booleans())
    if kind == "number":
        if isinstance(valid, int):
            return draw(st.one_of(st.integers(-3, 5), st.integers(-(2**63), 2**63 - 1)))
        return draw(st.one_of(st.sampled_from([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, np.nan, np.inf, -np.inf, 1e-300, 1e300]),
                              st.floats(allow_nan=True, allow_infinity=True)))
    return draw(st.one_of(
        st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=True),
        st.sampled_from(["", "mean", "sum", "none", "batchmean", "abc", "1"]),
        st.lists(st.one_of(st.integers(-2, 4), st.floats(-2, 2)), max_size=4),
        random_arrays(),
    ))


def _parameters(fn: Any) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if not p.startswith("_")]


@st.composite
def fuzzed_calls(draw):
    call = draw(st.sampled_from(CALLS))
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    kwargs = call.valid(dtype)
    params = _parameters(call.fn)
    for name in draw(st.lists(st.sampled_from(params), min_size=1, max_size=3, unique=True)):
        if draw(st.integers(0, 9)) == 0:
            kwargs.pop(name, None)  # leave it out: a default, or a missing required argument
        else:
            kwargs[name] = draw(values_like(kwargs.get(name)))
    if draw(st.booleans()):  # Tensors for the valid float arrays: a backward follows
        for name, v in kwargs.items():
            if isinstance(v, np.ndarray) and v.dtype.kind == "f" and name in call.reals:
                kwargs[name] = losskit.Tensor(v, requires_grad=True)
    return call, kwargs


def _run(call, kwargs) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation and 'mean' warnings are intended
        warnings.simplefilter("error", RuntimeWarning)  # NumPy's are not
        try:
            out = call.fn(**kwargs)
        except ALLOWED as exc:
            assert str(exc), f"{type(exc).__name__} without a message"
            return type(exc).__name__
        if isinstance(out, losskit.Tensor) and out.requires_grad:
            out.backward(np.ones(out.shape, out.dtype))
            return "ok, backward"
        return "ok"


@settings(max_examples=EXAMPLES, deadline=None, derandomize=_REQUESTED is None, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=fuzzed_calls())
def test_fuzz_the_public_functional_api(case):
    call, kwargs = case
    OUTCOMES[f"{call.name}: {_run(call, kwargs)}"] += 1


def test_fuzzing_reached_both_successes_and_errors_of_every_function():
    # Runs after the fuzz target (pytest keeps file order): the fuzz is no use if most of its
    # calls fail at the first check, or none does.
    if not OUTCOMES:
        pytest.skip("the fuzz target did not run in this session")
    total = sum(OUTCOMES.values())
    ok = sum(n for k, n in OUTCOMES.items() if ": ok" in k)
    assert total >= 0.9 * EXAMPLES
    assert 0.1 * total < ok < 0.9 * total, OUTCOMES
    functions = {k.split(":")[0] for k in OUTCOMES}
    assert len(functions) >= 0.8 * len(CALLS), sorted(functions)
