"""linear_cross_entropy: values and gradients against torch 2.13, chunking, memory, errors.

The differential tests compare with ``torch.nn.functional.linear_cross_entropy`` (its reference
path, ``options=None``, unless a test says otherwise) in float32 and float64, for every option:
reductions, bias or not, class weights, label smoothing, ignore_index, class-index and
probability targets, K-dimensional logits, unbatched input, and chunk sizes around the batch
size (N not a multiple of the chunk, N smaller than a chunk, N = 0). Finite differences, the
array_api_strict run, the memory bound, the exact values and the argument errors do not need
torch.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import losskit
import losskit.functional as F
import losskit.nn as lnn
from losskit._functional.linear_cross_entropy import _chunk_rows
from losskit.losses import linear_cross_entropy as lce_ops

REDUCTIONS = ["mean", "sum", "none"]
Options = lnn.LinearCrossEntropyOptions


def _normal(rng, shape, dtype, scale=1.0):
    return np.asarray(scale * rng.standard_normal(shape), dtype=dtype)


def _problem(rng, dtype, n=7, h=4, c=5, out=(), *, bias=True, probabilities=False, ignored=(3,)):
    """``(x, W, target, b)`` for ``n`` rows; the rows in ``ignored`` get the target -100."""
    x = _normal(rng, (n, h), dtype)
    w = _normal(rng, (c, *out, h), dtype, 0.7)
    b = _normal(rng, (c, *out), dtype, 0.5) if bias else None
    if probabilities:
        logits = rng.standard_normal((n, c, *out))
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        t = np.asarray(e / e.sum(axis=1, keepdims=True), dtype=dtype)
    else:
        t = rng.integers(0, c, (n, *out))
        for i in ignored:
            if i < n:
                t[i] = -100
    return x, w, t, b


def _lk(**fixed):
    """losskit's function with (x, W, target, bias) positional; ``fixed`` and call kwargs merged."""

    def fn(x, w, t, b=None, **kwargs):
        return F.linear_cross_entropy(x, w, t, linear_bias=b, **fixed, **kwargs)

    return fn


def _torch(**fixed):
    torch = pytest.importorskip("torch")

    def fn(x, w, t, b=None, **kwargs):
        return torch.nn.functional.linear_cross_entropy(x, w, t, linear_bias=b, **fixed, **kwargs)

    return fn


def _grads(bias, *extra):
    return (0, 1, *extra, *((3,) if bias else ()))


