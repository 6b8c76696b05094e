"""The margin family: margin_ranking, hinge_embedding, soft_margin, multilabel_soft_margin,
multilabel_margin and multi_margin losses, functional and nn.

Against torch (values, dtypes, gradients of every differentiable input; float32 and float64; every
option and input form); float64 finite differences away from the kinks; each op on
array_api_strict; errors; exact values where torch overflows, with the expected values derived by
hand or with mpmath in comments. Tests that need torch import it through the
``check_against_torch`` fixture or ``pytest.importorskip`` inside the test, so the rest run
without it.
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest

import losskit
import losskit.functional as F
from losskit import nn
from losskit.losses import margin as ops

REDUCTIONS = ["none", "mean", "sum"]
LEGACY = [
    {"size_average": False},
    {"reduce": False},
    {"size_average": True, "reduce": True},
    {"size_average": False, "reduce": True},
]

FUNCTIONS = [
    "margin_ranking_loss",
    "hinge_embedding_loss",
    "soft_margin_loss",
    "multilabel_soft_margin_loss",
    "multilabel_margin_loss",
    "multi_margin_loss",
]
MODULES = [
    "MarginRankingLoss",
    "HingeEmbeddingLoss",
    "SoftMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiLabelMarginLoss",
    "MultiMarginLoss",
]


def _tf(name):
    torch = pytest.importorskip("torch")
    return getattr(torch.nn.functional, name)


def _signs(rng, shape, dtype):
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(dtype)


def _multilabel_targets(rng, n, c):
    """Rows of class indices padded with -1 at a random length, with a repeated class now and then,
    and garbage-free tails (torch checks every value, tails included, lie in [-1, C))."""
    t = np.full((n, c), -1, dtype=np.int64)
    for i in range(n):
        k = rng.integers(0, c + 1)
        t[i, :k] = rng.choice(c, size=k, replace=True)
        t[i, k:] = rng.integers(-1, c, size=c - k)
        if k < c:
            t[i, k] = -1
    return t


# --- torch's names, signatures and defaults ----------------------------------------------------


@pytest.mark.parametrize("name", FUNCTIONS)
def test_functional_signature_is_torchs(name):
    torch = pytest.importorskip("torch")
    ours = inspect.signature(getattr(F, name)).parameters
    theirs = inspect.signature(getattr(torch.nn.functional, name)).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]
    assert name in F.__all__


@pytest.mark.parametrize("name", MODULES)
def test_module_signature_is_torchs(name):
    torch = pytest.importorskip("torch")
    ours = inspect.signature(getattr(nn, name).__init__).parameters
    theirs = inspect.signature(getattr(torch.nn, name).__init__).parameters
    assert list(ours) == list(theirs)
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]
    assert name in nn.__all__


@pytest.mark.parametrize(
    "name, make",
    [
        ("SoftMarginLossBackward0", lambda x: F.soft_margin_loss(x, np.ones(3))),
        ("MultilabelMarginLossBackward0", lambda x: F.multilabel_margin_loss(x, np.array([0, -1, 2]))),
        ("MultiMarginLossBackward0", lambda x: F.multi_margin_loss(x, np.array(1))),
    ],
)
def test_grad_fn_names_of_torchs_native_losses(name, make):
    out = make(losskit.tensor(np.array([0.1, 0.5, -0.3]), requires_grad=True))
    assert out.grad_fn.name() == name


# --- margin_ranking_loss ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (7,), (3, 4)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [0, 0.5, -0.3])
def test_margin_ranking_vs_torch(check_against_torch, rng, dtype, shape, reduction, margin):
    x1 = rng.normal(size=shape).astype(dtype)
    x2 = rng.normal(size=shape).astype(dtype)
    y = _signs(rng, shape, dtype)
    check_against_torch(
        F.margin_ranking_loss, _tf("margin_ranking_loss"), (x1, x2, y),
        {"margin": margin, "reduction": reduction}, grad=(0, 1, 2),
    )


def test_margin_ranking_real_valued_and_integer_targets(check_against_torch, rng, dtype):
    x1, x2 = rng.normal(size=(2, 9)).astype(dtype)
    y = rng.uniform(-2, 2, size=9).astype(dtype)  # torch allows any real target
    check_against_torch(F.margin_ranking_loss, _tf("margin_ranking_loss"), (x1, x2, y), {"margin": 0.2}, grad=(0, 1, 2))
    yi = np.array([1, -1, 1, 1, -1, -1, 1, 0, 2])
    lk, _ = check_against_torch(F.margin_ranking_loss, _tf("margin_ranking_loss"), (x1, x2, yi), {"margin": 0.2}, grad=(0, 1))
    assert lk == F.margin_ranking_loss(x1, x2, yi.astype(dtype), margin=0.2)


def test_margin_ranking_by_hand():
    # u = -y (x1 - x2) + 0.1: -0.3 (clamped), 0.3, 1.0 -> mean 1.3 / 3
    out = F.margin_ranking_loss(np.array([0.5, 0.2, 0.9]), np.array([0.1, 0.4, 0.0]), np.array([1.0, 1.0, -1.0]), margin=0.1)
    assert out == pytest.approx(1.3 / 3, rel=1e-15)


def test_margin_ranking_kink_takes_the_active_branch_as_torch():
    # u = -(1 - 0) + 1 = 0 exactly: torch's clamp_min passes the gradient at the kink.
    x1 = losskit.tensor(np.array([1.0, 0.5]), requires_grad=True)
    x2 = losskit.tensor(np.zeros(2), requires_grad=True)
    y = losskit.tensor(np.ones(2), requires_grad=True)
    F.margin_ranking_loss(x1, x2, y, margin=1.0, reduction="sum").backward()
    np.testing.assert_array_equal(x1.grad.numpy(), [-1.0, -1.0])  # torch: tensor([-1., -1.])
    np.testing.assert_array_equal(x2.grad.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(y.grad.numpy(), [-1.0, -0.5])


# --- hinge_embedding_loss ---------------------------------------------------------------------

HINGE_TARGETS = np.array([1.0, -1.0, 0.0, 2.0, 0.5, -2.0])


@pytest.mark.parametrize("shape", [(), (12,), (3, 4), (2, 3, 2)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.5, -0.2])
def test_hinge_embedding_vs_torch(check_against_torch, rng, dtype, shape, reduction, margin):
    x = rng.normal(size=shape).astype(dtype)
    y = rng.choice(HINGE_TARGETS, size=shape).astype(dtype)  # torch's rule for targets other than +-1
    check_against_torch(F.hinge_embedding_loss, _tf("hinge_embedding_loss"), (x, y), {"margin": margin, "reduction": reduction})


def test_hinge_embedding_other_targets_by_hand():
    # torch: [y != 1] max(margin - x, 0) + [y != -1] x, margin 1
    x = np.array([0.3, 0.3, 0.3, 0.3, 0.3, 2.0, 2.0, -0.5])
    y = np.array([1.0, -1.0, 0.0, 2.0, 0.5, -1.0, 0.0, -2.0])
    xt = losskit.tensor(x, requires_grad=True)
    out = F.hinge_embedding_loss(xt, y, reduction="none")
    np.testing.assert_allclose(out.numpy(), [0.3, 0.7, 1.0, 1.0, 1.0, 0.0, 2.0, 1.0], rtol=1e-15)
    out.backward(np.ones(8))
    np.testing.assert_array_equal(xt.grad.numpy(), [1, -1, 0, 0, 0, 0, 1, 0])


def test_hinge_embedding_seed_example_with_integer_target():
    # seed 001: inputs [[1, 0.8, 0.5]], targets [[1, 1, -1]] -> (1 + 0.8 + 0.5) / 3; torch printed 0.7667
    out = F.hinge_embedding_loss(np.array([[1.0, 0.8, 0.5]], np.float32), np.array([[1, 1, -1]]))
    assert out.dtype == np.float32 and out == pytest.approx(2.3 / 3, rel=1e-6)


def test_hinge_embedding_kink_as_torch():
    # margin - x = 0 for y = -1: torch's clamp_min gives -1 there; y = 0 gives -1 + 1 = 0.
    x = losskit.tensor(np.ones(3), requires_grad=True)
    F.hinge_embedding_loss(x, np.array([-1.0, 0.0, 1.0]), reduction="sum").backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, 0.0, 1.0])  # torch: tensor([-1., 0., 1.])


# --- soft_margin_loss -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (2, 2, 3)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_soft_margin_vs_torch(check_against_torch, rng, dtype, shape, reduction):
    x = rng.normal(scale=3.0, size=shape).astype(dtype)
    y = _signs(rng, shape, dtype)
    check_against_torch(F.soft_margin_loss, _tf("soft_margin_loss"), (x, y), {"reduction": reduction})


def test_soft_margin_real_and_integer_targets(check_against_torch, rng, dtype):
    x = rng.normal(size=(4, 3)).astype(dtype)
    check_against_torch(F.soft_margin_loss, _tf("soft_margin_loss"), (x, rng.uniform(-2, 2, (4, 3)).astype(dtype)))
    check_against_torch(F.soft_margin_loss, _tf("soft_margin_loss"), (x, rng.integers(-2, 3, (4, 3))))


def test_soft_margin_seed_example_by_hand():
    # seed 001: mean of log(1 + exp(-y x)) over x = [[.3, .7], [.5, .5]], y = [[-1, 1], [1, -1]]
    expected = (math.log1p(math.exp(0.3)) + math.log1p(math.exp(-0.7)) + math.log1p(math.exp(-0.5))
                + math.log1p(math.exp(0.5))) / 4  # torch printed 0.6764
    out = F.soft_margin_loss(np.array([[0.3, 0.7], [0.5, 0.5]]), np.array([[-1.0, 1.0], [1.0, -1.0]]))
    assert out == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("x, y", [(100.0, -1.0), (-100.0, 1.0)])
def test_soft_margin_exact_where_torch_overflows(dtype, x, y):
    # -y x = 100: log(1 + e^100) = 100 + log1p(e^-100) = 100 + 3.72e-44 (mpmath, 50 digits:
    # 100.0000...000372), which rounds to exactly 100 in float32 and float64; torch's
    # log1p(exp(100)) is inf in float32 (exp overflows from 88.7). The gradient -y sigmoid(-y x)
    # = -y (1 - 3.7e-44) rounds to -y (torch: nan in float32, inf / inf).
    xt = losskit.tensor(np.array([x], dtype), requires_grad=True)
    out = F.soft_margin_loss(xt, np.array([y], dtype), reduction="sum")
    assert out.dtype == dtype and out.item() == 100.0
    out.backward()
    assert xt.grad.numpy()[0] == -y


def test_soft_margin_float32_near_overflow():
    # -y x = 89: log(1 + e^89) = 89 + 2.2e-39 (mpmath) -> 89.0 in float32; torch: inf.
    out = F.soft_margin_loss(np.array([89.0], np.float32), np.array([-1.0], np.float32))
    assert out.item() == 89.0


def test_soft_margin_tiny_loss_keeps_its_digits():
    # -y x = -100: log1p(e^-100) = 3.720075976020835962959695803863118e-44 (mpmath)
    out = F.soft_margin_loss(np.array([100.0]), np.array([1.0]))
    assert out.item() == pytest.approx(3.720075976020835962959695803863118e-44, rel=1e-15)


def test_torch_still_overflows_where_losskit_is_exact():
    """The deviation listed in docs/deviations.md: if torch fixes it, revisit the note."""
    torch = pytest.importorskip("torch")
    value = torch.nn.functional.soft_margin_loss(torch.tensor([100.0]), torch.tensor([-1.0]))
    assert math.isinf(value.item())


# --- multilabel_soft_margin_loss --------------------------------------------------------------


@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 5)])
@pytest.mark.parametrize("weight_shape", [None, "C", "N1", "full"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_soft_margin_vs_torch(check_against_torch, rng, dtype, shape, weight_shape, reduction):
    x = rng.normal(scale=3.0, size=shape).astype(dtype)
    y = (rng.random(shape) < 0.5).astype(dtype)
    wshape = {None: None, "C": shape[-1:], "N1": shape[:-1] + (1,), "full": shape}[weight_shape]
    kwargs = {"reduction": reduction}
    if wshape is not None:
        kwargs["weight"] = rng.uniform(0.2, 2.0, wshape).astype(dtype)
    check_against_torch(F.multilabel_soft_margin_loss, _tf("multilabel_soft_margin_loss"), (x, y), kwargs, grad=(0, 1))


def test_multilabel_soft_margin_probability_and_integer_targets(check_against_torch, rng, dtype):
    x = rng.normal(size=(3, 4)).astype(dtype)
    check_against_torch(F.multilabel_soft_margin_loss, _tf("multilabel_soft_margin_loss"), (x, rng.random((3, 4)).astype(dtype)), grad=(0, 1))
    check_against_torch(F.multilabel_soft_margin_loss, _tf("multilabel_soft_margin_loss"), (x, rng.integers(0, 2, (3, 4))))


def test_multilabel_soft_margin_by_hand_and_extremes():
    # softplus(-0) = log 2, softplus(-2), softplus(-1) (label 0 at x = -1): mean over 3 classes
    expected = (math.log(2.0) + math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0))) / 3
    out = F.multilabel_soft_margin_loss(np.array([[0.0, 2.0, -1.0]]), np.array([[1.0, 1.0, 0.0]]))
    assert out == pytest.approx(expected, rel=1e-15)
    # x = 100 with label 0 costs softplus(100) = 100 + 3.7e-44 -> 100; x = -40 with label 0
    # costs softplus(-40) = 4.248354255291588986e-18 (mpmath): no cancellation.
    out = F.multilabel_soft_margin_loss(np.array([[100.0, -40.0]]), np.array([[0.0, 0.0]]), reduction="none")
    assert out[0] == pytest.approx((100.0 + 4.248354255291588986e-18) / 2, rel=1e-15)
    tiny = F.multilabel_soft_margin_loss(np.array([-40.0], np.float32), np.array([0.0], np.float32))
    assert tiny.item() == pytest.approx(4.248354255291588986e-18, rel=1e-6)


def test_multilabel_soft_margin_target_gradient_is_exactly_minus_x_over_c():
    # d/dy [y softplus(-x) + (1 - y) softplus(x)] = softplus(-x) - softplus(x) = -x
    x = np.array([[0.3, -2.0, 50.0, -50.0]])
    y = losskit.tensor(np.array([[0.5, 1.0, 0.0, 1.0]]), requires_grad=True)
    F.multilabel_soft_margin_loss(x, y, reduction="sum").backward()
    np.testing.assert_array_equal(y.grad.numpy(), -x / 4)


def test_multilabel_soft_margin_weight_forms_agree(rng):
    x = rng.normal(size=(3, 4))
    y = (rng.random((3, 4)) < 0.5).astype(float)
    w = rng.uniform(0.5, 2.0, 4)
    by_class = F.multilabel_soft_margin_loss(x, y, weight=w, reduction="none")
    full = F.multilabel_soft_margin_loss(x, y, weight=np.broadcast_to(w, (3, 4)).copy(), reduction="none")
    np.testing.assert_allclose(by_class, full, rtol=1e-15)
    ones = F.multilabel_soft_margin_loss(x, y, weight=np.ones(4))
    assert ones == F.multilabel_soft_margin_loss(x, y)


# --- multilabel_margin_loss -------------------------------------------------------------------


def _multilabel_margin_reference(x, t):
    """torch's C loop (aten/src/ATen/native/LossMultiLabelMargin.cpp), one row at a time."""
    x2, t2 = np.atleast_2d(x), np.atleast_2d(t)
    c = x2.shape[1]
    out = []
    for row, tr in zip(x2, t2):
        targets = []
        for v in tr:
            if v < 0:
                break
            targets.append(int(v))
        s = 0.0
        for j in targets:
            for i in range(c):
                if i not in targets:
                    z = 1.0 - row[j] + row[i]
                    s += max(z, 0.0)
        out.append(s / c)
    return np.array(out).reshape(np.shape(x)[:-1] if np.ndim(x) == 2 else ())


