"""Exact values where torch 2.13 overflows, underflows or cancels: the evidence for docs/deviations.md.

Each expected value is torch's own definition evaluated with mpmath at 50 digits on the same
(dtype-rounded) inputs, or derived by hand in a comment; never taken from losskit's output.
losskit must equal it to a tight relative tolerance (a few units in the last place of the dtype).
Where torch is installed, each test also asserts torch's inexact value, so that the difference
stays documented; that part is skipped without torch.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
import losskit.functional as F

mpmath = pytest.importorskip("mpmath")
mp = mpmath.mp
mp.dps = 80  # as every test starts with (tests/conftest.py)

RTOL = {np.dtype(np.float32): 4e-7, np.dtype(np.float64): 4e-16}
DTYPES = [np.float32, np.float64]


def _torch():
    """torch, or None: the torch half of each test is optional."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def _exact(expr, dtype):
    """The mpmath value rounded once to ``dtype``."""
    return np.asarray(float(expr), dtype=np.float64).astype(dtype)


def _assert_exact(value, exact, dtype):
    value = np.asarray(value)
    assert value.dtype == np.dtype(dtype)
    np.testing.assert_allclose(value, exact, rtol=RTOL[np.dtype(dtype)], atol=0)


def _rounded(x, dtype):
    """The mpmath number equal to ``x`` after rounding to ``dtype``."""
    return mp.mpf(float(np.asarray(x, dtype=dtype)))


def _softplus(x):
    return mp.log1p(mp.exp(x))


def _sigmoid(x):
    return 1 / (1 + mp.exp(-x))


def _grad(fn, x, *args, **kwargs):
    """``(value, d value / d x)`` of a losskit function with a 0-d result."""
    t = losskit.tensor(x, requires_grad=True)
    out = fn(t, *args, **kwargs)
    out.backward()
    return out.data, t.grad.data


def _torch_grad(torch, fn, x, *args, **kwargs):
    t = torch.tensor(x, requires_grad=True)
    out = fn(t, *[torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args], **kwargs)
    out.backward()
    return out.detach().numpy(), t.grad.numpy()


# --- binary_cross_entropy_with_logits ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_negative_class_far_below_zero(dtype):
    # y = 0, x = -40: the loss is softplus(-40) = log(1 + e^-40) = 4.248354255291589e-18.
    x, y = np.array([-40.0], dtype), np.array([0.0], dtype)
    exact = _exact(_softplus(mp.mpf(-40)), dtype)
    assert float(exact) == pytest.approx(4.248354255291589e-18, rel=1e-15)
    value = F.binary_cross_entropy_with_logits(x, y, reduction="sum")
    _assert_exact(value, exact, dtype)
    torch = _torch()
    if torch is not None:
        # torch's fused max(x, 0) - x y + log(1 + e^-|x|) rounds 1 + e^-40 to 1: value 0.
        t = torch.nn.functional.binary_cross_entropy_with_logits(torch.from_numpy(x), torch.from_numpy(y), reduction="sum")
        assert t.item() == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_gradient_of_the_positive_class_far_above_zero(dtype):
    # y = 1, x = 40: dl/dx = sigmoid(x) - 1 = -sigmoid(-40) = -e^-40 / (1 + e^-40).
    x, y = np.array([40.0], dtype), np.array([1.0], dtype)
    exact = _exact(-_sigmoid(mp.mpf(-40)), dtype)
    assert float(exact) == pytest.approx(-4.248354255291589e-18, rel=1e-15)
    value, grad = _grad(F.binary_cross_entropy_with_logits, x, y, reduction="sum")
    _assert_exact(grad, [exact], dtype)
    _assert_exact(value, _exact(_softplus(mp.mpf(-40)), dtype), dtype)  # the value softplus(-40) too
    torch = _torch()
    if torch is not None:
        _, t_grad = _torch_grad(torch, torch.nn.functional.binary_cross_entropy_with_logits, x, y, reduction="sum")
        assert t_grad[0] == 0.0  # torch: sigmoid(40) - 1 = 1 - 1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x", [-60.0, -100.0, 30.0, 80.0])
