"""Focal losses: torchvision's sigmoid focal loss and the seeds' multi-class focal loss.

Oracles: torchvision's formula and the seeds' formula, written out with torch ops (torchvision
is not a dependency); mpmath at high precision for the extreme inputs where those formulas
round ``1 - p_t`` or ``1 - p`` to 0 and give 0 or nan.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
import losskit.functional as F
from losskit import nn
from losskit.catalog import torch_focal_loss, torch_sigmoid_focal_loss
from losskit.losses import focal as ops

GAMMAS = [0, 0.5, 2, 5]


# --- oracles --------------------------------------------------------------------------------------


def mp_sigmoid_focal(x, t, alpha, gamma):
    """torchvision's formula in mpmath (call inside a high-precision context)."""
    import mpmath as mp

    s, s_neg = 1 / (1 + mp.exp(-x)), 1 / (1 + mp.exp(x))
    ce = (1 - t) * mp.log1p(mp.exp(x)) + t * mp.log1p(mp.exp(-x))
    q = (1 - t) * s + t * s_neg
    a_t = alpha * t + (1 - alpha) * (1 - t) if alpha >= 0 else 1
    return a_t * ce * q**gamma


def mp_focal(z, k, gamma):
    """The seeds' formula in mpmath for one sample: logits z, target class k."""
    import mpmath as mp

    ce = mp.log(mp.fsum(mp.exp(v) for v in z)) - z[k]
    return (1 - mp.exp(-ce)) ** gamma * ce


def _targets(rng, shape, soft, dtype):
    if soft:
        return rng.uniform(0.0, 1.0, shape).astype(dtype)
    return (rng.uniform(size=shape) < 0.4).astype(dtype)


# --- sigmoid_focal_loss against torchvision's formula -----------------------------------------------


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
@pytest.mark.parametrize("gamma", GAMMAS)
def test_sigmoid_focal_vs_torch(check_against_torch, rng, dtype, gamma, alpha, soft):
    x = (2.0 * rng.standard_normal((3, 4))).astype(dtype)
    t = _targets(rng, (3, 4), soft, dtype)
    kwargs = dict(alpha=alpha, gamma=gamma)
    check_against_torch(F.sigmoid_focal_loss, torch_sigmoid_focal_loss, (x, t), kwargs, grad=(0, 1))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_sigmoid_focal_reductions_vs_torch(check_against_torch, rng, dtype, reduction):
    x = (2.0 * rng.standard_normal((4, 5))).astype(dtype)
    t = _targets(rng, (4, 5), True, dtype)
    t[0] = [0.0, 1.0, 0.0, 1.0, 0.0]
    kwargs = dict(alpha=0.8, gamma=1.5, reduction=reduction)
    check_against_torch(F.sigmoid_focal_loss, torch_sigmoid_focal_loss, (x, t), kwargs, grad=(0, 1))


@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4)])
def test_sigmoid_focal_shapes_and_defaults(check_against_torch, rng, dtype, shape):
    x = rng.standard_normal(shape).astype(dtype)
    t = _targets(rng, shape, True, dtype)
    out, _ = check_against_torch(F.sigmoid_focal_loss, torch_sigmoid_focal_loss, (x, t), grad=(0, 1))
    assert out.shape == shape  # reduction='none' is the default, as torchvision
    check_against_torch(F.sigmoid_focal_loss, torch_sigmoid_focal_loss, (x, t), dict(reduction="mean"))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_sigmoid_focal_module_vs_torch(check_against_torch, rng, reduction):
    x = rng.standard_normal((5, 3))
    t = _targets(rng, (5, 3), False, np.float64)
    module = nn.SigmoidFocalLoss(alpha=0.6, gamma=1.5, reduction=reduction)
    check_against_torch(
        module,
        lambda a, b: torch_sigmoid_focal_loss(a, b, alpha=0.6, gamma=1.5, reduction=reduction),
        (x, t),
        grad=(0, 1),
    )
    assert repr(module) == f"SigmoidFocalLoss(alpha=0.6, gamma=1.5, reduction={reduction!r})"
    assert nn.SigmoidFocalLoss().reduction == "none"