@pytest.mark.parametrize("shape", [(6,), (5, 4), (1, 7)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_vs_torch(check_against_torch, rng, dtype, shape, reduction):
    x = rng.normal(size=shape).astype(dtype)
    t = _multilabel_targets(rng, 1 if len(shape) == 1 else shape[0], shape[-1]).reshape(shape)
    check_against_torch(F.multilabel_margin_loss, _tf("multilabel_margin_loss"), (x, t), {"reduction": reduction})


@pytest.mark.parametrize("target", [[3, 0, -1, 1], [3, 3, -1, 1], [-1, 3, 0, 1], [0, 1, 2, 3], [2, -1, -1, -1], [1, 2, 0, -1]])
def test_multilabel_margin_row_forms_vs_torch(check_against_torch, dtype, target):
    # first -1 ends the row; a repeated target counts twice; all classes targets -> 0
    x = np.array([[0.9, 0.2, 0.4, 0.8]], dtype)
    check_against_torch(F.multilabel_margin_loss, _tf("multilabel_margin_loss"), (x, np.array([target])), {"reduction": "none"})


def test_multilabel_margin_matches_torchs_loop(rng):
    x = rng.normal(size=(20, 6))
    t = _multilabel_targets(rng, 20, 6)
    np.testing.assert_allclose(F.multilabel_margin_loss(x, t, reduction="none"), _multilabel_margin_reference(x, t), rtol=1e-14)
    np.testing.assert_allclose(F.multilabel_margin_loss(x[3], t[3], reduction="none"), _multilabel_margin_reference(x[3], t[3]), rtol=1e-14)


def test_multilabel_margin_seed_example():
    # seed 001: targets 3 and 0 against classes 1 and 2, x = [.9, .2, .4, .8]:
    # [1-(.8-.2)] + [1-(.8-.4)] + [1-(.9-.2)] + [1-(.9-.4)] = .4 + .6 + .3 + .5 = 1.8, / 4 = 0.45
    out = F.multilabel_margin_loss(np.array([[0.9, 0.2, 0.4, 0.8]]), np.array([[3, 0, -1, 1]]))
    assert out == pytest.approx(0.45, rel=1e-15)


def test_multilabel_margin_zero_d_input_has_one_class():
    for t in (0, -1):  # torch: 0 for both (one class leaves no non-target)
        out = F.multilabel_margin_loss(np.array(0.5), np.array(t), reduction="none")
        assert out.shape == () and out == 0.0


def test_multilabel_margin_strict_kink_as_torch():
    # target 1, class 0: z = 1 - 1 + 0 = 0 is not counted (torch: z > 0); class 2: z = .5
    x = losskit.tensor(np.array([[0.0, 1.0, 0.5]]), requires_grad=True)
    F.multilabel_margin_loss(x, np.array([[1, -1, 0]]), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, -1 / 3, 1 / 3]], rtol=1e-15)  # torch: [0, -.3333, .3333]