def test_bce_with_logits_hard_labels_far_out(dtype, x):
    # With y the "right" label, l = softplus(-|x|) = log1p(e^-|x|), tiny and positive.
    y = 1.0 if x > 0 else 0.0
    exact = _exact(_softplus(-abs(mp.mpf(x))), dtype)
    value = F.binary_cross_entropy_with_logits(np.array([x], dtype), np.array([y], dtype), reduction="sum")
    _assert_exact(value, exact, dtype)


# --- log_softmax and logsumexp ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_of_the_dominant_entry(dtype):
    # log_softmax([0, -40])_0 = -log(1 + e^-40) = -4.248354255291589e-18.
    x = np.array([0.0, -40.0], dtype)
    exact = [_exact(-_softplus(mp.mpf(-40)), dtype), _exact(-40 - _softplus(mp.mpf(-40)), dtype)]
    value = F.log_softmax(x, 0)
    _assert_exact(value, exact, dtype)
    assert value[0] < 0  # not 0: the top class is not certain
    torch = _torch()
    if torch is not None:
        assert torch.log_softmax(torch.from_numpy(x), 0)[0].item() == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_of_one_plus_tiny(dtype):
    # logsumexp([0, -40]) = log(1 + e^-40) = 4.248354255291589e-18; torch rounds the sum to 1.
    x = np.array([0.0, -40.0], dtype)
    _assert_exact(F.logsumexp(x, 0), _exact(_softplus(mp.mpf(-40)), dtype), dtype)
    torch = _torch()
    if torch is not None:
        assert torch.logsumexp(torch.from_numpy(x), 0).item() == 0.0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("row", [[0.0, 0.0], [5.0, 5.0, 5.0], [-3.0, 2.0, 2.0, -40.0], [7.5, 7.5, -1.0, 7.5]], ids=str)
def test_logsumexp_with_ties(dtype, row):
    # Several maxima: each contributes exactly 1 to the shifted sum, so log(k + rest) is exact.
    exact = _exact(mp.log(mp.fsum(mp.exp(_rounded(v, dtype)) for v in row)), dtype)
    value = F.logsumexp(np.array(row, dtype), 0)
    _assert_exact(value, exact, dtype)


@pytest.mark.parametrize(
    ("dtype", "big"),
    [(np.float32, 1e38), (np.float32, 3.0e38), (np.float64, 1e308), (np.float64, 1.7e308)],
    ids=str,
)
@pytest.mark.parametrize("count", [1, 2, 3])
def test_logsumexp_of_huge_values_does_not_overflow(dtype, big, count):
    # log(k e^b) = b + log k: exp(b) alone overflows; the max shift must keep it out. In the
    # dtype b + log 3 rounds to b, so the exact answer is b itself.
    x = np.full(count, big, dtype)
    b = _rounded(big, dtype)
    exact = _exact(b + mp.log(count), dtype)
    assert exact == np.asarray(big, dtype)
    value = F.logsumexp(x, 0)
    _assert_exact(value, exact, dtype)
    assert np.isfinite(F.softmax(x, 0)).all() and np.isfinite(F.log_softmax(x, 0)).all()
    torch = _torch()
    if torch is not None:
        # torch shifts by the max as well: no overflow there either (not a deviation).
        assert torch.logsumexp(torch.from_numpy(x), 0).item() == float(exact)


def test_logsumexp_keeps_minus_infinity_out_of_the_result():
    # log(e^0 + e^-inf) = 0 exactly; log of nothing but -inf is -inf.
    x = np.array([[0.0, -np.inf], [-np.inf, -np.inf]])
    np.testing.assert_array_equal(F.logsumexp(x, 1), [0.0, -np.inf])


# --- binary_cross_entropy gradients ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_gradient_at_a_tiny_probability(dtype):
    # y = 0: l = -log(1 - x), dl/dx = 1 / (1 - x) = 1 (to the dtype) at x = 1e-20.
    x = np.array([1e-20], dtype)
    xr = _rounded(1e-20, dtype)
    value, grad = _grad(F.binary_cross_entropy, x, np.array([0.0], dtype), reduction="sum")
    _assert_exact(grad, [_exact(1 / (1 - xr), dtype)], dtype)
    _assert_exact(value, _exact(-mp.log1p(-xr), dtype), dtype)
    torch = _torch()
    if torch is not None:
        # torch divides by max(x (1 - x), 1e-12): 1e-20 / 1e-12 = 1e-8.
        _, t_grad = _torch_grad(torch, torch.nn.functional.binary_cross_entropy, x, np.array([0.0], dtype), reduction="sum")
        assert t_grad[0] == pytest.approx(1e-8, rel=1e-6)


