"""The catalog: every public loss and function, with a one-line formula and example inputs.

One place that knows, for each name of :mod:`losskit.functional`, its ``losskit.nn`` class, its
family, its formula in one line, the torch function with the same semantics (the oracle), and how
to make valid inputs of a given size, with the option sets that take different code paths. The
test matrix over backends, ``losskit list``, ``losskit check`` and the benchmarks all read it.

Example inputs are NumPy arrays; which of them are differentiable is part of each example. Nothing
here imports torch until a reference is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = ["Entry", "Example", "ENTRIES", "entry", "losses", "torch_focal_loss", "torch_sigmoid_focal_loss"]


@dataclass(frozen=True)
class Example:
    """One valid call: ``fn(*args, **kwargs)``; ``grad`` the positions of differentiable args."""

    label: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    grad: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class Entry:
    """One public function of :mod:`losskit.functional`.

    ``examples(rng, dtype, n, c)`` makes valid inputs with ``n`` samples and ``c`` classes (or
    features); the first example is the default call, the rest cover the options. ``log_softmax_dim``
    marks a loss that takes log-probabilities whose gradient torch defines only for normalised
    inputs (CTC): both sides are then called through ``log_softmax`` of raw scores.
    """

    name: str
    module: str | None
    family: str
    formula: str
    examples: Callable[[np.random.Generator, np.dtype, int, int], list[Example]]
    torch_name: str | None = None  # torch.<torch_name>, where the oracle is not torch.nn.functional.<name>
    log_softmax_dim: int | None = None

    @property
    def kind(self) -> str:
        return "loss" if self.module is not None else "function"

    @property
    def numerics(self) -> str:
        """How the value and gradient are computed stably, in a sentence or two (``_NUMERICS``)."""
        return _NUMERICS[self.name]

    def function(self, functional: Any = None) -> Callable:
        """The callable on ``functional`` (default :mod:`losskit.functional`)."""
        if functional is None:
            from . import functional
        return self._adapt(functional, getattr(functional, self.name))

    def torch_function(self) -> Callable:
        """torch's function with the same semantics (torchvision's formula for the focal losses)."""
        import torch

        if self.name in _TORCH_REFERENCES:
            return _TORCH_REFERENCES[self.name]
        fn = getattr(torch, self.torch_name) if self.torch_name else getattr(torch.nn.functional, self.name)
        return self._adapt(torch.nn.functional, fn)

    def _adapt(self, functional: Any, fn: Callable) -> Callable:
        if self.log_softmax_dim is None:
            return fn
        dim = self.log_softmax_dim
        return lambda x, *args, **kwargs: fn(functional.log_softmax(x, dim), *args, **kwargs)


# --- example inputs ------------------------------------------------------------------------------


def _normal(rng: np.random.Generator, dtype: Any, shape: tuple, scale: float = 1.0) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _uniform(rng: np.random.Generator, dtype: Any, shape: tuple, lo: float, hi: float) -> np.ndarray:
    return rng.uniform(lo, hi, shape).astype(dtype)


def _signs(rng: np.random.Generator, dtype: Any, shape: tuple) -> np.ndarray:
    return np.where(rng.random(shape) < 0.5, -1.0, 1.0).astype(dtype)


def _reductions(make: Callable[[str], Example]) -> list[Example]:
    return [make("mean"), make("sum"), make("none")]


def _pointwise(extra: dict, weighted: bool = True) -> Callable:
    def examples(rng, dtype, n, c):
        x, y = _normal(rng, dtype, (n, c), 2.0), _normal(rng, dtype, (n, c))
        w = _uniform(rng, dtype, (n, c), 0.5, 2.0)
        cases = _reductions(lambda r: Example(r, (x, y), {"reduction": r, **extra}, (0, 1)))
        return cases + [Example("weight", (x, y), {"weight": w, **extra}, (0, 1))] if weighted else cases

    return examples


def _bce(rng, dtype, n, c):
    x, y = _uniform(rng, dtype, (n, c), 0.02, 0.98), _uniform(rng, dtype, (n, c), 0.0, 1.0)
    w = _uniform(rng, dtype, (c,), 0.5, 2.0)
    cases = _reductions(lambda r: Example(r, (x, y), {"reduction": r}, (0, 1)))
    return cases + [Example("weight", (x, y), {"weight": w}, (0, 1))]


def _bce_with_logits(rng, dtype, n, c):
    x, y = _normal(rng, dtype, (n, c), 3.0), _uniform(rng, dtype, (n, c), 0.0, 1.0)
    w, pw = _uniform(rng, dtype, (c,), 0.5, 2.0), _uniform(rng, dtype, (c,), 0.5, 3.0)
    cases = _reductions(lambda r: Example(r, (x, y), {"reduction": r}, (0, 1)))
    return cases + [Example("weight-pos_weight", (x, y), {"weight": w, "pos_weight": pw}, (0, 1))]


def _class_indices(rng, n, c, ignore=None):
    t = rng.integers(0, c, n)
    if ignore is not None:
        t[::3] = ignore
    return t


def _cross_entropy(rng, dtype, n, c):
    x, t = _normal(rng, dtype, (n, c), 2.0), _class_indices(rng, n, c)
    w = _uniform(rng, dtype, (c,), 0.5, 2.0)
    p = rng.dirichlet(np.ones(c), n).astype(dtype)
    k = _normal(rng, dtype, (max(n // 4, 1), c, 4))
    kt = rng.integers(0, c, (max(n // 4, 1), 4))
    return _reductions(lambda r: Example(r, (x, t), {"reduction": r})) + [
        Example("weight-ignore_index", (x, _class_indices(rng, n, c, ignore=1)), {"weight": w, "ignore_index": 1}),
        Example("label_smoothing", (x, t), {"label_smoothing": 0.2, "weight": w}),
        Example("probabilities", (x, p), {"label_smoothing": 0.1}, (0, 1)),
        Example("k-dimensional", (k, kt), {"reduction": "none"}),
    ]


def _nll(rng, dtype, n, c):
    x = _normal(rng, dtype, (n, c))
    t = _class_indices(rng, n, c)
    w = _uniform(rng, dtype, (c,), 0.5, 2.0)
    return _reductions(lambda r: Example(r, (x, t), {"reduction": r})) + [
        Example("weight-ignore_index", (x, _class_indices(rng, n, c, ignore=2)), {"weight": w, "ignore_index": 2}),
    ]


def _poisson(rng, dtype, n, c):
    x, y = _normal(rng, dtype, (n, c)), rng.poisson(2.0, (n, c)).astype(dtype)
    rate = _uniform(rng, dtype, (n, c), 0.1, 4.0)
    big = y + 2  # torch's target gradient of the Stirling term is nan at y <= 1 (docs/deviations.md)
    return _reductions(lambda r: Example(r, (x, y), {"reduction": r}, (0, 1))) + [
        Example("full", (x, big), {"full": True}, (0, 1)),
        Example("rate-input", (rate, big), {"log_input": False, "full": True}, (0, 1)),
    ]


def _gaussian(rng, dtype, n, c):
    x, y = _normal(rng, dtype, (n, c)), _normal(rng, dtype, (n, c))
    var = _uniform(rng, dtype, (n, c), 0.2, 2.0)
    var1 = _uniform(rng, dtype, (n, 1), 0.2, 2.0)
    return _reductions(lambda r: Example(r, (x, y, var), {"reduction": r}, (0, 1, 2))) + [
        Example("full-shared-var", (x, y, var1), {"full": True}, (0, 1, 2)),
    ]


def _kl_div(rng, dtype, n, c):
    p = rng.dirichlet(np.ones(c), n)
    q = rng.dirichlet(np.ones(c), n)
    x, y = np.log(q).astype(dtype), p.astype(dtype)
    cases = [Example(r, (x, y), {"reduction": r}, (0, 1)) for r in ("batchmean", "sum", "none", "mean")]
    return cases + [Example("log_target", (x, np.log(p).astype(dtype)), {"reduction": "batchmean", "log_target": True}, (0, 1))]


def _margin_ranking(rng, dtype, n, c):
    a, b, y = _normal(rng, dtype, (n,)), _normal(rng, dtype, (n,)), _signs(rng, dtype, (n,))
    return _reductions(lambda r: Example(r, (a, b, y), {"reduction": r, "margin": 0.3}, (0, 1)))


def _hinge_embedding(rng, dtype, n, c):
    x, y = _uniform(rng, dtype, (n, c), 0.0, 2.0), _signs(rng, dtype, (n, c))
    return _reductions(lambda r: Example(r, (x, y), {"reduction": r, "margin": 1.5}))


def _soft_margin(rng, dtype, n, c):
    x, y = _normal(rng, dtype, (n, c), 3.0), _signs(rng, dtype, (n, c))
    return _reductions(lambda r: Example(r, (x, y), {"reduction": r}))


def _multi_margin(rng, dtype, n, c):
    x, t = _normal(rng, dtype, (n, c)), _class_indices(rng, n, c)
    w = _uniform(rng, dtype, (c,), 0.5, 2.0)
    return _reductions(lambda r: Example(r, (x, t), {"reduction": r})) + [
        Example("p2-margin-weight", (x, t), {"p": 2, "margin": 0.7, "weight": w}),
    ]


def _multilabel_margin(rng, dtype, n, c):
    x = _normal(rng, dtype, (n, c))
    t = np.full((n, c), -1, np.int64)
    for i in range(n):  # a random number of distinct labels, then -1 padding
        labels = rng.permutation(c)[: rng.integers(1, c)]
        t[i, : labels.size] = labels
    return _reductions(lambda r: Example(r, (x, t), {"reduction": r}))


def _multilabel_soft_margin(rng, dtype, n, c):
    x, y = _normal(rng, dtype, (n, c), 2.0), (rng.random((n, c)) < 0.4).astype(dtype)
    w = _uniform(rng, dtype, (c,), 0.5, 2.0)
    return _reductions(lambda r: Example(r, (x, y), {"reduction": r})) + [Example("weight", (x, y), {"weight": w})]


def _cosine_embedding(rng, dtype, n, c):
    a, b, y = _normal(rng, dtype, (n, c)), _normal(rng, dtype, (n, c)), _signs(rng, dtype, (n,))
    return _reductions(lambda r: Example(r, (a, b, y), {"reduction": r, "margin": 0.2}, (0, 1)))


def _triplets(rng, dtype, n, c):
    return tuple(_normal(rng, dtype, (n, c)) for _ in range(3))


def _triplet(rng, dtype, n, c):
    t = _triplets(rng, dtype, n, c)
    return _reductions(lambda r: Example(r, t, {"reduction": r}, (0, 1, 2))) + [
        Example("p1-swap", t, {"p": 1.0, "swap": True, "margin": 0.5}, (0, 1, 2)),
    ]


def _triplet_with_distance(rng, dtype, n, c):
    t = _triplets(rng, dtype, n, c)
    return _reductions(lambda r: Example(r, t, {"reduction": r}, (0, 1, 2))) + [
        Example("swap-margin", t, {"swap": True, "margin": 2.0}, (0, 1, 2)),
    ]


def _ctc(rng, dtype, n, c):
    s = max(c // 2, 1)
    t_max = 2 * s + 4
    x = _normal(rng, dtype, (t_max, n, c))  # raw scores; the loss sees their log_softmax
    targets = rng.integers(1, c, (n, s))
    target_lengths = rng.integers(1, s + 1, n)
    input_lengths = rng.integers(2 * s + 1, t_max + 1, n)
    args = (x, targets, input_lengths, target_lengths)
    return _reductions(lambda r: Example(r, args, {"reduction": r})) + [
        Example("blank-last", (x, targets - 1, input_lengths, target_lengths), {"blank": c - 1, "zero_infinity": True}),
    ]


def _focal(rng, dtype, n, c):
    x, t = _normal(rng, dtype, (n, c), 2.0), _class_indices(rng, n, c)
    w = _uniform(rng, dtype, (c,), 0.5, 2.0)
    return _reductions(lambda r: Example(r, (x, t), {"reduction": r})) + [
        Example("weight-ignore_index-gamma", (x, _class_indices(rng, n, c, ignore=0)), {"weight": w, "ignore_index": 0, "gamma": 0.5}),
    ]


def _sigmoid_focal(rng, dtype, n, c):
    x, y = _normal(rng, dtype, (n, c), 3.0), (rng.random((n, c)) < 0.3).astype(dtype)
    return _reductions(lambda r: Example(r, (x, y), {"reduction": r})) + [
        Example("alpha-gamma", (x, y), {"alpha": 0.6, "gamma": 1.5, "reduction": "mean"}, (0, 1)),
    ]


def _linear_cross_entropy(rng, dtype, n, c):
    h = 8
    x, w = _normal(rng, dtype, (n, h)), _normal(rng, dtype, (c, h), h**-0.5)
    b, t = _normal(rng, dtype, (c,), 0.1), _class_indices(rng, n, c)
    return _reductions(lambda r: Example(r, (x, w, t), {"reduction": r}, (0, 1))) + [
        Example(
            "bias-ignore_index-smoothing",
            (x, w, _class_indices(rng, n, c, ignore=-100)),
            {"linear_bias": b, "ignore_index": -100, "label_smoothing": 0.1},
            (0, 1),
        ),
    ]


def _pair(rng, dtype, n, c):
    a, b = _normal(rng, dtype, (n, c)), _normal(rng, dtype, (n, c))
    return a, b


def _cosine_similarity(rng, dtype, n, c):
    a, b = _pair(rng, dtype, n, c)
    return [Example("dim1", (a, b), {}, (0, 1)), Example("dim0", (a, b), {"dim": 0}, (0, 1))]


def _pairwise_distance(rng, dtype, n, c):
    a, b = _pair(rng, dtype, n, c)
    return [Example("p2", (a, b), {}, (0, 1)), Example("p1-keepdim", (a, b), {"p": 1.0, "keepdim": True}, (0, 1))]


def _along_dim(rng, dtype, n, c):
    x = _normal(rng, dtype, (n, c), 3.0)
    return [Example("dim1", (x,), {"dim": 1}), Example("dim0", (x,), {"dim": 0})]


def _elementwise(rng, dtype, n, c):
    return [Example("default", (_normal(rng, dtype, (n, c), 5.0),))]


def _softplus(rng, dtype, n, c):
    x = _normal(rng, dtype, (n, c), 10.0)
    return [Example("default", (x,)), Example("beta-threshold", (x,), {"beta": 2.0, "threshold": 5.0})]


# --- torch oracles torch itself lacks ------------------------------------------------------------


def torch_sigmoid_focal_loss(inputs: Any, targets: Any, alpha: float = 0.25, gamma: float = 2, reduction: str = "none") -> Any:
    """torchvision.ops.sigmoid_focal_loss, line for line (torchvision is not a dependency)."""
    import torch

    p = torch.sigmoid(inputs)
    ce_loss = torch.nn.functional.binary_cross_entropy_with_logits(inputs, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    loss = ce_loss * ((1 - p_t) ** gamma)
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


def torch_focal_loss(input: Any, target: Any, weight: Any = None, gamma: float = 2.0, ignore_index: int = -100, reduction: str = "mean") -> Any:
    """The seeds' FocalLoss in torch: per-sample cross entropy c, (1 - e^-c)^gamma c, loss.mean()."""
    import torch

    ce = torch.nn.functional.cross_entropy(input, target, weight=weight, ignore_index=ignore_index, reduction="none")
    loss = (1 - torch.exp(-ce)) ** gamma * ce
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


