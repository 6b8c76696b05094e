"""Losses and activations with ``torch.nn.functional``'s names, signatures and semantics.

Each function checks its arguments (the only place they are checked), resolves torch's legacy
``size_average``/``reduce`` into ``reduction``, and hands the op to :mod:`losskit.dispatch`.
Called with plain arrays, a function returns an array of the same kind (a 0-d array when
reduced); called with :class:`losskit.Tensor` arguments, a Tensor that can be differentiated.
No function modifies its inputs.

Differences from torch are deliberate and listed in ``docs/deviations.md``: a target whose shape
differs from the input's is an error (torch warns and broadcasts), and values are exact where
torch overflows or cancels.
"""

from __future__ import annotations

import warnings
from typing import Any

from . import _array, _checks, _reduction
from .autograd.tensor import Tensor
from .dispatch import call
from .losses import activations, binary, classification, regression

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "huber_loss",
    "l1_loss",
    "log_softmax",
    "logsigmoid",
    "logsumexp",
    "mse_loss",
    "nll_loss",
    "sigmoid",
    "smooth_l1_loss",
    "softmax",
    "softplus",
]


# --- regression -------------------------------------------------------------------------------


def _pointwise_args(input: Any, target: Any, weight: Any) -> Any:
    _checks.same_library("input", input, target=target, weight=weight)
    x = _checks.floating(input, "input")
    y = _checks.same_dtype(target, "target", x)
    _checks.same_shape(y, "target", x)
    if weight is not None:
        w = _checks.same_dtype(weight, "weight", x)
        _checks.same_shape(w, "weight", x)
    return x