# --- multi_margin_loss ------------------------------------------------------------------------


@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("margin", [1.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multi_margin_vs_torch(check_against_torch, rng, dtype, p, margin, weighted, reduction):
    x = rng.normal(size=(6, 4)).astype(dtype)
    t = rng.integers(0, 4, 6)
    kwargs = {"p": p, "margin": margin, "reduction": reduction}
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, 4).astype(dtype)
    check_against_torch(F.multi_margin_loss, _tf("multi_margin_loss"), (x, t), kwargs)


@pytest.mark.parametrize(
    "x_shape, t_shape",
    [((5,), ()), ((5,), (1,)), ((1, 5), ()), ((1, 5), (1,)), ((), ()), ((), (1,))],
)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multi_margin_single_sample_forms_vs_torch(check_against_torch, rng, dtype, x_shape, t_shape, reduction):
    # the 'none' output takes the target's shape, as in torch
    x = rng.normal(size=x_shape).astype(dtype)
    c = x_shape[-1] if x_shape else 1
    t = rng.integers(0, c, t_shape)
    lk, th = check_against_torch(F.multi_margin_loss, _tf("multi_margin_loss"), (x, t), {"reduction": reduction, "p": 2})
    assert lk.shape == th.shape


def test_multi_margin_seed_example_and_weights():
    # seed 001: x = [[.3, .7], [.5, .5]], targets [0, 1]: (1 - .3 + .7) / 2 = .7 and 1 / 2 = .5 -> .6
    x = np.array([[0.3, 0.7], [0.5, 0.5]])
    assert F.multi_margin_loss(x, np.array([0, 1])) == pytest.approx(0.6, rel=1e-15)
    # weight w[y] scales each sample; 'mean' stays the plain mean over samples (torch: 1.4167)
    out = F.multi_margin_loss(np.vstack([x, [[0.1, 0.2]]]), np.array([0, 1, 1]), weight=np.array([2.0, 3.0]), reduction="none")
    np.testing.assert_allclose(out, [1.4, 1.5, 3 * 0.9 / 2], rtol=1e-15)
    # p = 2 squares each hinge: (1.4^2) / 2 and 1 / 2 -> mean 0.74 (torch: 0.7400)
    assert F.multi_margin_loss(x, np.array([0, 1]), p=2) == pytest.approx((1.96 / 2 + 0.5) / 2, rel=1e-15)


def test_multi_margin_weight_invariances(rng):
    x = rng.normal(size=(5, 3))
    t = rng.integers(0, 3, 5)
    plain = F.multi_margin_loss(x, t, reduction="none")
    np.testing.assert_array_equal(F.multi_margin_loss(x, t, weight=np.ones(3), reduction="none"), plain)
    np.testing.assert_allclose(F.multi_margin_loss(x, t, weight=np.full(3, 2.5)), 2.5 * F.multi_margin_loss(x, t), rtol=1e-15)


def test_multi_margin_p_may_be_a_float_equal_to_1_or_2():
    x, t = np.array([[0.3, 0.7], [0.5, 0.5]]), np.array([0, 1])
    assert F.multi_margin_loss(x, t, p=2.0) == F.multi_margin_loss(x, t, p=2)


def test_multi_margin_strict_kink_as_torch():
    # z_0 = 1 - 1 + 0 = 0 is not counted (torch: z > 0): torch's grad [0, -1/3, 1/3]
    x = losskit.tensor(np.array([[0.0, 1.0, 0.5]]), requires_grad=True)
    F.multi_margin_loss(x, np.array([1]), reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, -1 / 3, 1 / 3]], rtol=1e-15)