def test_sigmoid_focal_empty():
    x = np.zeros((0, 3))
    assert F.sigmoid_focal_loss(x, x).shape == (0, 3)
    assert np.isnan(F.sigmoid_focal_loss(x, x, reduction="mean"))
    assert F.sigmoid_focal_loss(x, x, reduction="sum") == 0.0


def test_sigmoid_focal_gamma_zero_is_weighted_bce(rng, assert_close):
    x = 3.0 * rng.standard_normal(10)
    t = rng.uniform(size=10)
    bce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    assert_close(F.sigmoid_focal_loss(x, t, alpha=-1, gamma=0), bce)
    assert_close(F.sigmoid_focal_loss(x, t, alpha=0.3, gamma=0), (0.3 * t + 0.7 * (1 - t)) * bce)


def test_sigmoid_focal_dtype_and_grad_fn(rng):
    x = losskit.Tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    out = F.sigmoid_focal_loss(x, np.ones(4, np.float32), reduction="sum")
    assert out.data.dtype == np.float32 and out.shape == ()
    assert out.grad_fn.name() == "SigmoidFocalLossBackward0"
    out = F.focal_loss(x, np.array(1), reduction="sum")
    assert out.data.dtype == np.float32 and out.grad_fn.name() == "FocalLossBackward0"


# --- sigmoid_focal_loss: gradients by finite differences, strict namespace ------------------------


@pytest.mark.parametrize("alpha", [0.25, -1.0])
@pytest.mark.parametrize("gamma", [0, 0.5, 1, 2, 5])
def test_sigmoid_focal_finite_differences(check_finite_differences, rng, gamma, alpha):
    x = 3.0 * rng.standard_normal((3, 3))
    t = rng.uniform(0.05, 0.95, (3, 3))
    hard = (rng.uniform(size=(3, 3)) < 0.5).astype(np.float64)

    def fn(a, b):
        return F.sigmoid_focal_loss(a, b, alpha=alpha, gamma=gamma, reduction="none")

    check_finite_differences(fn, (x, t), grad=(0, 1))
    check_finite_differences(fn, (x, hard), grad=(0,))


@pytest.mark.parametrize("gamma", [0, 0.5, 2])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_sigmoid_focal_strict(check_strict_op, rng, gamma, alpha, reduction):
    x = np.array([-200.0, -50.0, -1.0, 0.0, 2.0, 60.0, 800.0, 3.0])
    t = np.array([0.0, 1.0, 0.5, 1.0, 0.0, 1.0, 1.0, 0.2])
    check_strict_op(ops.sigmoid_focal_loss, (x, t), alpha=alpha, gamma=gamma, reduction=reduction)


# --- sigmoid_focal_loss: exact values where torchvision's formula gives 0 or nan --------------------

# (x, t, gamma, dtype): in each, 1 - p_t rounds to 0 in torch (so its value is 0, or its gradient
# nan for gamma < 1), while the exact values are representable; or the inputs are so large that
# every exact value rounds to a finite number.
EXTREME_SIGMOID = [
    (50.0, 1.0, 0.5, np.float32),  # loss 6.7e-34, torch 0 and nan gradients
    (50.0, 1.0, 0.5, np.float64),
    (-50.0, 0.0, 0.5, np.float32),
    (-50.0, 0.0, 0.5, np.float64),
    (100.0, 1.0, 2, np.float64),  # loss 1.3e-131, torch 0
    (104.0, 1.0, 0.5, np.float32),  # exp(-104) underflows in float32: d(loss)/dt = -6.8e-22
    (-104.0, 0.0, 0.5, np.float32),
    (100.0, 0.0, 2, np.float32),  # 75, torch agrees
    (-100.0, 1.0, 2, np.float32),  # 25, torch agrees
    (-100.0, 0.3, 0.5, np.float32),  # soft target at an extreme logit
    (100.0, 0.7, 5, np.float64),
    (1000.0, 1.0, 0.5, np.float64),  # everything underflows: 0, not nan
    (-1000.0, 0.0, 2, np.float64),
]


