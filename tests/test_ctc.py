"""ctc_loss and nn.CTCLoss: torch's semantics, the true gradient in log_probs, O(sqrt(T) N S) memory.

torch's CtcLossBackward0 returns ``exp(log_probs) + d loss / d log_probs`` (it assumes normalised
inputs), so gradients are compared with torch through a log_softmax (both sides then give the
gradient in the logits); losskit's gradient in log_probs itself is checked by finite differences.
Expected values that do not come from torch are derived by hand in comments.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import losskit
import losskit.functional as F
import losskit.nn as nn
from losskit.losses import ctc as ctc_ops


def _torch_ctc(x, *args, **kwargs):
    import torch.nn.functional as TF

    return TF.ctc_loss(x.log_softmax(-1), *args, **kwargs)


def _lk_ctc(x, *args, **kwargs):
    return F.ctc_loss(F.log_softmax(x, dim=-1), *args, **kwargs)


def _batch(rng, dtype, blank, *, T=11, N=4, C=6, S=4):
    """Logits, padded targets (garbage past each length), lengths: a repeated label, an empty
    target, input lengths shorter than T; every alignment feasible (T >= 2S + 1)."""
    x = rng.standard_normal((T, N, C)).astype(dtype)
    labels = np.array([c for c in range(C) if c != blank])
    targets = rng.choice(labels, (N, S))
    targets[0, 1] = targets[0, 0]  # a repeat: needs a blank in between
    targets[1, :3] = targets[1, 0]  # three of the same
    target_lengths = [S, 3, 0, 2][:N]
    input_lengths = [T, T - 1, T - 4, 5][:N]
    for n, length in enumerate(target_lengths):
        targets[n, length:] = -7  # padding is never read
    return x, targets, input_lengths, target_lengths


def _concatenated(targets, target_lengths):
    return np.concatenate([targets[n, :length] for n, length in enumerate(target_lengths)]).astype(np.int64)


# --- against torch ----------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("blank", ["first", "middle", "last"])
@pytest.mark.parametrize("form", ["padded", "concatenated"])
def test_against_torch_through_log_softmax(check_against_torch, rng, dtype, reduction, blank, form):
    C = 6
    blank = {"first": 0, "middle": 2, "last": C - 1}[blank]
    x, targets, il, tl = _batch(rng, dtype, blank, C=C)
    if form == "concatenated":
        targets = _concatenated(targets, tl)
    check_against_torch(_lk_ctc, _torch_ctc, (x, targets, il, tl), {"blank": blank, "reduction": reduction})


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_raw_log_probs_value_equals_torch(rng, dtype, reduction):
    # On log_probs directly the values agree whatever the normalisation (gradients differ by
    # design: torch adds exp(log_probs), see the module docstring), so only values here.
    torch = pytest.importorskip("torch")
    x, targets, il, tl = _batch(rng, dtype, 0)
    x = x - 1.5
    ours = F.ctc_loss(x, targets, il, tl, reduction=reduction)
    theirs = torch.nn.functional.ctc_loss(torch.from_numpy(x), torch.from_numpy(targets), il, tl, reduction=reduction)
    assert ours.dtype == dtype
    rtol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=rtol)


@pytest.mark.parametrize("targets_form", ["(S)", "(1, S)"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_unbatched_against_torch(check_against_torch, rng, dtype, targets_form, reduction):
    x = rng.standard_normal((7, 5)).astype(dtype)
    targets = np.array([3, 3, 1]) if targets_form == "(S)" else np.array([[3, 3, 1, 0]])
    out, _ = check_against_torch(_lk_ctc, _torch_ctc, (x, targets, [6], [3]), {"reduction": reduction})
    assert out.shape == ()


@pytest.mark.parametrize("targets_dtype", [np.int32, np.int16, np.uint8])
def test_integer_target_dtypes_against_torch(check_against_torch, rng, targets_dtype):
    x, targets, il, tl = _batch(rng, np.float32, 0)
    targets = np.where(targets < 0, 0, targets).astype(targets_dtype)
    check_against_torch(_lk_ctc, _torch_ctc, (x, targets, il, tl), {"reduction": "none"})


@pytest.mark.parametrize("form", ["padded", "concatenated"])
def test_all_targets_empty_against_torch(check_against_torch, rng, form):
    x = rng.standard_normal((5, 3, 4))
    targets = np.zeros((3, 0), dtype=np.int64) if form == "padded" else np.zeros(0, dtype=np.int64)
    check_against_torch(_lk_ctc, _torch_ctc, (x, targets, [5, 3, 1], [0, 0, 0]), {"reduction": "mean"})


def test_lengths_as_tensors_against_torch(check_against_torch, rng):
    x, targets, il, tl = _batch(rng, np.float64, 0)
    check_against_torch(_lk_ctc, _torch_ctc, (x, targets, np.array(il), np.array(tl, dtype=np.int32)))


def test_infeasible_and_zero_infinity_against_torch(check_against_torch, rng, dtype):
    x = rng.standard_normal((6, 3, 4)).astype(dtype)
    targets = np.array([[1, 1, 2], [2, 3, 0], [1, 2, 3]])
    il, tl = [3, 6, 2], [3, 2, 3]  # sample 0 needs 4 steps (1 b 1 2), sample 2 needs 3
    for zero_infinity in (False, True):
        for reduction in ("none", "sum", "mean"):
            out, _ = check_against_torch(
                _lk_ctc, _torch_ctc, (x, targets, il, tl),
                {"reduction": reduction, "zero_infinity": zero_infinity},
            )
    loss = F.ctc_loss(F.log_softmax(x, dim=2), targets, il, tl, reduction="none")
    assert loss[0] == np.inf and loss[2] == np.inf and np.isfinite(loss[1])


def test_grad_fn_name_and_module_against_torch(rng):
    torch = pytest.importorskip("torch")
    x, targets, il, tl = _batch(rng, np.float64, 3)
    for reduction in ("none", "sum", "mean"):
        for zero_infinity in (False, True):
            ours = nn.CTCLoss(blank=3, reduction=reduction, zero_infinity=zero_infinity)
            theirs = torch.nn.CTCLoss(blank=3, reduction=reduction, zero_infinity=zero_infinity)
            lp = F.log_softmax(x, dim=2)
            np.testing.assert_allclose(
                ours(lp, targets, il, tl), theirs(torch.from_numpy(lp), torch.from_numpy(targets), il, tl).numpy(),
                rtol=1e-12,
            )
    default = nn.CTCLoss()
    assert (default.blank, default.reduction, default.zero_infinity) == (0, "mean", False)
    out = F.ctc_loss(losskit.Tensor(x, requires_grad=True), targets, il, tl, blank=3, reduction="none")
    t_out = torch.nn.functional.ctc_loss(torch.tensor(x, requires_grad=True), torch.from_numpy(targets), il, tl, blank=3, reduction="none")
    assert out.grad_fn.name() == type(t_out.grad_fn).__name__ == "CtcLossBackward0"


# --- without torch: finite differences, exact values, strict namespace, memory, errors ------------


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("blank", [0, 1, 3])
def test_finite_differences_on_unnormalised_log_probs(check_finite_differences, rng, reduction, blank):
    x = rng.standard_normal((6, 2, 4)) - 1.0  # not normalised: the gradient is the true one
    labels = [c for c in range(4) if c != blank]
    targets = np.array([[labels[0], labels[0], labels[1]], [labels[2], labels[1], 0]])
    check_finite_differences(
        lambda lp: F.ctc_loss(lp, targets, [6, 4], [3, 2], blank=blank, reduction=reduction), (x,)
    )


def test_finite_differences_unbatched_concatenated(check_finite_differences, rng):
    x = rng.standard_normal((5, 3))
    check_finite_differences(lambda lp: F.ctc_loss(lp, np.array([1, 2, 2]), 5, 3, reduction="none"), (x,))


def test_gradient_rows_sum_to_minus_one_and_vanish_past_input_length(rng):
    # sum_k d loss / d x_t(k) = -sum_s alpha_t(s) beta_t(s) / p = -1 for every t < L, 0 after.
    x, targets, il, tl = _batch(rng, np.float64, 0)
    lp = losskit.Tensor(x, requires_grad=True)
    F.ctc_loss(lp, targets, il, tl, reduction="sum").backward()
    rows = lp.grad.data.sum(axis=2)
    live = np.arange(x.shape[0])[:, None] < np.array(il)[None, :]
    np.testing.assert_allclose(rows[live], -1.0, rtol=1e-12)
    assert np.all(lp.grad.data[~live] == 0.0)


@pytest.mark.parametrize(
    "target, expected",
    [
        # T = 3, C = 3, every probability 1/3, so loss = log(27 / #paths).
        ([1], math.log(27 / 6)),  # b^a 1^c b^e with a + c + e = 3, c >= 1: 6 paths
        ([1, 1], math.log(27)),  # only "1 b 1"
        ([1, 2], math.log(27 / 5)),  # 112, 122, b12, 1b2, 12b
        ([], math.log(27)),  # only "b b b"
    ],
)
def test_exact_values_by_counting_paths(target, expected):
    uniform = np.log(np.full((3, 1, 3), 1 / 3))
    targets = np.array([target], dtype=np.int64).reshape(1, len(target))
    loss = F.ctc_loss(uniform, targets, [3], [len(target)], reduction="sum")
    np.testing.assert_allclose(loss, expected, rtol=1e-14)


def test_empty_target_is_minus_sum_of_blank_log_probs(rng):
    x = rng.standard_normal((6, 2, 4))
    loss = F.ctc_loss(x, np.zeros((2, 2), dtype=np.int64), [6, 3], [0, 0], blank=2, reduction="none")
    np.testing.assert_allclose(loss, [-x[:, 0, 2].sum(), -x[:3, 1, 2].sum()], rtol=1e-14)


def test_zero_input_length():
    x = np.log(np.full((2, 2, 3), 1 / 3))
    lp = losskit.Tensor(x, requires_grad=True)
    loss = F.ctc_loss(lp, np.array([[1], [1]]), [0, 0], [0, 1], reduction="none")
    # no time step: the empty target has probability 1, any other 0 (torch: 0 and inf)
    np.testing.assert_array_equal(loss.data, [0.0, np.inf])
    loss.backward(np.array([1.0, 0.0]))
    assert np.all(lp.grad.data == 0.0)


def test_minus_inf_log_prob_gets_exact_zero_gradient():
    # Class 2 impossible at t = 1. p is linear in y_1(2) = exp(x_1(2)), so
    # d loss / d x_1(2) = y_1(2) d loss / d y_1(2) = 0 (torch: exp(-inf) - exp(-inf + nll + inf) = nan).
    x = np.log(np.full((3, 1, 3), 1 / 3))
    x[1, 0, 2] = -np.inf
    lp = losskit.Tensor(x, requires_grad=True)
    loss = F.ctc_loss(lp, np.array([[1]]), [3], [1], reduction="sum")
    # Paths for "1" avoiding class 2 at t = 1 are the 6 of test_exact_values_by_counting_paths.
    np.testing.assert_allclose(loss.data, math.log(27 / 6), rtol=1e-14)
    loss.backward()
    assert lp.grad.data[1, 0, 2] == 0.0
    assert np.all(np.isfinite(lp.grad.data))


def test_lengths_forms_agree(rng):
    x, targets, il, tl = _batch(rng, np.float64, 0)
    ref = F.ctc_loss(x, targets, il, tl, reduction="none")
    for il_form, tl_form in [
        (tuple(il), tuple(tl)),
        (np.array(il, dtype=np.int32), np.array(tl, dtype=np.int64)),
        (np.array(il).reshape(-1, 1), np.array(tl).reshape(-1, 1)),  # torch flattens (numel)
        ([np.int64(v) for v in il], [np.int16(v) for v in tl]),
    ]:
        np.testing.assert_array_equal(F.ctc_loss(x, targets, il_form, tl_form, reduction="none"), ref)
    unbatched = F.ctc_loss(x[:, 0], targets[0], il[0], tl[0], reduction="none")
    assert unbatched.shape == ()
    for forms in [([il[0]], [tl[0]]), (np.array(il[0]), np.array(tl[0]))]:
        np.testing.assert_array_equal(F.ctc_loss(x[:, 0], targets[0], *forms, reduction="none"), unbatched)
    np.testing.assert_array_equal(unbatched, ref[0])


@pytest.mark.parametrize(
    "case",
    ["padded", "concatenated", "unbatched", "infeasible", "zero_infinity", "mean_blank_last"],
)
def test_strict_op(check_strict_op, rng, case):
    x, targets, il, tl = _batch(rng, np.float64, 0)
    targets = np.where(targets < 0, 0, targets)
    options = {"blank": 0, "reduction": "none", "zero_infinity": False}
    inputs = (x, targets, np.array(il), np.array(tl))
    if case == "concatenated":
        inputs = (x, _concatenated(targets, tl), np.array(il), np.array(tl))
        options["max_target_length"] = max(tl)
    elif case == "unbatched":
        inputs = (x[:, 0], targets[0, : tl[0]], np.array([il[0]]), np.array([tl[0]]))
    elif case in ("infeasible", "zero_infinity"):
        inputs = (x, targets, np.array([2, 9, 3, 1]), np.array(tl))
        options["zero_infinity"] = case == "zero_infinity"
        options["reduction"] = "sum"
    elif case == "mean_blank_last":
        inputs = (x, np.where(targets == 5, 1, targets), np.array(il), np.array(tl))
        options.update(blank=5, reduction="mean")
    check_strict_op(ctc_ops.ctc_loss, inputs, **options)


def _extra_memory(T, N=2, C=4, S=15):
    """Peak bytes an op forward + backward allocates beyond its gradient (input made before)."""
    import array_api_compat.numpy as xp

    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, N, C))
    inputs = (x, rng.integers(1, C, (N, S)), np.full(N, T), np.full(N, S))
    options = {"blank": 0, "reduction": "sum", "zero_infinity": False}
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        value, res = ctc_ops.ctc_loss.forward(xp, inputs, **options)
        grad = ctc_ops.ctc_loss.backward(xp, res, xp.asarray(1.0), (True, False, False, False), **options)[0]
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak - grad.nbytes, T * N * (2 * S + 1) * x.itemsize


def test_memory_grows_like_sqrt_T():
    # Storing every alpha would take T N (2S+1) numbers; checkpointing keeps O(sqrt(T) N S).
    small, _ = _extra_memory(256)
    large, all_alphas = _extra_memory(1024)
    assert large < 0.35 * all_alphas, (large, all_alphas)
    assert large < 2.6 * small, (small, large)  # 4x the steps: about 2x the memory, not 4x


# --- errors ---------------------------------------------------------------------------------------


def _valid():
    return np.zeros((5, 2, 4)), np.array([[1, 2], [3, 0]]), [5, 4], [2, 1]


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"log_probs": np.zeros((5, 2, 4), dtype=np.int64)}, TypeError, "log_probs"),
        ({"log_probs": np.zeros((5, 2, 4, 1))}, ValueError, "log_probs"),
        ({"log_probs": np.zeros((0, 2, 4))}, ValueError, "log_probs must not be empty"),
        ({"targets": np.array([[1.0, 2.0], [3.0, 0.0]])}, TypeError, "targets"),
        ({"targets": np.zeros((2, 2, 1), dtype=np.int64)}, ValueError, "targets"),
        ({"targets": np.array([[1, 2]])}, ValueError, "targets batch size"),
        ({"targets": np.array([1, 2])}, ValueError, "sum\\(target_lengths\\)"),
        ({"targets": np.array([[1, 4], [3, 0]])}, IndexError, "targets value 4"),
        ({"targets": np.array([[1, -1], [3, 0]])}, IndexError, "targets value -1"),
        ({"targets": np.array([[1, 0], [3, 0]])}, ValueError, "blank"),
        ({"input_lengths": [6, 4]}, ValueError, "input_lengths"),
        ({"input_lengths": [-1, 4]}, ValueError, "input_lengths"),
        ({"input_lengths": [5]}, ValueError, "input_lengths must hold one length per sample"),
        ({"input_lengths": 5}, TypeError, "input_lengths"),
        ({"input_lengths": [5.0, 4.0]}, TypeError, "input_lengths"),
        ({"input_lengths": np.array([5.0, 4.0])}, TypeError, "input_lengths"),
        ({"input_lengths": [True, True]}, TypeError, "input_lengths"),
        ({"input_lengths": "55"}, TypeError, "input_lengths"),
        ({"target_lengths": [3, 1]}, ValueError, "target_lengths"),
        ({"target_lengths": [-1, 1]}, ValueError, "target_lengths"),
        ({"target_lengths": [2, 1, 1]}, ValueError, "target_lengths"),
        ({"blank": 4}, ValueError, "blank"),
        ({"blank": -1}, ValueError, "blank"),
        ({"blank": 1.0}, TypeError, "blank"),
        ({"reduction": "batchmean"}, ValueError, "reduction"),
        ({"zero_infinity": 1}, TypeError, "zero_infinity"),
    ],
)
def test_errors_name_the_argument(change, error, match):
    lp, targets, il, tl = _valid()
    kwargs = {"log_probs": lp, "targets": targets, "input_lengths": il, "target_lengths": tl}
    kwargs.update(change)
    with pytest.raises(error, match=match):
        F.ctc_loss(**kwargs)


def test_padding_is_not_validated_and_does_not_matter():
    lp = np.log(np.full((4, 2, 3), 1 / 3))
    a = F.ctc_loss(lp, np.array([[1, 99], [2, -5]]), [4, 4], [1, 1], reduction="none")
    b = F.ctc_loss(lp, np.array([[1, 2], [2, 1]]), [4, 4], [1, 1], reduction="none")
    np.testing.assert_array_equal(a, b)
