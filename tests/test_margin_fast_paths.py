"""The row-blocked multi-class and multi-label margins against torch, fast and fallback paths.

``multi_margin`` multiplies the hinge by a 0/1 mask and falls back to a select in a block whose
sums are not finite (nan or inf inputs); ``multilabel_margin`` uses ``max(m, 0)`` only for finite
inputs and counts repeated targets with one sort and one search. Small blocks force several of
them per call, so a fallback in one block must leave the others on the fast path.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
import losskit.functional as F
from losskit import _blocks
from losskit.losses import margin

torch = pytest.importorskip("torch")


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(margin, "_BLOCK", 64)  # multilabel_margin's own blocks
    monkeypatch.setattr(_blocks, "BLOCK_ELEMENTS", 64)  # multi_margin's (on the thread pool)


def _both(name, x, t, weight=None, **options):
    """losskit's and torch's unreduced loss and input gradient (of the plain sum)."""
    xt = losskit.Tensor(x, requires_grad=True)
    if weight is not None:
        options_ours = dict(options, weight=weight)
        options["weight"] = torch.from_numpy(weight)
    else:
        options_ours = options
    loss = getattr(F, name)(xt, t, reduction="none", **options_ours)
    loss.backward(np.ones(loss.shape, dtype=x.dtype))
    tx = torch.from_numpy(x).requires_grad_()
    ref = getattr(torch.nn.functional, name)(tx, torch.from_numpy(t), reduction="none", **options)
    ref.sum().backward()
    return (np.asarray(loss.data), np.asarray(xt.grad)), (ref.detach().numpy(), tx.grad.numpy())


def _assert_matches(ours, ref):
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_blocks_with_non_finite_rows(small_blocks, p):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 7)).astype(np.float32)
    t = rng.integers(0, 7, 40)
    x[3, (t[3] + 1) % 7] = np.nan  # torch skips a nan margin: the row stays finite
    x[12, t[12]] = np.nan  # every margin of the row nan: loss 0
    x[20, (t[20] + 2) % 7] = np.inf  # an infinite margin: loss inf
    x[31, t[31]] = -np.inf
    w = rng.uniform(0.5, 2.0, 7).astype(np.float32)
    ours, ref = _both("multi_margin_loss", x, t, weight=w, p=p)
    _assert_matches(ours, ref)


def test_multi_margin_blocks_finite(small_blocks):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((33, 5)).astype(np.float32)
    t = rng.integers(0, 5, 33)
    ours, ref = _both("multi_margin_loss", x, t, margin=0.7)
    _assert_matches(ours, ref)


def test_multilabel_margin_blocks_repeats_and_non_finite(small_blocks):
    rng = np.random.default_rng(2)
    n, c = 30, 6
    x = rng.standard_normal((n, c)).astype(np.float32)
    t = np.full((n, c), -1, np.int64)
    for i in range(n):  # repeated labels count twice in torch; entries after the first -1 ignored
        labels = rng.integers(0, c, rng.integers(1, c))
        t[i, : labels.size] = labels
    t[4, 3:] = 2  # after the first -1 at position 2 (or later): ignored
    t[4, 2] = -1
    x[7, 1] = np.nan
    x[15, 0] = np.inf
    x[22, 5] = -np.inf
    ours, ref = _both("multilabel_margin_loss", x, t)
    _assert_matches(ours, ref)