def _mp_expected_sigmoid(x, t, alpha, gamma):
    mp = pytest.importorskip("mpmath")
    with mp.workdps(450):  # mp.diff's step must be far below exp(-|x|)
        xm, tm = mp.mpf(x), mp.mpf(t)
        value = mp_sigmoid_focal(xm, tm, alpha, gamma)
        gx = mp.diff(lambda u: mp_sigmoid_focal(u, tm, alpha, gamma), xm)
        # one-sided at the ends of [0, 1], where the formula leaves the unit interval
        gt = mp.diff(lambda u: mp_sigmoid_focal(xm, u, alpha, gamma), tm, direction=1 if t < 0.5 else -1)
        return float(value), float(gx), float(gt)


def _assert_exact(actual, expected, dtype, ulps=8):
    """``actual`` is ``expected`` rounded to ``dtype``, within a few ulps (subnormals: absolutely)."""
    actual = float(actual)
    info = np.finfo(dtype)
    assert np.isfinite(actual)
    tol = ulps * max(info.eps * abs(expected), float(info.smallest_subnormal))
    assert abs(actual - expected) <= tol, (actual, expected)


@pytest.mark.parametrize("x, t, gamma, dtype", EXTREME_SIGMOID)
def test_sigmoid_focal_extreme_exact(x, t, gamma, dtype):
    alpha = 0.25
    value, gx, gt = _mp_expected_sigmoid(x, t, alpha, gamma)
    X = losskit.Tensor(np.array([x], dtype), requires_grad=True)
    T = losskit.Tensor(np.array([t], dtype), requires_grad=True)
    out = F.sigmoid_focal_loss(X, T, alpha=alpha, gamma=gamma)
    out.backward(np.ones(1, dtype))
    _assert_exact(out.data[0], value, dtype)
    _assert_exact(X.grad.data[0], gx, dtype)
    _assert_exact(T.grad.data[0], gt, dtype)


def test_sigmoid_focal_extreme_where_torch_fails():
    """The deviations: torch's value is 0 and its gradient nan; losskit's are mpmath's."""
    torch = pytest.importorskip("torch")
    for dtype, tdtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        X = torch.tensor([50.0], dtype=tdtype, requires_grad=True)
        T = torch.tensor([1.0], dtype=tdtype, requires_grad=True)
        loss = torch_sigmoid_focal_loss(X, T, gamma=0.5)
        loss.backward(torch.ones(1, dtype=tdtype))
        assert loss.item() == 0.0 and np.isnan(X.grad.item()) and np.isnan(T.grad.item())
        value, gx, _ = _mp_expected_sigmoid(50.0, 1.0, 0.25, 0.5)
        assert value == pytest.approx(6.6965924045201949e-34, rel=1e-15)
        _assert_exact(F.sigmoid_focal_loss(np.array([50.0], dtype), np.array([1.0], dtype), gamma=0.5)[0], value, dtype)


@pytest.mark.parametrize("gamma", [0.5, 2])
def test_sigmoid_focal_soft_extremes_close_to_torch(check_against_torch, dtype, gamma):
    """Soft targets at large |x|: torch's formula has no cancellation there; both agree."""
    x = np.array([-100.0, -40.0, 40.0, 100.0], dtype)
    t = np.array([0.3, 0.9, 0.1, 0.6], dtype)
    check_against_torch(F.sigmoid_focal_loss, torch_sigmoid_focal_loss, (x, t), dict(gamma=gamma), grad=(0, 1))


# --- focal_loss against the seeds' formula ---------------------------------------------------------


def _class_case(rng, shape, kind, dtype):
    """Logits and a target of ``kind``: 'index', 'ignore' (some targets ignored) or 'probs'."""
    x = (2.0 * rng.standard_normal(shape)).astype(dtype)
    axis = 1 if len(shape) >= 2 else 0
    n_classes = shape[axis]
    tshape = tuple(s for i, s in enumerate(shape) if i != axis)
    if kind == "probs":
        p = rng.dirichlet(np.ones(n_classes), size=tshape)
        return x, np.moveaxis(p, -1, axis).astype(dtype)
    t = rng.integers(0, n_classes, size=tshape)
    if kind == "ignore":
        t = np.where(rng.uniform(size=tshape) < 0.3, -1, t)
        t.flat[0] = -1
    return x, np.asarray(t, dtype=np.int64)