# --- every loss: legacy options, empty batches, nn modules ------------------------------------


def _cases(rng, dtype):
    """(functional name, args, kwargs) for one representative call of every loss."""
    x = rng.normal(size=(4, 3)).astype(dtype)
    return [
        ("margin_ranking_loss", (x, rng.normal(size=(4, 3)).astype(dtype), _signs(rng, (4, 3), dtype)), {"margin": 0.2}),
        ("hinge_embedding_loss", (np.abs(x), _signs(rng, (4, 3), dtype)), {"margin": 1.5}),
        ("soft_margin_loss", (x, _signs(rng, (4, 3), dtype)), {}),
        ("multilabel_soft_margin_loss", (x, (rng.random((4, 3)) < 0.5).astype(dtype)), {"weight": rng.uniform(0.5, 2, 3).astype(dtype)}),
        ("multilabel_margin_loss", (x, _multilabel_targets(rng, 4, 3)), {}),
        ("multi_margin_loss", (x, rng.integers(0, 3, 4)), {"p": 2, "margin": 0.7, "weight": rng.uniform(0.5, 2, 3).astype(dtype)}),
    ]


@pytest.mark.parametrize("legacy", LEGACY, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()))
@pytest.mark.parametrize("index", range(6), ids=FUNCTIONS)
def test_legacy_size_average_and_reduce_vs_torch(check_against_torch, rng, index, legacy):
    name, args, kwargs = _cases(rng, np.float64)[index]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's own deprecation note
        with pytest.warns(DeprecationWarning, match="size_average and reduce"):
            check_against_torch(getattr(F, name), _tf(name), args, {**kwargs, **legacy})


