"""``linear_cross_entropy``: a linear layer and cross entropy, computed in chunks of the batch.

Also home of :class:`LinearCrossEntropyOptions` (exported by :mod:`losskit.nn`, as torch exports
it from ``torch.nn``).
"""

from __future__ import annotations

import dataclasses
import math
import sys
from typing import Any

import array_api_compat
import numpy as np

from .. import _array, _checks, _reduction
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.tensor import Tensor
from ..dispatch import call
from ..losses import linear_cross_entropy as _op

__all__ = ["linear_cross_entropy"]

_ACC_POLICIES = ("auto", "accurate", "balanced", "compact")


@dataclasses.dataclass(frozen=True)
class LinearCrossEntropyOptions:
    """How :func:`linear_cross_entropy` cuts the batch into chunks (torch's fields and checks).

    * ``batch_chunk_size``: rows per chunk (a positive int), or None;
    * ``chunking_method``: ``"auto"`` (torch's choice for CPU float32/float64:
      ``"aspect_ratio:2"``), ``"aspect_ratio"``, ``"aspect_ratio:k"`` or None. The aspect-ratio
      rule makes a chunk's ``(rows, C)`` logits about as large as the ``(N, H)`` input:
      ``rows = next_pow2(ceil(N / ceil(C / H))) // k``, at most ``N``. An explicit
      ``batch_chunk_size`` switches ``"auto"`` off; a size and a method that disagree are a
      ValueError, as in torch;
    * ``acc_policy`` (``"auto"``, ``"accurate"``, ``"balanced"``, ``"compact"``): validated and
      ignored: losskit has one policy (every intermediate in the input's dtype, weight gradient
      accumulated in place);
    * ``acc_dtype``: None or the input's dtype (given as a NumPy/torch dtype or its name); any
      other dtype is a ValueError, since losskit computes in the input's dtype;
    * ``allow_retain_graph``: validated and ignored: losskit's backward never consumes its saved
      values, so a second backward (``retain_graph=True``) always works.

    A ``torch.nn.LinearCrossEntropyOptions`` is accepted too.
    """

    allow_retain_graph: bool = False
    batch_chunk_size: int | None = None
    chunking_method: str | None = "auto"
    acc_policy: str = "auto"
    acc_dtype: Any = None

    def __post_init__(self) -> None:
        _validate_options(self)


def _validate_options(o: Any) -> None:
    if not isinstance(o.allow_retain_graph, bool):
        raise TypeError(f"options.allow_retain_graph must be a bool, got {o.allow_retain_graph!r}")
    if o.acc_policy not in _ACC_POLICIES:
        raise ValueError(f"invalid acc_policy: {o.acc_policy!r} (expected one of {', '.join(_ACC_POLICIES)})")
    method = o.chunking_method
    if method is not None and method != "auto":
        name, sep, factor = str(method).partition(":")
        if not isinstance(method, str) or not (
            name == "aspect_ratio" and (not sep or (factor.isdigit() and int(factor) > 0))
        ):
            raise ValueError(
                f"invalid chunking_method: {method!r} (expected 'auto', 'aspect_ratio', "
                "'aspect_ratio:k' with k >= 1, or None)"
            )
    size = o.batch_chunk_size
    if not (size is None or (isinstance(size, int) and not isinstance(size, bool) and size > 0)):
        raise ValueError(f"batch_chunk_size must be positive int or None, got {size!r}")


def _dtype_name(dtype: Any) -> str:
    """'float32' for np.float32, np.dtype('float32'), torch.float32, 'float32', strict's float32."""
    if isinstance(dtype, str):
        return dtype
    if not str(dtype).startswith("torch."):
        try:
            return np.dtype(dtype).name
        except TypeError:
            pass
    return str(dtype).rsplit(".", 1)[-1]