def l1_loss(
    input: Any,
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Any:
    r"""Mean absolute error: ``l_n = w_n |x_n - y_n|``.

    'mean' is ``sum(l) / sum(w)`` with a weight, ``mean(l)`` without. Gradient ``w sign(x - y)``.

    >>> import numpy as np, losskit.functional as F
    >>> F.l1_loss(np.array([0.0, 0.1, 0.2]), np.array([0.0, 0.2, 0.25]))
    array(0.05)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _pointwise_args(input, target, weight)
    return call(regression.l1, (input, target, weight), reduction=reduction)


def mse_loss(
    input: Any,
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    weight: Any = None,
) -> Any:
    r"""Mean squared error: ``l_n = w_n (x_n - y_n)^2``.

    'mean' is ``sum(l) / sum(w)`` with a weight, ``mean(l)`` without. Gradient ``2 w (x - y)``.

    >>> import numpy as np, losskit.functional as F
    >>> F.mse_loss(np.array([1.0, 2.0]), np.array([0.0, 0.0]))
    array(2.5)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _pointwise_args(input, target, weight)
    return call(regression.mse, (input, target, weight), reduction=reduction)


def huber_loss(
    input: Any,
    target: Any,
    reduction: str = "mean",
    delta: float = 1.0,
    weight: Any = None,
) -> Any:
    r"""Huber loss: ``l_n = w_n (d^2 / 2)`` if ``|d| < delta`` else ``w_n delta (|d| - delta / 2)``.

    ``d = x_n - y_n``; 'mean' is ``mean(w l)`` (torch's choice, unlike l1 and mse).
    Gradient ``w clip(d, -delta, delta)``.

    >>> import numpy as np, losskit.functional as F
    >>> F.huber_loss(np.array([0.5, 3.0]), np.array([0.0, 0.0]), reduction='none')
    array([0.125, 2.5  ])
    """
    reduction = _reduction.resolve(reduction)
    delta = _checks.number(delta, "delta", low=0.0, low_open=True)
    _pointwise_args(input, target, weight)
    return call(regression.huber, (input, target, weight), reduction=reduction, delta=delta)


def smooth_l1_loss(
    input: Any,
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    beta: float = 1.0,
) -> Any:
    r"""Smooth L1: ``l_n = d^2 / (2 beta)`` if ``|d| < beta`` else ``|d| - beta / 2``.

    ``d = x_n - y_n``; ``beta = 0`` is exactly the L1 loss. Gradient ``clip(d / beta, -1, 1)``.

    >>> import numpy as np, losskit.functional as F
    >>> F.smooth_l1_loss(np.array([0.0, 0.1, 0.2]), np.array([0.0, 0.2, 0.25]), beta=0.5)
    array(0.00416667)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    beta = _checks.number(beta, "beta", low=0.0)
    _pointwise_args(input, target, None)
    if beta == 0.0:
        return call(regression.l1, (input, target, None), reduction=reduction)
    return call(regression.smooth_l1, (input, target, None), reduction=reduction, beta=beta)


# --- binary classification ----------------------------------------------------------------------


def _binary_args(input: Any, target: Any, weight: Any, pos_weight: Any = None) -> Any:
    _checks.same_library("input", input, target=target, weight=weight, pos_weight=pos_weight)
    x = _checks.floating(input, "input")
    y = _checks.same_dtype(target, "target", x)
    _checks.same_shape(y, "target", x)
    for arg, name in ((weight, "weight"), (pos_weight, "pos_weight")):
        if arg is not None:
            _checks.broadcastable_to(_checks.same_dtype(arg, name, x), name, tuple(x.shape))
    return x


def binary_cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""Binary cross entropy of probabilities: ``l_n = -w_n [y log x + (1 - y) log(1 - x)]``.

    Each log is clamped at -100, torch's definition. ``input`` must lie in [0, 1] (nan does
    not, as in torch); ``target`` is not checked (torch's is), the loss being linear in it;
    ``weight`` broadcasts to the input's shape.

    >>> import numpy as np, losskit.functional as F
    >>> F.binary_cross_entropy(np.array([0.1, 0.9, 0.8, 0.3]), np.array([0.0, 1.0, 1.0, 0.0]))
    array(0.19763488)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    x = _binary_args(input, target, weight)
    _checks.in_unit_interval(x, "input")
    _checks.in_unit_interval(_checks.data(target), "target")  # torch 2.13 raises too
    return call(binary.binary_cross_entropy, (input, target, weight), reduction=reduction)


def binary_cross_entropy_with_logits(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Any:
    r"""Sigmoid and binary cross entropy in one stable step.

    ``l_n = w_n [p y softplus(-x) + (1 - y) softplus(x)]``, ``p`` the ``pos_weight`` (broadcast
    along the trailing, class, dimension as in torch). Exact where torch cancels: ``y = 0,
    x = -40`` gives ``4.25e-18``.

    >>> import numpy as np, losskit.functional as F
    >>> F.binary_cross_entropy_with_logits(np.array([-0.7844, -1.8377, 0.1435]), np.array([1.0, 0.0, 1.0]))
    array(0.6440159)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _binary_args(input, target, weight, pos_weight)
    return call(
        binary.binary_cross_entropy_with_logits, (input, target, weight, pos_weight), reduction=reduction
    )


# --- multi-class classification -----------------------------------------------------------------


def cross_entropy(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Any:
    r"""Cross entropy of logits against class indices or class probabilities.

    ``input``: ``(C)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``. ``target``: integer class
    indices of shape ``()``, ``(N)`` or ``(N, d1, ..., dk)``, or probabilities of the input's
    shape. With indices, ``l_n = -(1 - eps) w_{t_n} log p_{n,t_n} - (eps / C) sum_c w_c
    log p_{n,c}`` (0 where ``t_n == ignore_index``) and 'mean' divides by the sum of
    ``w_{t_n}`` over the targets not ignored. With probabilities, ``l_n = -sum_c w_c y'_{n,c}
    log p_{n,c}``, ``y' = (1 - eps) y + eps / C``, and 'mean' divides by the number of samples.
    ``log p = log_softmax(input)`` along the class axis, from one stable log-sum-exp.

    >>> import numpy as np, losskit.functional as F
    >>> logits = np.array([[0.121, 0.434, 0.2, 0.3343], [0.3, 0.342, 0.6, 0.123], [5., 2., -1., 3.]])
    >>> F.cross_entropy(logits, np.array([1, 0, 3]))
    array(1.6153863)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.same_library("input", input, target=target, weight=weight)
    x = _checks.class_input(input)
    ignore_index = _checks.integer(ignore_index, "ignore_index")
    label_smoothing = _checks.number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    axis = classification.class_axis(x.ndim)
    _checks.class_weight(weight, x.shape[axis], x)
    probabilities = _checks.class_target(target, x, ignore_index)
    return call(
        classification.cross_entropy,
        (input, target, weight),
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        probabilities=probabilities,
    )


def nll_loss(
    input: Any,
    target: Any,
    weight: Any = None,
    size_average: bool | None = None,
    ignore_index: int = -100,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""Negative log-likelihood of log-probabilities: ``l_n = -w_{t_n} x_{n, t_n}``.

    0 where ``t_n == ignore_index``; 'mean' divides by the sum of ``w_{t_n}`` over the targets
    not ignored (nan when all are ignored). Shapes as :func:`cross_entropy` with indices.

    >>> import numpy as np, losskit.functional as F
    >>> F.nll_loss(np.log(np.array([[0.5, 0.5], [0.1, 0.9]])), np.array([0, 1]))
    array(0.39925385)
    """
    reduction = _reduction.resolve(reduction, size_average, reduce)
    _checks.same_library("input", input, target=target, weight=weight)
    x = _checks.class_input(input)
    ignore_index = _checks.integer(ignore_index, "ignore_index")
    _checks.class_weight(weight, x.shape[classification.class_axis(x.ndim)], x)
    _checks.class_index_target(target, x, ignore_index)
    return call(classification.nll_loss, (input, target, weight), reduction=reduction, ignore_index=ignore_index)


# --- activations --------------------------------------------------------------------------------


def _softmax_dim(name: str, x: Any, dim: int | None, stacklevel: int) -> int:
    if dim is None:
        warnings.warn(
            f"Implicit dimension choice for {name} has been deprecated (as in torch); "
            "pass dim=",
            UserWarning,
            stacklevel=stacklevel,
        )
        return 0 if x.ndim in (0, 1, 3) else 1
    dim = _checks.integer(dim, "dim")
    if not -max(x.ndim, 1) <= dim < max(x.ndim, 1):
        raise IndexError(f"dim {dim} is out of range for an input with {x.ndim} dimensions")
    return dim % max(x.ndim, 1)


def _cast(input: Any, dtype: Any) -> Any:
    """torch's ``dtype=``: cast the input before the op (plain arrays only)."""
    if dtype is None:
        return input
    if isinstance(input, Tensor):
        raise TypeError("dtype= is supported for plain arrays only; cast a Tensor before the call")
    d = _checks.array(input, "input")
    xp = _array.namespace(d)
    try:
        floating = xp.isdtype(dtype, "real floating")
    except (TypeError, AttributeError):  # not a dtype object of this library
        floating = False
    if not floating:
        raise TypeError(
            f"dtype must be a real floating-point dtype of the input's library ({_checks.kind(d)}), "
            f"got {dtype!r}"
        )
    return xp.astype(d, dtype)


def softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Any:
    """``exp(x - logsumexp(x))`` along ``dim`` (torch's implicit-dim rule when None, with a warning)."""
    input = _cast(input, dtype)
    x = _checks.floating(input, "input")
    axis = _softmax_dim("softmax", x, dim, _stacklevel)
    return call(activations.softmax, (input,), axis=None if x.ndim == 0 else axis)


def log_softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Any:
    """``x - logsumexp(x)`` along ``dim``, exact also where the result is near 0."""
    input = _cast(input, dtype)
    x = _checks.floating(input, "input")
    axis = _softmax_dim("log_softmax", x, dim, _stacklevel)
    return call(activations.log_softmax, (input,), axis=None if x.ndim == 0 else axis)


def logsumexp(input: Any, dim: int | tuple[int, ...], keepdim: bool = False) -> Any:
    """``log(sum(exp(x), dim))`` with a max shift and ``log1p``; exact where the sum is 1 + tiny."""
    x = _checks.floating(input, "input")
    keepdim = _checks.flag(keepdim, "keepdim")
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if not dims:
        raise ValueError("dim must name at least one dimension, got ()")
    rank = max(x.ndim, 1)  # a 0-d input takes dim 0 or -1, as in torch
    axes = []
    for d in dims:
        d = _checks.integer(d, "dim")
        if not -rank <= d < rank:
            raise IndexError(f"dim {d} is out of range for an input with {x.ndim} dimensions")
        if d % rank in axes:
            raise ValueError(f"dim {d} appears more than once in dim={tuple(dims)}")
        axes.append(d % rank)
    if x.ndim == 0:
        # logsumexp of a 0-d x over its one "dim" is x itself: the op reduces over no axis.
        return call(activations.logsumexp, (input,), axis=None, keepdims=keepdim)
    axis = tuple(axes) if len(axes) > 1 else axes[0]
    return call(activations.logsumexp, (input,), axis=axis, keepdims=keepdim)


def sigmoid(input: Any) -> Any:
    """``1 / (1 + exp(-x))``, computed without overflow for either sign."""
    _checks.floating(input, "input")
    return call(activations.sigmoid, (input,))


def logsigmoid(input: Any) -> Any:
    """``log(sigmoid(x)) = -softplus(-x)``: exact for large ``|x|`` of either sign."""
    _checks.floating(input, "input")
    return call(activations.logsigmoid, (input,))


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    """``log(1 + exp(beta x)) / beta``, and ``x`` where ``beta x > threshold`` (torch's definition)."""
    _checks.floating(input, "input")
    beta = _checks.number(beta, "beta")
    if beta == 0.0:
        raise ValueError(f"beta must be nonzero, got {beta!r}")
    threshold = _checks.number(threshold, "threshold")
    return call(activations.softplus, (input,), beta=beta, threshold=threshold)


# --- the rest of the catalog: one module per family in losskit/_functional/ ----------------------

from ._functional import ctc as _ctc  # noqa: E402
from ._functional import embedding as _embedding  # noqa: E402
from ._functional import focal as _focal  # noqa: E402
from ._functional import linear_cross_entropy as _linear_cross_entropy  # noqa: E402
from ._functional import margin as _margin  # noqa: E402
from ._functional import probabilistic as _probabilistic  # noqa: E402
from ._functional.ctc import *  # noqa: E402,F401,F403
from ._functional.embedding import *  # noqa: E402,F401,F403
from ._functional.focal import *  # noqa: E402,F401,F403
from ._functional.linear_cross_entropy import *  # noqa: E402,F401,F403
from ._functional.margin import *  # noqa: E402,F401,F403
from ._functional.probabilistic import *  # noqa: E402,F401,F403

for _family in (_ctc, _embedding, _focal, _linear_cross_entropy, _margin, _probabilistic):
    __all__ += _family.__all__
del _family
