"""The bad-input catalogue: every public function, every argument, a clear error.

Table-driven: each public function has a valid call (``reliability_calls.CALLS``, small float64
arrays) and a list of mutations, each replacing one argument by a bad value and naming the
exception expected and a regex its message must match (the argument's name and what was
received). Generic mutations are derived from the argument kinds of each call: a non-array, an
integer array where reals are expected, a float array of another dtype, an array of another
library, a bad reduction, an option of the wrong type. Specific ones (shapes, value ranges,
lengths) are written out below. Every mutation is also run through torch, the oracle for what is
an error: where torch accepts a mutation (or only warns), its category must be a row of
``docs/deviations.md``'s table of stricter checks.

The loss classes' constructors, ``losskit.Tensor``, ``nn.Linear``/``Sequential`` and the
optimisers have their own tables at the end.
"""

from __future__ import annotations

import math
import pathlib
import re
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
from reliability_calls import BY_NAME, CALLS, torch_function

import losskit
import losskit.functional as F
import losskit.nn as lnn
import losskit.optim as optim

ERRORS = (ValueError, TypeError, IndexError)
DEVIATIONS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "deviations.md"

# Where torch accepts (or only warns about) a mutation of this category, losskit's stricter
# check is documented by this row of docs/deviations.md's "Stricter input checking" table.
DOCUMENTED = {
    "shape": "arrays of different shapes that torch broadcasts",
    "dtype": "float arrays of different dtypes in one call",
    "integer": "integer arrays where real values are expected",
    "option type": "an option of the wrong type",
    "option value": "an option value outside its domain that torch accepts",
    "label": "CTC targets holding the blank or a label outside",
    "probability": "probabilities outside [0, 1]",
    "construction": "a loss class constructed with a bad option",
}


@dataclass(frozen=True)
class Derived:
    """A bad value computed from the valid keyword arguments (e.g. the valid target, cast)."""

    make: Callable[[dict[str, Any]], Any]
    label: str = "derived"


DROP = object()  # the bad "value": the argument left out


@dataclass(frozen=True)
class Bad:
    """``arg`` replaced by ``value`` raises ``error`` with a message matching ``match``.

    ``category`` says why it is an error (a key of ``DOCUMENTED`` where torch may accept it);
    ``torch=False`` skips the torch comparison (no equivalent call exists).
    """

    arg: str
    value: Any
    error: type[Exception]
    match: str
    category: str
    torch: bool = True


def f64(*values: Any) -> np.ndarray:
    return np.array(values, np.float64)


def full(shape: tuple[int, ...], value: float = 0.5, dtype: Any = np.float64) -> np.ndarray:
    return np.full(shape, value, dtype)


def cast(dtype: Any) -> Callable[[str], Derived]:
    """The valid value of an argument, cast to ``dtype``."""
    return lambda a: Derived(lambda v: v[a].astype(dtype), np.dtype(dtype).name)


def generic(call) -> list[Bad]:
    """The mutations every call gets, from the kinds of its arguments."""
    out = []
    for a in call.arrays + call.lengths:
        out.append(Bad(a, "abc", TypeError, rf"{a}\b.*\bstr\b", "type"))
    for a in call.reals:
        if a not in call.int_ok:
            out.append(Bad(a, cast(np.int64)(a), TypeError, rf"{a}\b.*int64", "integer"))
    for a in call.reals[1:]:
        out.append(Bad(a, cast(np.float32)(a), TypeError, rf"{a}\b.*float32", "dtype"))
    for a in call.indices:
        out.append(Bad(a, cast(np.float64)(a), TypeError, rf"{a}\b.*float64", "integer"))
    for a in call.arrays[1:]:
        for library, kind in ((_strict, "array_api_strict.Array"), (_torch, "torch.Tensor")):
            out.append(Bad(a, Derived(lambda v, a=a, library=library: library(v[a]), kind), TypeError,
                           rf"{a} is {kind} but {call.first} is numpy.ndarray: all arrays of one call", "library",
                           torch=False))
    for a in call.lengths:
        out.append(Bad(a, [1.5, 2.0], TypeError, rf"{a} must hold integers, got .*float", "type"))
    for a in call.flags:
        out.append(Bad(a, "yes", TypeError, rf"{a} must be a bool, got str", "option type"))
        out.append(Bad(a, 1, TypeError, rf"{a} must be a bool, got int", "option type"))
    for a in call.numbers:
        out.append(Bad(a, "1", TypeError, rf"{a} must be a real number, got str", "option type"))
        out.append(Bad(a, None, TypeError, rf"{a} must be a real number, got NoneType", "option type"))
    for a in call.ints:
        out.append(Bad(a, 1.5, TypeError, rf"{a} must be an int, got float", "option type"))
        out.append(Bad(a, "1", TypeError, rf"{a} must be an int, got str", "option type"))
    for r in ("avg", "Mean", None, 1) if call.reductions else ():
        out.append(Bad("reduction", r, ValueError, rf"reduction must be one of .*, got {re.escape(repr(r))}",
                       "reduction"))
    return out


def _strict(x: Any) -> Any:
    return pytest.importorskip("array_api_strict").asarray(x)


def _torch(x: Any) -> Any:
    return pytest.importorskip("torch").from_numpy(np.asarray(x))


# --- the specific mutations, function by function ----------------------------------------------