_TORCH_REFERENCES: dict[str, Callable] = {
    "sigmoid_focal_loss": torch_sigmoid_focal_loss,
    "focal_loss": torch_focal_loss,
}


# --- the catalog ---------------------------------------------------------------------------------

ENTRIES: tuple[Entry, ...] = (
    Entry("l1_loss", "L1Loss", "regression", "l = |x - y|", _pointwise({})),
    Entry("mse_loss", "MSELoss", "regression", "l = (x - y)^2", _pointwise({})),
    Entry("huber_loss", "HuberLoss", "regression",
          "l = (x-y)^2/2 if |x-y| < delta else delta (|x-y| - delta/2)", _pointwise({"delta": 0.8})),
    Entry("smooth_l1_loss", "SmoothL1Loss", "regression",
          "l = (x-y)^2/(2 beta) if |x-y| < beta else |x-y| - beta/2", _pointwise({"beta": 0.6}, weighted=False)),
    Entry("binary_cross_entropy", "BCELoss", "binary", "l = -w [y log x + (1-y) log(1-x)], logs clamped at -100", _bce),
    Entry("binary_cross_entropy_with_logits", "BCEWithLogitsLoss", "binary",
          "l = w [p y softplus(-x) + (1-y) softplus(x)]", _bce_with_logits),
    Entry("cross_entropy", "CrossEntropyLoss", "classification",
          "l_n = -w_{y_n} log softmax(x_n)_{y_n} (or -sum_c w_c p_nc log softmax(x_n)_c)", _cross_entropy),
    Entry("nll_loss", "NLLLoss", "classification", "l_n = -w_{y_n} x_{n,y_n}", _nll),
    Entry("poisson_nll_loss", "PoissonNLLLoss", "probabilistic",
          "l = exp(x) - y x (+ Stirling term y log y - y + log(2 pi y)/2 if full)", _poisson),
    Entry("gaussian_nll_loss", "GaussianNLLLoss", "probabilistic",
          "l = (log max(var, eps) + (x - y)^2 / max(var, eps)) / 2 (+ log(2 pi)/2 if full)", _gaussian),
    Entry("kl_div", "KLDivLoss", "probabilistic", "l = y (log y - x)  (x: log-probabilities)", _kl_div),
    Entry("margin_ranking_loss", "MarginRankingLoss", "margin", "l = max(0, -y (x1 - x2) + margin)", _margin_ranking),
    Entry("hinge_embedding_loss", "HingeEmbeddingLoss", "margin",
          "l = x if y = 1, max(0, margin - x) if y = -1", _hinge_embedding),
    Entry("soft_margin_loss", "SoftMarginLoss", "margin", "l = log(1 + exp(-y x))", _soft_margin),
    Entry("multi_margin_loss", "MultiMarginLoss", "margin",
          "l_n = sum_{i != y} w_y max(0, margin - x_y + x_i)^p / C", _multi_margin),
    Entry("multilabel_margin_loss", "MultiLabelMarginLoss", "margin",
          "l_n = sum_{j in y, i not in y} max(0, 1 - (x_j - x_i)) / C", _multilabel_margin),
    Entry("multilabel_soft_margin_loss", "MultiLabelSoftMarginLoss", "margin",
          "l_n = -mean_c w_c [y log sigmoid(x) + (1-y) log sigmoid(-x)]", _multilabel_soft_margin),
    Entry("cosine_embedding_loss", "CosineEmbeddingLoss", "embedding",
          "l = 1 - cos(x1, x2) if y = 1, max(0, cos(x1, x2) - margin) if y = -1", _cosine_embedding),
    Entry("triplet_margin_loss", "TripletMarginLoss", "embedding",
          "l = max(d(a, p) - d(a, n) + margin, 0),  d(u, v) = ||u - v + eps||_p", _triplet),
    Entry("triplet_margin_with_distance_loss", "TripletMarginWithDistanceLoss", "embedding",
          "l = max(d(a, p) - d(a, n) + margin, 0), any distance d", _triplet_with_distance),
    Entry("ctc_loss", "CTCLoss", "ctc", "l_n = -log sum over alignments pi of y_n of prod_t p_t(pi_t)", _ctc,
          log_softmax_dim=2),
    Entry("focal_loss", "FocalLoss", "focal", "l_n = (1 - exp(-c_n))^gamma c_n,  c_n = cross entropy", _focal),
    Entry("sigmoid_focal_loss", "SigmoidFocalLoss", "focal",
          "l = alpha_t (1 - p_t)^gamma BCEWithLogits(x, y)", _sigmoid_focal),
    Entry("linear_cross_entropy", "LinearCrossEntropyLoss", "linear_cross_entropy",
          "l = cross_entropy(x W^T + b, y), logits a chunk of rows at a time", _linear_cross_entropy),
    Entry("cosine_similarity", None, "embedding", "x1 . x2 / max(||x1|| ||x2||, eps)", _cosine_similarity),
    Entry("pairwise_distance", None, "embedding", "||x1 - x2 + eps||_p", _pairwise_distance),
    Entry("log_softmax", None, "activations", "x_i - log sum_j exp(x_j)", _along_dim),
    Entry("softmax", None, "activations", "exp(x_i) / sum_j exp(x_j)", _along_dim),
    Entry("logsumexp", None, "activations", "log sum_j exp(x_j)", _along_dim, torch_name="logsumexp"),
    Entry("sigmoid", None, "activations", "1 / (1 + exp(-x))", _elementwise, torch_name="sigmoid"),
    Entry("logsigmoid", None, "activations", "-softplus(-x)", _elementwise),
    Entry("softplus", None, "activations", "log(1 + exp(beta x)) / beta (x where beta x > threshold)", _softplus),
)