def _focal_kwargs(rng, shape, kind, weighted, dtype, **kwargs):
    if kind == "ignore":
        kwargs["ignore_index"] = -1
    if weighted:
        kwargs["weight"] = rng.uniform(0.2, 2.0, shape[1 if len(shape) >= 2 else 0]).astype(dtype)
    return kwargs


@pytest.mark.parametrize("kind", ["index", "ignore", "probs"])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (3, 5, 2, 2)], ids=["C", "NC", "NCd1d2"])
@pytest.mark.parametrize("gamma", GAMMAS)
def test_focal_vs_torch(check_against_torch, rng, dtype, gamma, shape, kind):
    x, t = _class_case(rng, shape, kind, dtype)
    kwargs = _focal_kwargs(rng, shape, kind, True, dtype, gamma=gamma, reduction="none")
    grad = (0, 1) if kind == "probs" else (0,)
    check_against_torch(F.focal_loss, torch_focal_loss, (x, t), kwargs, grad=grad)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind", ["index", "ignore", "probs"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_focal_reductions_vs_torch(check_against_torch, rng, dtype, reduction, kind, weighted):
    shape = (3, 5, 2)
    x, t = _class_case(rng, shape, kind, dtype)
    kwargs = _focal_kwargs(rng, shape, kind, weighted, dtype, gamma=2.0, reduction=reduction)
    grad = (0, 1) if kind == "probs" else (0,)
    check_against_torch(F.focal_loss, torch_focal_loss, (x, t), kwargs, grad=grad)


def test_focal_defaults_vs_torch(check_against_torch, rng):
    x, t = _class_case(rng, (6, 3), "index", np.float32)
    t[0] = -100
    check_against_torch(F.focal_loss, torch_focal_loss, (x, t))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_focal_module_vs_torch(check_against_torch, rng, reduction):
    x, t = _class_case(rng, (6, 4), "ignore", np.float64)
    w = rng.uniform(0.5, 2.0, 4)
    module = nn.FocalLoss(weight=w, gamma=3.0, ignore_index=-1, reduction=reduction)

    def oracle(a, b):
        import torch

        return torch_focal_loss(a, b, torch.from_numpy(w), gamma=3.0, ignore_index=-1, reduction=reduction)

    check_against_torch(module, oracle, (x, t))
    assert repr(module) == f"FocalLoss(gamma=3.0, ignore_index=-1, reduction={reduction!r})"
    default = nn.FocalLoss()
    assert (default.weight, default.gamma, default.ignore_index, default.reduction) == (None, 2.0, -100, "mean")


def test_focal_mean_is_the_seeds_mean(rng, assert_close):
    """'mean' = sum over all samples / their number (ignored ones count), not cross_entropy's."""
    x, t = _class_case(rng, (8, 3), "ignore", np.float64)
    w = np.array([0.5, 2.0, 3.0])
    per_sample = F.focal_loss(x, t, weight=w, ignore_index=-1, reduction="none")
    assert per_sample.shape == (8,)
    assert np.all(per_sample[t == -1] == 0.0)
    assert_close(F.focal_loss(x, t, weight=w, ignore_index=-1), np.sum(per_sample) / 8)
    ce = F.cross_entropy(x, t, weight=w, ignore_index=-1, reduction="none")
    assert_close(F.focal_loss(x, t, weight=w, gamma=0, ignore_index=-1, reduction="none"), ce)
    assert_close(F.focal_loss(x, t, weight=w, gamma=0, ignore_index=-1), np.mean(ce))
    # all targets ignored: 0 (cross_entropy gives nan); no samples: nan
    assert F.focal_loss(x, np.full(8, -1), ignore_index=-1) == 0.0
    assert np.isnan(F.focal_loss(np.zeros((0, 3)), np.zeros(0, np.int64)))
    assert F.focal_loss(np.zeros((0, 3)), np.zeros(0, np.int64), reduction="sum") == 0.0