# (x, y, gradient of torch's clamped definition l = -[y max(log x, -100) + (1-y) max(log(1-x), -100)],
#  torch's gradient (x - y) / max(x (1 - x), 1e-12))
ENDS = [
    # x = 0: log x is clamped (flat), only (1-y) log(1-x) moves: dl/dx = (1 - y) / (1 - x).
    (0.0, 0.0, 1.0, 0.0),
    (0.0, 1.0, 0.0, -1e12),
    (0.0, 0.5, 0.5, -5e11),
    # x = 1: log(1 - x) is clamped, only y log x moves: dl/dx = -y / x.
    (1.0, 1.0, -1.0, 0.0),
    (1.0, 0.0, 0.0, 1e12),
    (1.0, 0.5, -0.5, 5e11),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("x", "y", "exact", "torch_grad"), ENDS, ids=str)
def test_bce_gradient_at_the_ends_of_the_interval(dtype, x, y, exact, torch_grad):
    xs, ys = np.array([x], dtype), np.array([y], dtype)
    _, grad = _grad(F.binary_cross_entropy, xs, ys, reduction="sum")
    _assert_exact(grad, [exact], dtype)
    torch = _torch()
    if torch is not None:
        _, t_grad = _torch_grad(torch, torch.nn.functional.binary_cross_entropy, xs, ys, reduction="sum")
        assert t_grad[0] == pytest.approx(torch_grad, rel=1e-6, abs=0)


# --- cross_entropy with probability targets --------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_zero_probability_class_with_minus_infinite_logit(dtype):
    # x = [0, -inf], y = [1, 0]: l = -(1 log 1 + 0 log 0) = 0, with 0 log 0 = 0.
    x, y = np.array([[0.0, -np.inf]], dtype), np.array([[1.0, 0.0]], dtype)
    value, grad = _grad(F.cross_entropy, x, y)
    _assert_exact(value, 0.0, dtype)
    # dl/dx = softmax(x) - y = [1, 0] - [1, 0] = 0.
    np.testing.assert_array_equal(grad, np.zeros((1, 2), dtype))
    torch = _torch()
    if torch is not None:
        t = torch.nn.functional.cross_entropy(torch.from_numpy(x), torch.from_numpy(y))
        assert np.isnan(t.item())  # torch: 0 * (-inf)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_zero_weight_target_with_minus_infinite_log_probability(dtype):
    # nll_loss / cross_entropy with class weight 0 on a target whose log-probability is -inf:
    # l = -w_t log p_t = -0 (-inf) = 0 under 0 log 0 = 0; torch gives nan.
    x = np.array([[-np.inf, 0.0, 1.0]], dtype)
    w = np.array([0.0, 1.0, 1.0], dtype)
    np.testing.assert_array_equal(F.nll_loss(x, np.array([0]), weight=w, reduction="none"), [0.0])
    np.testing.assert_array_equal(F.cross_entropy(x, np.array([0]), weight=w, reduction="none"), [0.0])
    torch = _torch()
    if torch is not None:
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)
        assert np.isnan(torch.nn.functional.nll_loss(tx, torch.tensor([0]), weight=tw, reduction="none").item())


# --- softplus, logsigmoid, sigmoid far out ----------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x", [-100.0, -80.0, -30.0, -5.0, 5.0, 15.0, 19.5])
def test_softplus_far_out_below_the_threshold(dtype, x):
    # log(1 + e^x) computed as max(x, 0) + log1p(e^-|x|): no overflow, no cancellation.
    exact = _exact(_softplus(mp.mpf(x)), dtype)
    _assert_exact(F.softplus(np.array([x], dtype)), [exact], dtype)