# How each entry stays exact, in plain text for the terminal (`losskit explain`, `losskit list`);
# the derivations are in the docstrings of losskit/losses/<family>.py and on the docs' loss pages.
_NUMERICS: dict[str, str] = {
    "l1_loss": "Nothing to round but d = x - y; gradient sign(d) (0 at d = 0, as torch). A weighted "
               "'mean' is sum(w l) / sum(w).",
    "mse_loss": "d * d of the one rounded difference d = x - y; gradient 2 d.",
    "huber_loss": "Quadratic (d/2) d inside |d| < delta, linear outside; gradient clip(d, -delta, delta), "
                  "continuous at the kink.",
    "smooth_l1_loss": "d (d / beta) / 2, not d^2 / beta, so that a tiny or huge beta neither underflows nor "
                      "overflows; beta = 0 is exactly L1; gradient clip(d / beta, -1, 1).",
    "binary_cross_entropy": "log(1 - x) as log1p(-x), each log clamped at -100 (torch's definition); the "
                            "gradient is the exact derivative of that definition, with no 1e-12 floor.",
    "binary_cross_entropy_with_logits": "y softplus(-x) + (1 - y) softplus(x), softplus(z) = max(z, 0) + "
                                        "log1p(exp(-|z|)): no overflow, nothing cancels (x = -40, y = 0 gives "
                                        "4.2e-18, not 0).",
    "cross_entropy": "log p from one log-sum-exp with a max shift and log1p (the top class keeps -tiny "
                     "instead of 0); gradient p A - a from the same pass; 0 log 0 = 0 for zero coefficients.",
    "nll_loss": "A gather and a weighted sum: -w_t x_t; gradient -w_t at the target class.",
    "poisson_nll_loss": "exp(x) - y x with xlogy semantics (y = 0 contributes 0 even at x = -inf); the "
                        "Stirling term from one log y, only where y > 1 (torch's mask).",
    "gaussian_nll_loss": "d^2 / v as d (d / v), so d^2 cannot overflow alone; var clamped at eps as torch "
                         "(the clamp invisible to the gradient).",
    "kl_div": "y (log y - x) as one product of one difference (no cancelling xlogy(y, y) - y x); a "
              "zero-probability target contributes exactly 0.",
    "margin_ranking_loss": "max(0, margin - y (x1 - x2)) with the rounding error of x1 - x2 carried "
                           "(TwoSum), so the kink is where the exact value crosses 0.",
    "hinge_embedding_loss": "torch's rule for any target: x where y != -1 plus max(0, margin - x) where "
                            "y != 1; gradient of the active branch at the kink.",
    "soft_margin_loss": "softplus(-y x) = max(z, 0) + log1p(exp(-|z|)): no overflow (torch: inf from "
                        "y x ~ -89 in float32), exact for large margins.",
    "multi_margin_loss": "margin - x_y + x_i from the exact difference x_i - x_y (TwoSum); vectorised over "
                         "the classes; torch's strict > 0 at the kink; p in {1, 2}.",
    "multilabel_margin_loss": "Targets up to the first -1, matched against arange(C) (an (N, C, C) one-hot): "
                              "no data-dependent shapes; differences exact (TwoSum); torch's strict > 0 at "
                              "the kink.",
    "multilabel_soft_margin_loss": "-log sigmoid(x) = softplus(-x) and -log sigmoid(-x) = softplus(x): no "
                                   "overflow, no log(1 - sigmoid) cancellation; dl/dy = -w x / C exactly.",
    "cosine_embedding_loss": "The cosine from scaled norms, every factor at most 1 in magnitude: no "
                             "overflow for huge vectors (torch: nan or a wrong cosine).",
    "triplet_margin_loss": "Distances ||u - v + eps||_p as scaled norms (s ||d / s||_p, s = max |d_i|), so "
                           "no power overflows; swap takes the smaller negative distance (ties share the "
                           "gradient).",
    "triplet_margin_with_distance_loss": "The distance is any callable (default pairwise_distance, scaled "
                                         "norms); its gradient flows through losskit's engine or torch's.",
    "ctc_loss": "Forward-backward in log space, every step a two-term log-sum-exp with log1p; alphas "
                "checkpointed every sqrt(T) steps (memory O(sqrt(T) N S)); gradient without dividing by "
                "probabilities, so -inf log-probabilities get 0, not nan.",
    "focal_loss": "u = -expm1(-c) keeps the digits of a confident sample's weight; dl/dc written without "
                  "u^(gamma - 1), so the gradient is finite for gamma < 1.",
    "sigmoid_focal_loss": "1 - p_t formed as a sum of nonnegative terms (never a difference), its log with "
                          "log1p/expm1; the gradient is finite everywhere, also for gamma < 1.",
    "linear_cross_entropy": "Logits x W^T + b a chunk of rows at a time, each chunk's cross entropy from a "
                            "stable log-sum-exp; the (N, V) logits never exist at once.",
    "cosine_similarity": "Each vector divided by its largest entry before squaring: no overflow or "
                         "underflow where the cosine is representable; torch's eps clamp on each norm.",
    "pairwise_distance": "d = (x1 - x2) + eps from the exact x1 - x2 (TwoSum); scaled p-norm s ||d / s||_p: "
                         "no overflow or underflow for any p, large, infinite, 0 or negative.",
    "log_softmax": "x - m - log1p(sum_{i != argmax} exp(x_i - m)), m = max x: the top entry keeps -tiny "
                   "instead of 0.",
    "softmax": "exp(x - logsumexp(x)) with the max shift: no overflow.",
    "logsumexp": "m + log1p(sum_{i != argmax} exp(x_i - m)): no overflow, exact where the sum is 1 + tiny; "
                 "a non-finite maximum is the answer itself.",
    "sigmoid": "From e = exp(-|x|): 1 / (1 + e) or e / (1 + e), neither overflows.",
    "logsigmoid": "-softplus(-x): exact for large |x| of either sign.",
    "softplus": "max(z, 0) + log1p(exp(-|z|)), z = beta x with its rounding error added back (Dekker); x "
                "itself above the threshold, torch's definition.",
}

_BY_NAME = {e.name: e for e in ENTRIES}


def entry(name: str) -> Entry:
    """The catalog entry of a functional name or an nn class name."""
    for e in ENTRIES:
        if name in (e.name, e.module):
            return e
    raise KeyError(f"no loss or function named {name!r} in losskit; see `losskit list`")


def losses() -> list[Entry]:
    """The entries that are losses (with an nn class), in catalog order."""
    return [e for e in ENTRIES if e.kind == "loss"]