def test_focal_ignored_samples(rng):
    """Ignored samples have loss 0 and gradient exactly 0, also for 0 < gamma < 1 (where the
    derivative of u^gamma c at c = 0 is the limit 0, not 0 * inf)."""
    x, t = _class_case(rng, (6, 4), "ignore", np.float64)
    for gamma in (0.0, 0.3, 2.0):
        X = losskit.Tensor(x, requires_grad=True)
        out = F.focal_loss(X, t, gamma=gamma, ignore_index=-1, reduction="none")
        out.backward(np.ones(6))
        assert np.all(out.data[t == -1] == 0.0) and np.all(out.data[t != -1] > 0.0)
        assert np.all(X.grad.data[t == -1] == 0.0) and np.all(np.isfinite(X.grad.data))


@pytest.mark.parametrize("gamma", [0, 0.5, 2, 5])
def test_focal_finite_differences(check_finite_differences, rng, gamma):
    x, t = _class_case(rng, (3, 4, 2), "ignore", np.float64)
    w = rng.uniform(0.5, 2.0, 4)
    check_finite_differences(lambda a: F.focal_loss(a, t, weight=w, gamma=gamma, ignore_index=-1, reduction="none"), (x,))
    x, p = _class_case(rng, (3, 4), "probs", np.float64)
    check_finite_differences(lambda a, b: F.focal_loss(a, b, weight=w, gamma=gamma, reduction="sum"), (x, p), grad=(0, 1))


@pytest.mark.parametrize("gamma", [0, 0.5, 2])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_focal_strict(check_strict_op, rng, gamma, reduction):
    x, t = _class_case(rng, (4, 3, 2), "ignore", np.float64)
    x[0, :, 0] = [60.0, 0.0, -5.0]
    w = np.array([0.5, 1.0, 2.0])
    options = dict(gamma=gamma, reduction=reduction, ignore_index=-1)
    check_strict_op(ops.focal_loss, (x, t, w), probabilities=False, **options)
    check_strict_op(ops.focal_loss, (x, t, None), probabilities=False, **options)
    x, p = _class_case(rng, (4, 3), "probs", np.float64)
    check_strict_op(ops.focal_loss, (x, p, w), gamma=gamma, reduction=reduction, ignore_index=-100, probabilities=True)


# (logits, gamma, dtype), target class 0: the target's probability rounds to 1 in torch, so its
# cross entropy, and with it the loss, are 0 there, and its gradient nan for gamma < 1.
EXTREME_FOCAL = [
    ([50.0, 0.0], 0.5, np.float32),  # loss 2.7e-33, gradient -+4.0e-33
    ([50.0, 0.0], 0.5, np.float64),
    ([100.0, 0.0], 2, np.float64),  # loss 5.1e-131
    ([20.0, -30.0, 1.0], 0, np.float32),  # the cross entropy itself: 5.6e-9, torch float32 0
    ([20.0, -30.0, 1.0], 5, np.float64),
    ([-100.0, 100.0], 2, np.float32),  # confidently wrong: 200, torch agrees
    ([800.0, 0.0], 0.5, np.float64),  # everything underflows: 0, not nan
]


@pytest.mark.parametrize("z, gamma, dtype", EXTREME_FOCAL)
def test_focal_extreme_exact(z, gamma, dtype):
    mp = pytest.importorskip("mpmath")
    with mp.workdps(450):
        zm = [mp.mpf(v) for v in z]
        value = float(mp_focal(zm, 0, gamma))
        grads = [float(mp.diff(lambda u: mp_focal(zm[:i] + [u] + zm[i + 1 :], 0, gamma), zm[i])) for i in range(len(z))]
    Z = losskit.Tensor(np.array(z, dtype), requires_grad=True)
    out = F.focal_loss(Z, np.array(0), gamma=gamma, reduction="none")
    out.backward(np.array(1.0, dtype))
    _assert_exact(out.data, value, dtype)
    for g, e in zip(Z.grad.data, grads):
        _assert_exact(g, e, dtype, ulps=64)  # exp(log p) of a class far below the top