def _aspect_ratio_rows(n: int, h: int, classes: int, method: str) -> int:
    """torch's rule: a chunk's logits about as large as the input, divided by the factor."""
    factor = int(method.split(":", 1)[1]) if ":" in method else 1
    inc = -(-classes // max(h, 1))
    target = -(-n // max(inc, 1))
    rows = 1 << (target - 1).bit_length() if target > 0 else 1
    return min(rows // factor, n)


# With options=None, chunks of torch's "aspect_ratio" rule, but at least this many rows: below
# that the per-chunk accumulation of the (C, H) weight gradient costs more than the chunk's
# products, and the logits of so few rows are small anyway.
_MIN_DEFAULT_ROWS = 256


def _chunk_rows(options: Any, n: int, h: int, classes: int, dtype: Any) -> int:
    """Rows per chunk, resolved as torch's ``LinearCrossEntropyOptions._adjust`` does."""
    if options is None:
        return max(1, min(n, max(_aspect_ratio_rows(n, h, classes, "aspect_ratio"), _MIN_DEFAULT_ROWS)))
    fields = ("allow_retain_graph", "batch_chunk_size", "chunking_method", "acc_policy", "acc_dtype")
    if not all(hasattr(options, f) for f in fields):
        raise TypeError(
            "options must be None or a LinearCrossEntropyOptions (losskit.nn's or torch.nn's), "
            f"got {type(options).__name__}"
        )
    _validate_options(options)
    if options.acc_dtype is not None and _dtype_name(options.acc_dtype) != _dtype_name(dtype):
        raise ValueError(
            f"options.acc_dtype={options.acc_dtype!r} is not supported: losskit computes in the "
            f"input's dtype {_dtype_name(dtype)}; pass acc_dtype=None"
        )
    size = options.batch_chunk_size
    method = options.chunking_method
    if method == "auto":
        method = None if size is not None else "aspect_ratio:2"
    rows = n if size is None else min(size, n)
    if method is not None:
        rows = _aspect_ratio_rows(n, h, classes, method)
        if size is not None and size != rows:
            raise ValueError(
                f"batch_chunk_size (={size}) and chunking_method ('{method}') give different "
                f"chunk sizes ({size} vs {rows}); pass only one."
            )
    return max(1, rows)


def _wants_grad(v: Any) -> bool:
    """Whether ``v`` will receive a gradient from the call about to be recorded."""
    if isinstance(v, Tensor):
        return v.requires_grad and is_grad_enabled()
    if array_api_compat.is_torch_array(v):
        return bool(v.requires_grad) and sys.modules["torch"].is_grad_enabled()
    return False


def _index_target(target: Any, t: Any, expected: tuple, n_classes: int, ignore_index: int) -> None:
    xp = _array.namespace(t)
    if tuple(t.shape) != expected:
        raise ValueError(
            f"target shape {tuple(t.shape)} must be {expected} (class indices) or the logits' shape "
            "(class probabilities) for this input and linear_weight"
        )
    if _checks.concrete(t) and _array.size(t):
        bad = ((t < 0) | (t >= n_classes)) & (t != ignore_index)
        if bool(xp.any(bad)):
            high = int(xp.max(xp.where(bad, t, -1)))
            offender = high if high >= n_classes else int(xp.min(xp.where(bad, t, 0)))
            raise IndexError(
                f"target {offender} is out of bounds: class indices must be in [0, {n_classes}) "
                f"or equal ignore_index={ignore_index}"
            )


def linear_cross_entropy(
    input: Any,
    linear_weight: Any,
    target: Any,
    *,
    linear_bias: Any = None,
    weight: Any = None,
    reduction: str = "mean",
    ignore_index: int | None = None,
    label_smoothing: float = 0.0,
    options: Any = None,
) -> Any:
    r"""Cross entropy of the logits ``input @ linear_weight.T + linear_bias`` against ``target``.

    The value is :func:`cross_entropy` of those logits (class indices or probabilities, class
    ``weight``, ``ignore_index``, ``label_smoothing``, reductions), as in torch, but the logits
    are computed for a chunk of rows at a time, in the forward and in the backward, so the full
    ``(N, C)`` logits never exist: memory grows with the chunk, not with ``N C``. For 'mean'
    and 'sum' the forward accumulates the gradients of the inputs that require one chunk by
    chunk and keeps only those (the backward scales them); for 'none' the backward recomputes
    each chunk's logits.

    Shapes (torch's): ``input`` ``(H)`` or ``(N, H)`` (flatten leading axes first:
    ``x.reshape(-1, H)``); ``linear_weight`` ``(C, H)``, or ``(C, d1, ..., dK, H)`` for a
    K-dimensional loss (logits ``(N, C, d1, ..., dK)``, batched input only); ``linear_bias`` the
    weight's shape without ``H``; ``target`` integer class indices ``()``, ``(N)`` or
    ``(N, d1, ..., dK)``, or probabilities of the logits' shape; ``weight`` ``(C)``.
    ``ignore_index=None`` means -100 for class indices; with probabilities it must be None.

    ``options`` (a :class:`losskit.nn.LinearCrossEntropyOptions` or torch's) sets the chunk
    size as in torch; its precision fields are checked and ignored (see the class). With
    ``options=None`` (torch's unchunked reference path) losskit still chunks, with torch's
    "aspect_ratio" rule and at least 256 rows per chunk: the values are the same.

    >>> import numpy as np, losskit.functional as F
    >>> x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    >>> F.linear_cross_entropy(x, W, np.array([0, 1, 2]))
    array(0.81971721)
    """
    reduction = _reduction.resolve(reduction)
    _checks.same_library(
        "input", input, linear_weight=linear_weight, target=target, linear_bias=linear_bias, weight=weight
    )
    x = _checks.floating(input, "input")
    if x.ndim not in (1, 2):
        raise ValueError(
            f"input must have shape (in_features) or (N, in_features), got {tuple(x.shape)}; "
            "flatten the leading axes first (x.reshape(-1, in_features)), as torch requires"
        )
    w = _checks.same_dtype(linear_weight, "linear_weight", x)
    if w.ndim < 2:
        raise ValueError(
            f"linear_weight must have shape (C, in_features) or (C, d1, ..., dK, in_features), "
            f"got {tuple(w.shape)}"
        )
    h = x.shape[-1]
    if w.shape[-1] != h:
        raise ValueError(
            f"linear_weight's last dimension {w.shape[-1]} must equal input's in_features {h} "
            f"(input shape {tuple(x.shape)}, linear_weight shape {tuple(w.shape)})"
        )
    n_classes = w.shape[0]
    out_features = tuple(w.shape[1:-1])
    if linear_bias is not None:
        b = _checks.same_dtype(linear_bias, "linear_bias", x)
        if tuple(b.shape) != (n_classes, *out_features):
            raise ValueError(
                f"linear_bias shape {tuple(b.shape)} must be {(n_classes, *out_features)} "
                "(linear_weight's shape without in_features)"
            )
    if out_features and x.ndim == 1:
        raise ValueError(
            f"a K-dimensional loss (linear_weight shape {tuple(w.shape)}) needs batched input "
            f"(N, {h}), got input shape {tuple(x.shape)}"
        )
    _checks.class_weight(weight, n_classes, x)
    label_smoothing = _checks.number(label_smoothing, "label_smoothing", low=0.0, high=1.0)
    if ignore_index is not None:
        ignore_index = _checks.integer(ignore_index, "ignore_index")
    batch = tuple(x.shape[:-1])
    logits_shape = (*batch, n_classes, *out_features)
    t = _checks.array(target, "target")
    probabilities = _array.is_floating(_array.namespace(t), t)
    if probabilities:
        _checks.same_dtype(target, "target", x)
        if tuple(t.shape) != logits_shape:
            raise ValueError(
                f"target of class probabilities must have the logits' shape {logits_shape}, "
                f"got {tuple(t.shape)}"
            )
        if ignore_index is not None:
            raise ValueError("ignore_index cannot be specified when target contains probabilities")
        ignore_index = -100
    else:
        if not _array.is_integral(_array.namespace(t), t):
            raise TypeError(f"target must hold integer class indices or probabilities, got dtype {t.dtype}")
        ignore_index = -100 if ignore_index is None else ignore_index
        _index_target(target, t, (*batch, *out_features), n_classes, ignore_index)
    n = batch[0] if batch else 1
    rows = _chunk_rows(options, n, h, n_classes * math.prod(out_features), x.dtype)
    precompute = (_wants_grad(input), _wants_grad(linear_weight), _wants_grad(linear_bias))
    return call(
        _op.linear_cross_entropy,
        (input, linear_weight, target, linear_bias, weight),
        reduction=reduction,
        ignore_index=ignore_index,
        label_smoothing=label_smoothing,
        probabilities=probabilities,
        chunk_size=rows,
        precompute=precompute,
    )
