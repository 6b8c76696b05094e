"""Properties that hold for any valid input, checked with hypothesis over random shapes, dtypes and
options.

* 'sum' is the sum of 'none', and 'mean' is the loss's own weighted average of 'none' (torch's
  denominators: the element count, the sum of the targets' class weights, the batch size...);
* cross entropy (and the softmax family) is invariant to adding a constant to the logits;
* unit weights equal no weights; scaling all weights changes no weighted 'mean'; integer weights
  equal repeated samples;
* permuting the batch permutes the 'none' results;
* float32 results agree with float64 ones on the same (float32) inputs, to float32 precision;
* gradients are finite wherever the value is.

Each loss has a generator of valid calls with a random batch size, random shapes and options;
the arrays come from a NumPy generator seeded by hypothesis, so a failure is reproducible from
the example hypothesis prints.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import losskit  # noqa: E402
import losskit.functional as F  # noqa: E402

# kl_div's 'mean' warns (as in torch) that it is not the KL divergence: intended here
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")

# CI runs a fixed, reproducible set of examples; LOSSKIT_PROPERTY_EXAMPLES=N runs N random ones
# per test (different on each run).
_REQUESTED = os.environ.get("LOSSKIT_PROPERTY_EXAMPLES")
SETTINGS = settings(max_examples=int(_REQUESTED or 30), deadline=None, derandomize=_REQUESTED is None,
                    database=None)


@dataclass(frozen=True)
class Gen:
    """Random valid calls of ``F.<name>``.

    ``make(draw, rng, n, dtype)`` returns keyword arguments for a batch of ``n`` samples;
    ``batch`` maps the arguments aligned with the batch to their batch axis; ``mean(kwargs,
    none)`` is the 'mean' that the 'none' result implies (default: its average).
    """

    name: str
    make: Callable[..., dict[str, Any]]
    batch: dict[str, int] = field(default_factory=lambda: {"input": 0, "target": 0})
    mean: Callable[[dict[str, Any], np.ndarray], float] | None = None

    @property
    def fn(self) -> Callable[..., Any]:
        return getattr(F, self.name)


def _real(rng, shape, dtype, scale=3.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _prob(rng, shape, dtype):
    return rng.uniform(0.02, 0.98, shape).astype(dtype)


def _pos(rng, shape, dtype):
    return rng.uniform(0.2, 2.0, shape).astype(dtype)


def _sign(rng, shape, dtype):
    return rng.choice([-1.0, 1.0], shape).astype(dtype)


def _classes(draw):
    return draw(st.integers(1, 4))


def _weighted_mean(kwargs, none):
    w = kwargs.get("weight")
    return none.sum() / (w.sum() if w is not None else none.size)


def _class_mean(kwargs, none):
    """Cross entropy with class indices: divided by the summed weights of the targets not ignored."""
    t = kwargs["target"]
    if t.dtype.kind == "f":  # probabilities: the number of samples
        return none.sum() / none.size
    kept = t != kwargs.get("ignore_index", -100)
    w = kwargs.get("weight")
    wt = np.where(kept, 1.0 if w is None else w[np.where(kept, t, 0)], 0.0)
    return none.sum() / wt.sum()


def _pointwise(scale_target=True):
    def make(draw, rng, n, dtype):
        shape = (n, draw(st.integers(1, 3)))
        kw = dict(input=_real(rng, shape, dtype), target=_real(rng, shape, dtype))
        if draw(st.booleans()):
            kw["weight"] = _pos(rng, shape, dtype)
        return kw

    return make


def _class_call(draw, rng, n, dtype, *, probabilities_allowed=True, smoothing=True):
    c = _classes(draw)
    extra = draw(st.sampled_from([(), (2,)]))
    shape = (n, c, *extra)
    kw: dict[str, Any] = dict(input=_real(rng, shape, dtype))
    if probabilities_allowed and draw(st.booleans()):
        p = rng.dirichlet(np.ones(c), size=(n, *extra))
        kw["target"] = np.moveaxis(p, -1, 1).astype(dtype)
    else:
        t = rng.integers(0, c, (n, *extra))
        if draw(st.booleans()):
            t = np.where(rng.random(t.shape) < 0.3, -100, t)
        kw["target"] = t
    if draw(st.booleans()):
        kw["weight"] = _pos(rng, (c,), dtype)
    if smoothing and draw(st.booleans()):
        kw["label_smoothing"] = draw(st.sampled_from([0.1, 0.5, 1.0]))
    return kw


def _ctc(draw, rng, n, dtype):
    n = max(n, 1)  # torch's rule: no empty log_probs
    t_len, c = draw(st.integers(1, 5)), draw(st.integers(2, 4))
    s = draw(st.integers(0, 3))
    logits = rng.standard_normal((t_len, n, c))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    targets = rng.integers(1, c, (n, s))
    return dict(
        log_probs=log_probs.astype(dtype), targets=targets,
        input_lengths=[int(v) for v in rng.integers(0, t_len + 1, n)],
        target_lengths=[int(v) for v in rng.integers(0, s + 1, n)],
        zero_infinity=draw(st.booleans()),
    )


def _ctc_mean(kwargs, none):
    return float(np.mean(none / np.maximum(np.asarray(kwargs["target_lengths"]), 1))) if none.size else math.nan


def _lce(draw, rng, n, dtype):
    h, c = draw(st.integers(1, 4)), _classes(draw)
    kw = dict(input=_real(rng, (n, h), dtype), linear_weight=_real(rng, (c, h), dtype, 1.0),
              target=rng.integers(0, c, n))
    if draw(st.booleans()):
        kw["linear_bias"] = _real(rng, (c,), dtype, 1.0)
    if draw(st.booleans()):
        kw["weight"] = _pos(rng, (c,), dtype)
    return kw


def _samples_mean(kwargs, none):
    return none.sum() / none.size


GENS = [
    Gen("l1_loss", _pointwise(), {"input": 0, "target": 0, "weight": 0}, _weighted_mean),
    Gen("mse_loss", _pointwise(), {"input": 0, "target": 0, "weight": 0}, _weighted_mean),
    Gen("huber_loss", lambda d, r, n, t: {**_pointwise()(d, r, n, t), "delta": d(st.sampled_from([0.5, 1.0, 2.0]))},
        {"input": 0, "target": 0, "weight": 0}),
    Gen("smooth_l1_loss", lambda d, r, n, t: {"input": _real(r, (n, 2), t), "target": _real(r, (n, 2), t),
                                             "beta": d(st.sampled_from([0.0, 0.5, 2.0]))}),
    Gen("binary_cross_entropy", lambda d, r, n, t: dict(input=_prob(r, (n, 3), t), target=_prob(r, (n, 3), t),
                                                       weight=_pos(r, (3,), t))),
    Gen("binary_cross_entropy_with_logits",
        lambda d, r, n, t: dict(input=_real(r, (n, 3), t), target=_prob(r, (n, 3), t), weight=_pos(r, (n, 3), t),
                                pos_weight=_pos(r, (3,), t)),
        {"input": 0, "target": 0, "weight": 0}),
    Gen("cross_entropy", _class_call, mean=_class_mean),
    Gen("nll_loss", lambda d, r, n, t: _class_call(d, r, n, t, probabilities_allowed=False, smoothing=False),
        mean=_class_mean),
    Gen("focal_loss", lambda d, r, n, t: {**_class_call(d, r, n, t, smoothing=False),
                                          "gamma": d(st.sampled_from([0.0, 0.5, 2.0]))}),
    Gen("sigmoid_focal_loss", lambda d, r, n, t: dict(inputs=_real(r, (n, 2), t), targets=_prob(r, (n, 2), t),
                                                     gamma=d(st.sampled_from([0.0, 0.5, 2.0]))),
        {"inputs": 0, "targets": 0}),
    Gen("linear_cross_entropy", _lce, mean=_class_mean),
    Gen("ctc_loss", _ctc, {"log_probs": 1, "targets": 0, "input_lengths": 0, "target_lengths": 0}, _ctc_mean),
    Gen("kl_div", lambda d, r, n, t: dict(input=np.log(_prob(r, (n, 3), t)), target=_prob(r, (n, 3), t))),
    Gen("poisson_nll_loss", lambda d, r, n, t: dict(input=_real(r, (n, 2), t, 1.0), target=_pos(r, (n, 2), t) * 2,
                                                   full=d(st.booleans()))),
    Gen("gaussian_nll_loss", lambda d, r, n, t: dict(input=_real(r, (n, 2), t), target=_real(r, (n, 2), t),
                                                    var=_pos(r, (n, 2), t), full=d(st.booleans())),
        {"input": 0, "target": 0, "var": 0}),
    Gen("soft_margin_loss", lambda d, r, n, t: dict(input=_real(r, (n, 2), t), target=_sign(r, (n, 2), t))),
    Gen("hinge_embedding_loss", lambda d, r, n, t: dict(input=_real(r, (n, 2), t), target=_sign(r, (n, 2), t))),
    Gen("margin_ranking_loss", lambda d, r, n, t: dict(input1=_real(r, (n,), t), input2=_real(r, (n,), t),
                                                      target=_sign(r, (n,), t), margin=0.5),
        {"input1": 0, "input2": 0, "target": 0}),
    Gen("multilabel_soft_margin_loss", lambda d, r, n, t: dict(input=_real(r, (n, 3), t), target=_prob(r, (n, 3), t),
                                                              weight=_pos(r, (3,), t)), mean=_samples_mean),
    Gen("multi_margin_loss", lambda d, r, n, t: dict(input=_real(r, (n, 3), t), target=r.integers(0, 3, n),
                                                    p=d(st.sampled_from([1, 2])), weight=_pos(r, (3,), t)),
        mean=_samples_mean),
    Gen("multilabel_margin_loss", lambda d, r, n, t: dict(input=_real(r, (n, 3), t),
                                                         target=np.where(r.random((n, 3)) < 0.3, -1, r.integers(0, 3, (n, 3)))),
        mean=_samples_mean),
    Gen("cosine_embedding_loss", lambda d, r, n, t: dict(input1=_real(r, (n, 3), t), input2=_real(r, (n, 3), t),
                                                        target=r.choice([-1, 1], n), margin=0.2),
        {"input1": 0, "input2": 0, "target": 0}),
    Gen("triplet_margin_loss", lambda d, r, n, t: dict(anchor=_real(r, (n, 3), t), positive=_real(r, (n, 3), t),
                                                      negative=_real(r, (n, 3), t), swap=d(st.booleans())),
        {"anchor": 0, "positive": 0, "negative": 0}),
]
ACTIVATIONS = [
    Gen("softmax", lambda d, r, n, t: dict(input=_real(r, (n, 3), t, 10.0), dim=1), {"input": 0}),
    Gen("log_softmax", lambda d, r, n, t: dict(input=_real(r, (n, 3), t, 10.0), dim=1), {"input": 0}),
    Gen("logsumexp", lambda d, r, n, t: dict(input=_real(r, (n, 3), t, 10.0), dim=1), {"input": 0}),
    Gen("sigmoid", lambda d, r, n, t: dict(input=_real(r, (n, 3), t, 10.0)), {"input": 0}),
    Gen("logsigmoid", lambda d, r, n, t: dict(input=_real(r, (n, 3), t, 10.0)), {"input": 0}),
    Gen("softplus", lambda d, r, n, t: dict(input=_real(r, (n, 3), t, 10.0), beta=2.0), {"input": 0}),
    Gen("cosine_similarity", lambda d, r, n, t: dict(x1=_real(r, (n, 3), t), x2=_real(r, (n, 3), t)), {"x1": 0, "x2": 0}),
    Gen("pairwise_distance", lambda d, r, n, t: dict(x1=_real(r, (n, 3), t), x2=_real(r, (n, 3), t),
                                                    p=d(st.sampled_from([1.0, 2.0, 3.0, math.inf]))), {"x1": 0, "x2": 0}),
]
ALL = GENS + ACTIVATIONS


def _draw_call(data, gen: Gen, *, dtype=None, min_n=0):
    n = data.draw(st.integers(min_n, 5), label="n")
    if dtype is None:
        dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    return gen.make(data.draw, rng, n, np.dtype(dtype)), np.dtype(dtype)


def _tol(dtype):
    return (1e-5, 1e-6) if dtype == np.float32 else (1e-12, 1e-13)


def _close(actual, expected, dtype, *, rtol=None, atol=None, scale=1.0):
    r, a = _tol(dtype)
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64),
                               rtol=r if rtol is None else rtol, atol=(a if atol is None else atol) * scale,
                               equal_nan=True)


def _ids(gens):
    return [g.name for g in gens]


# --- reductions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("gen", GENS, ids=_ids(GENS))
@SETTINGS
@given(data=st.data())
def test_sum_is_the_sum_of_none_and_mean_its_weighted_average(gen, data):
    kwargs, dtype = _draw_call(data, gen)
    none = np.asarray(gen.fn(**kwargs, reduction="none"), np.float64)
    scale = max(1.0, float(np.nansum(np.abs(none))))
    _close(gen.fn(**kwargs, reduction="sum"), none.sum(), dtype, scale=scale)
    with np.errstate(invalid="ignore", divide="ignore"):  # all targets ignored: 0/0 = nan, as torch
        expected = (gen.mean or _samples_mean)(kwargs, none) if none.size else math.nan
    _close(gen.fn(**kwargs, reduction="mean"), expected, dtype, scale=scale)
    if gen.name == "kl_div":
        _close(gen.fn(**kwargs, reduction="batchmean"), none.sum() / kwargs["input"].shape[0] if none.size else math.nan,
               dtype, scale=scale)


# --- invariances ------------------------------------------------------------------------------------

SHIFTED = [g for g in ALL if g.name in ("cross_entropy", "focal_loss", "softmax", "log_softmax", "logsumexp")]


@pytest.mark.parametrize("gen", SHIFTED, ids=_ids(SHIFTED))
@SETTINGS
@given(data=st.data(), shift=st.sampled_from([-30.0, -1.5, 0.25, 7.0, 100.0]))
def test_adding_a_constant_to_the_logits_changes_nothing(gen, data, shift):
    kwargs, dtype = _draw_call(data, gen, dtype=np.float64)
    shifted = {**kwargs, "input": kwargs["input"] + shift}
    extra = {} if gen.name in ("softmax", "log_softmax", "logsumexp") else {"reduction": "none"}
    expected = np.asarray(gen.fn(**kwargs, **extra))
    if gen.name == "logsumexp":
        expected = expected + shift  # logsumexp(x + c) = logsumexp(x) + c
    # the shift itself is exact only to a few ulps of the logits' size
    _close(gen.fn(**shifted, **extra), expected, dtype, rtol=1e-12, atol=1e-13, scale=4 * (abs(shift) + 30))


WEIGHTED = [g for g in GENS if g.name in (
    "l1_loss", "mse_loss", "huber_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "cross_entropy",
    "nll_loss", "focal_loss", "linear_cross_entropy", "multilabel_soft_margin_loss", "multi_margin_loss")]


def _weight_names(kwargs):
    return [k for k in ("weight", "pos_weight") if kwargs.get(k) is not None]


@pytest.mark.parametrize("gen", WEIGHTED, ids=_ids(WEIGHTED))
@SETTINGS
@given(data=st.data(), reduction=st.sampled_from(["none", "mean", "sum"]))
def test_unit_weights_equal_no_weights(gen, data, reduction):
    kwargs, dtype = _draw_call(data, gen)
    names = _weight_names(kwargs)
    unweighted = {k: v for k, v in kwargs.items() if k not in names}
    ones = {k: np.ones_like(kwargs[k]) for k in names}
    _close(gen.fn(**unweighted, **ones, reduction=reduction), gen.fn(**unweighted, reduction=reduction), dtype)


WEIGHTED_MEANS = [g for g in GENS if g.name in ("l1_loss", "mse_loss", "cross_entropy", "nll_loss", "linear_cross_entropy")]


@pytest.mark.parametrize("gen", WEIGHTED_MEANS, ids=_ids(WEIGHTED_MEANS))
@SETTINGS
@given(data=st.data(), factor=st.sampled_from([1e-3, 0.5, 3.0, 1e4]))
def test_scaling_all_weights_changes_no_weighted_mean(gen, data, factor):
    kwargs, dtype = _draw_call(data, gen, dtype=np.float64)
    hypothesis.assume(kwargs.get("weight") is not None)
    # with class probabilities cross entropy's 'mean' divides by the sample count, not the weights
    hypothesis.assume(kwargs["target"].dtype.kind != "f" or gen.name in ("l1_loss", "mse_loss"))
    scaled = {**kwargs, "weight": kwargs["weight"] * factor}
    _close(gen.fn(**scaled), gen.fn(**kwargs), dtype, rtol=1e-11)


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "huber_loss", "binary_cross_entropy_with_logits"])
@SETTINGS
@given(data=st.data())
def test_integer_elementwise_weights_equal_repeated_elements(name, data):
    # For a weight w_i >= 0 on element i, the 'sum' is that of element i repeated w_i times;
    # l1 and mse divide their 'mean' by sum(w), so it is the repeated elements' mean too.
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n = data.draw(st.integers(1, 8))
    x, y = rng.standard_normal(n) * 3, rng.uniform(0, 1, n)
    w = rng.integers(0, 4, n)
    hypothesis.assume(w.sum() > 0)
    fn = getattr(F, name)
    reductions = ("sum", "mean") if name in ("l1_loss", "mse_loss") else ("sum",)
    for reduction in reductions:
        weighted = fn(x, y, weight=w.astype(np.float64), reduction=reduction)
        repeated = fn(np.repeat(x, w), np.repeat(y, w), reduction=reduction)
        _close(weighted, repeated, np.float64, scale=10)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss", "focal_loss"])
@SETTINGS
@given(data=st.data())
def test_integer_class_weights_equal_repeated_samples(name, data):
    # Class weight w_c: every sample of class c counts w_c times, in the 'sum' and in the
    # weighted 'mean' (focal_loss's 'mean' divides by the sample count, not by the weights).
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    n, c = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4))
    x, t = rng.standard_normal((n, c)) * 3, rng.integers(0, c, n)
    w = rng.integers(0, 4, c)
    hypothesis.assume(w[t].sum() > 0)
    fn = getattr(F, name)
    reps = w[t]
    for reduction in ("sum", "mean") if name != "focal_loss" else ("sum",):
        kw = {"gamma": 0.0} if name == "focal_loss" else {}
        weighted = fn(x, t, weight=w.astype(np.float64), reduction=reduction, **kw)
        repeated = fn(np.repeat(x, reps, axis=0), np.repeat(t, reps), reduction=reduction, **kw)
        _close(weighted, repeated, np.float64, scale=10)


@pytest.mark.parametrize("gen", ALL, ids=_ids(ALL))
@SETTINGS
@given(data=st.data())
def test_permuting_the_batch_permutes_the_none_results(gen, data):
    kwargs, dtype = _draw_call(data, gen, min_n=1)
    n = next(np.shape(kwargs[k])[a] for k, a in gen.batch.items() if k in kwargs)
    perm = np.random.default_rng(n).permutation(n)
    permuted = dict(kwargs)
    for k, axis in gen.batch.items():
        if k not in kwargs:
            continue
        if isinstance(kwargs[k], list):
            permuted[k] = [kwargs[k][i] for i in perm]
        else:
            permuted[k] = np.take(kwargs[k], perm, axis=axis)
    extra = {"reduction": "none"} if gen in GENS else {}
    out = np.asarray(gen.fn(**kwargs, **extra))
    # the result's batch axis is 0 (ctc: its only axis)
    _close(gen.fn(**permuted, **extra), np.take(out, perm, axis=0), dtype)


# --- precision ----------------------------------------------------------------------------------------


def _as64(kwargs):
    return {k: v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype == np.float32 else v
            for k, v in kwargs.items()}


@pytest.mark.parametrize("gen", ALL, ids=_ids(ALL))
@SETTINGS
@given(data=st.data(), reduction=st.sampled_from(["none", "sum"]))
def test_float32_agrees_with_float64_to_float32_precision(gen, data, reduction):
    kwargs, _ = _draw_call(data, gen, dtype=np.float32)
    extra = {"reduction": reduction} if gen in GENS else {}
    single = np.asarray(gen.fn(**kwargs, **extra))
    double = np.asarray(gen.fn(**_as64(kwargs), **extra))
    assert single.dtype == np.float32
    # a few ulps of float32 per term, relative to the size of the terms that were summed
    scale = max(1.0, float(np.max(np.abs(double[np.isfinite(double)]), initial=0.0)))
    _close(single, double, np.float32, rtol=4e-6, atol=5e-7, scale=scale * max(1, kwargs_size(kwargs)) ** 0.5)


def kwargs_size(kwargs):
    return max((v.size for v in kwargs.values() if isinstance(v, np.ndarray)), default=1)


# --- gradients ---------------------------------------------------------------------------------------

DIFFERENTIABLE = ("input", "target", "inputs", "targets", "log_probs", "x1", "x2", "input1", "input2", "anchor",
                  "positive", "negative", "var", "linear_weight", "linear_bias")


def _extremes(rng, kwargs, names, dtype):
    """Push a random subset of entries to extreme but valid values (large, tiny, zero)."""
    out = dict(kwargs)
    for k in names:
        x = kwargs[k].copy()
        pick = rng.random(x.shape) < 0.3
        big = rng.choice([-1.0, 1.0], x.shape) * rng.choice([0.0, 1e-30, 30.0, 88.0, 1e4, 1e15], x.shape)
        out[k] = np.where(pick, big, x).astype(dtype)
    return out


# inputs whose value domain an extreme would leave: probabilities, variances, log-probabilities
_KEEP = {"binary_cross_entropy": ("input", "target"), "binary_cross_entropy_with_logits": ("target",),
         "sigmoid_focal_loss": ("targets",), "kl_div": ("target",), "gaussian_nll_loss": ("var",),
         "ctc_loss": ("log_probs",), "poisson_nll_loss": ("target",), "cross_entropy": ("target",),
         "focal_loss": ("target",), "linear_cross_entropy": ("target",), "multilabel_soft_margin_loss": ("target",)}


@pytest.mark.parametrize("gen", ALL, ids=_ids(ALL))
@SETTINGS
@given(data=st.data())
def test_gradients_are_finite_wherever_the_value_is(gen, data):
    kwargs, dtype = _draw_call(data, gen, min_n=1)
    names = [k for k in DIFFERENTIABLE if isinstance(kwargs.get(k), np.ndarray) and kwargs[k].dtype.kind == "f"]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="extremes"))
    if data.draw(st.booleans(), label="extreme"):
        kwargs = _extremes(rng, kwargs, [k for k in names if k not in _KEEP.get(gen.name, ())], dtype)
    leaves = {k: losskit.Tensor(kwargs[k], requires_grad=True) for k in names}
    out = gen.fn(**{**kwargs, **leaves})
    value = np.asarray(out.data)
    hypothesis.assume(np.all(np.isfinite(value)))
    if not out.requires_grad:
        return
    out.backward(np.ones(out.shape, dtype))
    for k, leaf in leaves.items():
        if leaf.grad is not None:
            g = np.asarray(leaf.grad.data)
            assert np.all(np.isfinite(g)), f"{k}: gradient {g} at finite value {value} for {kwargs}"