@pytest.mark.parametrize("index", range(6), ids=FUNCTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nn_module_vs_torch_module(rng, dtype, index, reduction):
    torch = pytest.importorskip("torch")
    name, args, kwargs = _cases(rng, dtype)[index]
    module = MODULES[index]
    ours = getattr(nn, module)(**kwargs, reduction=reduction)
    theirs = getattr(torch.nn, module)(
        **{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}, reduction=reduction
    )
    lk_args = [losskit.tensor(args[0], requires_grad=True), *args[1:]]
    t_args = [torch.tensor(args[0], requires_grad=True), *(torch.from_numpy(a) for a in args[1:])]
    out, t_out = ours(*lk_args), theirs(*t_args)
    tol = {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), **tol)
    out.sum().backward() if reduction == "none" else out.backward()
    (t_out.sum() if reduction == "none" else t_out).backward()
    np.testing.assert_allclose(lk_args[0].grad.numpy(), t_args[0].grad.numpy(), **tol)
    assert repr(ours).startswith(module)


@pytest.mark.parametrize("index", range(6), ids=FUNCTIONS)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_torch_tensors_in_torch_tensors_out(rng, dtype, index, reduction):
    """losskit's functions on torch tensors (torch autograd running losskit's backward)."""
    torch = pytest.importorskip("torch")
    name, args, kwargs = _cases(rng, dtype)[index]
    kwargs = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    grads = []
    for fn in (getattr(F, name), _tf(name)):
        t_args = [torch.tensor(args[0], requires_grad=True), *(torch.from_numpy(a) for a in args[1:])]
        out = fn(*t_args, **kwargs, reduction=reduction)
        assert isinstance(out, torch.Tensor) and out.dtype == t_args[0].dtype
        out.sum().backward()
        grads.append((out.detach().numpy(), t_args[0].grad.numpy()))
    tol = {"rtol": 2e-5, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    for ours, theirs in zip(*grads):
        np.testing.assert_allclose(ours, theirs, **tol)


def test_multi_margin_module_validates_like_torch():
    with pytest.raises(ValueError, match="p == 1 and p == 2"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(ValueError, match="weight"):
        nn.MultiMarginLoss(weight=np.ones((2, 2)))


def _empty_cases(dtype):
    e = np.zeros((0, 3), dtype)
    return [
        ("margin_ranking_loss", (np.zeros(0, dtype), np.zeros(0, dtype), np.zeros(0, dtype)), (0,)),
        ("hinge_embedding_loss", (np.zeros(0, dtype), np.zeros(0, dtype)), (0,)),
        ("soft_margin_loss", (np.zeros((0, 2), dtype), np.zeros((0, 2), dtype)), (0, 2)),
        ("multilabel_soft_margin_loss", (e, e), (0,)),
        ("multilabel_margin_loss", (e, np.zeros((0, 3), np.int64)), (0,)),
        ("multi_margin_loss", (e, np.zeros(0, np.int64)), (0,)),
    ]


@pytest.mark.parametrize("index", range(6), ids=FUNCTIONS)
def test_empty_batch_sum_is_0_and_mean_is_nan(dtype, index):
    # torch agrees for the first four; for multilabel_margin_loss and multi_margin_loss it returns
    # uninitialised memory (e.g. 1.17e-22) for both: a deviation, losskit follows the others.
    name, args, none_shape = _empty_cases(dtype)[index]
    fn = getattr(F, name)
    x = losskit.tensor(args[0], requires_grad=True)
    assert fn(*args, reduction="none").shape == none_shape
    total = fn(x, *args[1:], reduction="sum")
    assert total.dtype == dtype and total.item() == 0.0
    total.backward()
    assert x.grad.shape == args[0].shape
    mean = fn(*args, reduction="mean")
    assert mean.dtype == dtype and mean.shape == () and np.isnan(mean)


# --- finite differences (float64), away from the kinks ------------------------------------------


def _away_from_zero(values, gap=1e-5):  # the finite-difference step is 1e-6
    assert np.min(np.abs(values)) > gap, "test input too close to a kink"


def test_finite_differences_margin_ranking(check_finite_differences, rng):
    x1, x2 = rng.normal(size=(2, 3, 4))
    y = rng.uniform(-2, 2, (3, 4))
    _away_from_zero(-y * (x1 - x2) + 0.3)
    for reduction in REDUCTIONS:
        check_finite_differences(
            lambda a, b, c: F.margin_ranking_loss(a, b, c, margin=0.3, reduction=reduction), (x1, x2, y), grad=(0, 1, 2)
        )


def test_finite_differences_hinge_embedding(check_finite_differences, rng):
    x = rng.normal(size=(3, 4))
    y = rng.choice(HINGE_TARGETS, size=(3, 4))
    _away_from_zero(0.8 - x)
    for reduction in REDUCTIONS:
        check_finite_differences(lambda a: F.hinge_embedding_loss(a, y, margin=0.8, reduction=reduction), (x,))


def test_finite_differences_soft_margin(check_finite_differences, rng):
    x = rng.normal(scale=4.0, size=(3, 4))
    y = rng.uniform(-2, 2, (3, 4))
    for reduction in REDUCTIONS:
        check_finite_differences(lambda a: F.soft_margin_loss(a, y, reduction=reduction), (x,))


def test_finite_differences_multilabel_soft_margin(check_finite_differences, rng):
    x = rng.normal(scale=3.0, size=(3, 4))
    y = rng.random((3, 4))
    w = rng.uniform(0.5, 2.0, 4)
    for reduction in REDUCTIONS:
        check_finite_differences(
            lambda a, b: F.multilabel_soft_margin_loss(a, b, weight=w, reduction=reduction), (x, y), grad=(0, 1)
        )


def test_finite_differences_multilabel_margin(check_finite_differences, rng):
    x = rng.normal(size=(4, 5))
    t = _multilabel_targets(rng, 4, 5)
    _away_from_zero(1.0 - x[:, :, None] + x[:, None, :])  # every m = 1 - x[j] + x[i] (a superset)
    for reduction in REDUCTIONS:
        check_finite_differences(lambda a: F.multilabel_margin_loss(a, t, reduction=reduction), (x,))
    check_finite_differences(lambda a: F.multilabel_margin_loss(a, t[1], reduction="none"), (x[1],))


@pytest.mark.parametrize("p", [1, 2])
def test_finite_differences_multi_margin(check_finite_differences, rng, p):
    x = rng.normal(size=(5, 4))
    t = rng.integers(0, 4, 5)
    w = rng.uniform(0.5, 2.0, 4)
    _away_from_zero(0.6 - x[:, :, None] + x[:, None, :])
    for reduction in REDUCTIONS:
        check_finite_differences(
            lambda a: F.multi_margin_loss(a, t, p=p, margin=0.6, weight=w, reduction=reduction), (x,)
        )


# --- the ops on array_api_strict ---------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@np.errstate(invalid="ignore", divide="ignore")  # the empty batches' 'mean' is 0 / 0 = nan
def test_strict_ops(check_strict_op, rng, reduction):
    x = rng.normal(size=(4, 3))
    y = rng.choice(HINGE_TARGETS, size=(4, 3))
    check_strict_op(ops.margin_ranking, (x, rng.normal(size=(4, 3)), y), reduction=reduction, margin=0.2)
    check_strict_op(ops.hinge_embedding, (x, y), reduction=reduction, margin=1.0)
    check_strict_op(ops.soft_margin, (x, y), reduction=reduction)
    labels = rng.random((4, 3))
    check_strict_op(ops.multilabel_soft_margin, (x, labels, None), reduction=reduction)
    check_strict_op(ops.multilabel_soft_margin, (x, labels, rng.uniform(0.5, 2, 3)), reduction=reduction)
    check_strict_op(ops.multilabel_margin, (x, _multilabel_targets(rng, 4, 3)), reduction=reduction)
    check_strict_op(ops.multilabel_margin, (x[0], np.array([2, -1, 0])), reduction=reduction)
    check_strict_op(ops.multilabel_margin, (np.zeros((0, 3)), np.zeros((0, 3), np.int64)), reduction=reduction)
    t = rng.integers(0, 3, 4)
    for p in (1, 2):
        check_strict_op(ops.multi_margin, (x, t, None), reduction=reduction, p=p, margin=1.0)
        check_strict_op(ops.multi_margin, (x, t, rng.uniform(0.5, 2, 3)), reduction=reduction, p=p, margin=0.5)
    check_strict_op(ops.multi_margin, (x[0], np.array(2), None), reduction=reduction, p=1, margin=1.0)
    check_strict_op(ops.multi_margin, (x[0], np.array([1]), None), reduction=reduction, p=2, margin=1.0)
    check_strict_op(ops.multi_margin, (np.array(0.3), np.array(0), None), reduction=reduction, p=1, margin=1.0)
    check_strict_op(ops.multilabel_margin, (np.array(0.3), np.array(0)), reduction=reduction)
    check_strict_op(ops.multi_margin, (np.zeros((0, 3)), np.zeros(0, np.int64), None), reduction=reduction, p=1, margin=1.0)


# --- errors --------------------------------------------------------------------------------------

X = np.zeros((2, 3))
X32 = np.zeros((2, 3), np.float32)
T2 = np.zeros(2, np.int64)


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: F.margin_ranking_loss(X, np.zeros(3), X), ValueError, "input2 shape"),
        (lambda: F.margin_ranking_loss(X, X, np.zeros(3)), ValueError, "target shape"),
        (lambda: F.margin_ranking_loss(X, X32, X), TypeError, "input2"),
        (lambda: F.margin_ranking_loss(X, X, X32), TypeError, "target"),
        (lambda: F.margin_ranking_loss(X.astype(int), X, X), TypeError, "input1"),
        (lambda: F.margin_ranking_loss(X, X, X, margin="1"), TypeError, "margin"),
        (lambda: F.margin_ranking_loss(X, X, X, reduction="bad"), ValueError, "reduction"),
        (lambda: F.hinge_embedding_loss(X, np.zeros(3)), ValueError, "target shape"),
        (lambda: F.hinge_embedding_loss(X, X, margin=None), TypeError, "margin"),
        (lambda: F.hinge_embedding_loss(X, X.astype(bool)), TypeError, "target"),
        (lambda: F.soft_margin_loss(X, np.zeros((1, 3))), ValueError, "target shape"),
        (lambda: F.soft_margin_loss([0.0], [1.0]), TypeError, "input"),
        (lambda: F.soft_margin_loss(X, X, reduction="batchmean"), ValueError, "reduction"),
        (lambda: F.multilabel_soft_margin_loss(np.array(0.5), np.array(1.0)), IndexError, "input"),
        (lambda: F.multilabel_soft_margin_loss(X, X, weight=np.ones(2)), ValueError, "weight"),
        (lambda: F.multilabel_soft_margin_loss(X, X, weight=np.ones((4, 2, 3))), ValueError, "weight"),
        (lambda: F.multilabel_soft_margin_loss(X, X, weight=np.ones(3, np.float32)), TypeError, "weight"),
        (lambda: F.multilabel_margin_loss(X, np.zeros((2, 3))), TypeError, "target"),
        (lambda: F.multilabel_margin_loss(X, np.zeros(3, np.int64)), ValueError, "target shape"),
        (lambda: F.multilabel_margin_loss(X, np.array([[0, 3, -1], [0, -1, 0]])), IndexError, "target 3"),
        (lambda: F.multilabel_margin_loss(X, np.array([[0, -2, 1], [0, -1, 0]])), IndexError, "target -2"),
        (lambda: F.multilabel_margin_loss(X, np.array([[0, -1, 7], [0, -1, 0]])), IndexError, "target 7"),
        (lambda: F.multilabel_margin_loss(np.zeros((2, 0)), np.zeros((2, 0), np.int64)), ValueError, "input"),
        (lambda: F.multilabel_margin_loss(np.zeros((2, 3, 4)), np.zeros((2, 3, 4), np.int64)), ValueError, "input"),
        (lambda: F.multi_margin_loss(X, np.array([0, 3])), IndexError, "target 3"),
        (lambda: F.multi_margin_loss(X, np.array([-1, 0])), IndexError, "target -1"),
        (lambda: F.multi_margin_loss(X, T2, p=3), ValueError, "p == 1 and p == 2"),
        (lambda: F.multi_margin_loss(X, T2, p=0.5), ValueError, "p == 1 and p == 2"),
        (lambda: F.multi_margin_loss(X, T2, weight=np.ones((3, 1))), ValueError, "weight must be one-dimensional"),
        (lambda: F.multi_margin_loss(X, T2, weight=np.ones(4)), ValueError, "weight"),
        (lambda: F.multi_margin_loss(X, T2, weight=np.ones(3, np.float32)), TypeError, "weight"),
        (lambda: F.multi_margin_loss(X, np.zeros(2)), TypeError, "target"),
        (lambda: F.multi_margin_loss(X, np.zeros((2, 1), np.int64)), ValueError, "target"),
        (lambda: F.multi_margin_loss(X, np.zeros(3, np.int64)), ValueError, "target"),
        (lambda: F.multi_margin_loss(X, T2, margin=np.array(0.5)), TypeError, "margin"),
        (lambda: F.multi_margin_loss(np.zeros((2, 0)), T2), ValueError, "input"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_inputs_are_not_modified(rng):
    x = rng.normal(size=(3, 4))
    t = _multilabel_targets(rng, 3, 4)
    x0, t0 = x.copy(), t.copy()
    F.multilabel_margin_loss(x, t)
    F.multi_margin_loss(x, t[:, 0].clip(0))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(t, t0)
