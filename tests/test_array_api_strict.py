"""Every op of the first losses and activations on array_api_strict, the strictest namespace.

``check_strict_op`` runs an op's forward and backward on array_api_strict (boolean indexing and
data-dependent shapes switched off) and compares with NumPy: an op that calls NumPy on a user's
array, indexes with a mask, uses a function outside the standard or leans on NumPy's promotion
fails here. Each option that takes a different code path is run: weights or none, every
reduction, ignore_index, label smoothing, probability targets, empty inputs, the clamped ends of
BCE, infinite logits, the softplus threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

from losskit.losses import activations, binary, classification, regression

pytest.importorskip("array_api_strict")

REDUCTIONS = ["none", "mean", "sum"]
DTYPES = [np.float32, np.float64]


@pytest.fixture
def gen():
    return np.random.default_rng(11)


# --- regression --------------------------------------------------------------------------------------

POINTWISE = [
    (regression.l1, {}),
    (regression.mse, {}),
    (regression.huber, {"delta": 1.0}),
    (regression.huber, {"delta": 0.3}),
    (regression.smooth_l1, {"beta": 1.0}),
    (regression.smooth_l1, {"beta": 0.3}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(("op", "options"), POINTWISE, ids=lambda v: v.name if hasattr(v, "name") else str(v))
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("shape", [(), (2, 3), (0, 3)], ids=str)
def test_pointwise(check_strict_op, gen, dtype, reduction, op, options, weighted, shape):
    # Differences on and across the kinks too (0, +-delta): the where-branches all run.
    x = gen.uniform(-2.0, 2.0, shape).astype(dtype)
    if x.size >= 3:
        x.reshape(-1)[:3] = [0.0, options.get("delta", options.get("beta", 1.0)), -1.0]
    y = np.zeros(shape, dtype)
    w = gen.uniform(0.0, 2.0, shape).astype(dtype) if weighted else None
    check_strict_op(op, (np.asarray(x), y, None if w is None else np.asarray(w)), reduction=reduction, **options)


# --- binary ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wshape", [None, (), (3,), (2, 1), (2, 3)], ids=str)
def test_binary_cross_entropy(check_strict_op, gen, dtype, reduction, wshape):
    # Includes the ends 0 and 1 of the interval and a probability below exp(-100): the clamped
    # logs and the one-sided gradients.
    x = np.array([[0.0, 1.0, 1e-45], [0.3, 0.9, 1.0 - 1e-7]], dtype)
    y = np.array([[0.0, 1.0, 0.5], [1.0, 0.25, 0.0]], dtype)
    w = None if wshape is None else gen.uniform(0.5, 2.0, wshape).astype(dtype)
    check_strict_op(binary.binary_cross_entropy, (x, y, None if w is None else np.asarray(w)), reduction=reduction)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("wshape", "pshape"), [(None, None), ((2, 3), None), (None, (3,)), ((2, 1), (1, 3)), ((), ())], ids=str
)
def test_binary_cross_entropy_with_logits(check_strict_op, gen, dtype, reduction, wshape, pshape):
    x = np.array([[-40.0, 40.0, 0.0], [-1.5, 2.5, -100.0]], dtype)
    y = np.array([[0.0, 1.0, 0.5], [1.0, 0.2, 0.0]], dtype)
    w = None if wshape is None else np.asarray(gen.uniform(0.5, 2.0, wshape).astype(dtype))
    pw = None if pshape is None else np.asarray(gen.uniform(0.5, 2.0, pshape).astype(dtype))
    check_strict_op(binary.binary_cross_entropy_with_logits, (x, y, w, pw), reduction=reduction)


@pytest.mark.parametrize("op", [binary.binary_cross_entropy, binary.binary_cross_entropy_with_logits], ids=lambda o: o.name)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_empty(check_strict_op, op, reduction):
    x = np.zeros((0, 2))
    inputs = (x, x, None) if op is binary.binary_cross_entropy else (x, x, None, None)
    check_strict_op(op, inputs, reduction=reduction)


# --- cross entropy and nll ------------------------------------------------------------------------------

CLASS_SHAPES = [(4,), (3, 4), (2, 4, 3), (0, 4)]


def _targets(gen, shape, ignore):
    axis = 1 if len(shape) >= 2 else 0
    tshape = tuple(s for i, s in enumerate(shape) if i != axis)
    t = np.asarray(gen.integers(0, shape[axis], tshape), dtype=np.int64)
    if ignore is not None and t.ndim and t.size:
        t.reshape(-1)[::2] = ignore
    return t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight": True},
        {"ignore_index": 1},
        {"label_smoothing": 0.2},
        {"weight": True, "ignore_index": 2, "label_smoothing": 0.3},
        {"ignore_index": "all"},  # every target ignored: 0/0 for 'mean'
    ],
    ids=["plain", "weight", "ignore", "smoothing", "all-options", "all-ignored"],
)
def test_cross_entropy_class_indices(check_strict_op, gen, dtype, shape, reduction, options):
    c = shape[1 if len(shape) >= 2 else 0]
    x = gen.standard_normal(shape).astype(dtype)
    ignore = options.get("ignore_index", -100)
    if ignore == "all":
        t = np.zeros(_targets(gen, shape, None).shape, np.int64)
        ignore = 0
    else:
        t = _targets(gen, shape, ignore if "ignore_index" in options else None)
    w = np.asarray(gen.uniform(0.5, 2.0, (c,)).astype(dtype)) if options.get("weight") else None
    check_strict_op(
        classification.cross_entropy,
        (np.asarray(x), t, w),
        reduction=reduction,
        ignore_index=ignore,
        label_smoothing=options.get("label_smoothing", 0.0),
        probabilities=False,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy_probabilities(check_strict_op, gen, dtype, shape, reduction, weighted, label_smoothing):
    axis = 1 if len(shape) >= 2 else 0
    x = gen.standard_normal(shape).astype(dtype)
    y = gen.uniform(0.0, 1.0, shape)
    y = (y / np.maximum(y.sum(axis=axis, keepdims=True), 1e-30)).astype(dtype)
    w = np.asarray(gen.uniform(0.5, 2.0, (shape[axis],)).astype(dtype)) if weighted else None
    check_strict_op(
        classification.cross_entropy,
        (np.asarray(x), np.asarray(y), w),
        reduction=reduction,
        ignore_index=-100,
        label_smoothing=label_smoothing,
        probabilities=True,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_with_minus_infinite_logits(check_strict_op, dtype):
    # A zero-probability class whose logit is -inf: 0 log 0 = 0, in the forward and the backward.
    x = np.array([[0.0, -np.inf, 1.0], [2.0, 0.5, -np.inf]], dtype)
    y = np.array([[0.7, 0.0, 0.3], [1.0, 0.0, 0.0]], dtype)
    options = {"ignore_index": -100, "label_smoothing": 0.0}
    check_strict_op(classification.cross_entropy, (x, y, None), reduction="sum", probabilities=True, **options)
    t = np.array([2, 0])
    check_strict_op(classification.cross_entropy, (x, t, None), reduction="mean", probabilities=False, **options)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", CLASS_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [{}, {"weight": True}, {"ignore_index": 1}, {"weight": True, "ignore_index": 3}, {"ignore_index": "all"}],
    ids=["plain", "weight", "ignore", "both", "all-ignored"],
)
def test_nll_loss(check_strict_op, gen, dtype, shape, reduction, options):
    c = shape[1 if len(shape) >= 2 else 0]
    x = gen.standard_normal(shape).astype(dtype)
    ignore = options.get("ignore_index", -100)
    if ignore == "all":
        t = np.zeros(_targets(gen, shape, None).shape, np.int64)
        ignore = 0
    else:
        t = _targets(gen, shape, ignore if "ignore_index" in options else None)
    w = np.asarray(gen.uniform(0.5, 2.0, (c,)).astype(dtype)) if options.get("weight") else None
    check_strict_op(classification.nll_loss, (np.asarray(x), t, w), reduction=reduction, ignore_index=ignore)


def test_zero_class_weights_make_a_nan_mean(check_strict_op):
    x = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]])
    t = np.array([1, 1])
    w = np.array([1.0, 0.0, 2.0])
    check_strict_op(classification.nll_loss, (x, t, w), reduction="mean", ignore_index=-100)
    check_strict_op(
        classification.cross_entropy,
        (x, t, w),
        reduction="mean",
        ignore_index=-100,
        label_smoothing=0.1,
        probabilities=False,
    )


# --- activations -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("shape", "axis"),
    [((5,), 0), ((2, 3), 0), ((2, 3), 1), ((2, 3, 4), (0, 2)), ((2, 3, 4), (0, 1, 2)), ((0, 3), 0), ((0, 3), 1), ((), None)],
    ids=str,
)
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp(check_strict_op, gen, dtype, shape, axis, keepdims):
    x = np.asarray(gen.standard_normal(shape).astype(dtype))
    check_strict_op(activations.logsumexp, (x,), axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_ties_and_non_finite_rows(check_strict_op, dtype):
    inf = np.inf
    x = np.array([[1.0, 1.0, 1.0], [-inf, -inf, -inf], [inf, 0.0, 1.0], [np.nan, 0.0, 1.0], [0.0, -40.0, -inf]], dtype)
    check_strict_op(activations.logsumexp, (x,), axis=1, keepdims=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", [activations.softmax, activations.log_softmax], ids=lambda o: o.name)
@pytest.mark.parametrize(
    ("shape", "axis"),
    [((5,), 0), ((2, 3), 0), ((2, 3), 1), ((2, 3, 4), 2), ((0, 3), 0), ((0, 3), 1), ((), None)],
    ids=str,
)
def test_softmax_and_log_softmax(check_strict_op, gen, dtype, op, shape, axis):
    x = np.asarray(gen.standard_normal(shape).astype(dtype))
    check_strict_op(op, (x,), axis=axis)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", [activations.sigmoid, activations.logsigmoid], ids=lambda o: o.name)
def test_sigmoid_family(check_strict_op, dtype, op):
    x = np.array([-100.0, -40.0, -1.0, 0.0, 1.0, 40.0, 100.0], dtype)
    check_strict_op(op, (x,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("beta", "threshold"), [(1.0, 20.0), (2.0, 1.0), (-1.0, 20.0), (0.5, 1000.0)], ids=str)
def test_softplus(check_strict_op, dtype, beta, threshold):
    x = np.array([-100.0, -5.0, -0.5, 0.0, 0.5, 5.0, 30.0, 100.0], dtype)
    check_strict_op(activations.softplus, (x,), beta=beta, threshold=threshold)


# --- the log-sum-exp outside NumPy (two reductions, no argmax): same digits as NumPy's ---------


@pytest.mark.parametrize(
    "row",
    [
        [50.0, 0.0, -3.0],  # 1 + 2e-22: the rest must keep its digits
        [3.0, 3.0, 0.0],  # a tie: rest + ties = 1 + e^-3
        [7.0, 7.0, 7.0, 7.0],  # every entry the maximum
        [1.0, 1.0 - 2.0**-30, -90.0],  # an entry whose exp rounds to 1: a term of 1 all the same
        [0.5, 0.25, 0.125],  # no entry near the maximum
    ],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_parts_off_numpy_match_mpmath(row, dtype):
    mp = pytest.importorskip("mpmath")
    import array_api_strict as xps

    x = np.array([row], dtype=dtype)
    m, e, r = activations._softmax_terms(xps, xps.asarray(x), 1)
    with mp.workdps(60):
        # r = log(sum exp(x - m)) = log1p(rest + ties) is minus log p of the top class
        top = -mp.log(mp.fsum(mp.exp(mp.mpf(float(v)) - mp.mpf(float(x.max()))) for v in x[0]))
    got = -float(np.asarray(r)[0, 0])
    tol = 4 * np.finfo(dtype).eps * abs(float(top)) + np.finfo(dtype).tiny
    assert abs(got - float(top)) <= tol, (got, float(top))
    # and the NumPy path (argmax and a scatter) agrees
    _, _, r_np = activations._softmax_terms(np, x, 1)
    assert abs(-float(r_np[0, 0]) - float(top)) <= tol
