"""Hand-derived gradients against central finite differences, in float64.

Every primitive of the engine (``losskit/autograd/ops.py``, through ``losskit.Tensor`` and the
``losskit`` functions: broadcasting, reductions, shapes, indexing included) and every loss and
activation of the first losses, with every option that changes the gradient's formula. Inputs
keep away from kinks (``|x - y| = 0``, ``delta`` or ``beta``; clamp bounds; tied maxima; the
softplus threshold) by far more than the step. Needs neither torch nor anything but NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
import losskit.functional as F


@pytest.fixture
def gen():
    return np.random.default_rng(7)


def _away(gen, shape, kinks=(0.0,), margin=0.1, low=-2.0, high=2.0):
    """Uniform values in [low, high] at least ``margin`` from every kink."""
    x = gen.uniform(low, high, shape)
    for k in kinks:
        x = np.where(np.abs(x - k) < margin, k + np.where(x >= k, margin, -margin) * 2, x)
    return x


# --- primitives -------------------------------------------------------------------------------------

BINARY_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((4, 1, 2), (3, 1))]


@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a * b,
        lambda a, b: a / b,
        lambda a, b: a**b,
    ],
    ids=["add", "sub", "mul", "div", "pow"],
)
@pytest.mark.parametrize(("ashape", "bshape"), BINARY_SHAPES, ids=str)
def test_binary_primitives_with_broadcasting(check_finite_differences, gen, op, ashape, bshape):
    # Both operands positive and away from 0: fine for div and for pow's log(a).
    a = gen.uniform(0.5, 2.0, ashape)
    b = gen.uniform(0.5, 2.0, bshape)
    check_finite_differences(op, (a, b), grad=(0, 1))


@pytest.mark.parametrize(
    "op",
    [
        lambda a: 2.5 + a,
        lambda a: a + 2.5,
        lambda a: 2.5 - a,
        lambda a: a - 2.5,
        lambda a: 3.0 * a,
        lambda a: 3.0 / a,
        lambda a: a / 3.0,
        lambda a: a**2,
        lambda a: a**2.5,
        lambda a: a**-1.5,
        lambda a: a**0,
        lambda a: 2.0**a,
        lambda a: -a,
        lambda a: +a,
    ],
    ids=["radd", "add-scalar", "rsub", "sub-scalar", "rmul", "rdiv", "div-scalar", "square", "pow-2.5",
         "pow-neg", "pow-0", "rpow", "neg", "pos"],
)
def test_unary_arithmetic(check_finite_differences, gen, op):
    check_finite_differences(op, (gen.uniform(0.5, 2.0, (2, 3)),))


def test_pow_of_a_negative_base_with_integer_exponent(check_finite_differences, gen):
    check_finite_differences(lambda a: a**3, (gen.uniform(-2.0, -0.5, (4,)),))


@pytest.mark.parametrize(
    ("ashape", "bshape"),
    [
        ((3,), (3,)),
        ((2, 3), (3,)),
        ((3,), (3, 4)),
        ((2, 3), (3, 4)),
        ((5, 2, 3), (3, 4)),
        ((2, 3), (5, 3, 4)),
        ((5, 2, 3), (5, 3, 4)),
        ((5, 2, 3), (3,)),
    ],
    ids=str,
)
def test_matmul(check_finite_differences, gen, ashape, bshape):
    a, b = gen.standard_normal(ashape), gen.standard_normal(bshape)
    check_finite_differences(lambda p, q: p @ q, (a, b), grad=(0, 1))
    check_finite_differences(losskit.matmul, (a, b), grad=(0, 1))


@pytest.mark.parametrize(
    ("fn", "low", "high"),
    [
        (losskit.exp, -3.0, 3.0),
        (losskit.log, 0.1, 3.0),
        (losskit.log1p, -0.9, 3.0),
        (losskit.sqrt, 0.1, 3.0),
        (lambda t: losskit.as_tensor(t).exp(), -3.0, 3.0),
        (lambda t: losskit.as_tensor(t).log(), 0.1, 3.0),
        (lambda t: losskit.as_tensor(t).log1p(), -0.9, 3.0),
        (lambda t: losskit.as_tensor(t).sqrt(), 0.1, 3.0),
        (lambda t: losskit.as_tensor(t).abs(), 0.1, 3.0),
        (lambda t: losskit.as_tensor(t).abs(), -3.0, -0.1),
    ],
    ids=["exp", "log", "log1p", "sqrt", "Tensor.exp", "Tensor.log", "Tensor.log1p", "Tensor.sqrt", "Tensor.abs+",
         "Tensor.abs-"],
)
def test_elementwise_functions(check_finite_differences, gen, fn, low, high):
    check_finite_differences(fn, (gen.uniform(low, high, (2, 3)),))


def test_abs_away_from_zero(check_finite_differences, gen):
    x = _away(gen, (3, 4))
    check_finite_differences(losskit.abs, (x,))


@pytest.mark.parametrize(("low", "high"), [(-0.5, None), (None, 0.7), (-0.5, 0.7)], ids=str)
def test_clamp_away_from_the_bounds(check_finite_differences, gen, low, high):
    kinks = [k for k in (low, high) if k is not None]
    x = _away(gen, (4, 3), kinks=kinks)
    check_finite_differences(lambda t: losskit.clamp(t, low, high), (x,))
    check_finite_differences(lambda t: losskit.as_tensor(t).clamp(low, high), (x,))


@pytest.mark.parametrize(("ashape", "bshape"), [((2, 3), (2, 3)), ((2, 3), (3,)), ((1, 3), (2, 1))], ids=str)
def test_where(check_finite_differences, gen, ashape, bshape):
    cond = gen.uniform(size=(2, 3)) < 0.5
    a, b = gen.standard_normal(ashape), gen.standard_normal(bshape)
    check_finite_differences(lambda p, q: losskit.where(cond, p, q), (a, b), grad=(0, 1))


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2), (2, 0, 1)], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_and_mean(check_finite_differences, gen, dim, keepdim, name):
    x = gen.standard_normal((2, 3, 4))
    check_finite_differences(lambda t: getattr(losskit, name)(t, dim, keepdim), (x,))


def test_sum_and_mean_methods_with_a_list_of_dims(check_finite_differences, gen):
    x = gen.standard_normal((2, 3, 4))
    check_finite_differences(lambda t: losskit.as_tensor(t).sum([0, 2]), (x,))
    check_finite_differences(lambda t: losskit.mean(t, [1], True), (x,))


def _distinct(gen, shape):
    """Values whose gaps are all at least 0.05: no ties for max, even after a step."""
    n = int(np.prod(shape))
    return (gen.permutation(n) * 0.05 + gen.uniform(0, 0.01, n)).reshape(shape)


def test_max_without_dim(check_finite_differences, gen):
    check_finite_differences(losskit.max, (_distinct(gen, (3, 4)),))


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_with_dim(check_finite_differences, gen, dim, keepdim):
    check_finite_differences(lambda t: losskit.max(t, dim, keepdim).values, (_distinct(gen, (3, 4)),))


@pytest.mark.parametrize("shape", [(12,), (3, 4), (2, 3, 2), (-1, 6), (1, 12, 1)], ids=str)
def test_reshape(check_finite_differences, gen, shape):
    x = gen.standard_normal((4, 3))
    check_finite_differences(lambda t: losskit.reshape(t, shape), (x,))


def test_reshape_and_view_methods(check_finite_differences, gen):
    x = gen.standard_normal((4, 3))
    check_finite_differences(lambda t: losskit.as_tensor(t).view(2, 6), (x,))


@pytest.mark.parametrize(("dim0", "dim1"), [(0, 1), (0, 2), (-1, 1)], ids=str)
def test_transpose(check_finite_differences, gen, dim0, dim1):
    check_finite_differences(lambda t: losskit.transpose(t, dim0, dim1), (gen.standard_normal((2, 3, 4)),))


def test_permute_through_T(check_finite_differences, gen):
    check_finite_differences(lambda t: losskit.as_tensor(t).T, (gen.standard_normal((2, 3, 4)),))


@pytest.mark.parametrize(
    "index",
    [
        1,
        -1,
        slice(1, 3),
        slice(None, None, -1),
        (slice(None), 2),
        (Ellipsis, 0),
        (1, slice(0, 3, 2)),
        np.array([0, 2, 2, 1]),  # a repeated index: its gradients accumulate
        (np.array([0, 0, 3]), np.array([1, 1, 2])),
        np.array([True, False, True, True]),
        (None, slice(1, 3)),
    ],
    ids=["int", "negative", "slice", "reversed", "column", "ellipsis", "step", "repeated", "pairs", "mask", "newaxis"],
)
def test_getitem(check_finite_differences, gen, index):
    x = gen.standard_normal((4, 3))

    def fn(t):
        return losskit.as_tensor(t)[index]

    check_finite_differences(fn, (x,))


def test_a_composite_expression(check_finite_differences, gen):
    # Shared subexpressions, broadcasting and reductions together.
    a, b = gen.uniform(0.5, 1.5, (3, 4)), gen.uniform(0.5, 1.5, (4,))

    def fn(p, q):
        u = p * q + losskit.exp(-p)
        return losskit.sum(losskit.log(u) * u, 1) / (q @ q)

    check_finite_differences(fn, (a, b), grad=(0, 1))


# --- losses -------------------------------------------------------------------------------------------

REDUCTIONS = ["none", "mean", "sum"]


def _pair(gen, shape, kinks):
    y = gen.standard_normal(shape)
    return y + _away(gen, shape, kinks=[k for kink in kinks for k in (kink, -kink)]), y


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("l1_loss", {}),
        ("mse_loss", {}),
        ("huber_loss", {"delta": 1.0}),
        ("huber_loss", {"delta": 0.3}),
        ("smooth_l1_loss", {"beta": 1.0}),
        ("smooth_l1_loss", {"beta": 0.3}),
        ("smooth_l1_loss", {"beta": 0.0}),
    ],
    ids=str,
)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_regression(check_finite_differences, gen, reduction, name, options, weighted):
    if weighted and name == "smooth_l1_loss":
        pytest.skip("smooth_l1_loss has no weight")
    k = options.get("delta", options.get("beta", 0.0))
    x, y = _pair(gen, (2, 4), [0.0, k])
    kwargs = {"reduction": reduction, **options}
    if weighted:
        kwargs["weight"] = gen.uniform(0.1, 2.0, (2, 4))
    fn = getattr(F, name)
    check_finite_differences(lambda a, b: fn(a, b, **kwargs), (x, y), grad=(0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("wshape", [None, (), (3,), (2, 1), (2, 3)], ids=str)
def test_binary_cross_entropy(check_finite_differences, gen, reduction, wshape):
    x, y = gen.uniform(0.05, 0.95, (2, 3)), gen.uniform(0.0, 1.0, (2, 3))
    kwargs = {"reduction": reduction}
    if wshape is not None:
        kwargs["weight"] = gen.uniform(0.1, 2.0, wshape)
    check_finite_differences(lambda a, b: F.binary_cross_entropy(a, b, **kwargs), (x, y), grad=(0, 1), eps=1e-7)


def test_binary_cross_entropy_where_one_log_is_clamped(check_finite_differences):
    # x tiny: log x is clamped at -100 (it is below -100 at x < 3.7e-44), so the loss is
    # -[y (-100) + (1 - y) log(1 - x)], whose derivative in x is (1 - y) / (1 - x).
    x = np.array([1e-50, 1e-60, 0.5])
    y = np.array([0.3, 0.999, 0.4])  # inside [0, 1] by more than the differences' step
    check_finite_differences(lambda a, b: F.binary_cross_entropy(a, b, reduction="sum"), (x, y), grad=(1,))
    loss = F.binary_cross_entropy(losskit.tensor(x, requires_grad=True), y, reduction="none")
    xt = losskit.tensor(x, requires_grad=True)
    F.binary_cross_entropy(xt, y, reduction="sum").backward()
    np.testing.assert_allclose(xt.grad.data[:2], (1 - y[:2]) / (1 - x[:2]), rtol=1e-15)
    assert loss.shape == (3,)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    ("wshape", "pshape"), [(None, None), ((2, 3), None), (None, (3,)), ((2, 1), (1, 3)), ((), (2, 3))], ids=str
)
def test_binary_cross_entropy_with_logits(check_finite_differences, gen, reduction, wshape, pshape):
    x, y = gen.uniform(-4.0, 4.0, (2, 3)), gen.uniform(0.0, 1.0, (2, 3))
    kwargs = {"reduction": reduction}
    if wshape is not None:
        kwargs["weight"] = gen.uniform(0.1, 2.0, wshape)
    if pshape is not None:
        kwargs["pos_weight"] = gen.uniform(0.1, 3.0, pshape)
    check_finite_differences(lambda a, b: F.binary_cross_entropy_with_logits(a, b, **kwargs), (x, y), grad=(0, 1))


def _targets(gen, shape, ignore):
    """Class indices; with ``ignore``, every third one ignored, never all (no 0/0 mean)."""
    axis = 1 if len(shape) >= 2 else 0
    c = shape[axis]
    tshape = tuple(s for i, s in enumerate(shape) if i != axis)
    t = gen.integers(0, c, tshape)
    if ignore is not None:
        t = np.where(t == ignore, (ignore + 1) % c, t)
        if t.ndim:
            t.reshape(-1)[::3] = ignore
    return t


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 4, 3)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"weight": True},
        {"ignore_index": 1},
        {"label_smoothing": 0.25},
        {"weight": True, "ignore_index": 2, "label_smoothing": 0.4},
    ],
    ids=["plain", "weight", "ignore", "smoothing", "all"],
)
def test_cross_entropy_class_indices(check_finite_differences, gen, shape, reduction, options):
    c = shape[1 if len(shape) >= 2 else 0]
    kwargs = {"reduction": reduction, **options}
    if options.get("weight"):
        kwargs["weight"] = gen.uniform(0.1, 2.0, (c,))
    x, t = gen.standard_normal(shape) * 2, _targets(gen, shape, options.get("ignore_index"))
    check_finite_differences(lambda a: F.cross_entropy(a, t, **kwargs), (x,))


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 4, 3)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [{}, {"weight": True}, {"label_smoothing": 0.3}, {"weight": True, "label_smoothing": 0.3}],
    ids=["plain", "weight", "smoothing", "both"],
)
def test_cross_entropy_probabilities(check_finite_differences, gen, shape, reduction, options):
    axis = 1 if len(shape) >= 2 else 0
    kwargs = {"reduction": reduction, **options}
    if options.get("weight"):
        kwargs["weight"] = gen.uniform(0.1, 2.0, (shape[axis],))
    x = gen.standard_normal(shape) * 2
    y = gen.uniform(0.0, 1.0, shape)
    y = y / y.sum(axis=axis, keepdims=True)
    check_finite_differences(lambda a, b: F.cross_entropy(a, b, **kwargs), (x, y), grad=(0, 1))


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 4, 3)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize(
    "options",
    [{}, {"weight": True}, {"ignore_index": 0}, {"weight": True, "ignore_index": 3}],
    ids=["plain", "weight", "ignore", "both"],
)
def test_nll_loss(check_finite_differences, gen, shape, reduction, options):
    c = shape[1 if len(shape) >= 2 else 0]
    kwargs = {"reduction": reduction, **options}
    if options.get("weight"):
        kwargs["weight"] = gen.uniform(0.1, 2.0, (c,))
    x, t = gen.standard_normal(shape), _targets(gen, shape, options.get("ignore_index"))
    check_finite_differences(lambda a: F.nll_loss(a, t, **kwargs), (x,))


# --- activations -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize(("shape", "dim"), [((), 0), ((5,), 0), ((2, 3), 0), ((2, 3), 1), ((2, 3, 4), -2)], ids=str)
def test_softmax_and_log_softmax(check_finite_differences, gen, name, shape, dim):
    fn = getattr(F, name)
    check_finite_differences(lambda a: fn(a, dim), (gen.standard_normal(shape) * 2,))


@pytest.mark.parametrize(
    ("shape", "dim"), [((), 0), ((5,), 0), ((2, 3), 1), ((2, 3, 4), (0, 2)), ((2, 3, 4), (2, 1, 0))], ids=str
)
@pytest.mark.parametrize("keepdim", [False, True])
def test_logsumexp(check_finite_differences, gen, shape, dim, keepdim):
    check_finite_differences(lambda a: F.logsumexp(a, dim, keepdim), (gen.standard_normal(shape) * 2,))


def test_logsumexp_with_a_tie(check_finite_differences):
    # Tied maxima: the gradient is softmax, smooth there (the max shift is not a kink).
    check_finite_differences(lambda a: F.logsumexp(a, 1), (np.array([[1.0, 1.0, 0.5], [-2.0, 3.0, 3.0]]),))


@pytest.mark.parametrize("name", ["sigmoid", "logsigmoid"])
def test_sigmoid_family(check_finite_differences, gen, name):
    x = np.concatenate([gen.uniform(-6.0, 6.0, 8), [-30.0, 30.0, 0.0]])
    check_finite_differences(getattr(F, name), (x,))


@pytest.mark.parametrize(("beta", "threshold"), [(1.0, 20.0), (2.0, 3.0), (0.5, 1.0), (-1.0, 2.0), (-2.0, 20.0)], ids=str)
def test_softplus(check_finite_differences, gen, beta, threshold):
    # Away from the switch to the identity at beta x = threshold.
    x = _away(gen, (10,), kinks=[threshold / beta], low=-5.0, high=5.0)
    check_finite_differences(lambda a: F.softplus(a, beta, threshold), (x,))
