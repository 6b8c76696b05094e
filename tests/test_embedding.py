"""The embedding family: cosine_similarity, pairwise_distance, cosine_embedding_loss,
triplet_margin_loss, triplet_margin_with_distance_loss, and their nn modules.

Differential tests against torch 2.13 (values and gradients, float32 and float64), float64
finite differences, every op on array_api_strict, argument errors, and exact values at extreme
inputs where torch overflows (expected values derived by hand in the comments).
torch is imported lazily (``check_against_torch`` skips without it), so that the torch-free
tests run everywhere.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import losskit
import losskit.functional as F
import losskit.nn as nn
from losskit.losses import embedding as ops

REDUCTIONS = ["none", "mean", "sum"]
PS = [0, 1, 2, 3, 0.5, 1.5, math.inf, -math.inf, -1.5]


def _torch():
    return pytest.importorskip("torch")


def _tf():
    return _torch().nn.functional


def _normal(rng, shape, dtype, low=None):
    x = rng.normal(size=shape)
    if low is not None:  # keep |x| away from 0 (kinks) by at least ``low``
        x = np.where(x < 0, x - low, x + low)
    return x.astype(dtype)


def _rtol(dtype, p=2):
    # float32 powers |d|^p with |p| far from 1 lose a few more digits than the default allows.
    if np.dtype(dtype) == np.float32 and p not in (0, 1, 2, math.inf, -math.inf):
        return 1e-4
    return None


# --- cosine_similarity ------------------------------------------------------------------------------

COSINE_SHAPES = [
    ((3, 4), (3, 4), 1),
    ((3, 4), (4,), -1),
    ((3, 1, 4), (5, 4), -1),
    ((2, 3, 4), (2, 3, 4), 0),
    ((4,), (4,), 0),
    ((), (), 0),
    ((5, 3), (1, 3), 1),
]


@pytest.mark.parametrize("s1,s2,dim", COSINE_SHAPES)
@pytest.mark.parametrize("eps", [1e-8, 0.0, 0.3])
def test_cosine_similarity_matches_torch(check_against_torch, rng, dtype, s1, s2, dim, eps):
    # |x_i| >= 0.5 per entry, so every norm is >= 0.5 > eps: torch's gradient is exact there.
    x1, x2 = _normal(rng, s1, dtype, 0.5), _normal(rng, s2, dtype, 0.5)
    check_against_torch(F.cosine_similarity, _tf().cosine_similarity, (x1, x2), {"dim": dim, "eps": eps}, grad=(0, 1))


def test_cosine_similarity_zero_vector_matches_torch(check_against_torch, dtype):
    # A zero vector: the norm is clamped to eps; torch's gradient u2 / eps is exact at x1 = 0.
    x1 = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]], dtype)
    x2 = np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 0.0]], dtype)
    check_against_torch(F.cosine_similarity, _tf().cosine_similarity, (x1, x2), {"eps": 1e-3}, grad=(0, 1))


def test_cosine_similarity_empty_matches_torch(check_against_torch, dtype):
    check_against_torch(F.cosine_similarity, _tf().cosine_similarity, (np.ones((0, 3), dtype), np.ones((0, 3), dtype)), grad=(0, 1))
    check_against_torch(F.cosine_similarity, _tf().cosine_similarity, (np.ones((3, 0), dtype), np.ones((3, 0), dtype)), grad=(0, 1))


def test_cosine_similarity_nonfinite_like_torch():
    x1 = np.array([[math.inf, 1.0], [0.0, 0.0]])
    x2 = np.array([[1.0, 1.0], [1.0, 1.0]])
    out = F.cosine_similarity(x1, x2, eps=0.0)
    assert np.isnan(out).all()  # inf / inf, and 0 / 0 with eps = 0: torch gives nan for both


# --- pairwise_distance ----------------------------------------------------------------------------

PAIRWISE_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((4,), (4,)), ((), ()), ((2, 3, 4), (3, 1)), ((), (3,))]


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("s1,s2", PAIRWISE_SHAPES)
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_matches_torch(check_against_torch, rng, dtype, p, s1, s2, keepdim):
    x1, x2 = _normal(rng, s1, dtype), _normal(rng, s2, dtype)
    check_against_torch(
        F.pairwise_distance, _tf().pairwise_distance, (x1, x2), {"p": p, "keepdim": keepdim}, grad=(0, 1), rtol=_rtol(dtype, p)
    )


@pytest.mark.parametrize("eps", [0.0, -0.25, 0.5])
@pytest.mark.parametrize("p", [1, 2, 3, math.inf])
def test_pairwise_distance_eps_matches_torch(check_against_torch, rng, dtype, eps, p):
    x1, x2 = _normal(rng, (4, 5), dtype), _normal(rng, (4, 5), dtype)
    check_against_torch(F.pairwise_distance, _tf().pairwise_distance, (x1, x2), {"p": p, "eps": eps}, grad=(0, 1))


@pytest.mark.parametrize("p", [0.5, 1, 1.5, 2, 3, math.inf, -1.5])
def test_pairwise_distance_zero_entries_match_torch(check_against_torch, p):
    # Zero differences (x1 - x2 + eps = 0 in some entries, in a whole row): torch's conventions.
    x1 = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 2.0, -1.0]])
    x2 = np.array([[1.0, 2.0, 3.0], [1.0, 0.5, 3.0], [1.0, 2.0, 1.0]])
    check_against_torch(F.pairwise_distance, _tf().pairwise_distance, (x1, x2), {"p": p, "eps": 0.0}, grad=(0, 1))


def test_pairwise_distance_inf_norm_ties_match_torch(check_against_torch):
    # Several entries reach max |d|: torch shares the gradient equally among them.
    x1 = np.array([[1.0, -2.0, 2.0, 0.0], [3.0, 3.0, -3.0, 3.0]])
    x2 = np.zeros((2, 4))
    for p in (math.inf, -math.inf):
        check_against_torch(F.pairwise_distance, _tf().pairwise_distance, (x1, x2), {"p": p, "eps": 0.0}, grad=(0, 1))


@pytest.mark.parametrize("p", [0, 1, 2, 0.5])
def test_pairwise_distance_empty_matches_torch(check_against_torch, dtype, p):
    for shape in ((0, 3), (3, 0)):
        x = np.ones(shape, dtype)
        check_against_torch(F.pairwise_distance, _tf().pairwise_distance, (x, x), {"p": p}, grad=(0, 1))


# --- cosine_embedding_loss ----------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0.0, 0.3, -0.5])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("target_dtype", ["float", "int64", "bool", "odd labels"])
def test_cosine_embedding_loss_matches_torch(check_against_torch, rng, dtype, reduction, margin, batched, target_dtype):
    n, d = 6, 5
    x1, x2 = _normal(rng, (n, d), dtype), _normal(rng, (n, d), dtype)
    labels = np.array([1, -1, 1, -1, -1, 1])
    if target_dtype == "float":
        y = labels.astype(dtype)
    elif target_dtype == "int64":
        y = labels.astype(np.int64)
    elif target_dtype == "bool":
        y = labels > 0
    else:  # labels other than 1 and -1 contribute 0, as in torch
        y = np.array([1.0, 0.0, 2.0, -1.0, -2.0, 0.5], dtype)
    if not batched:
        x1, x2, y = x1[0], x2[0], np.asarray(y[1])  # -1 (or 0): the hinge branch
    check_against_torch(
        F.cosine_embedding_loss, _tf().cosine_embedding_loss, (x1, x2, y), {"margin": margin, "reduction": reduction}, grad=(0, 1)
    )


@pytest.mark.parametrize("size_average,reduce", [(False, None), (True, False), (None, True), (False, True)])
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_cosine_embedding_loss_legacy_reduction_matches_torch(check_against_torch, rng, size_average, reduce):
    x1, x2 = _normal(rng, (4, 3), np.float64), _normal(rng, (4, 3), np.float64)
    y = np.array([1.0, -1.0, -1.0, 1.0])
    kw = {"size_average": size_average, "reduce": reduce}
    check_against_torch(F.cosine_embedding_loss, _tf().cosine_embedding_loss, (x1, x2, y), kw, grad=(0, 1))


def test_cosine_embedding_loss_hinge_kink_matches_torch(check_against_torch):
    # cos = margin exactly (orthogonal vectors, margin 0): torch's clamp passes the gradient.
    x1, x2 = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    check_against_torch(F.cosine_embedding_loss, _tf().cosine_embedding_loss, (x1, x2, np.array([-1.0])), grad=(0, 1))


def test_cosine_embedding_loss_epsilon_is_float32_1e12(check_against_torch):
    # ATen adds float32(1e-12) = 9.99999996e-13 to |x|^2 even in float64; at |x1|^2 = 1e-12 the
    # difference to 1e-12 shows in the 9th digit: cos = 1e-6 / sqrt((1e-12 + E)(1 + E)).
    assert ops.EPSILON == float(np.float32(1e-12))
    x1, x2, y = np.array([1e-6]), np.array([1.0]), np.array(-1.0)
    value, _ = check_against_torch(F.cosine_embedding_loss, _tf().cosine_embedding_loss, (x1, x2, y), {"margin": -1.0}, grad=(0, 1))
    e = float(np.float32(1e-12))
    np.testing.assert_allclose(value, 1.0 + 1e-6 / math.sqrt((1e-12 + e) * (1.0 + e)), rtol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cosine_embedding_loss_empty_matches_torch(check_against_torch, reduction):
    x = np.ones((0, 3))
    check_against_torch(F.cosine_embedding_loss, _tf().cosine_embedding_loss, (x, x, np.ones(0)), {"reduction": reduction}, grad=(0, 1))
    z = np.zeros((2, 0))  # D = 0: cos = 0
    check_against_torch(F.cosine_embedding_loss, _tf().cosine_embedding_loss, (z, z, np.array([1.0, -1.0])), {"reduction": reduction}, grad=(0, 1))


# --- triplet losses --------------------------------------------------------------------------------

TRIPLET_SHAPES = [(5, 4), (4,), (2, 3, 4), ()]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2, 3, math.inf, 0.5, 0])
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("shape", TRIPLET_SHAPES)
def test_triplet_margin_loss_matches_torch(check_against_torch, rng, dtype, reduction, p, swap, shape):
    a, pos, neg = (_normal(rng, shape, dtype) for _ in range(3))
    kw = {"margin": 1.5, "p": p, "swap": swap, "reduction": reduction}
    check_against_torch(F.triplet_margin_loss, _tf().triplet_margin_loss, (a, pos, neg), kw, grad=(0, 1, 2), rtol=_rtol(dtype, p))


@pytest.mark.parametrize("eps,margin", [(0.0, 0.5), (0.1, 2.0), (1e-6, 1e-3)])
def test_triplet_margin_loss_eps_margin_match_torch(check_against_torch, rng, dtype, eps, margin):
    a, pos, neg = (_normal(rng, (6, 3), dtype) for _ in range(3))
    check_against_torch(
        F.triplet_margin_loss, _tf().triplet_margin_loss, (a, pos, neg), {"eps": eps, "margin": margin}, grad=(0, 1, 2)
    )


@pytest.mark.parametrize("size_average,reduce", [(False, None), (True, False)])
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_triplet_margin_loss_legacy_reduction_matches_torch(check_against_torch, rng, size_average, reduce):
    a, pos, neg = (_normal(rng, (4, 3), np.float64) for _ in range(3))
    kw = {"size_average": size_average, "reduce": reduce}
    check_against_torch(F.triplet_margin_loss, _tf().triplet_margin_loss, (a, pos, neg), kw, grad=(0, 1, 2))


@pytest.mark.parametrize("fn", ["triplet_margin_loss", "triplet_margin_with_distance_loss"])
def test_triplet_ties_and_kinks_match_torch(check_against_torch, fn):
    # Row 0: anchor == positive, so d(a, n) == d(p, n): torch's minimum gives half to each.
    # Row 1: margin + d_pos - d_neg == 0 exactly (2 + 3 - 5): torch's clamp passes the gradient.
    a = np.array([[0.0, 0.0], [0.0, 0.0]])
    pos = np.array([[0.0, 0.0], [3.0, 0.0]])
    neg = np.array([[3.0, 4.0], [0.0, 5.0]])
    for swap in (False, True):
        if fn == "triplet_margin_loss":
            kw = {"margin": 2.0, "eps": 0.0, "swap": swap, "reduction": "none"}
            check_against_torch(F.triplet_margin_loss, _tf().triplet_margin_loss, (a, pos, neg), kw, grad=(0, 1, 2))
        else:
            tf = _tf()
            kw = {"margin": 2.0, "swap": swap, "reduction": "none"}
            check_against_torch(
                F.triplet_margin_with_distance_loss,
                tf.triplet_margin_with_distance_loss,
                (a, pos, neg),
                dict(kw, distance_function=lambda x, y: F.pairwise_distance(x, y, eps=0.0)),
                torch_kwargs=dict(kw, distance_function=lambda x, y: tf.pairwise_distance(x, y, eps=0.0)),
                grad=(0, 1, 2),
            )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("distance", ["default", "cosine", "squared", "pairwise l1"])
@pytest.mark.parametrize("shape", [(5, 4), (4,)])
def test_triplet_margin_with_distance_loss_matches_torch(check_against_torch, rng, dtype, reduction, swap, distance, shape):
    tf = _tf()
    a, pos, neg = (_normal(rng, shape, dtype) for _ in range(3))
    dim = len(shape) - 1
    lk_fn, t_fn = {
        "default": (None, None),
        "cosine": (lambda x, y: 1.0 - F.cosine_similarity(x, y, dim=dim), lambda x, y: 1.0 - tf.cosine_similarity(x, y, dim=dim)),
        "squared": (lambda x, y: ((x - y) * (x - y)).sum(-1), lambda x, y: ((x - y) * (x - y)).sum(-1)),
        "pairwise l1": (nn.PairwiseDistance(p=1), _torch().nn.PairwiseDistance(p=1)),
    }[distance]
    kw = {"margin": 0.7, "swap": swap, "reduction": reduction}
    check_against_torch(
        F.triplet_margin_with_distance_loss,
        tf.triplet_margin_with_distance_loss,
        (a, pos, neg),
        dict(kw, distance_function=lk_fn),
        torch_kwargs=dict(kw, distance_function=t_fn),
        grad=(0, 1, 2),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_triplet_empty_batch_matches_torch(check_against_torch, reduction):
    x = np.ones((0, 3))
    check_against_torch(F.triplet_margin_loss, _tf().triplet_margin_loss, (x, x, x), {"reduction": reduction}, grad=(0, 1, 2))
    check_against_torch(
        F.triplet_margin_with_distance_loss, _tf().triplet_margin_with_distance_loss, (x, x, x), {"reduction": reduction}, grad=(0, 1, 2)
    )


def test_distance_function_receives_tensors_or_arrays():
    seen = []

    def dist(x, y):
        seen.append((type(x), type(y)))
        return F.pairwise_distance(x, y)

    a, p, n = (np.full((2, 3), v) for v in (0.0, 1.0, 3.0))
    out = F.triplet_margin_with_distance_loss(a, p, n, distance_function=dist, swap=True)
    assert isinstance(out, np.ndarray) and seen == [(np.ndarray, np.ndarray)] * 3
    seen.clear()
    anchor = losskit.tensor(a, requires_grad=True)
    out = F.triplet_margin_with_distance_loss(anchor, p, n, distance_function=dist)  # mixed: all wrapped
    assert isinstance(out, losskit.Tensor) and seen == [(losskit.Tensor, losskit.Tensor)] * 2
    out.backward()
    # d_pos ~ sqrt(3), d_neg ~ 3 sqrt(3): 1 + d_pos - d_neg < 0 in every row, so the gradient is 0.
    np.testing.assert_array_equal(anchor.grad.numpy(), np.zeros((2, 3)))


# --- grad_fn names and nn modules ---------------------------------------------------------------------


def test_grad_fn_names_match_torch(rng):
    torch = _torch()
    tf = torch.nn.functional
    arrays = [_normal(rng, (3, 4), np.float64) for _ in range(3)]
    y = np.array([1.0, -1.0, 1.0])
    lk = [losskit.tensor(a, requires_grad=True) for a in arrays]
    th = [torch.tensor(a, requires_grad=True) for a in arrays]
    pairs = [(F.cosine_similarity(lk[0], lk[1]), tf.cosine_similarity(th[0], th[1])),
             (F.pairwise_distance(lk[0], lk[1]), tf.pairwise_distance(th[0], th[1]))]
    for red in REDUCTIONS:
        pairs.append((F.cosine_embedding_loss(lk[0], lk[1], y, reduction=red),
                      tf.cosine_embedding_loss(th[0], th[1], torch.tensor(y), reduction=red)))
        pairs.append((F.triplet_margin_loss(*lk, reduction=red), tf.triplet_margin_loss(*th, reduction=red)))
        pairs.append((F.triplet_margin_with_distance_loss(*lk, reduction=red),
                      tf.triplet_margin_with_distance_loss(*th, reduction=red)))
    for ours, theirs in pairs:
        assert ours.grad_fn.name() == type(theirs.grad_fn).__name__


MODULES = [
    ("CosineSimilarity", {}, 2),
    ("CosineSimilarity", {"dim": 0, "eps": 0.1}, 2),
    ("PairwiseDistance", {}, 2),
    ("PairwiseDistance", {"p": 1.0, "eps": 0.0, "keepdim": True}, 2),
    ("PairwiseDistance", {"p": math.inf}, 2),
    ("CosineEmbeddingLoss", {}, "target"),
    ("CosineEmbeddingLoss", {"margin": 0.2, "reduction": "sum"}, "target"),
    ("TripletMarginLoss", {}, 3),
    ("TripletMarginLoss", {"margin": 0.5, "p": 1.0, "eps": 0.0, "swap": True, "reduction": "none"}, 3),
    ("TripletMarginWithDistanceLoss", {}, 3),
    ("TripletMarginWithDistanceLoss", {"margin": 2.0, "swap": True, "reduction": "sum"}, 3),
]


@pytest.mark.parametrize("name,kwargs,arity", MODULES)
def test_modules_match_torch(check_against_torch, rng, dtype, name, kwargs, arity):
    torch = _torch()
    ours, theirs = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    if arity == "target":
        args = (_normal(rng, (4, 3), dtype), _normal(rng, (4, 3), dtype), np.array([1.0, -1.0, -1.0, 1.0], dtype))
        grad = (0, 1)
    else:
        args = tuple(_normal(rng, (4, 3), dtype) for _ in range(arity))
        grad = tuple(range(arity))
    check_against_torch(ours, theirs, args, grad=grad)


def test_module_attributes_follow_torch():
    assert nn.PairwiseDistance(p=3.0).norm == 3.0
    loss = nn.TripletMarginWithDistanceLoss()
    assert isinstance(loss.distance_function, nn.PairwiseDistance)
    assert dict(loss.named_children())["distance_function"] is loss.distance_function
    with pytest.warns(DeprecationWarning):
        assert nn.CosineEmbeddingLoss(size_average=False).reduction == "sum"


# --- finite differences (float64, no torch) ------------------------------------------------------------


def test_cosine_similarity_finite_differences(check_finite_differences, rng):
    x1 = _normal(rng, (3, 4), np.float64, 0.3)
    x2 = _normal(rng, (4,), np.float64, 0.3)
    check_finite_differences(lambda a, b: F.cosine_similarity(a, b, dim=-1), (x1, x2), grad=(0, 1))
    # A vector of norm 5e-9 < eps = 1e-8: the value is x1 . u2 / eps, linear in x1.
    tiny = np.array([[3e-9, 4e-9], [1.0, 0.5]])
    other = np.array([[1.0, 2.0], [0.2, 1.0]])
    check_finite_differences(F.cosine_similarity, (tiny, other), grad=(0,), eps=1e-11)
    check_finite_differences(F.cosine_similarity, (tiny, other), grad=(1,))


def test_cosine_similarity_gradient_below_eps_is_exact():
    # c = (x1 / eps) . (x2 / |x2|) for |x1| = 5e-9 < eps = 1e-8, so dc/dx1 = x2 / (|x2| eps)
    # = [1, 2] / (sqrt(5) 1e-8) (torch: [1.5205e7, 5.0088e7], the unclamped norm's derivative).
    x1 = losskit.tensor(np.array([3e-9, 4e-9]), requires_grad=True)
    c = F.cosine_similarity(x1, np.array([1.0, 2.0]), dim=0)
    np.testing.assert_allclose(c.item(), 11e-9 / (math.sqrt(5) * 1e-8), rtol=1e-15)
    c.backward()
    np.testing.assert_allclose(x1.grad.numpy(), np.array([1.0, 2.0]) / (math.sqrt(5) * 1e-8), rtol=1e-15)


@pytest.mark.parametrize("p", [1, 2, 3, 0.5, 1.5, math.inf, -math.inf, -1.5, 0])
def test_pairwise_distance_finite_differences(check_finite_differences, rng, p):
    x1 = _normal(rng, (3, 4), np.float64)
    x2 = x1 + _normal(rng, (3, 4), np.float64, 0.2)  # no zero differences
    check_finite_differences(lambda a, b: F.pairwise_distance(a, b, p=p), (x1, x2), grad=(0, 1))


@pytest.mark.parametrize("margin", [0.0, 0.4, -0.3])
def test_cosine_embedding_loss_finite_differences(check_finite_differences, rng, margin):
    x1, x2 = _normal(rng, (6, 3), np.float64), _normal(rng, (6, 3), np.float64)
    y = np.array([1.0, -1.0, 1.0, -1.0, -1.0, 0.0])
    cos = np.sum(x1 * x2, 1) / np.sqrt(np.sum(x1 * x1, 1) * np.sum(x2 * x2, 1))
    assert np.all(np.abs(cos - margin) > 1e-3)  # away from the hinge's kink
    for reduction in REDUCTIONS:
        check_finite_differences(
            lambda a, b: F.cosine_embedding_loss(a, b, y, margin=margin, reduction=reduction), (x1, x2), grad=(0, 1)
        )


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("p", [1, 2, 3])
def test_triplet_margin_loss_finite_differences(check_finite_differences, rng, swap, p):
    a, pos, neg = (_normal(rng, (5, 3), np.float64, 0.1) for _ in range(3))
    check_finite_differences(lambda x, y, z: F.triplet_margin_loss(x, y, z, margin=2.0, p=p, swap=swap), (a, pos, neg), grad=(0, 1, 2))


@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_with_distance_loss_finite_differences(check_finite_differences, rng, swap):
    a, pos, neg = (_normal(rng, (5, 3), np.float64) for _ in range(3))

    def cosine_distance(x, y):
        return 1.0 - F.cosine_similarity(x, y)

    check_finite_differences(
        lambda x, y, z: F.triplet_margin_with_distance_loss(x, y, z, distance_function=cosine_distance, margin=0.9, swap=swap, reduction="sum"),
        (a, pos, neg),
        grad=(0, 1, 2),
    )


# --- every op on array_api_strict --------------------------------------------------------------------


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_op_strict(check_strict_op, rng, p, keepdim):
    x1 = _normal(rng, (3, 4), np.float64)
    x2 = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    x2[1] = x1[1]  # a zero row
    check_strict_op(ops.pairwise_distance, (x1, x2), p=p, eps=0.0, keepdim=keepdim)
    check_strict_op(ops.pairwise_distance, (x1, x2[0]), p=p, eps=1e-6, keepdim=keepdim)
    check_strict_op(ops.pairwise_distance, (np.array(1.5), np.array(0.5)), p=p, eps=1e-6, keepdim=keepdim)


def test_pairwise_distance_op_strict_empty(check_strict_op):
    for p in (0, 1, 2, 0.5):
        check_strict_op(ops.pairwise_distance, (np.ones((2, 0)), np.ones((2, 0))), p=p, eps=1e-6, keepdim=False)


@pytest.mark.parametrize("eps", [1e-8, 0.0, 0.5])
def test_cosine_similarity_op_strict(check_strict_op, rng, eps):
    x1 = _normal(rng, (3, 4), np.float64)
    x1[0] = [0.1, 0.0, 0.2, 0.0]  # norm 0.22 < 0.5: the clamped branch
    x1[1] = 0.0
    x2 = _normal(rng, (4,), np.float64)
    check_strict_op(ops.cosine_similarity, (x1, x2), axis=1, eps=eps)
    check_strict_op(ops.cosine_similarity, (x1[:, :, None], x1[:, :, None]), axis=0, eps=eps)
    check_strict_op(ops.cosine_similarity, (np.array(2.0), np.array(-3.0)), axis=0, eps=eps)
    check_strict_op(ops.cosine_similarity, (np.ones((2, 0)), np.ones((2, 0))), axis=1, eps=eps)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cosine_embedding_loss_op_strict(check_strict_op, rng, reduction):
    x1, x2 = _normal(rng, (5, 3), np.float64), _normal(rng, (5, 3), np.float64)
    x2[4] = 0.0
    op = ops.cosine_embedding_loss[reduction]
    for y in (np.array([1.0, -1.0, 0.0, -1.0, 1.0]), np.array([1, -1, 2, -1, 1]), np.array([True, False, True, False, True]),
              np.array([1, 0, 2, 1, 1], dtype=np.uint8)):
        check_strict_op(op, (x1, x2, y), margin=0.1, reduction=reduction)
    check_strict_op(op, (x1[0], x2[0], np.array(-1.0)), margin=-0.5, reduction=reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_triplet_margin_op_strict(check_strict_op, reduction):
    d_pos = np.array([1.0, 2.0, 0.5, 3.0])
    d_neg = np.array([2.5, 2.0, 0.2, 1.0])
    d_swap = np.array([2.5, 1.0, 0.3, 4.0])  # a tie, a smaller and a larger swap distance
    op = ops.triplet_margin[reduction]
    check_strict_op(op, (d_pos, d_neg, d_swap), margin=1.0, reduction=reduction)
    check_strict_op(op, (d_pos, d_neg, None), margin=0.5, reduction=reduction)


# --- argument errors ------------------------------------------------------------------------------


def test_cosine_similarity_errors():
    x = np.ones((3, 4))
    with pytest.raises(TypeError, match="x2"):
        F.cosine_similarity(x, x.astype(np.float32))
    with pytest.raises(TypeError, match="x1"):
        F.cosine_similarity(np.ones((3, 4), np.int64), x)
    with pytest.raises(TypeError, match="x2"):
        F.cosine_similarity(x, [1.0, 2.0])
    with pytest.raises(ValueError, match="x1 shape .* x2 shape"):
        F.cosine_similarity(x, np.ones((2, 4)))
    with pytest.raises(IndexError, match="dim 2"):
        F.cosine_similarity(x, x, dim=2)
    with pytest.raises(IndexError, match="dim -2"):
        F.cosine_similarity(x[0], x[0], dim=-2)
    with pytest.raises(TypeError, match="dim"):
        F.cosine_similarity(x, x, dim=1.0)
    with pytest.raises(ValueError, match="eps"):
        F.cosine_similarity(x, x, eps=-1.0)
    with pytest.raises(ValueError, match="eps"):
        F.cosine_similarity(x, x, eps=math.nan)
    with pytest.raises(TypeError, match="eps"):
        F.cosine_similarity(x, x, eps="small")


def test_pairwise_distance_errors():
    x = np.ones((3, 4))
    with pytest.raises(TypeError, match="x2"):
        F.pairwise_distance(x, x.astype(np.float32))
    with pytest.raises(ValueError, match="x1 shape .* x2 shape"):
        F.pairwise_distance(x, np.ones(3))
    with pytest.raises(TypeError, match="keepdim"):
        F.pairwise_distance(x, x, keepdim=1)
    with pytest.raises(TypeError, match="p must"):
        F.pairwise_distance(x, x, p="fro")
    with pytest.raises(TypeError, match="eps"):
        F.pairwise_distance(x, x, eps=None)
    for p in (math.inf, -math.inf, -1.0):
        with pytest.raises(ValueError, match="p="):
            F.pairwise_distance(np.ones((3, 0)), np.ones((3, 0)), p=p)


def test_cosine_embedding_loss_errors():
    x = np.ones((3, 4))
    y = np.array([1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="input2 shape"):
        F.cosine_embedding_loss(x, x[:1], y)
    with pytest.raises(TypeError, match="input2"):
        F.cosine_embedding_loss(x, x.astype(np.float32), y)
    with pytest.raises(ValueError, match=r"input1 and input2 must have shape \(N, D\) or \(D\)"):
        F.cosine_embedding_loss(x[None], x[None], y)
    with pytest.raises(ValueError, match="target shape"):
        F.cosine_embedding_loss(x, x, np.array([1.0]))  # torch broadcasts (1) against (3)
    with pytest.raises(ValueError, match="target shape"):
        F.cosine_embedding_loss(x, x, np.array(1.0))
    with pytest.raises(ValueError, match="target shape"):
        F.cosine_embedding_loss(x[0], x[0], np.array([1.0]))
    with pytest.raises(TypeError, match="target"):
        F.cosine_embedding_loss(x, x, y.astype(np.complex128))
    with pytest.raises(TypeError, match="target"):
        F.cosine_embedding_loss(x, x, [1, -1, 1])
    with pytest.raises(TypeError, match="margin"):
        F.cosine_embedding_loss(x, x, y, margin="wide")
    with pytest.raises(ValueError, match="reduction"):
        F.cosine_embedding_loss(x, x, y, reduction="bad")


@pytest.mark.parametrize("fn", [F.triplet_margin_loss, F.triplet_margin_with_distance_loss])
def test_triplet_errors(fn):
    x = np.ones((3, 4))
    for margin in (0.0, -1.0):
        with pytest.raises(ValueError, match="margin"):
            fn(x, x, x, margin=margin)
    with pytest.raises(ValueError, match="positive shape"):
        fn(x, x[0], x)
    with pytest.raises(ValueError, match="negative shape"):
        fn(x, x, x[:2])
    with pytest.raises(TypeError, match="negative"):
        fn(x, x, x.astype(np.float32))
    with pytest.raises(TypeError, match="swap"):
        fn(x, x, x, swap=1)
    with pytest.raises(ValueError, match="reduction"):
        fn(x, x, x, reduction="elementwise")


def test_triplet_margin_with_distance_loss_distance_errors():
    x = np.ones((3, 4))
    with pytest.raises(TypeError, match="distance_function must be callable"):
        F.triplet_margin_with_distance_loss(x, x, x, distance_function=3)
    with pytest.raises(TypeError, match=r"distance_function\(anchor, positive\)"):
        F.triplet_margin_with_distance_loss(x, x, x, distance_function=lambda a, b: 1.0)
    calls = iter([np.ones(3), np.ones(2)])
    with pytest.raises(ValueError, match=r"distance_function\(anchor, negative\) shape"):
        F.triplet_margin_with_distance_loss(x, x, x, distance_function=lambda a, b: next(calls))
    with pytest.raises(TypeError, match="distance_function"):
        F.triplet_margin_with_distance_loss(x, x, x, margin=1.0, distance_function=lambda a, b: np.ones(3, np.int64))


def test_module_constructor_errors():
    with pytest.raises(ValueError, match="margin"):
        nn.TripletMarginLoss(margin=0.0)
    with pytest.raises(ValueError, match="margin"):
        nn.TripletMarginWithDistanceLoss(margin=-0.5)
    with pytest.raises(ValueError, match="reduction"):
        nn.CosineEmbeddingLoss(reduction="avg")
    with pytest.raises(TypeError):
        nn.TripletMarginWithDistanceLoss(None)  # keyword-only, as in torch


# --- extreme values: exact where torch overflows or underflows ----------------------------------------

BIG = {np.dtype(np.float32): 1e30, np.dtype(np.float64): 1e300}
SMALL = {np.dtype(np.float32): 1e-30, np.dtype(np.float64): 1e-300}


def test_cosine_similarity_huge_and_tiny_vectors(dtype):
    # cos([b, b], [b, 0]) = b^2 / (sqrt(2) b * b) = 1 / sqrt(2) for any b > 0; torch returns 0 at
    # b = 1e30 (float32) and 1e300 (float64), where b^2 overflows, and nan at b = 1e-30 / 1e-300
    # with eps = 0, where b^2 underflows to 0.
    for b, eps in ((BIG[dtype], 1e-8), (SMALL[dtype], 0.0)):
        x1 = losskit.tensor(np.array([b, b], dtype), requires_grad=True)
        c = F.cosine_similarity(x1, np.array([b, 0.0], dtype), dim=0, eps=eps)
        np.testing.assert_allclose(c.item(), 1 / math.sqrt(2), rtol=1e-6)
        c.backward()
        # dc/dx1 = (u2 - c u1) / |x1| = ([1, 0] - [1/2, 1/2]) / (sqrt(2) b) = [1, -1] / (2 sqrt(2) b)
        expected = np.array([1.0, -1.0]) / (2 * math.sqrt(2) * b)
        if np.isfinite(expected.astype(dtype)).all() and np.abs(expected).min() > np.finfo(dtype).tiny:
            np.testing.assert_allclose(x1.grad.numpy(), expected, rtol=1e-5)
    # |x1| = sqrt(2) b_small < eps = 1e-8: c = (x1 / eps) . [1, 0] = b / 1e-8.
    small = SMALL[dtype]
    c = F.cosine_similarity(np.array([small, small], dtype), np.array([1.0, 0.0], dtype), dim=0)
    np.testing.assert_allclose(c, small / 1e-8, rtol=1e-6)


@pytest.mark.parametrize("p,root", [(2, math.sqrt(2)), (3, 2 ** (1 / 3)), (1.5, 2 ** (2 / 3)), (math.inf, 1.0), (-1, 0.5)])
def test_pairwise_distance_huge_and_tiny(dtype, p, root):
    # ||[b, b]||_p = 2^(1/p) b: torch gives inf for b = 1e30 / 1e300 (b^p overflows) and 0 for
    # b = 1e-30 / 1e-300 with eps = 0 (b^p underflows), for p = 2, 3, 1.5.
    for b in (BIG[dtype], SMALL[dtype]):
        x1 = losskit.tensor(np.array([[b, b]], dtype), requires_grad=True)
        d = F.pairwise_distance(x1, np.zeros((1, 2), dtype), p=p, eps=0.0)
        np.testing.assert_allclose(d.numpy(), [root * b], rtol=1e-6)
        d.backward()
        # d||x||_p / dx_i = (|x_i| / ||x||)^(p - 1) = 2^((1 - p)/p) for equal entries (1/2 for inf)
        expected = 0.5 if math.isinf(p) else 2 ** ((1 - p) / p)
        np.testing.assert_allclose(x1.grad.numpy(), [[expected, expected]], rtol=1e-6)


def test_pairwise_distance_large_p_float32():
    # ||[10, 10]||_50 = 10 * 2^(1/50) = 10.13959479...; torch: inf in float32 (10^50 overflows).
    d = F.pairwise_distance(np.array([10.0, 10.0], np.float32), np.zeros(2, np.float32), p=50, eps=0.0)
    np.testing.assert_allclose(d, 10 * 2 ** (1 / 50), rtol=1e-6)


def test_cosine_embedding_loss_huge_vectors(dtype):
    # cos([b, b], [b, 0]) = 1 / sqrt(2) (E = 1e-12 is negligible next to b^2); y = 1 gives
    # 1 - 1/sqrt(2) = 0.29289321881345248, y = -1 gives 1/sqrt(2). torch: nan (inf / inf).
    b = BIG[dtype]
    x1, x2 = np.array([[b, b], [b, b]], dtype), np.array([[b, 0.0], [b, 0.0]], dtype)
    out = F.cosine_embedding_loss(x1, x2, np.array([1.0, -1.0], dtype), reduction="none")
    np.testing.assert_allclose(out, [1 - 1 / math.sqrt(2), 1 / math.sqrt(2)], rtol=1e-6)
    # float32 b = 1e10: torch's |x1|^2 |x2|^2 = 4e40 overflows and its cosine is 0 (loss 1 for y = 1);
    # the exact loss is 1 - 2e20 / (2e20 + 1e-12) ~ 5e-33, i.e. 0 to float32 rounding.
    x = np.array([[1e10, 1e10]], np.float32)
    assert abs(F.cosine_embedding_loss(x, x, np.ones(1, np.float32))) < 1e-6
    np.testing.assert_allclose(F.cosine_embedding_loss(x, x, -np.ones(1, np.float32)), 1.0, rtol=1e-6)
    # Gradient, y = 1: d(1 - cos)/dx1 = -(x2/r2 - cos x1/r1)/r1 = -([1, 0] - [1/2, 1/2]) / (sqrt(2) b)
    x1t = losskit.tensor(x1[:1], requires_grad=True)
    F.cosine_embedding_loss(x1t, x2[:1], np.ones(1, dtype)).backward()
    expected = -np.array([[1.0, -1.0]]) / (2 * math.sqrt(2) * b)
    if np.abs(expected).min() > np.finfo(dtype).tiny:
        np.testing.assert_allclose(x1t.grad.numpy(), expected, rtol=1e-5)


def test_triplet_margin_loss_huge_distances(dtype):
    # a = 0, p = [2b, 2b], n = [b, b]: d_pos = 2 sqrt(2) b, d_neg = sqrt(2) b, so the loss is
    # 1 + sqrt(2) b (the margin and eps vanish next to b). torch: nan (inf - inf).
    b = BIG[dtype]
    a, p, n = np.zeros((1, 2), dtype), np.full((1, 2), 2 * b, dtype), np.full((1, 2), b, dtype)
    np.testing.assert_allclose(F.triplet_margin_loss(a, p, n), math.sqrt(2) * b, rtol=1e-6)