POINTWISE_SHAPES = [
    Bad("target", full((3,)), ValueError, r"target shape \(3,\) must match input shape \(2, 3\)", "shape"),
    Bad("target", full((1, 3)), ValueError, r"target shape \(1, 3\) must match input shape \(2, 3\)", "shape"),
    Bad("target", full((1, 2, 3)), ValueError, r"target shape \(1, 2, 3\) must match input shape \(2, 3\)", "shape"),
    Bad("target", full((3, 2)), ValueError, r"target shape \(3, 2\) must match input shape \(2, 3\)", "shape"),
]
ELEMENTWISE_WEIGHT = [
    Bad("weight", full((3,)), ValueError, r"weight shape \(3,\) must match input shape \(2, 3\)", "shape"),
    Bad("weight", full(()), ValueError, r"weight shape \(\) must match input shape \(2, 3\)", "shape"),
]
BROADCAST_WEIGHT = [
    Bad("weight", full((2,)), ValueError, r"weight of shape \(2,\) must broadcast to the input's shape \(2, 3\)", "shape"),
    Bad("weight", full((2, 2, 3)), ValueError, r"weight of shape \(2, 2, 3\) must broadcast", "shape"),
]
CLASS_WEIGHT = [
    Bad("weight", full((2,)), ValueError, r"weight must be a 1-D array of length C=3 .*got shape \(2,\)", "shape"),
    Bad("weight", full((1, 3)), ValueError, r"weight must be a 1-D array of length C=3 .*got shape \(1, 3\)", "shape"),
    Bad("weight", full(()), ValueError, r"weight must be a 1-D array of length C=3 .*got shape \(\)", "shape"),
]
CLASS_INDICES = [
    Bad("target", np.array([0, 3]), IndexError, r"target 3 is out of bounds: class indices must be in \[0, 3\)", "index"),
    Bad("target", np.array([-1, 0]), IndexError, r"target -1 is out of bounds", "index"),
    Bad("target", np.array([0, 1, 2]), ValueError, r"target batch size 3 must match input batch size 2", "shape"),
    Bad("target", np.array([[0], [1]]), ValueError, r"target shape \(2, 1\) must be \(2,\)", "shape"),
    Bad("target", np.array([True, False]), TypeError, r"target must hold integer class indices .*bool", "integer"),
    Bad("input", full(()), ValueError, r"input must have shape \(C\), \(N, C\) .*got a 0-d array", "shape"),
]
PROBABILITY_TARGET = [
    Bad("target", full((2, 4), 0.25), ValueError, r"target \(class probabilities\) shape \(2, 4\) must match input shape \(2, 3\)",
        "shape"),
    Bad("target", full((2, 3), 0.25, np.float32), TypeError, r"target must have input's dtype float64, got float32", "dtype"),
]


def _ignore_with_probabilities(message: str) -> list[Bad]:
    return [Bad("ignore_index", 1, ValueError, message, "option value")]


