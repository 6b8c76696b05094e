"""Negative log-likelihoods and the KL divergence, with ``torch.nn.functional``'s names.

The math (values, gradients, the ``0 log 0 = 0`` conventions) is in
:mod:`losskit.losses.probabilistic`. Shapes must match exactly where torch would broadcast input
against target; ``gaussian_nll_loss``'s ``var`` follows torch's own shape rules.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

from .. import _array, _checks, _reduction
from ..dispatch import call
from ..losses import probabilistic as ops

__all__ = ["gaussian_nll_loss", "kl_div", "poisson_nll_loss"]

KL_MEAN_WARNING = (
    "reduction: 'mean' divides the total loss by both the batch size and the support size."
    "'batchmean' divides only by the batch size, and aligns with the KL div math definition."
    "'mean' will be changed to behave the same as 'batchmean' in the next major release."
)


def _resolve(reduction: Any, size_average: Any = None, reduce: Any = None) -> str:
    """torch's rule for these losses: 'elementwise_mean' is not a valid reduction here."""
    if size_average is None and reduce is None and reduction == "elementwise_mean":
        raise ValueError("reduction must be one of 'none', 'mean', 'sum', got 'elementwise_mean'")
    return _reduction.resolve(reduction, size_average, reduce)


def poisson_nll_loss(
    input: Any,
    target: Any,
    log_input: bool = True,
    full: bool = False,
    size_average: bool | None = None,
    eps: float = 1e-8,
    reduce: bool | None = None,
    reduction: str = "mean",
) -> Any:
    r"""Negative log-likelihood of a Poisson distribution with rate ``input`` (or ``exp(input)``).

    ``l_n = exp(x_n) - y_n x_n`` when ``log_input`` (``x`` is the log-rate), else
    ``l_n = x_n - y_n log(x_n + eps)``. With ``full``, the Stirling approximation of
    ``log(y!)``, ``y log y - y + log(2 pi y) / 2``, is added where ``y > 1`` (0 elsewhere, as in
    torch). ``y x`` and ``y log(x + eps)`` are 0 where ``y = 0`` (``0 log 0 = 0``), even for
    ``x = -inf`` resp. ``x + eps = 0``, where torch gives nan.

    Reductions: 'none' (the input's shape), 'mean' (over all elements; nan when empty), 'sum'.
    ``target``: the input's shape; float of the input's dtype, or integer counts. Both the input
    and a float target can be differentiated.

    >>> import numpy as np, losskit.functional as F
    >>> F.poisson_nll_loss(np.array([0.5, -1.0, 2.0]), np.array([0.0, 1.5, 3.0]))
    array(1.63521894)
    >>> F.poisson_nll_loss(np.array([0.5, 1.0, 2.0]), np.array([0, 1, 3]), log_input=False, full=True, reduction='none')
    array([0.5       , 0.99999999, 1.68463999])
    """
    reduction = _resolve(reduction, size_average, reduce)
    _checks.same_library("input", input, target=target)
    x = _checks.floating(input, "input")
    log_input = _checks.flag(log_input, "log_input")
    full = _checks.flag(full, "full")
    eps = _checks.number(eps, "eps")
    target = _checks.matching_target(target, x)
    return call(
        ops.poisson_nll_loss, (input, target), reduction=reduction, log_input=log_input, full=full, eps=eps
    )


def _var_layout(v: Any, x: Any) -> bool:
    """torch's accepted shapes for ``var``; True when it must be unsqueezed at the end."""
    vs, xs = tuple(v.shape), tuple(x.shape)
    if vs == xs:
        return False
    if vs == xs[:-1]:
        return True
    if len(vs) == len(xs):
        mismatched = [b for a, b in zip(xs, vs) if a != b]
        if mismatched == [1]:
            return False
    raise ValueError(
        f"var of shape {vs} must have the input's shape {xs}, that shape without its last "
        f"dimension {xs[:-1]}, or the input's shape with exactly one dimension of size 1"
    )


