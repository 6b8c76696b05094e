"""Row blocks (losskit._blocks): the blocked, threaded NumPy path equals the whole-array path.

Each row's arithmetic is the same call on the same contiguous data either way, so the results
must be bitwise equal, not merely close. Blocks are made tiny here so that small inputs take
the blocked path (the default block is about 2^18 elements).
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
import losskit.functional as F
from losskit import _blocks


@pytest.fixture(params=[1, 2, 3], ids=lambda n: f"threads{n}")
def tiny_blocks(request, monkeypatch):
    monkeypatch.setattr(_blocks, "BLOCK_ELEMENTS", 40)
    before = _blocks.get_num_threads()
    _blocks.set_num_threads(request.param)
    yield
    _blocks.set_num_threads(before)


def _whole(monkeypatch):
    monkeypatch.setattr(_blocks, "BLOCK_ELEMENTS", 1 << 40)


def test_map_rows_equals_one_call(tiny_blocks):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 9))
    shift = rng.standard_normal(9)

    def fn(rows, shift):
        return np.exp(rows - shift), rows.sum(axis=1, keepdims=True), rows[:, 0].astype(np.int64)

    got = _blocks.map_rows(np, fn, (x,), (shift,))
    for g, w in zip(got, fn(x, shift)):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)


def _value_and_grad(fn, x, *args, **kwargs):
    X = losskit.Tensor(x.copy(), requires_grad=True)
    out = fn(X, *args, **kwargs)
    out.backward(np.ones(out.shape, dtype=x.dtype))
    return np.asarray(out.data), np.asarray(X.grad.data)


CASES = {
    "cross_entropy": lambda x, t: (F.cross_entropy, (t,), {}),
    "cross_entropy_none_weight_ignore": lambda x, t: (
        F.cross_entropy, (np.where(t % 4 == 0, -100, t),),
        {"reduction": "none", "weight": np.linspace(0.5, 2.0, x.shape[1]).astype(x.dtype)},
    ),
    "cross_entropy_smoothing": lambda x, t: (F.cross_entropy, (t,), {"label_smoothing": 0.2}),
    "focal_loss": lambda x, t: (F.focal_loss, (t,), {"reduction": "sum"}),
    "log_softmax": lambda x, t: (F.log_softmax, (), {"dim": 1}),
    "softmax": lambda x, t: (F.softmax, (), {"dim": 1}),
    "logsumexp": lambda x, t: (F.logsumexp, (1,), {}),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_losses_on_row_blocks_equal_the_whole_array(name, dtype, tiny_blocks, monkeypatch):
    rng = np.random.default_rng(1)
    x = (4 * rng.standard_normal((53, 7))).astype(dtype)
    x[3] = [50.0, 0.0, 0.0, -1.0, 2.0, 3.0, 1.0]  # 1 + tiny in the sum
    x[8] = 5.0  # all tied
    x[11, 2] = np.inf  # a non-finite row (nan/inf answers, and no warning from a worker thread)
    t = rng.integers(0, 7, 53)
    fn, args, kwargs = CASES[name](x, t)
    blocked = _value_and_grad(fn, x, *args, **kwargs)
    _whole(monkeypatch)
    whole = _value_and_grad(fn, x, *args, **kwargs)
    for b, w in zip(blocked, whole):
        np.testing.assert_array_equal(b, w)


def test_k_dimensional_cross_entropy_on_row_blocks(tiny_blocks, monkeypatch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((29, 5, 3)).astype(np.float32)
    t = rng.integers(0, 5, (29, 3))
    blocked = _value_and_grad(F.cross_entropy, x, t, reduction="none")
    _whole(monkeypatch)
    whole = _value_and_grad(F.cross_entropy, x, t, reduction="none")
    for b, w in zip(blocked, whole):
        np.testing.assert_array_equal(b, w)


def test_set_num_threads_checks_its_argument():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive int"):
            _blocks.set_num_threads(bad)


def test_thread_count_is_public_like_torchs():
    before = losskit.get_num_threads()
    try:
        losskit.set_num_threads(1)
        assert losskit.get_num_threads() == 1
    finally:
        losskit.set_num_threads(before)


def _values_and_grads(fn, arrays, kwargs):
    """The value and the gradients of the array arguments that have one (a backward of ones)."""
    tensors = [losskit.Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*tensors, **kwargs)
    out.backward(np.ones(out.shape, dtype=out.dtype))
    return [np.asarray(out.data)] + [np.asarray(t.grad.data) for t in tensors if t.grad is not None]


def _elementwise_cases(rng, dtype):
    x = (3 * rng.standard_normal((41, 6))).astype(dtype)
    x[2, 1] = 40.0  # saturated sigmoid: exp underflows on one side
    y = rng.standard_normal((41, 6)).astype(dtype)
    p = (1 / (1 + np.exp(-x))).astype(dtype)
    b = (rng.random((41, 6)) < 0.5).astype(dtype)
    full_w = rng.random((41, 6)).astype(dtype) + 0.5
    class_w = rng.random(6).astype(dtype) + 0.5
    row_w = rng.random((41, 1)).astype(dtype) + 0.5
    for reduction in ("none", "mean", "sum"):
        yield f"mse-{reduction}", F.mse_loss, (x, y), {"reduction": reduction}
        yield f"l1-{reduction}", F.l1_loss, (x, y), {"reduction": reduction}
        yield f"huber-{reduction}", F.huber_loss, (x, y), {"reduction": reduction, "delta": 0.7}
        yield f"smooth_l1-{reduction}", F.smooth_l1_loss, (x, y), {"reduction": reduction, "beta": 0.5}
        yield f"bce-{reduction}", F.binary_cross_entropy, (p, b), {"reduction": reduction}
        yield f"bce_logits-{reduction}", F.binary_cross_entropy_with_logits, (x, b), {"reduction": reduction}
    yield "bce-full-weight", F.binary_cross_entropy, (p, b), {"weight": full_w}
    yield "bce-row-weight", F.binary_cross_entropy, (p, b), {"weight": row_w}
    yield "bce-clamped", F.binary_cross_entropy, (np.where(b > 0, p, 0.0).astype(dtype), b), {}
    yield "bce_logits-weights", F.binary_cross_entropy_with_logits, (x, b), {"weight": class_w, "pos_weight": class_w[::-1].copy()}
    yield "bce_logits-row-weight", F.binary_cross_entropy_with_logits, (x, b), {"weight": row_w, "reduction": "sum"}


def _margin_cases(rng, dtype):
    x = (3 * rng.standard_normal((41, 6))).astype(dtype)
    s = np.where(rng.random((41, 6)) < 0.5, -1.0, 1.0).astype(dtype)
    b = (rng.random((41, 6)) < 0.5).astype(dtype)
    for reduction in ("none", "mean", "sum"):
        yield f"soft_margin-{reduction}", F.soft_margin_loss, (x, s), {"reduction": reduction}
        yield f"multilabel_soft-{reduction}", F.multilabel_soft_margin_loss, (x, b), {"reduction": reduction}
    yield "multilabel_soft-weight", F.multilabel_soft_margin_loss, (x, b), {"weight": rng.random(6).astype(dtype)}
    x1, x2, y = x.reshape(-1), rng.standard_normal(x.size).astype(dtype), s.reshape(-1)
    x2[:20] = x1[:20] - 0.5  # on the margin's kink
    for reduction in ("none", "mean", "sum"):
        yield f"margin_ranking-{reduction}", F.margin_ranking_loss, (x1, x2, y), {"reduction": reduction, "margin": 0.5}


@pytest.mark.parametrize("cases", [_elementwise_cases, _margin_cases], ids=["elementwise", "margin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_losses_on_row_blocks_equal_the_whole_array_every_option(cases, dtype, tiny_blocks, monkeypatch):
    cases = list(cases(np.random.default_rng(3), dtype))
    blocked = {name: _values_and_grads(fn, arrays, kw) for name, fn, arrays, kw in cases}
    _whole(monkeypatch)
    for name, fn, arrays, kw in cases:
        # ('mean' and 'sum' too: the elements are assembled first and reduced as a whole)
        for b, w in zip(blocked[name], _values_and_grads(fn, arrays, kw)):
            np.testing.assert_array_equal(b, w, err_msg=name)