# --- against torch --------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.15])
@pytest.mark.parametrize("chunk", [None, 3], ids=["default-chunks", "chunk3"])
def test_class_indices_match_torch(
    check_against_torch, rng, dtype, reduction, bias, weighted, label_smoothing, chunk
):
    x, w, t, b = _problem(rng, dtype, bias=bias)
    weight = np.asarray(rng.uniform(0.5, 2.0, 5), dtype=dtype) if weighted else None
    kw = dict(reduction=reduction, weight=weight, label_smoothing=label_smoothing)
    options = None if chunk is None else Options(batch_chunk_size=chunk)
    check_against_torch(
        _lk(options=options), _torch(), (x, w, t, b), kw, grad=_grads(bias)
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("n", [0, 1, 7])
@pytest.mark.parametrize("chunk", [1, 3, 7, 16])
def test_chunk_boundaries_match_torch(check_against_torch, rng, dtype, reduction, n, chunk):
    """N a multiple of the chunk or not, N smaller than a chunk, N = 0 (mean nan, zero grads)."""
    x, w, t, b = _problem(rng, dtype, n=n)
    check_against_torch(
        _lk(reduction=reduction, options=Options(batch_chunk_size=chunk)),
        _torch(reduction=reduction),
        (x, w, t, b),
        grad=(0, 1, 3),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
def test_probability_targets_match_torch(check_against_torch, rng, dtype, reduction, weighted, label_smoothing):
    """Gradients also with respect to the target probabilities (recomputed chunk by chunk)."""
    x, w, t, b = _problem(rng, dtype, n=6, probabilities=True)
    weight = np.asarray(rng.uniform(0.5, 2.0, 5), dtype=dtype) if weighted else None
    kw = dict(reduction=reduction, weight=weight, label_smoothing=label_smoothing)
    check_against_torch(
        _lk(options=Options(batch_chunk_size=4)), _torch(), (x, w, t, b), kw, grad=(0, 1, 2, 3)
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("probabilities", [False, True], ids=["indices", "probabilities"])
def test_k_dimensional_logits_match_torch(check_against_torch, rng, dtype, reduction, probabilities):
    """linear_weight (C, 2, 3, H): logits (N, C, 2, 3), softmax over C at each position."""
    x, w, t, b = _problem(rng, dtype, n=5, out=(2, 3), probabilities=probabilities, ignored=(1,))
    weight = np.asarray(rng.uniform(0.5, 2.0, 5), dtype=dtype)
    kw = dict(reduction=reduction, weight=weight, label_smoothing=0.1)
    check_against_torch(
        _lk(options=Options(batch_chunk_size=2)),
        _torch(),
        (x, w, t, b),
        kw,
        grad=(0, 1, 3, *((2,) if probabilities else ())),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("probabilities", [False, True], ids=["indices", "probabilities"])
def test_unbatched_input_matches_torch(check_against_torch, rng, dtype, reduction, probabilities):
    x, w, t, b = _problem(rng, dtype, n=1, probabilities=probabilities, ignored=())
    check_against_torch(
        _lk(reduction=reduction, label_smoothing=0.2),
        _torch(reduction=reduction, label_smoothing=0.2),
        (x[0], w, np.asarray(t[0]), b),
        grad=(0, 1, 3, *((2,) if probabilities else ())),
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore_index", [None, -100, 2, 7])
def test_ignore_index_matches_torch(check_against_torch, rng, dtype, reduction, ignore_index):
    """None means -100; a valid class index (2) drops that class's samples; 7 is never hit."""
    x, w, t, b = _problem(rng, dtype, n=9)
    t[[0, 5]] = 2
    kw = dict(reduction=reduction, ignore_index=ignore_index, weight=np.asarray(rng.uniform(0.5, 2, 5), dtype))
    if ignore_index not in (None, -100):
        t[t == -100] = 1
    check_against_torch(
        _lk(options=Options(batch_chunk_size=4)), _torch(), (x, w, t, b), kw, grad=(0, 1, 3)
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_targets_ignored_matches_torch(check_against_torch, rng, reduction):
    """'mean' over no target is nan with zero gradients (torch's reference path), 'sum' is 0."""
    x, w, t, b = _problem(rng, np.float64, n=5, ignored=range(5))
    lk, _ = check_against_torch(
        _lk(reduction=reduction, label_smoothing=0.1, options=Options(batch_chunk_size=2)),
        _torch(reduction=reduction, label_smoothing=0.1),
        (x, w, t, b),
        grad=(0, 1, 3),
    )
    if reduction == "mean":
        assert np.isnan(lk)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("chunk", [2, 7])
def test_torch_chunked_path_agrees(check_against_torch, rng, dtype, reduction, chunk):
    """torch's own chunked op (options given) and losskit with torch's options object."""
    torch = pytest.importorskip("torch")

    x, w, t, b = _problem(rng, dtype, n=7)
    weight = np.asarray(rng.uniform(0.5, 2.0, 5), dtype=dtype)
    opts = torch.nn.LinearCrossEntropyOptions(batch_chunk_size=chunk)
    kw = dict(reduction=reduction, weight=weight)
    check_against_torch(_lk(options=opts), _torch(options=opts), (x, w, t, b), kw, grad=(0, 1, 3))


def test_three_dimensional_input_flattened_matches_torch(rng, assert_close):
    """(B, T, H) is an error in torch and here; flattened to (B T, H) it gives torch's values."""
    torch = pytest.importorskip("torch")

    x = _normal(rng, (2, 3, 4), np.float32)
    w = _normal(rng, (5, 4), np.float32)
    t = rng.integers(0, 5, (2, 3))
    with pytest.raises(RuntimeError, match="dimensionality 1 or 2"):
        torch.nn.functional.linear_cross_entropy(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(t))
    with pytest.raises(ValueError, match=r"input must have shape .*reshape\(-1, in_features\)"):
        F.linear_cross_entropy(x, w, t)
    got = F.linear_cross_entropy(x.reshape(-1, 4), w, t.reshape(-1), reduction="none").reshape(2, 3)
    expected = torch.nn.functional.cross_entropy(
        torch.from_numpy(x @ w.T).permute(0, 2, 1), torch.from_numpy(t), reduction="none"
    )
    assert_close(got, expected.numpy())


def test_options_resolve_chunks_as_torch():
    """The chunk size follows torch's ``LinearCrossEntropyOptions._adjust`` (CPU, float32)."""
    torch = pytest.importorskip("torch")

    cases = [
        (8192, 512, 32000, {}),
        (1000, 16, 50, {}),
        (7, 4, 5, {"batch_chunk_size": 3}),
        (7, 4, 5, {"batch_chunk_size": 30}),
        (100, 8, 1000, {"chunking_method": "aspect_ratio"}),
        (100, 8, 1000, {"chunking_method": "aspect_ratio:4"}),
        (100, 8, 1000, {"chunking_method": None}),
        (100, 8, 1000, {"chunking_method": None, "batch_chunk_size": 9}),
        (0, 8, 10, {}),
        (1, 8, 10, {}),
    ]
    for n, h, c, kw in cases:
        theirs = torch.nn.LinearCrossEntropyOptions(**kw)._adjust(
            num_batches=n, in_features=h, num_classes=c, dtype=torch.float32, device=torch.device("cpu")
        )
        assert _chunk_rows(Options(**kw), n, h, c, np.float32) == theirs.batch_chunk_size, (n, h, c, kw)
        # torch's own options object is accepted too
        assert _chunk_rows(torch.nn.LinearCrossEntropyOptions(**kw), n, h, c, np.float32) == theirs.batch_chunk_size
    # a size and a method that disagree: ValueError in both
    with pytest.raises(ValueError, match="give different chunk sizes"):
        torch.nn.LinearCrossEntropyOptions(batch_chunk_size=5, chunking_method="aspect_ratio")._adjust(
            num_batches=100, in_features=8, num_classes=1000, dtype=torch.float32
        )
    with pytest.raises(ValueError, match="give different chunk sizes"):
        _chunk_rows(Options(batch_chunk_size=5, chunking_method="aspect_ratio"), 100, 8, 1000, np.float32)


@pytest.mark.parametrize("out_features", [(), (2, 3)])
@pytest.mark.parametrize("bias", [False, True])
def test_module_matches_torch(rng, assert_close, out_features, bias):
    torch = pytest.importorskip("torch")

    kw = dict(out_features=out_features, bias=bias, reduction="sum", ignore_index=1, label_smoothing=0.1)
    weight = np.asarray(rng.uniform(0.5, 2.0, 5), np.float32)
    theirs = torch.nn.LinearCrossEntropyLoss(4, 5, weight=torch.from_numpy(weight), **kw)
    ours = lnn.LinearCrossEntropyLoss(4, 5, weight=weight, options=Options(batch_chunk_size=2), **kw)
    state = {k: v for k, v in theirs.state_dict().items() if k.startswith("linear.")}
    assert list(dict(ours.named_parameters())) == list(state)
    ours.load_state_dict(state)
    x = _normal(rng, (5, 4), np.float32)
    t = rng.integers(0, 5, (5, *out_features))
    tx = torch.from_numpy(x).requires_grad_()
    expected = theirs(tx, torch.from_numpy(t))
    X = losskit.Tensor(x, requires_grad=True)
    got = ours(X, t)
    assert_close(got.data, expected.detach().numpy())
    expected.backward()
    got.backward()
    assert_close(X.grad.data, tx.grad.numpy())
    for name, p in ours.named_parameters():
        assert_close(p.grad.data, dict(theirs.named_parameters())[name].grad.numpy(), err_msg=name)
    assert ours.extra_repr().replace(f"options={ours.options}", "") == theirs.extra_repr().replace("options=None", "")


def test_module_initialisation_and_errors():
    torch = pytest.importorskip("torch")

    losskit.manual_seed(0)
    m = lnn.LinearCrossEntropyLoss(16, 10, out_features=(3,), bias=True, dtype="float64")
    assert m.linear.weight.shape == (30, 16) and m.linear.bias.shape == (30,)
    assert m.linear.weight.dtype == np.float64
    assert 0.2 < np.abs(m.linear.weight.data).max() <= 0.25  # U(-1/sqrt(16), 1/sqrt(16)), 480 draws
    assert lnn.LinearCrossEntropyLoss(4, 10).linear.bias is None  # bias=False is torch's default
    with pytest.raises(RuntimeError, match="weight shape"):
        torch.nn.LinearCrossEntropyLoss(4, 3, weight=torch.ones(4))
    with pytest.raises(ValueError, match="weight shape"):
        lnn.LinearCrossEntropyLoss(4, 3, weight=np.ones(4, np.float32))
    with pytest.raises(ValueError, match="label_smoothing"):
        lnn.LinearCrossEntropyLoss(4, 3, label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction"):
        lnn.LinearCrossEntropyLoss(4, 3, reduction="avg")


# --- without torch ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_finite_differences_class_indices(check_finite_differences, rng, reduction):
    x, w, t, b = _problem(rng, np.float64, n=5, h=3, c=4)
    weight = rng.uniform(0.5, 2.0, 4)
    fn = _lk(reduction=reduction, weight=weight, label_smoothing=0.2, options=Options(batch_chunk_size=2))
    check_finite_differences(fn, (x, w, t, b), grad=(0, 1, 3))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_finite_differences_probabilities_and_k_dims(check_finite_differences, rng, reduction):
    x, w, t, b = _problem(rng, np.float64, n=3, h=2, c=3, out=(2,), probabilities=True)
    fn = _lk(reduction=reduction, label_smoothing=0.1, options=Options(batch_chunk_size=2))
    check_finite_differences(fn, (x, w, t, b), grad=(0, 1, 2, 3))


def _op_options(reduction, probabilities=False, chunk=2, precompute=(True, True, True), ignore_index=-100):
    return dict(
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=0.1,
        probabilities=probabilities,
        chunk_size=chunk,
        precompute=precompute,
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("precompute", [True, False], ids=["precomputed", "recomputed"])
@pytest.mark.parametrize("probabilities", [False, True], ids=["indices", "probabilities"])
def test_strict_op(check_strict_op, rng, reduction, precompute, probabilities):
    x, w, t, b = _problem(rng, np.float64, n=5, out=(2,), probabilities=probabilities)
    weight = rng.uniform(0.5, 2.0, 5)
    opts = _op_options(reduction, probabilities, precompute=(precompute,) * 3)
    check_strict_op(lce_ops.linear_cross_entropy, (x, w, t, b, weight), **opts)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_precomputed_gradients_equal_recomputed(rng, reduction):
    """The forward's accumulated gradients (kept as the only residuals) equal a recomputation."""
    import array_api_compat.numpy as xp

    x, w, t, b = _problem(rng, np.float64, n=9)
    inputs = (x, w, t, b, None)
    g = np.asarray(0.7)
    needs = (True, True, False, True, False)
    results = []
    for pre in (True, False):
        opts = _op_options(reduction, chunk=4, precompute=(pre,) * 3)
        value, res = lce_ops.linear_cross_entropy.forward(xp, inputs, **opts)
        assert all((s is not None) == pre for s in res[5])
        results.append((value, lce_ops.linear_cross_entropy.backward(xp, res, g, needs, **opts)))
    (v1, g1), (v2, g2) = results
    assert v1 == v2
    for a, c in zip(g1, g2):
        assert (a is None) == (c is None)
        if a is not None:
            np.testing.assert_allclose(a, c, rtol=1e-13, atol=1e-15)


def test_peak_memory_is_bounded_by_the_chunk():
    """Forward + backward never holds the (N, C) logits: the peak stays far below their size."""
    rng = np.random.default_rng(0)
    n, h, c = 2048, 8, 1000
    x = losskit.Tensor(rng.standard_normal((n, h)), requires_grad=True)
    w = losskit.Tensor(0.3 * rng.standard_normal((c, h)), requires_grad=True)
    t = rng.integers(0, c, n)
    logits_bytes = n * c * 8
    for reduction in ("mean", "none"):
        tracemalloc.start()
        try:
            out = F.linear_cross_entropy(x, w, t, reduction=reduction, options=Options(batch_chunk_size=32))
            out.backward(np.ones(out.shape))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 0.15 * logits_bytes, (reduction, peak / logits_bytes)
        x.grad = w.grad = None
    # the same computation unchunked holds several (N, C) arrays at once
    tracemalloc.start()
    try:
        F.cross_entropy(x @ w.T, t).backward()
        unchunked = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert unchunked > 2 * logits_bytes


def test_exact_where_torch_rounds_to_zero():
    """Logits [0, -40] (float64) for target 0: the loss is log(1 + e^-40).

    mpmath (50 digits): log1p(exp(-40)) = 4.248354255291588986304977843631582e-18; torch 2.13
    gives 0.0 (log_softmax of the top class rounds to 0). In float32, logits [0, -20]:
    log1p(exp(-20)) = 2.0611536203143807e-09 (mpmath); torch gives 0.0.
    """
    x = np.array([[1.0]])
    w = np.array([[0.0], [-40.0]])
    got = F.linear_cross_entropy(x, w, np.array([0]))
    np.testing.assert_allclose(got, 4.248354255291588986e-18, rtol=1e-15)
    got32 = F.linear_cross_entropy(x.astype(np.float32), np.array([[0.0], [-20.0]], np.float32), np.array([0]))
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, 2.0611536203143807e-09, rtol=1e-6)
    # and the class-1 gradient p_1 x = e^-40 / (1 + e^-40), which torch gets too
    W = losskit.Tensor(w, requires_grad=True)
    F.linear_cross_entropy(x, W, np.array([0])).backward()
    np.testing.assert_allclose(W.grad.data[1, 0], math.exp(-40) / (1 + math.exp(-40)), rtol=1e-14)


def test_plain_arrays_retain_graph_and_no_grad(rng):
    x, w, t, b = _problem(rng, np.float32)
    out = F.linear_cross_entropy(x, w, t, linear_bias=b)
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float32
    W = losskit.Tensor(w, requires_grad=True)
    loss = F.linear_cross_entropy(x, W, t, linear_bias=b)
    assert loss.grad_fn.name() == "LinearCrossEntropyBackward0"
    loss.backward(retain_graph=True)
    once = W.grad.data.copy()
    loss.backward()  # the saved gradients are scaled, not consumed: a second backward works
    np.testing.assert_allclose(W.grad.data, 2 * once, rtol=1e-6)
    with losskit.no_grad():
        assert F.linear_cross_entropy(x, W, t).grad_fn is None


def test_options_validation():
    Options(acc_policy="accurate", acc_dtype="float32", allow_retain_graph=True, chunking_method="aspect_ratio:3")
    with pytest.raises(ValueError, match="acc_policy"):
        Options(acc_policy="fast")
    with pytest.raises(ValueError, match="chunking_method"):
        Options(chunking_method="aspect_ratio:0")
    with pytest.raises(ValueError, match="chunking_method"):
        Options(chunking_method="rows")
    with pytest.raises(ValueError, match="batch_chunk_size"):
        Options(batch_chunk_size=0)
    with pytest.raises(ValueError, match="batch_chunk_size"):
        Options(batch_chunk_size=2.5)
    with pytest.raises(TypeError, match="allow_retain_graph"):
        Options(allow_retain_graph="yes")
    x, w, t = np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), np.array([0, 1])
    with pytest.raises(ValueError, match="acc_dtype"):
        F.linear_cross_entropy(x, w, t, options=Options(acc_dtype="float64"))
    F.linear_cross_entropy(x, w, t, options=Options(acc_dtype=np.float32))
    with pytest.raises(TypeError, match="options must be None or a LinearCrossEntropyOptions"):
        F.linear_cross_entropy(x, w, t, options={"batch_chunk_size": 2})


def test_argument_errors():
    f32 = np.float32
    x, w, t = np.ones((3, 4), f32), np.ones((5, 4), f32), np.array([0, 1, 2])
    cases = [
        ((np.ones((2, 3, 4), f32), w, t), {}, ValueError, "input must have shape"),
        ((np.ones((), f32), w, t), {}, ValueError, "input must have shape"),
        ((x.astype(np.int64), w, t), {}, TypeError, "input must have a real floating"),
        ((x, np.ones(4, f32), t), {}, ValueError, "linear_weight must have shape"),
        ((x, np.ones((5, 3), f32), t), {}, ValueError, "linear_weight's last dimension 3"),
        ((x, w.astype(np.float64), t), {}, TypeError, "linear_weight must have input's dtype"),
        ((x, w, t), {"linear_bias": np.ones(4, f32)}, ValueError, r"linear_bias shape \(4,\) must be \(5,\)"),
        ((x, w, t), {"linear_bias": np.ones(5)}, TypeError, "linear_bias must have input's dtype"),
        ((x[0], np.ones((5, 2, 4), f32), np.array(0)), {}, ValueError, "needs batched input"),
        ((x, w, t), {"weight": np.ones(4, f32)}, ValueError, "weight must be a 1-D array of length C=5"),
        ((x, w, t), {"label_smoothing": 1.5}, ValueError, "label_smoothing"),
        ((x, w, t), {"label_smoothing": -0.1}, ValueError, "label_smoothing"),
        ((x, w, t), {"reduction": "avg"}, ValueError, "reduction must be one of"),
        ((x, w, t), {"ignore_index": 1.0}, TypeError, "ignore_index must be an int"),
        ((x, w, np.array([0, 1])), {}, ValueError, r"target shape \(2,\) must be \(3,\)"),
        ((x, w, np.array([0, 1, 5])), {}, IndexError, "target 5 is out of bounds"),
        ((x, w, np.array([0, -1, 2])), {}, IndexError, "target -1 is out of bounds"),
        ((x, w, np.array([0, -100, 2])), {"ignore_index": 1}, IndexError, "target -100 is out of bounds"),
        ((x, w, np.full((3, 5), 0.2, f32)), {"ignore_index": -100}, ValueError, "ignore_index cannot be specified"),
        ((x, w, np.full((3, 5), 0.2)), {}, TypeError, "target must have input's dtype"),
        ((x, w, np.full((3, 4), 0.2, f32)), {}, ValueError, "target of class probabilities must have the logits' shape"),
        ((x, w, np.array([True, False, True])), {}, TypeError, "target must hold integer class indices"),
        ((x, w, [0, 1, 2]), {}, TypeError, "target must be an array"),
    ]
    for args, kwargs, exc, match in cases:
        with pytest.raises(exc, match=match):
            F.linear_cross_entropy(*args, **kwargs)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_zero_target_weights_give_nan_gradients_as_torch(rng, label_smoothing):
    """Targets whose class weights are all 0: 'mean' divides by 0; torch's gradients are nan.

    (Value: torch nan; losskit nan without smoothing and +inf with it, the smoothing term being a
    positive sum over 0, as losskit's cross_entropy gives.)
    """
    torch = pytest.importorskip("torch")

    x, w, _, b = _problem(rng, np.float64, n=3)
    t = np.array([0, 1, 1])
    weight = np.array([0.0, 0.0, 1.0, 1.0, 1.0])
    X, W = losskit.Tensor(x, requires_grad=True), losskit.Tensor(w, requires_grad=True)
    out = F.linear_cross_entropy(X, W, t, weight=weight, label_smoothing=label_smoothing)
    out.backward()
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    expected = torch.nn.functional.linear_cross_entropy(
        tx, tw, torch.from_numpy(t), weight=torch.from_numpy(weight), label_smoothing=label_smoothing
    )
    expected.backward()
    assert np.isnan(expected.item()) and (np.isnan(out.data) if label_smoothing == 0 else out.data == np.inf)
    assert np.isnan(tw.grad.numpy()).all() and np.isnan(W.grad.data).all()
    assert np.isnan(tx.grad.numpy()).all() and np.isnan(X.grad.data).all()


def test_torch_tensors_in_torch_tensors_out(rng, assert_close):
    """Through losskit's torch backend, where present: torch autograd gets losskit's gradients."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("losskit.backends.torch")
    x, w, t, b = _problem(rng, np.float64)
    for reduction in REDUCTIONS:
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        ours = F.linear_cross_entropy(tx, tw, torch.from_numpy(t), linear_bias=tb, reduction=reduction,
                                      options=Options(batch_chunk_size=2))
        theirs = torch.nn.functional.linear_cross_entropy(tx, tw, torch.from_numpy(t), linear_bias=tb,
                                                          reduction=reduction)
        assert isinstance(ours, torch.Tensor)
        assert_close(ours.detach().numpy(), theirs.detach().numpy())
        cot = torch.from_numpy(rng.uniform(0.5, 1.5, tuple(ours.shape)))
        for a, c in zip(torch.autograd.grad(ours, (tx, tw, tb), cot), torch.autograd.grad(theirs, (tx, tw, tb), cot)):
            assert_close(a.numpy(), c.numpy())