def gaussian_nll_loss(
    input: Any,
    target: Any,
    var: Any,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Any:
    r"""Negative log-likelihood of a Gaussian with mean ``input`` and variance ``var``.

    ``l_n = (log v_n + (x_n - y_n)^2 / v_n) / 2`` with ``v = max(var, eps)``, plus
    ``log(2 pi) / 2`` when ``full``. As in torch the clamp does not enter the gradient: the
    derivative with respect to ``var`` is ``(1 / v - (x - y)^2 / v^2) / 2``, taken at ``v``,
    also where ``var < eps``.

    ``var``: a non-negative Python number (one variance for all), or an array of the input's
    dtype with the input's shape (heteroscedastic), the input's shape without its last dimension
    (unsqueezed at the end: one variance per row), or the input's shape with exactly one
    dimension of size 1 (broadcast along it). Other shapes and negative entries are ValueErrors.
    ``target``: the input's shape and dtype.

    Reductions: 'none' (the input's shape), 'mean' (over all elements; nan when empty), 'sum'.
    Gradients for input, target and an array ``var``.

    >>> import numpy as np, losskit.functional as F
    >>> F.gaussian_nll_loss(np.array([[0.5, 1.0], [2.0, 0.0]]), np.array([[0.0, 1.0], [1.0, 1.0]]), np.array([0.5, 2.0]))
    array(0.1875)
    """
    _checks.same_library("input", input, target=target, var=var)
    x = _checks.floating(input, "input")
    y = _checks.same_dtype(target, "target", x)
    _checks.same_shape(y, "target", x)
    if isinstance(var, numbers.Real) and not isinstance(var, bool):
        if var < 0:
            raise ValueError(f"var must be non-negative, got {var!r}")
        var, unsqueeze = float(var), False
    else:
        v = _checks.same_dtype(var, "var", x)
        if _checks.concrete(v) and _array.size(v) and _checks.any_true(v < 0):
            raise ValueError(
                f"var has negative entries (the first: {_checks.first_where(v < 0, v)!r}): "
                "variances must be non-negative"
            )
        unsqueeze = _var_layout(v, x)
    reduction = _resolve(reduction)
    full = _checks.flag(full, "full")
    eps = _checks.number(eps, "eps")
    return call(
        ops.gaussian_nll_loss,
        (input, target, var),
        reduction=reduction,
        full=full,
        eps=eps,
        unsqueeze=unsqueeze,
    )


def kl_div(
    input: Any,
    target: Any,
    size_average: bool | None = None,
    reduce: bool | None = None,
    reduction: str = "mean",
    log_target: bool = False,
) -> Any:
    r"""Kullback-Leibler divergence of ``target`` from ``exp(input)``, pointwise.

    ``input`` holds log-probabilities ``x``. ``l_n = y_n (log y_n - x_n)`` when the target holds
    probabilities; ``l_n = exp(y_n) (y_n - x_n)`` when ``log_target`` (log-probabilities). A
    zero-probability target (``y = 0``, resp. ``y = -inf``) contributes exactly 0 whatever
    ``x`` is, ``x = -inf`` included (torch: nan).

    Reductions: 'none' (the input's shape), 'sum', 'batchmean' (the sum divided by the batch
    size ``input.shape[0]``, the sum itself for a 0-d input: the true KL divergence of each
    row, averaged), and 'mean' (divided by the number of elements: a UserWarning recommends
    'batchmean', as in torch). ``target``: the input's shape and dtype. Gradients for input and
    target.

    >>> import numpy as np, losskit.functional as F
    >>> log_q = np.log(np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]]))
    >>> F.kl_div(log_q, np.array([[0.9, 0.05, 0.05], [0.1, 0.7, 0.2]]), reduction='batchmean')
    array(0.35532047)
    """
    legacy = size_average is not None or reduce is not None
    if not legacy and isinstance(reduction, str) and reduction == "mean":
        warnings.warn(KL_MEAN_WARNING, UserWarning, stacklevel=2)
    batchmean = isinstance(reduction, str) and reduction == "batchmean"
    effective = _reduction.resolve(
        reduction, size_average, reduce, allowed=("none", "batchmean", "sum", "mean")
    )
    _checks.same_library("input", input, target=target)
    x = _checks.floating(input, "input")
    y = _checks.same_dtype(target, "target", x)
    _checks.same_shape(y, "target", x)
    log_target = _checks.flag(log_target, "log_target")
    if effective == "batchmean":
        effective = "sum"
    divisor = x.shape[0] if batchmean and x.ndim != 0 else None
    return call(ops.kl_div, (input, target), reduction=effective, log_target=log_target, divisor=divisor)
