"""Bad input to the first losses and the activations: a clear error that names the argument.

Hand-written sweeps (many shapes, many option values) for the core losses. The systematic
catalogue over every public function, class and argument, with torch as the oracle, is
``tests/reliability/test_reliability_bad_input.py``.

ValueError for a wrong shape or value, TypeError for a wrong type or dtype, IndexError for a class
index or a dim out of range: never an assert, never a NumPy broadcasting error from inside an op.
Where torch broadcasts a target of another shape (with a warning), losskit refuses it. Torch is
needed only for the few asserts that record what torch does instead.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import losskit
import losskit.functional as F
import losskit.nn as lnn

POINTWISE = [F.l1_loss, F.mse_loss, F.huber_loss, F.smooth_l1_loss]
WEIGHTED_POINTWISE = [F.l1_loss, F.mse_loss, F.huber_loss]
BINARY = [F.binary_cross_entropy, F.binary_cross_entropy_with_logits]
ALL_LOSSES = POINTWISE + BINARY + [F.cross_entropy, F.nll_loss]


def _ids(fns):
    return [f.__name__ for f in fns]


def _valid_args(fn):
    """Valid ``(input, target)`` for ``fn`` in float64."""
    if fn in (F.cross_entropy, F.nll_loss):
        return np.log(np.full((2, 3), 1 / 3)), np.array([0, 2])
    if fn is F.binary_cross_entropy:
        return np.array([0.2, 0.7, 0.5]), np.array([0.0, 1.0, 0.5])
    return np.array([0.2, -0.7, 1.5]), np.array([0.0, 1.0, 0.5])


def _torch():
    return pytest.importorskip("torch")


# --- shapes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", POINTWISE + BINARY, ids=_ids(POINTWISE + BINARY))
@pytest.mark.parametrize(
    ("xshape", "yshape"),
    [((3,), (2, 3)), ((2, 3), (3,)), ((2, 3), (1, 3)), ((2, 1), (2, 3)), ((3,), ()), ((), (1,)), ((2, 3), (3, 2))],
    ids=str,
)
def test_target_shape_must_equal_input_shape(fn, xshape, yshape):
    # Most of these broadcast: torch warns (or, for BCE, errors) and losskit refuses them all.
    x = np.full(xshape, 0.5)
    y = np.full(yshape, 0.5)
    with pytest.raises(ValueError, match=r"target shape .* must match input shape"):
        fn(x, y)


@pytest.mark.parametrize("fn", POINTWISE, ids=_ids(POINTWISE))
def test_broadcastable_target_torch_warns_losskit_errors(fn):
    torch = _torch()
    x, y = np.zeros((2, 3)), np.ones((3,))
    with pytest.warns(UserWarning, match="target size"):
        out = getattr(torch.nn.functional, fn.__name__)(torch.from_numpy(x), torch.from_numpy(y), reduction="none")
    assert tuple(out.shape) == (2, 3)  # torch silently broadcast
    with pytest.raises(ValueError, match=r"target shape \(3,\) must match input shape \(2, 3\)"):
        fn(x, y, reduction="none")


@pytest.mark.parametrize("fn", WEIGHTED_POINTWISE, ids=_ids(WEIGHTED_POINTWISE))
@pytest.mark.parametrize("wshape", [(), (1,), (3,), (2, 1), (1, 2, 3)], ids=str)
def test_elementwise_weight_must_have_input_shape(fn, wshape):
    # torch: "Weights and input must have the same size." (RuntimeError)
    x, y = np.zeros((2, 3)), np.ones((2, 3))
    with pytest.raises(ValueError, match=r"weight shape .* must match input shape"):
        fn(x, y, weight=np.ones(wshape))


@pytest.mark.parametrize("fn", BINARY, ids=_ids(BINARY))
@pytest.mark.parametrize("name", ["weight", "pos_weight"])
@pytest.mark.parametrize("wshape", [(2,), (4, 3), (1, 2, 3), (2, 2, 3), (3, 1)], ids=str)
def test_binary_weights_must_broadcast_to_the_input(fn, name, wshape):
    if name == "pos_weight" and fn is F.binary_cross_entropy:
        pytest.skip("binary_cross_entropy has no pos_weight")
    x, y = np.full((2, 3), 0.5), np.full((2, 3), 0.5)
    with pytest.raises(ValueError, match=rf"^{name} of shape .* must broadcast to the input's shape \(2, 3\)"):
        fn(x, y, **{name: np.ones(wshape)})


def test_weight_enlarging_the_input_is_an_error_in_torch_too():
    # docs/deviations.md: torch 2.13 raises a RuntimeError here (it does not return a larger loss).
    torch = _torch()
    x, y, w = torch.full((2, 3), 0.5), torch.full((2, 3), 0.5), torch.ones((2, 2, 3))
    for fn in (torch.nn.functional.binary_cross_entropy, torch.nn.functional.binary_cross_entropy_with_logits):
        with pytest.raises(RuntimeError, match="broadcast shape"):
            fn(x, y, weight=w)
    with pytest.raises(RuntimeError, match="broadcast shape"):
        torch.nn.functional.binary_cross_entropy_with_logits(x, y, pos_weight=w)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
@pytest.mark.parametrize(
    ("xshape", "tshape", "message"),
    [
        ((2, 3), (3,), "target batch size 3 must match input batch size 2"),
        ((2, 3), (2, 1), r"target shape \(2, 1\) must be \(2,\)"),
        ((2, 3, 4), (2, 3), r"target shape \(2, 3\) must be \(2, 4\)"),
        ((2, 3, 4), (2,), r"target shape \(2,\) must be \(2, 4\)"),
        ((3,), (1,), r"target shape \(1,\) must be \(\)"),
        ((2, 3), (), "target shape"),
    ],
    ids=str,
)
def test_class_index_target_shape(fn, xshape, tshape, message):
    with pytest.raises(ValueError, match=message):
        fn(np.zeros(xshape), np.zeros(tshape, np.int64))


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
def test_class_input_needs_a_class_axis(fn):
    with pytest.raises(ValueError, match=r"input must have shape \(C\), \(N, C\)"):
        fn(np.array(0.5), np.array(0))


@pytest.mark.parametrize(("xshape", "yshape"), [((2, 3), (2, 4)), ((2, 3), (3,)), ((3,), (2, 3))], ids=str)
def test_probability_target_shape(xshape, yshape):
    with pytest.raises(ValueError, match=r"target \(class probabilities\) shape .* must match input shape"):
        F.cross_entropy(np.zeros(xshape), np.full(yshape, 0.25))


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("wshape", [(2,), (4,), (1,), (), (1, 3), (2, 3)], ids=str)
def test_class_weight_shape(fn, wshape):
    x, t = _valid_args(fn)
    with pytest.raises(ValueError, match=r"weight must be a 1-D array of length C=3"):
        fn(x, t, weight=np.ones(wshape))


# --- class indices out of range -------------------------------------------------------------------


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
@pytest.mark.parametrize(
    ("target", "ignore_index", "offender"),
    [([0, 3], -100, 3), ([7, 1], -100, 7), ([0, -1], -100, -1), ([-100, -2], -100, -2), ([3, 0], 2, 3), ([1, -5], -1, -5)],
    ids=str,
)
def test_class_index_out_of_range(fn, target, ignore_index, offender):
    x = np.zeros((2, 3))
    with pytest.raises(IndexError, match=rf"target {offender} is out of bounds"):
        fn(x, np.array(target), ignore_index=ignore_index)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
def test_class_index_out_of_range_in_higher_dimensions_and_unbatched(fn):
    with pytest.raises(IndexError, match="out of bounds"):
        fn(np.zeros((2, 3, 2)), np.array([[0, 1], [2, 3]]))
    with pytest.raises(IndexError, match="out of bounds"):
        fn(np.zeros(3), np.array(3))


def test_class_index_out_of_range_is_an_index_error_in_torch_too():
    torch = _torch()
    with pytest.raises(IndexError):
        torch.nn.functional.cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3]))


# --- dtypes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ALL_LOSSES, ids=_ids(ALL_LOSSES))
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_integer_input_is_a_type_error(fn, dtype):
    x, t = _valid_args(fn)
    with pytest.raises(TypeError, match="input must have a real floating-point dtype"):
        fn(x.astype(dtype), t)


@pytest.mark.parametrize("fn", POINTWISE + BINARY, ids=_ids(POINTWISE + BINARY))
def test_integer_target_is_a_type_error(fn):
    x, y = _valid_args(fn)
    with pytest.raises(TypeError, match="target must have a real floating-point dtype"):
        fn(x, y.astype(np.int64))


@pytest.mark.parametrize("fn", POINTWISE + BINARY, ids=_ids(POINTWISE + BINARY))
def test_target_dtype_must_be_the_input_dtype(fn):
    # torch promotes (l1, mse, smooth_l1, with_logits), casts (huber) or errors (BCE); losskit
    # returns the input's dtype always, so it wants one dtype.
    x, y = _valid_args(fn)
    with pytest.raises(TypeError, match="target must have input's dtype float32, got float64"):
        fn(x.astype(np.float32), y)


def test_nll_float_target_is_a_type_error():
    # torch: "expected target dtype to be Long or Byte, but got Float".
    with pytest.raises(TypeError, match="target must hold integer class indices"):
        F.nll_loss(np.zeros((2, 3)), np.array([0.0, 1.0]))


@pytest.mark.parametrize("target", [np.array([True, False]), np.array([0.0, 1.0], np.float32)], ids=["bool", "float32"])
def test_cross_entropy_target_neither_indices_nor_probabilities(target):
    # A bool target is not a class index; a float32 target of float64 logits is not of the input's dtype.
    with pytest.raises(TypeError, match="target"):
        F.cross_entropy(np.zeros((2, 3)), target)


def test_cross_entropy_probability_target_dtype():
    with pytest.raises(TypeError, match="target must have input's dtype float64, got float32"):
        F.cross_entropy(np.zeros((2, 3)), np.full((2, 3), 1 / 3, np.float32))


@pytest.mark.parametrize(
    ("fn", "name", "shape"),
    [
        (F.l1_loss, "weight", (3,)),
        (F.mse_loss, "weight", (3,)),
        (F.huber_loss, "weight", (3,)),
        (F.binary_cross_entropy, "weight", (3,)),
        (F.binary_cross_entropy_with_logits, "weight", (3,)),
        (F.binary_cross_entropy_with_logits, "pos_weight", (3,)),
        (F.cross_entropy, "weight", (3,)),
        (F.nll_loss, "weight", (3,)),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
@pytest.mark.parametrize("wdtype", [np.float32, np.int64])
def test_weight_dtype_must_be_the_input_dtype(fn, name, shape, wdtype):
    x, t = _valid_args(fn)
    if wdtype is np.float32:
        match = f"{name} must have input's dtype float64"
    else:
        match = f"{name} must have a real floating-point dtype"
    with pytest.raises(TypeError, match=match):
        fn(x, t, **{name: np.ones(shape, wdtype)})


@pytest.mark.parametrize(
    "fn", [F.softmax, F.log_softmax, F.logsumexp, F.sigmoid, F.logsigmoid, F.softplus],
    ids=["softmax", "log_softmax", "logsumexp", "sigmoid", "logsigmoid", "softplus"],
)
def test_activations_need_floating_input(fn):
    args = (0,) if fn in (F.softmax, F.log_softmax, F.logsumexp) else ()
    with pytest.raises(TypeError, match="input must have a real floating-point dtype"):
        fn(np.arange(3), *args)


# --- option values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ALL_LOSSES, ids=_ids(ALL_LOSSES))
@pytest.mark.parametrize("reduction", ["avg", "Mean", "", None, 1, "batchmean"])
def test_bad_reduction(fn, reduction):
    x, t = _valid_args(fn)
    with pytest.raises(ValueError, match=r"reduction must be one of 'none', 'mean', 'sum'"):
        fn(x, t, reduction=reduction)


@pytest.mark.parametrize(
    "cls", ["L1Loss", "MSELoss", "HuberLoss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss"]
)
def test_modules_reject_a_bad_reduction_at_construction(cls):
    with pytest.raises(ValueError, match="reduction must be one of"):
        getattr(lnn, cls)(reduction="avg")


@pytest.mark.parametrize("value", [1.5, -0.01, 1.0 + 1e-12, -np.inf, np.inf])
def test_bce_input_outside_the_unit_interval(value):
    # torch: RuntimeError "all elements of input should be between 0 and 1".
    with pytest.raises(ValueError, match="all elements of input must be between 0 and 1"):
        F.binary_cross_entropy(np.array([0.5, value]), np.array([0.0, 1.0]))


def test_bce_input_check_sees_through_a_tensor():
    with pytest.raises(ValueError, match="input must be between 0 and 1"):
        F.binary_cross_entropy(losskit.tensor(np.array([2.0]), requires_grad=True), np.array([1.0]))


@pytest.mark.parametrize("value", [-0.1, 1.1, 2.0, -np.inf, np.inf])
@pytest.mark.parametrize("probabilities", [False, True], ids=["indices", "probabilities"])
def test_label_smoothing_outside_the_unit_interval(value, probabilities):
    # torch: RuntimeError "label_smoothing must be between 0.0 and 1.0".
    target = np.full((2, 3), 1 / 3) if probabilities else np.array([0, 1])
    with pytest.raises(ValueError, match="label_smoothing must be"):
        F.cross_entropy(np.zeros((2, 3)), target, label_smoothing=value)


@pytest.mark.parametrize("delta", [0.0, -1.0, -1e-300, -np.inf])
def test_huber_delta_must_be_positive(delta):
    # torch: RuntimeError "huber_loss does not support non-positive values for delta."
    with pytest.raises(ValueError, match="delta must be > 0"):
        F.huber_loss(np.zeros(2), np.ones(2), delta=delta)
    with pytest.raises(ValueError, match="delta must be > 0"):
        lnn.HuberLoss(delta=delta)(np.zeros(2), np.ones(2))


@pytest.mark.parametrize("beta", [-1.0, -1e-300, -np.inf])
def test_smooth_l1_beta_must_not_be_negative(beta):
    # torch: RuntimeError "smooth_l1_loss does not support negative values for beta."
    with pytest.raises(ValueError, match="beta must be >= 0"):
        F.smooth_l1_loss(np.zeros(2), np.ones(2), beta=beta)


def test_softplus_beta_must_be_nonzero():
    # torch returns inf (x / 0) or nan here; a zero beta has no meaning.
    with pytest.raises(ValueError, match="beta must be nonzero"):
        F.softplus(np.zeros(2), beta=0.0)


@pytest.mark.parametrize("ignore_index", [0, 2, 5])
def test_ignore_index_not_supported_with_probabilities(ignore_index):
    # torch: RuntimeError "ignore_index is not supported for floating point target".
    with pytest.raises(ValueError, match=f"ignore_index={ignore_index} is not supported with class-probability"):
        F.cross_entropy(np.zeros((2, 3)), np.full((2, 3), 1 / 3), ignore_index=ignore_index)


# --- dims of the activations ------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax, F.logsumexp], ids=["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize(("shape", "dim"), [((2, 3), 2), ((2, 3), -3), ((3,), 1), ((), 1), ((), -2)], ids=str)
def test_dim_out_of_range(fn, shape, dim):
    with pytest.raises(IndexError, match=rf"dim {dim} is out of range for an input with {len(shape)} dimensions"):
        fn(np.zeros(shape), dim)


@pytest.mark.parametrize("dim", [(0, 0), (1, -2), [0, 2, -3]], ids=str)
def test_logsumexp_repeated_dim(dim):
    # torch: RuntimeError "dim 0 appears multiple times in the list of dims".
    with pytest.raises(ValueError, match="appears more than once"):
        F.logsumexp(np.zeros((2, 3, 4)), dim)


def test_logsumexp_needs_a_dim():
    with pytest.raises(ValueError, match="dim must name at least one dimension"):
        F.logsumexp(np.zeros((2, 3)), ())


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax, F.logsumexp], ids=["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dim", [1.0, "1", (0, 1.5)], ids=str)
def test_dim_must_be_an_int(fn, dim):
    if isinstance(dim, tuple) and fn is not F.logsumexp:
        pytest.skip("only logsumexp takes several dims")
    with pytest.raises(TypeError, match="dim must be an int"):
        fn(np.zeros((2, 3)), dim)


# --- not arrays, not numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ALL_LOSSES, ids=_ids(ALL_LOSSES))
@pytest.mark.parametrize("which", ["input", "target"])
@pytest.mark.parametrize("value", [[0.5, 0.5], 0.5, None, "abc"], ids=["list", "float", "None", "str"])
def test_non_array_arguments(fn, which, value):
    x, t = _valid_args(fn)
    args = (value, t) if which == "input" else (x, value)
    with pytest.raises(TypeError, match=f"{which} must be an array or a losskit.Tensor, got"):
        fn(*args)


@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (F.l1_loss, "weight"),
        (F.huber_loss, "weight"),
        (F.binary_cross_entropy, "weight"),
        (F.binary_cross_entropy_with_logits, "pos_weight"),
        (F.cross_entropy, "weight"),
        (F.nll_loss, "weight"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_non_array_weights(fn, name):
    x, t = _valid_args(fn)
    with pytest.raises(TypeError, match=f"{name} must be an array or a losskit.Tensor, got list"):
        fn(x, t, **{name: [1.0, 1.0, 1.0]})


@pytest.mark.parametrize(
    ("fn", "option", "value"),
    [
        (F.huber_loss, "delta", "1"),
        (F.huber_loss, "delta", None),
        (F.huber_loss, "delta", np.ones(1)),
        (F.smooth_l1_loss, "beta", "0.5"),
        (F.smooth_l1_loss, "beta", True),
        (F.cross_entropy, "label_smoothing", "0.1"),
        (F.cross_entropy, "label_smoothing", True),
        (F.cross_entropy, "ignore_index", 1.0),
        (F.cross_entropy, "ignore_index", None),
        (F.nll_loss, "ignore_index", "1"),
        (F.softplus, "beta", "2"),
        (F.softplus, "threshold", None),
    ],
    ids=lambda v: getattr(v, "__name__", repr(v)),
)
def test_options_of_the_wrong_type(fn, option, value):
    x, t = _valid_args(fn)
    args = (x,) if fn is F.softplus else (x, t)
    with pytest.raises(TypeError, match=rf"^{option} must be (a real number|an int), got"):
        fn(*args, **{option: value})


# --- one array library per call ---------------------------------------------------------------------


@pytest.fixture
def strict_xp():
    xps = pytest.importorskip("array_api_strict")
    return xps


@pytest.mark.parametrize("fn", ALL_LOSSES, ids=_ids(ALL_LOSSES))
@pytest.mark.parametrize("which", ["input", "target"])
def test_mixed_array_libraries_numpy_and_strict(fn, which, strict_xp):
    x, t = _valid_args(fn)
    args = (strict_xp.asarray(x), t) if which == "input" else (x, strict_xp.asarray(t))
    match = r"target is .* but input is .*: all arrays of one call must come from one array library"
    with pytest.raises(TypeError, match=match):
        fn(*args)


@pytest.mark.parametrize(
    ("fn", "name", "value"),
    [
        (F.l1_loss, "weight", np.ones(3)),
        (F.binary_cross_entropy, "weight", np.ones(3)),
        (F.binary_cross_entropy_with_logits, "pos_weight", np.ones(3)),
        (F.cross_entropy, "weight", np.ones(3)),
        (F.nll_loss, "weight", np.ones(3)),
    ],
    ids=lambda v: getattr(v, "__name__", "array"),
)
def test_mixed_array_libraries_in_weights(fn, name, value, strict_xp):
    x, t = _valid_args(fn)
    with pytest.raises(TypeError, match=rf"{name} is array_api_strict.Array but input is numpy.ndarray"):
        fn(x, t, **{name: strict_xp.asarray(value)})


@pytest.mark.parametrize("fn", ALL_LOSSES, ids=_ids(ALL_LOSSES))
def test_mixed_array_libraries_numpy_and_torch(fn):
    torch = _torch()
    x, t = _valid_args(fn)
    with pytest.raises(TypeError, match=r"target is torch.Tensor but input is numpy.ndarray"):
        fn(x, torch.from_numpy(t))
    with pytest.raises(TypeError, match=r"target is numpy.ndarray but input is torch.Tensor"):
        fn(torch.from_numpy(x), t)
    with pytest.raises(TypeError, match=r"target is torch.Tensor but input is numpy.ndarray"):
        fn(losskit.tensor(x, requires_grad=True), torch.from_numpy(t))


def test_no_numpy_error_leaks_from_inside_an_op():
    # A sample of inputs that would reach numpy broadcasting or indexing if a check were missing.
    bad = [
        lambda: F.mse_loss(np.zeros((2, 3)), np.zeros((4, 3))),
        lambda: F.binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)), pos_weight=np.ones(4)),
        lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 5])),
        lambda: F.nll_loss(np.zeros((2, 3, 4)), np.zeros((2, 3), np.int64)),
        lambda: F.logsumexp(np.zeros((2, 3)), 2),
    ]
    for call in bad:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises((ValueError, TypeError, IndexError)) as info:
                call()
        assert any(name in str(info.value) for name in ("input", "target", "weight", "dim"))
        assert "operands could not be broadcast" not in str(info.value)