SPECIFIC: dict[str, list[Bad]] = {
    "l1_loss": POINTWISE_SHAPES + ELEMENTWISE_WEIGHT,
    "mse_loss": POINTWISE_SHAPES + ELEMENTWISE_WEIGHT,
    "huber_loss": POINTWISE_SHAPES + ELEMENTWISE_WEIGHT + [
        Bad("delta", 0.0, ValueError, r"delta must be > 0(\.0)?, got 0\.0", "option value"),
        Bad("delta", -1.0, ValueError, r"delta must be > 0(\.0)?, got -1\.0", "option value"),
        Bad("delta", math.nan, ValueError, r"delta must be > 0(\.0)?, got nan", "option value"),
    ],
    "smooth_l1_loss": POINTWISE_SHAPES + [
        Bad("beta", -0.5, ValueError, r"beta must be >= 0(\.0)?, got -0\.5", "option value"),
        Bad("beta", math.nan, ValueError, r"beta must be >= 0(\.0)?, got nan", "option value"),
    ],
    "binary_cross_entropy": POINTWISE_SHAPES + BROADCAST_WEIGHT + [
        Bad("input", f64([0.5, 1.5, 0.2], [0.1, 0.2, 0.3]), ValueError,
            r"all elements of input must be between 0 and 1 .*got 1\.5", "probability"),
        Bad("input", f64([0.5, -0.1, 0.2], [0.1, 0.2, 0.3]), ValueError,
            r"all elements of input must be between 0 and 1 .*got -0\.1", "probability"),
    ],
    "binary_cross_entropy_with_logits": POINTWISE_SHAPES + BROADCAST_WEIGHT + [
        Bad("pos_weight", full((2,)), ValueError, r"pos_weight of shape \(2,\) must broadcast to the input's shape \(2, 3\)",
            "shape"),
        Bad("pos_weight", full((4, 3)), ValueError, r"pos_weight of shape \(4, 3\) must broadcast", "shape"),
    ],
    "cross_entropy": CLASS_INDICES + CLASS_WEIGHT + PROBABILITY_TARGET + [
        Bad("label_smoothing", 1.5, ValueError, r"label_smoothing must be <= 1(\.0)?, got 1\.5", "option value"),
        Bad("label_smoothing", -0.1, ValueError, r"label_smoothing must be >= 0(\.0)?, got -0\.1", "option value"),
        Bad("label_smoothing", math.nan, ValueError, r"label_smoothing must be >= 0(\.0)?, got nan", "option value"),
        Bad("target", np.array([0.0, 1.0]), ValueError, r"target \(class probabilities\) shape \(2,\) must match input shape",
            "shape"),
    ],
    "nll_loss": CLASS_INDICES + CLASS_WEIGHT + [
        Bad("target", full((2, 3), 0.25), TypeError, r"target must hold integer class indices.*float64", "integer"),
    ],
    "softmax": [
        Bad("dim", 2, IndexError, r"dim 2 is out of range for an input with 2 dimensions", "index"),
        Bad("dim", -3, IndexError, r"dim -3 is out of range for an input with 2 dimensions", "index"),
        Bad("dtype", "float17", TypeError, r"dtype must be a real floating-point dtype.*float17", "option type"),
        Bad("dtype", np.int64, TypeError, r"dtype must be a real floating-point dtype.*int64", "option type"),
        Bad("input", np.array([[True, False]]), TypeError, r"input must have a real floating-point dtype, got bool", "integer"),
    ],
    "log_softmax": [
        Bad("dim", 2, IndexError, r"dim 2 is out of range for an input with 2 dimensions", "index"),
        Bad("dtype", "float17", TypeError, r"dtype must be a real floating-point dtype.*float17", "option type"),
    ],
    "logsumexp": [
        Bad("dim", 2, IndexError, r"dim 2 is out of range for an input with 2 dimensions", "index"),
        Bad("dim", (0, 0), ValueError, r"dim 0 appears more than once in dim=\(0, 0\)", "option value"),
        Bad("dim", (), ValueError, r"dim must name at least one dimension, got \(\)", "option value"),
        Bad("dim", DROP, TypeError, r"dim", "option type"),
    ],
    "sigmoid": [],
    "logsigmoid": [],
    "softplus": [
        Bad("beta", 0.0, ValueError, r"beta must be nonzero, got 0\.0", "option value"),
    ],
    "ctc_loss": [
        Bad("targets", np.array([[1, 0], [1, 1]]), ValueError, r"targets must not contain the blank index 0", "label"),
        Bad("targets", np.array([[1, 3], [1, 1]]), IndexError, r"targets value 3 is out of bounds: .*\[0, 3\)", "label"),
        Bad("targets", np.array([[1, -2], [1, 1]]), IndexError, r"targets value -2 is out of bounds", "label"),
        Bad("targets", np.array([[1, 2], [1, 1], [1, 1]]), ValueError,
            r"targets batch size 3 must match log_probs batch size 2", "shape"),
        Bad("targets", np.array([1, 2, 1, 1]), ValueError,
            r"1-D \(concatenated\) targets must hold sum\(target_lengths\) = 3 labels, got 4", "length"),
        Bad("targets", np.zeros((2, 2, 1), np.int64), ValueError, r"targets must have shape .*got shape \(2, 2, 1\)", "shape"),
        Bad("input_lengths", [4], ValueError, r"input_lengths must hold one length per sample \(batch size 2\), got 1",
            "length"),
        Bad("input_lengths", [5, 4], ValueError, r"input_lengths must be in \[0, T\] = \[0, 4\], got 5", "length"),
        Bad("input_lengths", [-1, 4], ValueError, r"input_lengths must be in \[0, T\] = \[0, 4\], got -1", "length"),
        Bad("input_lengths", np.array([4.0, 4.0]), TypeError, r"input_lengths must be an integer array, got dtype float64",
            "type"),
        Bad("input_lengths", 4, TypeError, r"input_lengths must be a tuple, list or integer array of N=2 lengths, got an int",
            "type"),
        Bad("target_lengths", [2, 1, 1], ValueError, r"target_lengths must hold one length per sample \(batch size 2\), got 3",
            "length"),
        Bad("target_lengths", [3, 1], ValueError, r"target_lengths must be <= targets.shape\[1\] = 2 .*got 3", "length"),
        Bad("target_lengths", [-1, 1], ValueError, r"target_lengths must be >= 0, got -1", "length"),
        Bad("blank", 3, ValueError, r"blank must be a class index in \[0, C\) = \[0, 3\), got 3", "option value"),
        Bad("blank", -1, ValueError, r"blank must be a class index in \[0, C\) = \[0, 3\), got -1", "option value"),
        Bad("log_probs", full((4, 2, 3, 1)), ValueError, r"log_probs must have shape \(T, N, C\) .*got shape \(4, 2, 3, 1\)",
            "shape"),
        Bad("log_probs", full((0, 2, 3)), ValueError, r"log_probs must not be empty .*got shape \(0, 2, 3\)", "empty"),
    ],
    "cosine_similarity": [
        Bad("x2", full((4, 3)), ValueError, r"x1 shape \(2, 3\) and x2 shape \(4, 3\) cannot be broadcast together", "shape"),
        Bad("dim", 2, IndexError, r"dim 2 is out of range for x1 and x2 broadcast to shape \(2, 3\)", "index"),
        Bad("eps", -1.0, ValueError, r"eps must be >= 0(\.0)?, got -1\.0", "option value"),
    ],
    "pairwise_distance": [
        Bad("x2", full((2, 4)), ValueError, r"x1 shape \(2, 3\) and x2 shape \(2, 4\) cannot be broadcast together", "shape"),
        Bad("x1", full((2, 0)), ValueError, r"x1 shape \(2, 0\) and x2 shape \(2, 3\) cannot be broadcast together", "shape"),
    ],
    "cosine_embedding_loss": [
        Bad("input2", full((2, 4)), ValueError, r"input2 shape \(2, 4\) must match input1 shape \(2, 3\)", "shape"),
        Bad("input2", full((3,)), ValueError, r"input2 shape \(3,\) must match input1 shape \(2, 3\)", "shape"),
        Bad("target", np.array([1, -1, 1]), ValueError, r"target shape \(3,\) must be \(2,\) for inputs of shape \(2, 3\)",
            "shape"),
        Bad("target", np.array(1), ValueError, r"target shape \(\) must be \(2,\)", "shape"),
        Bad("input1", full((2, 3, 1)), ValueError, r"input2 shape \(2, 3\) must match input1 shape \(2, 3, 1\)", "shape"),
    ],
    "triplet_margin_loss": [
        Bad("margin", 0.0, ValueError, r"margin must be > 0(\.0)?, got 0\.0", "option value"),
        Bad("margin", -1.0, ValueError, r"margin must be > 0(\.0)?, got -1\.0", "option value"),
        Bad("margin", math.nan, ValueError, r"margin must be > 0(\.0)?, got nan", "option value"),
        Bad("positive", full((2, 4)), ValueError, r"positive shape \(2, 4\) must match anchor shape \(2, 3\)", "shape"),
        Bad("negative", full((3,)), ValueError, r"negative shape \(3,\) must match anchor shape \(2, 3\)", "shape"),
    ],
    "triplet_margin_with_distance_loss": [
        Bad("margin", 0.0, ValueError, r"margin must be > 0(\.0)?, got 0\.0", "option value"),
        Bad("positive", full((2, 4)), ValueError, r"positive shape \(2, 4\) must match anchor shape \(2, 3\)", "shape"),
        Bad("distance_function", "euclid", TypeError, r"distance_function must be callable, got str", "option type"),
        Bad("distance_function", Derived(lambda v: lambda x, y: F.pairwise_distance(x, y, keepdim=True) if y is v["negative"]
                                            else F.pairwise_distance(x, y)),
            ValueError, r"distance_function\(anchor, negative\) shape \(2, 1\) must match "
                        r"distance_function\(anchor, positive\) shape \(2,\)", "shape", torch=False),
        Bad("distance_function", Derived(lambda v: lambda x, y: np.ones(2, np.int64)), TypeError,
            r"distance_function\(anchor, positive\) must have a real floating-point dtype, got int64", "integer",
            torch=False),
        Bad("distance_function", Derived(lambda v: lambda x, y: 1.0), TypeError,
            r"distance_function\(anchor, positive\) must be an array or a losskit.Tensor, got float", "type", torch=False),
    ],
    "focal_loss": CLASS_INDICES + CLASS_WEIGHT + PROBABILITY_TARGET + [
        Bad("gamma", -0.5, ValueError, r"gamma must be >= 0(\.0)?, got -0\.5", "option value"),
    ],
    "sigmoid_focal_loss": [
        Bad("targets", full((3,)), ValueError, r"targets shape \(3,\) must match inputs shape \(2, 3\)", "shape"),
        Bad("targets", f64([0.5, 1.5, 0.2], [0.1, 0.2, 0.3]), ValueError,
            r"all elements of targets must be between 0 and 1 .*got 1\.5", "probability"),
        Bad("gamma", -1.0, ValueError, r"gamma must be >= 0(\.0)?, got -1\.0", "option value"),
        Bad("reduction", "elementwise_mean", ValueError, r"reduction must be one of .*got 'elementwise_mean'", "reduction"),
    ],
    "linear_cross_entropy": [
        Bad("linear_weight", full((3, 5)), ValueError, r"linear_weight's last dimension 5 must equal input's in_features 4",
            "shape"),
        Bad("linear_weight", full((4,)), ValueError, r"linear_weight must have shape \(C, in_features\) .*got \(4,\)", "shape"),
        Bad("linear_bias", full((2,)), ValueError, r"linear_bias shape \(2,\) must be \(3,\)", "shape"),
        Bad("input", full((2, 1, 4)), ValueError, r"input must have shape \(in_features\) or \(N, in_features\), got \(2, 1, 4\)",
            "shape"),
        Bad("target", np.array([0, 3]), IndexError, r"target 3 is out of bounds: class indices must be in \[0, 3\)", "index"),
        Bad("target", np.array([0, 1, 2]), ValueError, r"target shape \(3,\) must be \(2,\)", "shape"),
        Bad("target", full((2, 4), 0.25), ValueError, r"target of class probabilities must have the logits' shape \(2, 3\), "
                                                      r"got \(2, 4\)", "shape"),
        Bad("weight", full((2,)), ValueError, r"weight must be a 1-D array of length C=3 .*got shape \(2,\)", "shape"),
        Bad("label_smoothing", 1.5, ValueError, r"label_smoothing must be <= 1(\.0)?, got 1\.5", "option value"),
        Bad("label_smoothing", -0.1, ValueError, r"label_smoothing must be >= 0(\.0)?, got -0\.1", "option value"),
        Bad("ignore_index", 1.5, TypeError, r"ignore_index must be an int, got float", "option type"),
        Bad("options", "chunked", TypeError, r"options must be None or a LinearCrossEntropyOptions .*got str", "option type"),
    ],
    "hinge_embedding_loss": POINTWISE_SHAPES,
    "margin_ranking_loss": [
        Bad("input2", full((3,)), ValueError, r"input2 shape \(3,\) must match input1 shape \(2, 3\)", "shape"),
        Bad("target", full((1, 3)), ValueError, r"target shape \(1, 3\) must match input1 shape \(2, 3\)", "shape"),
    ],
    "multi_margin_loss": [
        # torch's rule and message: any p other than 1 and 2 is a ValueError, a float or a str too
        Bad("p", 3, ValueError, r"only p == 1 and p == 2 supported, got p=3", "option value"),
        Bad("p", 1.5, ValueError, r"only p == 1 and p == 2 supported, got p=1.5", "option value"),
        Bad("p", "1", ValueError, r"only p == 1 and p == 2 supported, got p='1'", "option value"),
        Bad("weight", full((2,)), ValueError, r"weight must be a 1-D array of length C=3 .*got shape \(2,\)", "shape"),
        Bad("weight", full((1, 3)), ValueError, r"weight must be one-dimensional, got shape \(1, 3\)", "shape"),
        Bad("target", np.array([0, 3]), IndexError, r"target 3 is out of bounds: class indices must be in \[0, 3\)", "index"),
        Bad("target", np.array([-1, 0]), IndexError, r"target -1 is out of bounds", "index"),
        Bad("target", np.array([0, 1, 2]), ValueError, r"target must have shape \(2,\) .*got \(3,\)", "shape"),
        Bad("input", full((2, 3, 1)), ValueError, r"input must have shape \(C\) or \(N, C\) .*got \(2, 3, 1\)", "shape"),
        Bad("input", full((2, 0)), ValueError, r"input must have shape \(C\) or \(N, C\) with C > 0 .*got \(2, 0\)", "empty"),
    ],
    "multilabel_margin_loss": [
        Bad("target", np.array([[0, 3, -1], [1, -1, 0]]), IndexError, r"target 3 is out of bounds: .*\[0, 3\) or -1", "index"),
        Bad("target", np.array([[0, -2, -1], [1, -1, 0]]), IndexError, r"target -2 is out of bounds", "index"),
        Bad("target", np.array([[0, 2], [1, -1]]), ValueError, r"target shape \(2, 2\) must match input shape \(2, 3\)", "shape"),
        Bad("input", full((2, 3, 1)), ValueError, r"input must have shape \(C\) or \(N, C\) .*got \(2, 3, 1\)", "shape"),
    ],
    "multilabel_soft_margin_loss": POINTWISE_SHAPES + BROADCAST_WEIGHT + [
        Bad("input", full(()), IndexError, r"input must have at least one dimension .*got a 0-d array", "shape"),
    ],
    "soft_margin_loss": POINTWISE_SHAPES,
    "gaussian_nll_loss": POINTWISE_SHAPES + [
        Bad("var", full((3,)), ValueError, r"var of shape \(3,\) must have the input's shape \(2, 3\)", "shape"),
        Bad("var", full((2, 3, 1)), ValueError, r"var of shape \(2, 3, 1\) must have the input's shape", "shape"),
        Bad("var", f64([0.5, -0.1, 0.2], [0.1, 0.2, 0.3]), ValueError, r"var has negative entries \(the first: -0\.1\)",
            "option value"),
        Bad("var", -1.0, ValueError, r"var must be non-negative, got -1\.0", "option value"),
        Bad("var", "1", TypeError, r"var\b.*\bstr\b", "type"),
    ],
    "kl_div": POINTWISE_SHAPES[:1] + [
        Bad("target", full((1, 3)), ValueError, r"target shape \(1, 3\) must match input shape \(2, 3\)", "shape"),
    ],
    "poisson_nll_loss": POINTWISE_SHAPES,
}