@pytest.mark.parametrize("dtype", [np.float64])
def test_softplus_below_the_float64_underflow(dtype):
    # e^-700 = 9.86e-305 is a normal float64, log1p of it is itself.
    exact = _exact(_softplus(mp.mpf(-700)), dtype)
    assert exact > 0
    _assert_exact(F.softplus(np.array([-700.0])), [exact], dtype)


@pytest.mark.parametrize(("x", "beta"), [(100.0, 1.0), (50.0, 2.0), (40.0, -1.5)], ids=str)
def test_softplus_above_the_float32_overflow_with_a_large_threshold(x, beta):
    # threshold=1000 keeps torch's definition on the log branch: log(1 + e^(beta x)) / beta with
    # beta x = 100 or -60. For beta x = 100, e^100 overflows float32: torch gives inf and a nan
    # gradient; exactly it is (100 + log1p(e^-100)) / beta, which is x in float32, with
    # gradient sigmoid(beta x) = 1 - 3.7e-44, which is 1 in float32.
    dtype = np.float32
    xs = np.array([x], dtype)
    z = beta * _rounded(x, dtype)
    value, grad = _grad(F.softplus, xs, beta, 1000.0)
    _assert_exact(value, [_exact(_softplus(z) / beta, dtype)], dtype)
    _assert_exact(grad, [_exact(_sigmoid(z), dtype)], dtype)
    torch = _torch()
    if torch is not None and beta * x > 88.8:
        t_value, t_grad = _torch_grad(torch, torch.nn.functional.softplus, xs, beta, 1000.0)
        assert np.isinf(t_value[0]) and np.isnan(t_grad[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x", [-100.0, -40.0, 40.0, 100.0])
def test_logsigmoid_far_out(dtype, x):
    # log sigmoid(x) = -softplus(-x): -e^-100 = -3.7200759760208356e-44 at x = 100, subnormal
    # in float32 where losskit rounds it correctly (torch 2.13 CPU gives -3.9236e-44 there).
    exact = _exact(-_softplus(-mp.mpf(x)), dtype)
    value, grad = _grad(F.logsigmoid, np.array([x], dtype))
    _assert_exact(value, [exact], dtype)
    _assert_exact(grad, [_exact(_sigmoid(-mp.mpf(x)), dtype)], dtype)
    torch = _torch()
    if torch is not None and dtype is np.float32 and x == 100.0:
        t = torch.nn.functional.logsigmoid(torch.tensor([x], dtype=torch.float32)).item()
        assert t == pytest.approx(-3.9236e-44, rel=1e-3)
        assert t != float(exact)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x", [-100.0, -40.0, -1.0, 0.0, 40.0])
def test_sigmoid_far_out(dtype, x):
    exact = _exact(_sigmoid(mp.mpf(x)), dtype)
    value, grad = _grad(F.sigmoid, np.array([x], dtype))
    _assert_exact(value, [exact], dtype)
    s = _sigmoid(mp.mpf(x))
    _assert_exact(grad, [_exact(s * (1 - s), dtype)], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_and_cross_entropy_of_a_dominant_logit_far_from_zero(dtype):
    # logits [50, 0]: log_softmax_0 = -log(1 + e^-50) = -1.9287498479639178e-22, which
    # x - logsumexp(x) loses (50 + 1.9e-22 rounds to 50). The cross entropy of class 0 is its
    # negative, and its gradient p - onehot = [-(1 - p_0), p_1] = [-e^-50/(1+e^-50), e^-50/(1+e^-50)].
    x = np.array([[50.0, 0.0]], dtype)
    tiny = _softplus(mp.mpf(-50))
    _assert_exact(F.log_softmax(x, 1)[0, 0], _exact(-tiny, dtype), dtype)
    value, grad = _grad(F.cross_entropy, x, np.array([0]))
    _assert_exact(value, _exact(tiny, dtype), dtype)
    q = _sigmoid(mp.mpf(-50))
    _assert_exact(grad, np.array([[_exact(-q, dtype), _exact(q, dtype)]]), dtype)
    torch = _torch()
    if torch is not None:
        t_value, t_grad = _torch_grad(torch, torch.nn.functional.cross_entropy, x, np.array([0]))
        assert t_value == 0.0 and t_grad[0, 0] == 0.0  # torch loses both
