"""``losskit.mean_parts``: shards' (weighted sum, weight total) pairs give the whole batch's mean.

The oracle is the loss's own 'mean' over the whole batch (itself checked against torch in
tests/test_backends.py); the shards deliberately hold different weight totals (ignored targets
in one shard only), where a mean of shard means is wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

import losskit
import losskit.functional as F
from losskit import catalog

N, C = 6, 5
CUT = 2  # shards [0, 2) and [2, 6): unequal sizes


def _mean_examples():
    params = []
    for entry in catalog.losses():
        rng = np.random.default_rng(sum(map(ord, entry.name)))
        for ex in entry.examples(rng, np.dtype(np.float64), N, C):
            reduction = "batchmean" if ex.kwargs.get("reduction") == "batchmean" else "mean"
            if ex.kwargs.get("reduction", "mean") in ("mean", "batchmean"):
                params.append(pytest.param(entry, ex, reduction, id=f"{entry.name}-{ex.label}"))
    return params


def _batch_axis(entry, a):
    return 1 if entry.name == "ctc_loss" and a.ndim == 3 else 0


def _shard(entry, ex, lo, hi):
    """The example restricted to samples [lo, hi): every array with N along its batch axis."""

    def cut(a):
        if not isinstance(a, np.ndarray) or a.ndim == 0:
            return a
        axis = _batch_axis(entry, a)
        return a[(slice(None),) * axis + (slice(lo, hi),)] if a.shape[axis] == N else a

    kwargs = {k: cut(v) for k, v in ex.kwargs.items() if k != "reduction"}
    return [cut(a) for a in ex.args], kwargs


@pytest.mark.parametrize(("entry", "ex", "reduction"), _mean_examples())
def test_shards_combine_to_the_whole_batch_mean(entry, ex, reduction):
    fn = entry.function(F)
    if entry.log_softmax_dim is not None:  # mean_parts takes the functional itself
        fn = F.ctc_loss
        ex = catalog.Example(ex.label, (F.log_softmax(ex.args[0], 2), *ex.args[1:]), ex.kwargs, ex.grad)
    kwargs = {k: v for k, v in ex.kwargs.items() if k != "reduction"}
    whole = fn(*ex.args, reduction=reduction, **kwargs)
    parts = [losskit.mean_parts(fn, *a, reduction=reduction, **k) for a, k in (_shard(entry, ex, 0, CUT), _shard(entry, ex, CUT, N))]
    total_sum = sum(p[0] for p in parts)
    total_weight = sum(p[1] for p in parts)
    assert total_weight.dtype == np.float64 and total_weight.shape == ()
    np.testing.assert_allclose(total_sum / total_weight, whole, rtol=1e-13)

    # and one shard alone is that shard's mean (0/0 = nan where it ignores every target)
    args, kwargs = _shard(entry, ex, 0, CUT)
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(parts[0][0] / parts[0][1], fn(*args, reduction=reduction, **kwargs), rtol=1e-13)


def test_ignored_targets_in_one_shard_only():
    # By hand: shard 1 keeps one target of three (weight 2), shard 2 all three (weights 1, 1, 3).
    # The global mean divides by 2 + 5 = 7; the mean of the two shard means would weight
    # shard 1's single sample like shard 2's three.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 3))
    t = np.array([0, -1, -1, 1, 1, 2])
    w = np.array([2.0, 1.0, 3.0])
    s1, n1 = losskit.mean_parts(F.cross_entropy, x[:3], t[:3], weight=w, ignore_index=-1)
    s2, n2 = losskit.mean_parts(F.cross_entropy, x[3:], t[3:], weight=w, ignore_index=-1)
    assert (float(n1), float(n2)) == (2.0, 5.0)
    whole = F.cross_entropy(x, t, weight=w, ignore_index=-1)
    np.testing.assert_allclose((s1 + s2) / (n1 + n2), whole, rtol=1e-14)
    mean_of_means = (s1 / n1 + s2 / n2) / 2
    assert abs(mean_of_means - whole) > 1e-3


def test_gradients_of_the_combined_mean_equal_the_whole_batch_gradient():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 4))
    t = np.array([0, 3, -100, 2, -100, -100, 1, 1])
    w = np.array([0.5, 1.0, 2.0, 1.5])
    whole = losskit.tensor(x, requires_grad=True)
    F.cross_entropy(whole, t, weight=w, label_smoothing=0.1).backward()
    shards = [losskit.tensor(x[:3], requires_grad=True), losskit.tensor(x[3:], requires_grad=True)]
    parts = [losskit.mean_parts(F.cross_entropy, s, t[i : i + s.shape[0]], weight=w, label_smoothing=0.1) for s, i in zip(shards, (0, 3))]
    ((parts[0][0] + parts[1][0]) / (parts[0][1] + parts[1][1])).backward()
    np.testing.assert_allclose(np.concatenate([s.grad.data for s in shards]), whole.grad.data, rtol=1e-13, atol=1e-16)


def test_torch_tensors_give_torch_parts_with_torch_gradients():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    t = torch.tensor([1, 3, -100, 0, 2, -100])
    w = torch.tensor([1.0, 2.0, 0.5, 1.0], dtype=torch.float64)
    s1, n1 = losskit.mean_parts(F.cross_entropy, x[:2], t[:2], weight=w)
    s2, n2 = losskit.mean_parts(F.cross_entropy, x[2:], t[2:], weight=w)
    assert isinstance(s1, torch.Tensor) and isinstance(n1, torch.Tensor) and not n1.requires_grad
    mean = (s1 + s2) / (n1 + n2)
    (grad,) = torch.autograd.grad(mean, x)
    expected = torch.nn.functional.cross_entropy(x, t, weight=w)
    (expected_grad,) = torch.autograd.grad(expected, x)
    torch.testing.assert_close(mean, expected, rtol=1e-14, atol=0)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-13, atol=1e-16)


def test_jax_parts_under_jit():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    x = np.random.default_rng(3).standard_normal((5, 3))
    t = np.array([2, -100, 0, 1, -100])

    @jax.jit
    def parts(x, t):
        return losskit.mean_parts(F.cross_entropy, x, t)

    s, n = parts(jnp.asarray(x), jnp.asarray(t))
    assert float(n) == 3.0
    np.testing.assert_allclose(s / n, F.cross_entropy(x, t), rtol=1e-14)


def test_bad_calls_are_clear_errors():
    x, t = np.zeros((2, 3)), np.array([0, 1])
    with pytest.raises(TypeError, match="loss must be a loss function of losskit.functional"):
        losskit.mean_parts(F.softmax, x, 1)
    with pytest.raises(TypeError, match="loss must be a loss function"):
        losskit.mean_parts(lambda a, b: a, x, t)
    with pytest.raises(ValueError, match="reduction must be one of \\('mean',\\)"):
        losskit.mean_parts(F.cross_entropy, x, t, reduction="sum")
    with pytest.raises(ValueError, match="size_average cannot be combined"):
        losskit.mean_parts(F.cross_entropy, x, t, size_average=True)
    p = np.full((2, 3), 1 / 3)
    s, n = losskit.mean_parts(F.kl_div, np.log(p), p, reduction="batchmean")
    assert float(n) == 2.0 and float(s) == 0.0