def catalogue() -> list[tuple[str, Bad]]:
    return [(call.name, bad) for call in CALLS for bad in generic(call) + SPECIFIC[call.name]]


CATALOGUE = catalogue()


def _id(entry: tuple[str, Bad]) -> str:
    name, bad = entry
    value = bad.value
    if isinstance(value, np.ndarray):
        shown = f"{value.dtype}{list(value.shape)}"
    elif isinstance(value, Derived):
        shown = value.label
    else:
        shown = getattr(value, "__name__", repr(value))
    return f"{name}-{bad.arg}={shown}"[:90]


def mutated(name: str, bad: Bad) -> dict[str, Any]:
    kwargs = BY_NAME[name].valid(np.dtype(np.float64))
    if bad.value is DROP:
        del kwargs[bad.arg]
    elif isinstance(bad.value, Derived):
        kwargs[bad.arg] = bad.value.make(kwargs)
    else:
        kwargs[bad.arg] = bad.value
    return kwargs


# --- the catalogue itself --------------------------------------------------------------------------


def test_every_public_function_has_a_valid_call_and_mutations():
    assert sorted(BY_NAME) == sorted(F.__all__)
    assert all(SPECIFIC.get(name) is not None for name in F.__all__)


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
def test_the_valid_call_is_valid(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = call.fn(**call.valid(np.dtype(np.float64)))
    assert np.all(np.isfinite(np.asarray(out)))


@pytest.mark.parametrize("entry", CATALOGUE, ids=_id)
def test_bad_input_raises_a_clear_error(entry):
    name, bad = entry
    kwargs = mutated(name, bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no NumPy warning on the way to the error
        with pytest.raises(bad.error) as info:
            BY_NAME[name].fn(**kwargs)
    message = str(info.value)
    assert re.search(bad.match, message), f"{message!r} does not match {bad.match!r}"
    assert bad.arg in message, f"the message does not name {bad.arg}: {message!r}"


def torch_outcome(fn: Callable[..., Any], kwargs: dict[str, Any]) -> str:
    """'error', 'warns' (a UserWarning, torch's broadcasting warning) or 'accepts'."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fn(**kwargs)
        except Exception:
            return "error"
    if any(issubclass(w.category, UserWarning) for w in caught):
        return "warns"
    return "accepts"


def _torch_kwargs(torch, name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    out = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    if name == "triplet_margin_with_distance_loss" and callable(out.get("distance_function")):
        out["distance_function"] = None
    if isinstance(out.get("dtype"), type):
        out["dtype"] = getattr(torch, np.dtype(out["dtype"]).name)
    return out


TORCH_COMPARED = [e for e in CATALOGUE if e[1].torch and e[0] not in ("focal_loss", "sigmoid_focal_loss")]


@pytest.mark.parametrize("entry", TORCH_COMPARED, ids=_id)
def test_torch_is_as_strict_or_the_difference_is_documented(entry):
    torch = pytest.importorskip("torch")
    name, bad = entry
    kwargs = _torch_kwargs(torch, name, mutated(name, bad))
    outcome = torch_outcome(torch_function(name), kwargs)
    if outcome != "error":
        assert bad.category in DOCUMENTED, f"torch {outcome} {_id(entry)} and the category {bad.category!r} is not documented"


def test_documented_categories_are_rows_of_the_deviations_page():
    text = DEVIATIONS.read_text()
    for row in DOCUMENTED.values():
        assert row in text, f"docs/deviations.md lacks the row {row!r}"


def _non_finite_is_an_error(name: str, arg: str, value: float) -> bool:
    """Where a non-finite value is out of the argument's domain: probabilities, variances."""
    probabilities = {("binary_cross_entropy", "input"), ("binary_cross_entropy", "target"), ("sigmoid_focal_loss", "targets")}
    return (name, arg) in probabilities or (
        (name, arg) == ("gaussian_nll_loss", "var") and value < 0
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=str)
@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
def test_nan_and_inf_are_values_not_errors(call, value):
    # As in torch: a non-finite entry in any real array propagates; it is an error only where it
    # is out of the argument's domain (torch's BCE rejects a nan probability too).
    torch = sys.modules["torch"] if torch_function(call.name) is not None else None
    for arg in call.reals:
        kwargs = call.valid(np.dtype(np.float64))
        x = kwargs[arg].copy()
        x.flat[0] = value
        kwargs[arg] = x
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            if _non_finite_is_an_error(call.name, arg, value):
                with pytest.raises(ValueError, match=arg):
                    call.fn(**kwargs)
            else:
                call.fn(**kwargs)
        if torch is not None and call.name != "sigmoid_focal_loss":
            outcome = torch_outcome(torch_function(call.name), _torch_kwargs(torch, call.name, kwargs))
            assert (outcome == "error") == _non_finite_is_an_error(call.name, arg, value), (arg, outcome)


def empty_batch(call) -> dict[str, Any]:
    """The valid call with a batch of 0 samples (every array's batch axis, of size 2, emptied)."""
    kwargs = call.valid(np.dtype(np.float64))
    for k, v in kwargs.items():
        if call.name == "ctc_loss" and k == "log_probs":
            kwargs[k] = v[:, :0]
        elif isinstance(v, np.ndarray) and v.ndim and v.shape[0] == 2:
            kwargs[k] = v[:0]
        elif isinstance(v, list):
            kwargs[k] = []
    return kwargs


@pytest.mark.parametrize("call", CALLS, ids=lambda c: c.name)
def test_an_empty_batch_is_a_value_or_a_clear_error_as_in_torch(call):
    # An empty batch is valid input where torch says so ('sum' 0, 'mean' nan), else a clear error.
    torch = sys.modules["torch"] if torch_function(call.name) is not None else None
    for reduction in call.reductions or (None,):
        kwargs = empty_batch(call)
        if reduction is not None:
            kwargs["reduction"] = reduction
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # kl_div's 'mean'
                warnings.simplefilter("error", RuntimeWarning)
                out = np.asarray(call.fn(**kwargs))
        except ERRORS as exc:
            out = exc
        if torch is None:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                expected = torch_function(call.name)(**_torch_kwargs(torch, call.name, kwargs)).numpy()
        except Exception:
            expected = None
        if expected is None:
            assert isinstance(out, ERRORS), f"torch raises, losskit returns {out!r} ({reduction})"
            assert any(name in str(out) for name in call.arrays + call.lengths), str(out)
        elif call.name in ("multi_margin_loss", "multilabel_margin_loss") and reduction != "none":
            # torch reads uninitialised memory here (docs/deviations.md)
            assert np.isnan(out) if reduction == "mean" else out == 0
        else:
            assert not isinstance(out, Exception), f"torch returns {expected}, losskit raises {out!r}"
            np.testing.assert_array_equal(out, expected)


# --- loss classes: bad options at construction -------------------------------------------------------

CONSTRUCTORS: list[tuple[type, dict[str, Any], type[Exception], str]] = []
for _cls in ("L1Loss", "MSELoss", "HuberLoss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss",
             "NLLLoss", "CTCLoss", "CosineEmbeddingLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss",
             "HingeEmbeddingLoss", "MarginRankingLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss",
             "MultiMarginLoss", "SoftMarginLoss", "PoissonNLLLoss", "GaussianNLLLoss", "KLDivLoss", "FocalLoss",
             "SigmoidFocalLoss"):
    CONSTRUCTORS.append((getattr(lnn, _cls), {"reduction": "avg"}, ValueError, r"reduction must be one of .*got 'avg'"))
CONSTRUCTORS += [
    (lnn.HuberLoss, {"delta": 0.0}, ValueError, r"delta must be > 0(\.0)?, got 0\.0"),
    (lnn.HuberLoss, {"delta": "1"}, TypeError, r"delta must be a real number, got str"),
    (lnn.SmoothL1Loss, {"beta": -1.0}, ValueError, r"beta must be >= 0(\.0)?, got -1\.0"),
    (lnn.BCELoss, {"weight": [1.0, 2.0]}, TypeError, r"weight must be an array or a losskit.Tensor, got list"),
    (lnn.BCELoss, {"weight": np.array([1, 2])}, TypeError, r"weight must have a real floating-point dtype, got int64"),
    (lnn.BCEWithLogitsLoss, {"pos_weight": "2"}, TypeError, r"pos_weight must be an array or a losskit.Tensor, got str"),
    (lnn.CrossEntropyLoss, {"weight": np.ones((2, 3))}, ValueError, r"weight must be a 1-D array .*got shape \(2, 3\)"),
    (lnn.CrossEntropyLoss, {"label_smoothing": 1.5}, ValueError, r"label_smoothing must be <= 1(\.0)?, got 1\.5"),
    (lnn.CrossEntropyLoss, {"ignore_index": 1.5}, TypeError, r"ignore_index must be an int, got float"),
    (lnn.NLLLoss, {"weight": np.ones(())}, ValueError, r"weight must be a 1-D array .*got shape \(\)"),
    (lnn.NLLLoss, {"ignore_index": "1"}, TypeError, r"ignore_index must be an int, got str"),
    (lnn.CTCLoss, {"blank": -1}, ValueError, r"blank must be >= 0, got -1"),
    (lnn.CTCLoss, {"blank": 1.0}, TypeError, r"blank must be an int, got float"),
    (lnn.CTCLoss, {"zero_infinity": 1}, TypeError, r"zero_infinity must be a bool, got int"),
    (lnn.CosineSimilarity, {"dim": 1.0}, TypeError, r"dim must be an int, got float"),
    (lnn.CosineSimilarity, {"eps": -1.0}, ValueError, r"eps must be >= 0(\.0)?, got -1\.0"),
    (lnn.PairwiseDistance, {"p": "2"}, TypeError, r"p must be a real number, got str"),
    (lnn.PairwiseDistance, {"keepdim": "no"}, TypeError, r"keepdim must be a bool, got str"),
    (lnn.CosineEmbeddingLoss, {"margin": "0"}, TypeError, r"margin must be a real number, got str"),
    (lnn.TripletMarginLoss, {"margin": 0.0}, ValueError, r"margin to be greater than 0, got 0\.0"),
    (lnn.TripletMarginLoss, {"swap": "yes"}, TypeError, r"swap must be a bool, got str"),
    (lnn.TripletMarginLoss, {"eps": None}, TypeError, r"eps must be a real number, got NoneType"),
    (lnn.TripletMarginWithDistanceLoss, {"margin": -1.0}, ValueError, r"margin to be greater than 0, got -1\.0"),
    (lnn.TripletMarginWithDistanceLoss, {"distance_function": 3}, TypeError, r"distance_function must be callable, got int"),
    (lnn.HingeEmbeddingLoss, {"margin": None}, TypeError, r"margin must be a real number, got NoneType"),
    (lnn.MarginRankingLoss, {"margin": "1"}, TypeError, r"margin must be a real number, got str"),
    (lnn.MultiLabelSoftMarginLoss, {"weight": "w"}, TypeError, r"weight must be an array or a losskit.Tensor, got str"),
    (lnn.MultiMarginLoss, {"p": 3}, ValueError, r"only p == 1 and p == 2 supported, got p=3"),
    (lnn.MultiMarginLoss, {"weight": np.ones((2, 3))}, ValueError, r"weight to be None or 1D tensor, got 2D"),
    (lnn.MultiMarginLoss, {"margin": "1"}, TypeError, r"margin must be a real number, got str"),
    (lnn.PoissonNLLLoss, {"log_input": "yes"}, TypeError, r"log_input must be a bool, got str"),
    (lnn.PoissonNLLLoss, {"eps": "1e-8"}, TypeError, r"eps must be a real number, got str"),
    (lnn.GaussianNLLLoss, {"full": 1}, TypeError, r"full must be a bool, got int"),
    (lnn.GaussianNLLLoss, {"eps": None}, TypeError, r"eps must be a real number, got NoneType"),
    (lnn.KLDivLoss, {"log_target": None}, TypeError, r"log_target must be a bool, got NoneType"),
    (lnn.FocalLoss, {"gamma": -1.0}, ValueError, r"gamma must be >= 0(\.0)?, got -1\.0"),
    (lnn.FocalLoss, {"ignore_index": 0.5}, TypeError, r"ignore_index must be an int, got float"),
    (lnn.SigmoidFocalLoss, {"alpha": "a"}, TypeError, r"alpha must be a real number, got str"),
    (lnn.Softmax, {"dim": 1.5}, TypeError, r"dim must be an int or None, got float"),
    (lnn.LogSoftmax, {"dim": "1"}, TypeError, r"dim must be an int or None, got str"),
    (lambda **kw: lnn.LinearCrossEntropyLoss(4, 3, **kw), {"label_smoothing": 2.0}, ValueError, r"label_smoothing"),
    (lambda **kw: lnn.LinearCrossEntropyLoss(4, 3, **kw), {"weight": np.ones(2)}, ValueError, r"weight shape to be \(3,\)"),
]


def test_torch_checks_most_loss_options_only_at_the_first_call():
    # The row "a loss class constructed with a bad option" of docs/deviations.md: torch builds these.
    torch = pytest.importorskip("torch")
    assert "construction" in DOCUMENTED
    torch.nn.HuberLoss(delta=0.0)
    torch.nn.CTCLoss(blank=-1)
    torch.nn.CrossEntropyLoss(label_smoothing=1.5)


@pytest.mark.parametrize(("cls", "kwargs", "error", "match"), CONSTRUCTORS,
                         ids=lambda v: getattr(v, "__name__", None) or (str(v) if isinstance(v, dict) else ""))
def test_loss_classes_reject_bad_options_at_construction(cls, kwargs, error, match):
    with pytest.raises(error, match=match):
        cls(**kwargs)


# --- Tensor, Linear, Sequential, optimisers ------------------------------------------------------------


def _params():
    return [losskit.nn.Parameter(np.ones(2, np.float32))]


ENGINE = [
    (lambda: losskit.tensor("abc"), TypeError, r"data must hold numbers .*got dtype <U3"),
    (lambda: losskit.tensor([1.0, None]), TypeError, r"data must hold numbers .*got dtype object"),
    (lambda: losskit.tensor([1, 2], requires_grad=True), TypeError, r"only floating-point Tensors can require gradients"),
    (lambda: losskit.tensor([1.0], dtype="float17"), TypeError, r"dtype must be one of .*got 'float17'"),
    (lambda: losskit.tensor([1.0, 2.0], requires_grad=True).sum().backward(np.ones(3)), ValueError,
     r"gradient must have the output's shape \(\), got \(3,\)"),
    (lambda: losskit.tensor([1.0, 2.0], requires_grad=True).sum().backward("abc"), TypeError,
     r"gradient must be an array, a Tensor or a number, got str"),
    (lambda: (losskit.tensor([1.0, 2.0], requires_grad=True) * 2.0).backward(), RuntimeError,
     r"only defined for one-element outputs; this one has shape \(2,\)"),
    (lambda: lnn.Linear(-1, 2), ValueError, r"in_features and out_features must be >= 0, got -1 and 2"),
    (lambda: lnn.Linear(2.0, 2), TypeError, r"in_features must be an int, got float"),
    (lambda: lnn.Linear(2, 3, dtype="float17"), TypeError, r"dtype must be one of .*got 'float17'"),
    (lambda: lnn.Linear(10, 1)(np.ones((4, 5), np.float32)), ValueError,
     r"input's last dimension 5 must equal in_features 10 \(input shape \(4, 5\)\)"),
    (lambda: lnn.Linear(10, 1)("abc"), TypeError, r"input must be an array or a losskit.Tensor, got str"),
    (lambda: lnn.Sequential(lnn.Linear(2, 2), "relu"), TypeError, r"module must be a losskit.nn.Module or None, got str"),
    (lambda: optim.SGD(_params(), lr=-0.1), ValueError, r"lr must be >= 0, got -0\.1"),
    (lambda: optim.SGD(_params(), lr="fast"), TypeError, r"lr must be a real number, got str"),
    (lambda: optim.SGD(_params(), momentum=-0.9), ValueError, r"momentum must be >= 0, got -0\.9"),
    (lambda: optim.SGD(_params(), weight_decay=-1.0), ValueError, r"weight_decay must be >= 0, got -1\.0"),
    (lambda: optim.SGD(_params(), lr=0.1, nesterov=True), ValueError, r"nesterov momentum requires momentum > 0"),
    (lambda: optim.SGD([], lr=0.1), ValueError, r"optimizer got an empty parameter list"),
    (lambda: optim.SGD([np.ones(2)], lr=0.1), TypeError, r"params must contain losskit Tensors, got ndarray"),
    (lambda: optim.SGD(losskit.nn.Parameter(np.ones(2)), lr=0.1), TypeError, r"params must be an iterable"),
    (lambda: optim.Adam(_params(), lr=-1e-3), ValueError, r"lr must be >= 0, got -0\.001"),
    (lambda: optim.Adam(_params(), betas=(1.0, 0.999)), ValueError, r"betas\[0\] must be in \[0, 1\), got 1\.0"),
    (lambda: optim.Adam(_params(), betas=(0.9, -0.1)), ValueError, r"betas\[1\] must be in \[0, 1\), got -0\.1"),
    (lambda: optim.Adam(_params(), betas=(0.9,)), ValueError, r"betas must be a pair, got \(0\.9,\)"),
    (lambda: optim.Adam(_params(), betas=0.9), TypeError, r"betas must be a pair of numbers, got float"),
    (lambda: optim.Adam(_params(), eps=-1e-8), ValueError, r"eps must be >= 0, got -1e-08"),
    (lambda: optim.Adam(_params(), weight_decay=-0.1), ValueError, r"weight_decay must be >= 0, got -0\.1"),
]


@pytest.mark.parametrize(("make", "error", "match"), ENGINE, ids=lambda v: v if isinstance(v, str) else "")
def test_engine_modules_and_optimisers_reject_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_optimiser_errors_are_torchs():
    torch = pytest.importorskip("torch")
    p = [torch.nn.Parameter(torch.ones(2))]
    for make in (lambda: torch.optim.SGD(p, lr=-0.1), lambda: torch.optim.SGD(p, momentum=-0.9, lr=0.1),
                 lambda: torch.optim.Adam(p, betas=(1.0, 0.999)), lambda: torch.optim.Adam(p, eps=-1e-8),
                 lambda: torch.optim.SGD(p, lr=0.1, nesterov=True), lambda: torch.optim.SGD([], lr=0.1)):
        with pytest.raises(ValueError):
            make()


def count() -> dict[str, int]:
    """The catalogue's size, for the issue note."""
    return {
        "functional mutations": len(CATALOGUE),
        "compared with torch": len(TORCH_COMPARED),
        "constructor mutations": len(CONSTRUCTORS),
        "engine/optimiser mutations": len(ENGINE),
    }
