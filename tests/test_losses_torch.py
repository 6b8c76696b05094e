"""The first losses and the activations against torch 2.13: values, dtypes and gradients.

Every option of every loss in ``losskit.functional`` (regression, binary, classification) and of
the activations, in float32 and float64, through the ``check_against_torch`` fixture: it compares
values, result dtypes and the gradients of every differentiable input under a random cotangent,
and checks that the plain-array call gives the Tensor call's value. The ``nn`` module classes are
compared with torch's modules. Inputs stay away from kinks (``d = 0``, ``|d| = delta``) except in
the tests that pin torch's conventions there.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import losskit
import losskit.functional as F
import losskit.nn as lnn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

REDUCTIONS = ["none", "mean", "sum"]
# torch's legacy (size_average, reduce) pairs; at least one is given in each.
LEGACY = [
    (True, None),
    (False, None),
    (None, True),
    (None, False),
    (True, True),
    (False, True),
    (True, False),
    (False, False),
]


def _quiet(fn):
    """``fn`` with torch's own (User)warnings silenced, so that only losskit's are recorded."""

    def wrapped(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)

    return wrapped


def _normal(rng, shape, dtype, scale=1.0):
    return np.asarray(scale * rng.standard_normal(shape), dtype=dtype)


def _uniform(rng, shape, dtype, low=0.0, high=1.0):
    return np.asarray(rng.uniform(low, high, shape), dtype=dtype)


def _away_from(rng, shape, dtype, kinks, margin=0.05):
    """Values in [-3, 3] that keep ``margin`` away from each of ``kinks`` and their negatives."""
    d = np.asarray(rng.uniform(-3.0, 3.0, shape))
    for k in kinks:
        for s in (k, -k):
            close = np.abs(d - s) < margin
            d = np.where(close, s + np.where(d >= s, 2 * margin, -2 * margin), d)
    return np.asarray(d, dtype=dtype)


def _pair(rng, shape, dtype, kinks):
    """``(input, target)`` whose difference keeps away from ``kinks``."""
    y = _normal(rng, shape, dtype)
    x = np.asarray(y + _away_from(rng, shape, dtype, kinks), dtype=dtype)
    return x, y


# --- regression ---------------------------------------------------------------------------------

POINTWISE = ["l1_loss", "mse_loss", "huber_loss", "smooth_l1_loss"]


@pytest.mark.parametrize("name", POINTWISE)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 2)], ids=str)
def test_pointwise_losses(check_against_torch, rng, dtype, name, reduction, shape):
    x, y = _pair(rng, shape, dtype, [0.0, 1.0])
    check_against_torch(getattr(F, name), getattr(TF, name), (x, y), {"reduction": reduction}, grad=(0, 1))


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("zeros", [False, True], ids=["positive", "with-zeros"])
def test_elementwise_weight(check_against_torch, rng, dtype, name, reduction, zeros):
    # torch 2.13: 'mean' is sum(w l) / sum(w) for l1 and mse, mean(w l) for huber.
    x, y = _pair(rng, (3, 4), dtype, [0.0, 1.0])
    w = _uniform(rng, (3, 4), dtype, 0.1, 2.0)
    if zeros:
        w[0] = 0.0
    kwargs = {"reduction": reduction, "weight": w}
    check_against_torch(getattr(F, name), getattr(TF, name), (x, y), kwargs, grad=(0, 1))


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
def test_elementwise_weight_all_zero_mean_is_nan(check_against_torch, rng, dtype, name):
    x, y = _normal(rng, (4,), dtype), _normal(rng, (4,), dtype)
    value, _ = check_against_torch(getattr(F, name), getattr(TF, name), (x, y), {"weight": np.zeros(4, dtype)})
    assert np.isnan(value)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_huber_delta(check_against_torch, rng, dtype, reduction, delta, weighted):
    x, y = _pair(rng, (2, 6), dtype, [0.0, delta])
    kwargs = {"reduction": reduction, "delta": delta}
    if weighted:
        kwargs["weight"] = _uniform(rng, (2, 6), dtype, 0.1, 2.0)
    check_against_torch(F.huber_loss, TF.huber_loss, (x, y), kwargs, grad=(0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 2.5])
def test_smooth_l1_beta(check_against_torch, rng, dtype, reduction, beta):
    x, y = _pair(rng, (2, 6), dtype, [0.0, beta])
    kwargs = {"reduction": reduction, "beta": beta}
    check_against_torch(F.smooth_l1_loss, TF.smooth_l1_loss, (x, y), kwargs, grad=(0, 1))


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("l1_loss", {}),
        ("mse_loss", {}),
        ("huber_loss", {"delta": 1.0}),
        ("huber_loss", {"delta": 0.5}),
        ("smooth_l1_loss", {"beta": 1.0}),
        ("smooth_l1_loss", {"beta": 0.5}),
        ("smooth_l1_loss", {"beta": 0.0}),
    ],
    ids=str,
)
def test_pointwise_gradients_at_the_kinks_follow_torch(check_against_torch, dtype, name, kwargs):
    # d = 0 and |d| = delta (or beta) exactly: torch's sign(0) = 0 and clip at the ends.
    k = kwargs.get("delta", kwargs.get("beta", 1.0))
    x = np.array([0.0, k, -k, 0.25, 2.0, -2.0], dtype)
    y = np.zeros_like(x)
    check_against_torch(getattr(F, name), getattr(TF, name), (x, y), {"reduction": "sum", **kwargs}, grad=(0, 1))


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "smooth_l1_loss"])
@pytest.mark.parametrize(("size_average", "reduce"), LEGACY)
def test_pointwise_legacy_reduction(check_against_torch, rng, dtype, name, size_average, reduce):
    x, y = _pair(rng, (3, 2), dtype, [0.0, 1.0])
    kwargs = {"size_average": size_average, "reduce": reduce}
    with pytest.warns(DeprecationWarning, match="size_average and reduce"):
        check_against_torch(getattr(F, name), _quiet(getattr(TF, name)), (x, y), kwargs, grad=(0, 1))


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss"])
@pytest.mark.parametrize(("size_average", "reduce"), LEGACY)
def test_pointwise_legacy_reduction_with_weight(check_against_torch, rng, dtype, name, size_average, reduce):
    x, y = _pair(rng, (3, 2), dtype, [0.0])
    w = _uniform(rng, (3, 2), dtype, 0.1, 2.0)
    kwargs = {"size_average": size_average, "reduce": reduce, "weight": w}
    with pytest.warns(DeprecationWarning):
        check_against_torch(getattr(F, name), _quiet(getattr(TF, name)), (x, y), kwargs, grad=(0, 1))


@pytest.mark.parametrize("name", POINTWISE)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_pointwise_empty(check_against_torch, dtype, name, reduction):
    # 'mean' of nothing is nan, 'sum' 0, 'none' an empty array.
    x = np.zeros((0, 3), dtype)
    value, _ = check_against_torch(
        getattr(F, name), getattr(TF, name), (x, x.copy()), {"reduction": reduction}, grad=(0, 1)
    )
    assert value.shape == ((0, 3) if reduction == "none" else ())


# --- binary ---------------------------------------------------------------------------------------


def _probabilities(rng, shape, dtype):
    return _uniform(rng, shape, dtype, 0.05, 0.95)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 2)], ids=str)
@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard"])
def test_bce(check_against_torch, rng, dtype, reduction, shape, hard):
    x = _probabilities(rng, shape, dtype)
    y = np.asarray(rng.uniform(size=shape) < 0.5, dtype=dtype) if hard else _uniform(rng, shape, dtype)
    kwargs = {"reduction": reduction}
    check_against_torch(F.binary_cross_entropy, TF.binary_cross_entropy, (x, y), kwargs, grad=(0, 1))


WEIGHT_SHAPES = [(), (1,), (3,), (2, 1), (1, 3), (2, 3)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wshape", WEIGHT_SHAPES, ids=str)
def test_bce_weight_broadcasts(check_against_torch, rng, dtype, reduction, wshape):
    x, y = _probabilities(rng, (2, 3), dtype), _uniform(rng, (2, 3), dtype)
    kwargs = {"reduction": reduction, "weight": _uniform(rng, wshape, dtype, 0.1, 2.0)}
    check_against_torch(F.binary_cross_entropy, TF.binary_cross_entropy, (x, y), kwargs, grad=(0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(), (4,), (2, 3), (2, 3, 2)], ids=str)
def test_bce_with_logits(check_against_torch, rng, dtype, reduction, shape):
    x, y = _normal(rng, shape, dtype, 3.0), _uniform(rng, shape, dtype)
    check_against_torch(
        F.binary_cross_entropy_with_logits,
        TF.binary_cross_entropy_with_logits,
        (x, y),
        {"reduction": reduction},
        grad=(0, 1),
    )


# (weight shape, pos_weight shape): each shape alone, then together.
WEIGHT_PAIRS = [(w, None) for w in WEIGHT_SHAPES] + [(None, p) for p in WEIGHT_SHAPES] + [
    ((2, 3), (3,)),
    ((2, 1), (1, 3)),
    ((), (2, 3)),
    ((3,), (2, 1)),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("wshape", "pshape"), WEIGHT_PAIRS, ids=str)
def test_bce_with_logits_weight_and_pos_weight(check_against_torch, rng, dtype, reduction, wshape, pshape):
    x, y = _normal(rng, (2, 3), dtype, 3.0), _uniform(rng, (2, 3), dtype)
    kwargs = {"reduction": reduction}
    if wshape is not None:
        kwargs["weight"] = _uniform(rng, wshape, dtype, 0.1, 2.0)
    if pshape is not None:
        kwargs["pos_weight"] = _uniform(rng, pshape, dtype, 0.1, 3.0)
    check_against_torch(
        F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits, (x, y), kwargs, grad=(0, 1)
    )


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize(("size_average", "reduce"), LEGACY)
def test_binary_legacy_reduction(check_against_torch, rng, dtype, name, size_average, reduce):
    x, y = _probabilities(rng, (3, 2), dtype), _uniform(rng, (3, 2), dtype)
    kwargs = {"size_average": size_average, "reduce": reduce, "weight": _uniform(rng, (2,), dtype, 0.5, 2.0)}
    with pytest.warns(DeprecationWarning):
        check_against_torch(getattr(F, name), _quiet(getattr(TF, name)), (x, y), kwargs, grad=(0, 1))


@pytest.mark.parametrize("name", ["binary_cross_entropy", "binary_cross_entropy_with_logits"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_empty(check_against_torch, dtype, name, reduction):
    x = np.zeros((0,), dtype) + 0.5
    value, _ = check_against_torch(
        getattr(F, name), getattr(TF, name), (x, x.copy()), {"reduction": reduction}, grad=(0, 1)
    )
    assert value.shape == ((0,) if reduction == "none" else ())


def test_bce_at_the_ends_of_the_interval(dtype):
    # Probabilities 0 and 1 with matching and mismatching labels: the -100 clamp is torch's
    # definition, so the values agree (the gradients there differ: see test_accuracy_core.py).
    x = np.array([0.0, 1.0, 0.0, 1.0], dtype)
    y = np.array([1.0, 0.0, 0.0, 1.0], dtype)
    value = F.binary_cross_entropy(x, y, reduction="none")
    expected = TF.binary_cross_entropy(torch.from_numpy(x), torch.from_numpy(y), reduction="none").numpy()
    np.testing.assert_array_equal(value, expected)
    np.testing.assert_array_equal(value, np.array([100.0, 100.0, 0.0, 0.0], dtype))
    assert value.dtype == dtype


# --- cross entropy and nll ---------------------------------------------------------------------

CLASS_SHAPES = [(4,), (3, 4), (2, 4, 3), (2, 3, 2, 2), (0, 4)]


def _classes(shape):
    return shape[1 if len(shape) >= 2 else 0]


def _index_target(rng, shape, ignore=None):
    """Class indices for an input of ``shape``; every other one set to ``ignore`` if given."""
    axis = 1 if len(shape) >= 2 else 0
    tshape = tuple(s for i, s in enumerate(shape) if i != axis)
    t = np.asarray(rng.integers(0, shape[axis], tshape), dtype=np.int64)
    if ignore is not None and t.size:
        flat = t.reshape(-1)
        flat[::2] = ignore
        t = flat.reshape(tshape)
    return t


def _probability_target(rng, shape, dtype):
    axis = 1 if len(shape) >= 2 else 0
    p = rng.uniform(0.0, 1.0, shape)
    return np.asarray(p / np.maximum(p.sum(axis=axis, keepdims=True), 1e-30), dtype=dtype)


def _cross_entropy_indices(check_against_torch, rng, dtype, shape, reduction, weighted, ignore_index, label_smoothing):
    # With one sample of shape (C,), "every other target ignored" ignores the only one: nan mean.
    x = _normal(rng, shape, dtype, 2.0)
    t = _index_target(rng, shape, ignore_index)
    kwargs = {"reduction": reduction, "label_smoothing": label_smoothing}
    if weighted:
        kwargs["weight"] = _uniform(rng, (_classes(shape),), dtype, 0.1, 2.0)
    if ignore_index is not None:
        kwargs["ignore_index"] = ignore_index
    check_against_torch(F.cross_entropy, TF.cross_entropy, (x, t), kwargs, grad=(0,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore_index", [None, 1, -1], ids=["no-ignore", "ignore=1", "ignore=-1"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2, 1.0])
def test_cross_entropy_class_indices_options(
    check_against_torch, rng, dtype, reduction, weighted, ignore_index, label_smoothing
):
    _cross_entropy_indices(
        check_against_torch, rng, dtype, (3, 4, 2), reduction, weighted, ignore_index, label_smoothing
    )


@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("options", [False, True], ids=["plain", "weight-ignore-smoothing"])
def test_cross_entropy_class_indices_shapes(check_against_torch, rng, dtype, shape, reduction, options):
    args = (True, 1, 0.2) if options else (False, None, 0.0)
    _cross_entropy_indices(check_against_torch, rng, dtype, shape, reduction, *args)


@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2, 1.0])
def test_cross_entropy_probabilities(check_against_torch, rng, dtype, shape, reduction, weighted, label_smoothing):
    x = _normal(rng, shape, dtype, 2.0)
    y = _probability_target(rng, shape, dtype)
    kwargs = {"reduction": reduction, "label_smoothing": label_smoothing}
    if weighted:
        kwargs["weight"] = _uniform(rng, (_classes(shape),), dtype, 0.1, 2.0)
    check_against_torch(F.cross_entropy, TF.cross_entropy, (x, y), kwargs, grad=(0, 1))


@pytest.mark.parametrize("ignore_index", [-1, -100, -7])
def test_cross_entropy_probabilities_accept_negative_ignore_index(check_against_torch, rng, dtype, ignore_index):
    # torch ignores a negative ignore_index with probability targets (it refuses one >= 0).
    x, y = _normal(rng, (3, 4), dtype), _probability_target(rng, (3, 4), dtype)
    check_against_torch(F.cross_entropy, TF.cross_entropy, (x, y), {"ignore_index": ignore_index}, grad=(0, 1))


@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 4, 3)], ids=str)
def test_cross_entropy_all_ignored_mean_is_nan(check_against_torch, rng, dtype, label_smoothing, weighted, shape):
    # torch: 0 / 0 for the value, and a gradient of exactly 0 for ignored targets.
    x = _normal(rng, shape, dtype)
    t = np.full(_index_target(rng, shape).shape, 2, np.int64)
    kwargs = {"ignore_index": 2, "label_smoothing": label_smoothing}
    if weighted:
        kwargs["weight"] = _uniform(rng, (4,), dtype, 0.5, 2.0)
    value, _ = check_against_torch(F.cross_entropy, TF.cross_entropy, (x, t), kwargs)
    assert np.isnan(value)


@pytest.mark.parametrize(
    ("name", "label_smoothing", "target"),
    [
        ("cross_entropy", 0.0, [1, 1, 3]),
        ("cross_entropy", 0.3, [1, 1, 3]),
        ("cross_entropy", 0.3, [1, 2, 2]),  # zero weight and ignored targets together
        ("nll_loss", 0.0, [1, 1, 3]),
        ("nll_loss", 0.0, [1, 2, 2]),
    ],
)
def test_zero_total_weight_mean_is_nan(check_against_torch, rng, dtype, name, label_smoothing, target):
    # Every target's class has weight 0 (or is ignored): sum of w_t is 0, so torch's mean is nan
    # (also with label smoothing, where the summed loss is positive), the gradient nan for the
    # targets not ignored (nll: at the target's class only) and 0 for those ignored.
    x = _normal(rng, (3, 4), dtype)
    kwargs = {"weight": np.array([1.0, 0.0, 2.0, 0.0], dtype), "ignore_index": 2}
    if name == "cross_entropy":
        kwargs["label_smoothing"] = label_smoothing
    value, _ = check_against_torch(getattr(F, name), getattr(TF, name), (x, np.array(target)), kwargs)
    assert np.isnan(value)


@pytest.mark.parametrize("tdtype", [np.int32, np.uint8, np.int16])
@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_class_indices_of_any_integer_dtype(check_against_torch, rng, dtype, tdtype, name):
    # torch takes int64 (and uint8) only; losskit any integer dtype, with the int64 result.
    x = _normal(rng, (3, 4), dtype)
    t = np.array([0, 3, 2])
    fn = getattr(F, name)

    def lk(a, b, **kw):
        return fn(a, b.astype(tdtype), **kw)

    check_against_torch(lk, getattr(TF, name), (x, t), {"weight": _uniform(rng, (4,), dtype, 0.5, 2.0)})


@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("ignore_index", [None, 1, -1], ids=["no-ignore", "ignore=1", "ignore=-1"])
def test_nll_loss(check_against_torch, rng, dtype, shape, reduction, weighted, ignore_index):
    x = _normal(rng, shape, dtype, 2.0)
    t = _index_target(rng, shape, ignore_index)
    kwargs = {"reduction": reduction}
    if weighted:
        kwargs["weight"] = _uniform(rng, (_classes(shape),), dtype, 0.1, 2.0)
    if ignore_index is not None:
        kwargs["ignore_index"] = ignore_index
    check_against_torch(F.nll_loss, TF.nll_loss, (x, t), kwargs, grad=(0,))


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 4, 3)], ids=str)
def test_nll_all_ignored_mean_is_nan(check_against_torch, rng, dtype, weighted, shape):
    x = _normal(rng, shape, dtype)
    t = np.full(_index_target(rng, shape).shape, 0, np.int64)
    kwargs = {"ignore_index": 0}
    if weighted:
        kwargs["weight"] = _uniform(rng, (4,), dtype, 0.5, 2.0)
    value, _ = check_against_torch(F.nll_loss, TF.nll_loss, (x, t), kwargs)
    assert np.isnan(value)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize(("size_average", "reduce"), LEGACY)
def test_class_legacy_reduction(check_against_torch, rng, dtype, name, size_average, reduce):
    x, t = _normal(rng, (3, 4), dtype), np.array([0, 3, 1])
    kwargs = {
        "size_average": size_average,
        "reduce": reduce,
        "weight": _uniform(rng, (4,), dtype, 0.5, 2.0),
        "ignore_index": 1,
    }
    with pytest.warns(DeprecationWarning):
        check_against_torch(getattr(F, name), _quiet(getattr(TF, name)), (x, t), kwargs)


# --- activations ----------------------------------------------------------------------------------

SOFTMAX_CASES = [
    ((), 0),
    ((), -1),
    ((5,), 0),
    ((5,), -1),
    ((2, 3), 0),
    ((2, 3), 1),
    ((2, 3), -1),
    ((2, 3, 4), 0),
    ((2, 3, 4), 1),
    ((2, 3, 4), 2),
    ((2, 3, 4), -2),
    ((0, 3), 1),
    ((0, 3), 0),
]


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize(("shape", "dim"), SOFTMAX_CASES, ids=str)
def test_softmax_dims(check_against_torch, rng, dtype, name, shape, dim):
    x = _normal(rng, shape, dtype, 3.0)
    check_against_torch(getattr(F, name), getattr(TF, name), (x,), {"dim": dim})


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 3, 4), (2, 3, 4, 2)], ids=str)
def test_softmax_implicit_dim_warns_and_follows_torch(check_against_torch, rng, dtype, name, shape):
    x = _normal(rng, shape, dtype)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        check_against_torch(getattr(F, name), _quiet(getattr(TF, name)), (x,))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_dtype_argument(rng, name, assert_close):
    x = _normal(rng, (2, 3), np.float32)
    out = getattr(F, name)(x, 1, dtype=np.float64)
    expected = getattr(TF, name)(torch.from_numpy(x), 1, dtype=torch.float64).numpy()
    assert out.dtype == np.float64
    assert_close(out, expected)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_with_minus_infinity(check_against_torch, dtype, name):
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, 2.0]], dtype)
    check_against_torch(getattr(F, name), getattr(TF, name), (x,), {"dim": 1})


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_of_non_finite_rows(dtype, name):
    x = np.array([[-np.inf, -np.inf], [np.inf, np.inf], [np.nan, 0.0], [-np.inf, 0.0]], dtype)
    expected = getattr(TF, name)(torch.from_numpy(x), 1).numpy()
    np.testing.assert_array_equal(getattr(F, name)(x, 1), expected)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_finite_entries_beside_plus_infinity(dtype, name):
    # A row [inf, 0]: torch gives nan everywhere (inf - inf in its shift). losskit gives the
    # finite entry its limit, softmax 0 and log_softmax -inf, and nan for the +inf entry.
    x = np.array([[np.inf, 0.0, -3.0]], dtype)
    value = getattr(F, name)(x, 1)
    assert np.isnan(value[0, 0])
    np.testing.assert_array_equal(value[0, 1:], [0.0, 0.0] if name == "softmax" else [-np.inf, -np.inf])
    assert np.isnan(getattr(TF, name)(torch.from_numpy(x), 1).numpy()).all()


LOGSUMEXP_CASES = [
    ((5,), 0),
    ((5,), -1),
    ((2, 3), 0),
    ((2, 3), 1),
    ((2, 3, 4), (0, 2)),
    ((2, 3, 4), (-1, 0)),
    ((2, 3, 4), (1,)),
    ((2, 3, 4), (0, 1, 2)),
    ((2, 3, 4), [2, 1]),
    ((0, 3), 0),
    ((0, 3), 1),
]


@pytest.mark.parametrize(("shape", "dim"), LOGSUMEXP_CASES, ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp(check_against_torch, rng, dtype, shape, dim, keepdim):
    x = _normal(rng, shape, dtype, 3.0)
    check_against_torch(F.logsumexp, torch.logsumexp, (x,), {"dim": dim, "keepdim": keepdim})


@pytest.mark.parametrize("row", [[1.0, 1.0, 1.0], [-np.inf, 0.0, 0.0], [0.0, -40.0, 5.0], [-2.0, -2.0, 7.0]])
def test_logsumexp_with_ties_and_minus_infinity(check_against_torch, dtype, row):
    x = np.array([row, row[::-1]], dtype)
    check_against_torch(F.logsumexp, torch.logsumexp, (x,), {"dim": 1})


def test_logsumexp_of_non_finite_rows(dtype):
    x = np.array(
        [[-np.inf, -np.inf, -np.inf], [np.inf, 0.0, 1.0], [np.inf, np.inf, 0.0], [np.nan, 0.0, 1.0], [np.inf, -np.inf, 0.0]],
        dtype,
    )
    value = F.logsumexp(x, 1)
    assert value.dtype == dtype
    np.testing.assert_array_equal(value, torch.logsumexp(torch.from_numpy(x), 1).numpy())


@pytest.mark.parametrize("beta", [1.0, 2.0, 0.5, -1.0, -0.5])
@pytest.mark.parametrize("threshold", [20.0, 1.0, 0.5])
def test_softplus(check_against_torch, rng, dtype, beta, threshold):
    x = _away_from(rng, (3, 5), dtype, [threshold / beta], margin=0.02)
    x = np.concatenate([x, np.array([[-30.0, -5.0, 0.0, 5.0, 30.0]], dtype)])
    check_against_torch(F.softplus, TF.softplus, (x,), {"beta": beta, "threshold": threshold})


@pytest.mark.parametrize("name", ["sigmoid", "logsigmoid"])
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 2)], ids=str)
def test_sigmoid_family(check_against_torch, rng, dtype, name, shape):
    x = _normal(rng, shape, dtype, 4.0)
    check_against_torch(getattr(F, name), getattr(TF, name), (x,))


@pytest.mark.parametrize("name", ["sigmoid", "logsigmoid"])
def test_sigmoid_family_far_out(check_against_torch, dtype, name):
    x = np.array([-80.0, -30.0, -1.0, 0.0, 1.0, 30.0, 80.0], dtype)
    check_against_torch(getattr(F, name), getattr(TF, name), (x,))


# --- nn module classes ----------------------------------------------------------------------------


def _module_data(name, rng, dtype):
    """``(input, target, gradient positions)`` for module ``name``."""
    if name in ("L1Loss", "MSELoss", "HuberLoss", "SmoothL1Loss"):
        x, y = _pair(rng, (3, 2), dtype, [0.0, 0.5, 1.0])
        return x, y, (0, 1)
    if name == "BCELoss":
        return _probabilities(rng, (3, 2), dtype), _uniform(rng, (3, 2), dtype), (0, 1)
    if name == "BCEWithLogitsLoss":
        return _normal(rng, (3, 2), dtype, 2.0), _uniform(rng, (3, 2), dtype), (0, 1)
    return _normal(rng, (3, 4), dtype), np.array([0, 3, 1]), (0,)


# Array-valued options are given by shape here.
MODULE_CASES = [
    ("L1Loss", {}),
    ("L1Loss", {"reduction": "sum"}),
    ("MSELoss", {"reduction": "none"}),
    ("MSELoss", {}),
    ("HuberLoss", {"delta": 0.5}),
    ("HuberLoss", {"reduction": "sum"}),
    ("SmoothL1Loss", {"beta": 0.5}),
    ("SmoothL1Loss", {"beta": 0.0, "reduction": "none"}),
    ("BCELoss", {}),
    ("BCELoss", {"weight": (2,), "reduction": "sum"}),
    ("BCEWithLogitsLoss", {"weight": (3, 1)}),
    ("BCEWithLogitsLoss", {"pos_weight": (2,), "reduction": "none"}),
    ("BCEWithLogitsLoss", {"weight": (2,), "pos_weight": (2,)}),
    ("CrossEntropyLoss", {}),
    ("CrossEntropyLoss", {"weight": (4,), "ignore_index": 1, "label_smoothing": 0.1}),
    ("CrossEntropyLoss", {"reduction": "none", "label_smoothing": 0.3}),
    ("NLLLoss", {}),
    ("NLLLoss", {"weight": (4,), "ignore_index": 3, "reduction": "sum"}),
]


@pytest.mark.parametrize(("name", "options"), MODULE_CASES, ids=[f"{n}-{o}" for n, o in MODULE_CASES])
def test_modules_match_torch(check_against_torch, rng, dtype, name, options):
    x, y, grad = _module_data(name, rng, dtype)
    kwargs = {k: (_uniform(rng, v, dtype, 0.5, 2.0) if isinstance(v, tuple) else v) for k, v in options.items()}
    t_kwargs = {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    lk_module = getattr(lnn, name)(**kwargs)
    t_module = getattr(torch.nn, name)(**t_kwargs)
    check_against_torch(lk_module, t_module, (x, y), grad=grad)


MODULES_WITH_LEGACY = ["L1Loss", "MSELoss", "SmoothL1Loss", "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss"]


@pytest.mark.parametrize("name", MODULES_WITH_LEGACY)
@pytest.mark.parametrize(("size_average", "reduce"), [(False, None), (None, False), (True, True)])
def test_modules_legacy_reduction(check_against_torch, rng, dtype, name, size_average, reduce):
    x, y, grad = _module_data(name, rng, dtype)
    with pytest.warns(DeprecationWarning):
        lk_module = getattr(lnn, name)(size_average=size_average, reduce=reduce)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_module = getattr(torch.nn, name)(size_average=size_average, reduce=reduce)
    assert lk_module.reduction == t_module.reduction
    check_against_torch(lk_module, t_module, (x, y), grad=grad)


# --- array in, array out; inputs untouched ---------------------------------------------------------


def _all_calls(rng, dtype):
    """``(name, fn, args, kwargs)`` for every function, with array options to keep untouched."""
    x, y = _normal(rng, (3, 4), dtype), _normal(rng, (3, 4), dtype)
    p, q = _probabilities(rng, (3, 4), dtype), _uniform(rng, (3, 4), dtype)
    w, cw = _uniform(rng, (3, 4), dtype, 0.5, 2.0), _uniform(rng, (4,), dtype, 0.5, 2.0)
    t = np.array([0, 3, 1])
    prob = _probability_target(rng, (3, 4), dtype)
    return [
        ("l1_loss", F.l1_loss, (x, y), {"weight": w}),
        ("mse_loss", F.mse_loss, (x, y), {"weight": w}),
        ("huber_loss", F.huber_loss, (x, y), {"weight": w, "delta": 0.5}),
        ("smooth_l1_loss", F.smooth_l1_loss, (x, y), {"beta": 0.5}),
        ("smooth_l1_loss-beta0", F.smooth_l1_loss, (x, y), {"beta": 0.0}),
        ("binary_cross_entropy", F.binary_cross_entropy, (p, q), {"weight": cw}),
        ("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, (x, q), {"weight": cw, "pos_weight": cw}),
        ("cross_entropy-index", F.cross_entropy, (x, t), {"weight": cw, "ignore_index": 1, "label_smoothing": 0.1}),
        ("cross_entropy-prob", F.cross_entropy, (x, prob), {"weight": cw, "label_smoothing": 0.1}),
        ("nll_loss", F.nll_loss, (x, t), {"weight": cw, "ignore_index": 3}),
        ("softmax", F.softmax, (x,), {"dim": 1}),
        ("log_softmax", F.log_softmax, (x,), {"dim": 0}),
        ("logsumexp", F.logsumexp, (x,), {"dim": 1}),
        ("sigmoid", F.sigmoid, (x,), {}),
        ("logsigmoid", F.logsigmoid, (x,), {}),
        ("softplus", F.softplus, (x,), {"beta": 2.0}),
    ]


CALL_IDS = [c[0] for c in _all_calls(np.random.default_rng(0), np.float64)]
ACTIVATIONS = {"softmax", "log_softmax", "logsumexp", "sigmoid", "logsigmoid", "softplus"}


@pytest.mark.parametrize("which", range(len(CALL_IDS)), ids=CALL_IDS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_plain_arrays_in_arrays_out_inputs_untouched(rng, dtype, which, reduction):
    name, fn, args, kwargs = _all_calls(rng, dtype)[which]
    is_loss = name not in ACTIVATIONS
    if not is_loss and reduction != "mean":
        pytest.skip("activations have no reduction")
    if is_loss:
        kwargs = {**kwargs, "reduction": reduction}
    copies = [a.copy() for a in args]
    kw_copies = {k: v.copy() for k, v in kwargs.items() if isinstance(v, np.ndarray)}
    out = fn(*args, **kwargs)
    assert type(out) is np.ndarray
    assert out.dtype == dtype
    if is_loss and reduction != "none":
        assert out.shape == ()
    # Through the engine too, forward and backward.
    lk = [losskit.Tensor(a, requires_grad=True) if a.dtype.kind == "f" else a for a in args]
    res = fn(*lk, **kwargs)
    assert isinstance(res, losskit.Tensor) and res.dtype == dtype
    res.backward(np.ones(res.shape, dtype))
    for a, c in zip(args, copies):
        assert a.dtype == c.dtype
        np.testing.assert_array_equal(a, c)
    for k, c in kw_copies.items():
        np.testing.assert_array_equal(kwargs[k], c)
    for t in lk:
        if isinstance(t, losskit.Tensor):
            assert t.grad.dtype == dtype
