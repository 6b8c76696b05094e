"""One valid call of every public function of ``losskit.functional``, and its argument kinds.

The bad-input catalogue mutates these calls one argument at a time, the fuzz target starts from
them, and the property tests use the same argument kinds. Each ``Call`` says which arguments
are arrays of which kind, so that the generic mutations (a non-array, an integer dtype, another
float dtype, another array library) can be derived instead of written out for every function.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

import losskit.functional as F

REDUCTIONS = ("none", "mean", "sum")


@dataclass(frozen=True)
class Call:
    """A valid call of ``losskit.functional.<name>`` and the kinds of its arguments.

    ``valid(dtype)`` returns fresh keyword arguments with arrays of that float dtype.
    ``reals``: floating arrays that share the first one's dtype and library (the first one is
    the reference the errors name); ``int_ok``: those of ``reals`` where an integer array is
    accepted (converted to the input's dtype, as torch promotes); ``indices``: integer arrays
    of class indices where a float array is an error; ``others``: arrays with a dtype rule of
    their own (indices or probabilities); ``lengths``: CTC length sequences;
    ``flags``, ``numbers``, ``ints``: bool, real and int options; ``reductions``: the valid
    reduction strings (empty when the function has none).
    """

    name: str
    valid: Callable[[Any], dict[str, Any]]
    reals: tuple[str, ...] = ()
    int_ok: tuple[str, ...] = ()
    indices: tuple[str, ...] = ()
    others: tuple[str, ...] = ()
    lengths: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    ints: tuple[str, ...] = ()
    reductions: tuple[str, ...] = REDUCTIONS

    @property
    def fn(self) -> Callable[..., Any]:
        return getattr(F, self.name)

    @property
    def arrays(self) -> tuple[str, ...]:
        return self.reals + self.indices + self.others

    @property
    def first(self) -> str:
        return self.arrays[0]


def _x(dtype, shape=(2, 3)):
    """Distinct values of moderate size, negative ones included."""
    n = int(np.prod(shape))
    return (np.linspace(-1.3, 1.7, n) * (1 + np.arange(n) % 3)).reshape(shape).astype(dtype)


def _unit(dtype, shape=(2, 3)):
    """Values strictly inside (0, 1)."""
    n = int(np.prod(shape))
    return np.linspace(0.1, 0.9, n).reshape(shape).astype(dtype)


def _signs(dtype, shape=(2, 3)):
    n = int(np.prod(shape))
    return np.where(np.arange(n) % 2 == 0, 1.0, -1.0).reshape(shape).astype(dtype)


def _pointwise(dtype):
    return dict(input=_x(dtype), target=_x(dtype)[::-1].copy(), weight=_unit(dtype))


def _ce(dtype):
    return dict(input=_x(dtype), target=np.array([0, 2]), weight=_unit(dtype, (3,)))


def _ctc(dtype):
    logits = _x(dtype, (4, 2, 3))
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    return dict(
        log_probs=log_probs.astype(dtype),
        targets=np.array([[1, 2], [1, 1]]),
        input_lengths=[4, 4],
        target_lengths=[2, 1],
    )


def _triplet(dtype):
    return dict(anchor=_x(dtype), positive=_unit(dtype), negative=_x(dtype)[::-1].copy())


CALLS: tuple[Call, ...] = (
    Call("l1_loss", _pointwise, reals=("input", "target", "weight")),
    Call("mse_loss", _pointwise, reals=("input", "target", "weight")),
    Call("huber_loss", lambda d: {**_pointwise(d), "delta": 0.5}, reals=("input", "target", "weight"),
         numbers=("delta",)),
    Call("smooth_l1_loss", lambda d: dict(input=_x(d), target=_x(d)[::-1].copy(), beta=0.5), reals=("input", "target"),
         numbers=("beta",)),
    Call("binary_cross_entropy", lambda d: dict(input=_unit(d), target=_unit(d)[::-1].copy(), weight=_unit(d, (3,))),
         reals=("input", "target", "weight")),
    Call("binary_cross_entropy_with_logits",
         lambda d: dict(input=_x(d), target=_unit(d), weight=_unit(d, (3,)), pos_weight=_unit(d, (3,)) + 1),
         reals=("input", "target", "weight", "pos_weight")),
    Call("cross_entropy", lambda d: {**_ce(d), "ignore_index": -100, "label_smoothing": 0.1},
         reals=("input", "weight"), others=("target",), ints=("ignore_index",), numbers=("label_smoothing",)),
    Call("nll_loss", lambda d: {**_ce(d), "ignore_index": -100}, reals=("input", "weight"), indices=("target",),
         ints=("ignore_index",)),
    Call("softmax", lambda d: dict(input=_x(d), dim=1), reals=("input",), ints=("dim",), reductions=()),
    Call("log_softmax", lambda d: dict(input=_x(d), dim=1), reals=("input",), ints=("dim",), reductions=()),
    Call("logsumexp", lambda d: dict(input=_x(d), dim=1, keepdim=False), reals=("input",), ints=("dim",),
         flags=("keepdim",), reductions=()),
    Call("sigmoid", lambda d: dict(input=_x(d)), reals=("input",), reductions=()),
    Call("logsigmoid", lambda d: dict(input=_x(d)), reals=("input",), reductions=()),
    Call("softplus", lambda d: dict(input=_x(d), beta=2.0, threshold=20.0), reals=("input",),
         numbers=("beta", "threshold"), reductions=()),
    Call("ctc_loss", lambda d: {**_ctc(d), "blank": 0, "zero_infinity": False}, reals=("log_probs",),
         indices=("targets",), lengths=("input_lengths", "target_lengths"), ints=("blank",),
         flags=("zero_infinity",)),
    Call("cosine_similarity", lambda d: dict(x1=_x(d), x2=_unit(d), dim=1, eps=1e-8), reals=("x1", "x2"),
         ints=("dim",), numbers=("eps",), reductions=()),
    Call("pairwise_distance", lambda d: dict(x1=_x(d), x2=_unit(d), p=2.0, eps=1e-6, keepdim=False),
         reals=("x1", "x2"), numbers=("p", "eps"), flags=("keepdim",), reductions=()),
    Call("cosine_embedding_loss", lambda d: dict(input1=_x(d), input2=_unit(d), target=np.array([1, -1]), margin=0.1),
         reals=("input1", "input2"), others=("target",), numbers=("margin",)),
    Call("triplet_margin_loss", lambda d: {**_triplet(d), "margin": 1.0, "p": 2.0, "eps": 1e-6, "swap": False},
         reals=("anchor", "positive", "negative"), numbers=("margin", "p", "eps"), flags=("swap",)),
    Call("triplet_margin_with_distance_loss", lambda d: {**_triplet(d), "margin": 1.0, "swap": True},
         reals=("anchor", "positive", "negative"), numbers=("margin",), flags=("swap",)),
    Call("focal_loss", lambda d: {**_ce(d), "gamma": 2.0, "ignore_index": -100}, reals=("input", "weight"), others=("target",),
         numbers=("gamma",), ints=("ignore_index",)),
    Call("sigmoid_focal_loss", lambda d: dict(inputs=_x(d), targets=_unit(d), alpha=0.25, gamma=2.0),
         reals=("inputs", "targets"), numbers=("alpha", "gamma")),
    Call("linear_cross_entropy",
         lambda d: dict(input=_x(d, (2, 4)), linear_weight=_x(d, (3, 4)), target=np.array([0, 2]),
                        linear_bias=_unit(d, (3,)), weight=_unit(d, (3,)), label_smoothing=0.1),
         reals=("input", "linear_weight", "linear_bias", "weight"), others=("target",), numbers=("label_smoothing",)),
    Call("hinge_embedding_loss", lambda d: dict(input=_x(d), target=_signs(d), margin=1.0),
         reals=("input", "target"), int_ok=("target",), numbers=("margin",)),
    Call("margin_ranking_loss", lambda d: dict(input1=_x(d), input2=_unit(d), target=_signs(d), margin=0.1),
         reals=("input1", "input2", "target"), int_ok=("target",), numbers=("margin",)),
    Call("multi_margin_loss", lambda d: dict(input=_x(d), target=np.array([0, 2]), p=1, margin=1.0, weight=_unit(d, (3,))),
         reals=("input", "weight"), indices=("target",), numbers=("margin",)),
    Call("multilabel_margin_loss", lambda d: dict(input=_x(d), target=np.array([[0, 2, -1], [1, -1, 0]])),
         reals=("input",), indices=("target",)),
    Call("multilabel_soft_margin_loss", lambda d: dict(input=_x(d), target=(_unit(d) > 0.5).astype(d), weight=_unit(d, (3,))),
         reals=("input", "target", "weight"), int_ok=("target",)),
    Call("soft_margin_loss", lambda d: dict(input=_x(d), target=_signs(d)), reals=("input", "target"), int_ok=("target",)),
    Call("gaussian_nll_loss", lambda d: dict(input=_x(d), target=_unit(d), var=_unit(d) + 0.5, full=False, eps=1e-6),
         reals=("input", "target", "var"), flags=("full",), numbers=("eps",)),
    Call("kl_div", lambda d: dict(input=np.log(_unit(d)), target=_unit(d)[::-1].copy(), reduction="batchmean",
                                  log_target=False),
         reals=("input", "target"), flags=("log_target",), reductions=("none", "batchmean", "sum", "mean")),
    Call("poisson_nll_loss", lambda d: dict(input=_x(d), target=_unit(d) * 3, log_input=True, full=True, eps=1e-8),
         reals=("input", "target"), int_ok=("target",), flags=("log_input", "full"), numbers=("eps",)),
)

BY_NAME = {c.name: c for c in CALLS}


def torch_function(name: str) -> Callable[..., Any] | None:
    """torch's function of this name (torch.logsumexp for logsumexp); None where torch has none
    or is not installed."""
    try:
        import torch
    except ImportError:
        return None

    if name == "logsumexp":
        return torch.logsumexp
    return getattr(torch.nn.functional, name, None)