def test_focal_extreme_where_torch_fails():
    torch = pytest.importorskip("torch")
    for tdtype in (torch.float32, torch.float64):
        Z = torch.tensor([50.0, 0.0], dtype=tdtype, requires_grad=True)
        loss = torch_focal_loss(Z, torch.tensor(0), gamma=0.5, reduction="none")
        loss.backward()
        assert loss.item() == 0.0 and torch.isnan(Z.grad).all()
    # exact: c = log1p(exp(-50)) = 1.9287498479639178e-22, l = (1 - exp(-c))^0.5 c (mpmath)
    out = F.focal_loss(np.array([50.0, 0.0]), np.array(0), gamma=0.5)
    assert out == pytest.approx(2.6786369618080778e-33, rel=1e-14)


# --- errors -----------------------------------------------------------------------------------------


def test_sigmoid_focal_errors():
    x = np.zeros(3)
    t = np.array([0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="reduction"):
        F.sigmoid_focal_loss(x, t, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        F.sigmoid_focal_loss(x, t, reduction="elementwise_mean")  # torchvision has no legacy alias
    with pytest.raises(ValueError, match="reduction"):
        F.sigmoid_focal_loss(x, t, reduction=None)
    with pytest.raises(ValueError, match="targets shape"):
        F.sigmoid_focal_loss(x, np.zeros(4))
    with pytest.raises(TypeError, match="targets"):
        F.sigmoid_focal_loss(x, np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="targets"):
        F.sigmoid_focal_loss(x, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="inputs"):
        F.sigmoid_focal_loss([0.0, 1.0], t[:2])
    with pytest.raises(ValueError, match="targets"):
        F.sigmoid_focal_loss(x, np.array([0.0, 1.5, 0.5]))
    with pytest.raises(ValueError, match="gamma"):
        F.sigmoid_focal_loss(x, t, gamma=-1)
    with pytest.raises(TypeError, match="gamma"):
        F.sigmoid_focal_loss(x, t, gamma="2")
    with pytest.raises(TypeError, match="alpha"):
        F.sigmoid_focal_loss(x, t, alpha=None)
    with pytest.raises(ValueError, match="reduction"):
        nn.SigmoidFocalLoss(reduction="avg")
    with pytest.raises(ValueError, match="gamma"):
        nn.SigmoidFocalLoss(gamma=-0.5)


def test_focal_errors():
    x = np.zeros((2, 3))
    t = np.array([0, 2])
    with pytest.raises(ValueError, match="reduction"):
        F.focal_loss(x, t, reduction="avg")
    with pytest.raises(ValueError, match="gamma"):
        F.focal_loss(x, t, gamma=-2.0)
    with pytest.raises(TypeError, match="ignore_index"):
        F.focal_loss(x, t, ignore_index=1.5)
    with pytest.raises(ValueError, match="weight"):
        F.focal_loss(x, t, weight=np.ones(2))
    with pytest.raises(TypeError, match="weight"):
        F.focal_loss(x, t, weight=np.ones(3, np.float32))
    with pytest.raises(IndexError, match="target 3"):
        F.focal_loss(x, np.array([0, 3]))
    with pytest.raises(ValueError, match="target"):
        F.focal_loss(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="input"):
        F.focal_loss(np.zeros(()), np.array(0))
    with pytest.raises(ValueError, match="ignore_index"):
        F.focal_loss(x, np.full((2, 3), 1 / 3), ignore_index=0)
    with pytest.raises(ValueError, match="target"):
        F.focal_loss(x, np.full((2, 4), 0.25))
    with pytest.raises(ValueError, match="gamma"):
        nn.FocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match="reduction"):
        nn.FocalLoss(reduction="avg")


def test_exports():
    assert {"focal_loss", "sigmoid_focal_loss"} <= set(F.__all__)
    assert {"FocalLoss", "SigmoidFocalLoss"} <= set(nn.__all__)
    assert ops.focal_loss.name == "FocalLossBackward0"
    assert ops.sigmoid_focal_loss.name == "SigmoidFocalLossBackward0"
