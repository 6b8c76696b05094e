"""``losskit plot``: a loss and its gradient against the input, the other arguments held fixed.

The same code draws the figures of the documentation (``docs/gen_pages.py`` imports it), so a
figure in the docs is what ``losskit plot`` draws. Each catalog entry has a :class:`Curve`: which
argument is swept, what is held fixed (the target, the other logits...), and the default range.
The value is the unreduced loss (``reduction='none'``) at each point; the gradient is losskit's
own backward, ``d value / d x``, through everything the swept ``x`` feeds (for example both time
steps of the CTC curve). Points are independent samples of one batched call, in float64.

matplotlib is used through :class:`matplotlib.figure.Figure` alone (no pyplot, no global backend),
so drawing works headless and leaves a user's matplotlib state alone.
"""

from __future__ import annotations

import inspect
import itertools
import textwrap
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .. import catalog
from .. import functional as F
from ..autograd import Tensor, reshape
from ..autograd import sum as tsum
from ._args import UsageError, check_keys

__all__ = ["CURVES", "Curve", "Series", "compute", "figure", "save", "series", "main"]

FORMATS = (".png", ".svg", ".pdf")


@dataclass(frozen=True)
class Curve:
    """How one catalog entry is drawn.

    ``inputs(x)`` turns the swept values ``x`` (a ``(K,)`` float64 Tensor) into the call's
    arguments and options; ``value(out)`` picks the plotted ``(K,)`` value from the call's output
    (for a function whose output has a class axis). ``fixed`` says in words what is held fixed.
    """

    fixed: str
    xlabel: str
    lo: float
    hi: float
    inputs: Callable[[Tensor], tuple[tuple, dict]]
    value: Callable[[Any], Any] | None = None


# --- the swept input inside the call's arguments ---------------------------------------------------


def _size(x: Tensor) -> int:
    return x.shape[0]


def _row(x: Tensor, fixed: Sequence[float], at: int = 0) -> Tensor:
    """``(K, C)``: column ``at`` is ``x``, the other columns are the constants ``fixed`` (float64)."""
    onehot = np.zeros(len(fixed))
    onehot[at] = 1.0
    others = np.asarray(fixed, dtype=np.float64) * (1.0 - onehot)
    return reshape(x, (_size(x), 1)) * onehot + others


def _against(target: float) -> Callable:
    return lambda x: ((x, np.full(_size(x), target)), {})


def _classes(fixed: Sequence[float]) -> Callable:
    """Scores ``[x, *fixed[1:]]`` with target class 0."""
    return lambda x: ((_row(x, fixed), np.zeros(_size(x), np.int64)), {})


def _kl(x: Tensor) -> tuple[tuple, dict]:
    return (F.log_softmax(_row(x, [0.0, 0.0]), dim=1), np.tile([0.75, 0.25], (_size(x), 1))), {}


def _multilabel(x: Tensor) -> tuple[tuple, dict]:
    target = np.tile(np.array([0, -1, -1], np.int64), (_size(x), 1))
    return (_row(x, [0.0, 0.0, 0.0]), target), {}


def _triplet(x: Tensor) -> tuple[tuple, dict]:
    k = _size(x)
    return (reshape(x, (k, 1)), np.zeros((k, 1)), np.ones((k, 1))), {}


def _ctc(x: Tensor) -> tuple[tuple, dict]:
    k = _size(x)
    scores = reshape(x, (1, k, 1)) * np.tile([0.0, 1.0], (2, 1, 1))  # (T=2, K, C=2): [0, x] per step
    ones = np.ones(k, np.int64)
    return (scores, np.ones((k, 1), np.int64), 2 * ones, ones), {}


def _linear(x: Tensor) -> tuple[tuple, dict]:
    k = _size(x)
    return (reshape(x, (k, 1)), np.array([[1.0], [0.0], [-1.0]]), np.zeros(k, np.int64)), {}


def _angle(x: Tensor) -> tuple[Tensor, np.ndarray]:
    """``x1 = [1, x]`` and ``x2 = [1, 0]``: vectors at the angle ``atan(x)``."""
    return _row(x, [1.0, 0.0], at=1), np.tile([1.0, 0.0], (_size(x), 1))


def _first(out: Any) -> Any:
    return out[:, 0]


def _class_sum(out: Any) -> Any:
    return tsum(out, 1)


_TARGET0 = Curve("target y = 0", "input x", -3.0, 3.0, _against(0.0))
_LOGIT1 = Curve("target y = 1", "logit x", -6.0, 6.0, _against(1.0))
_CLASS0 = Curve("logits [x, 0, 0], target class 0", "logit x of the target class", -6.0, 6.0, _classes([0.0, 0.0, 0.0]))
_SCORE0 = Curve("scores [x, 0, 0], target class 0", "score x of the target class", -3.0, 3.0, _classes([0.0, 0.0, 0.0]))
_TRIPLET = Curve("1-d embeddings: anchor x, positive 0, negative 1", "anchor x", -2.0, 3.0, _triplet)
_TWO_LOGITS = Curve("input [x, 0], the first component", "x", -6.0, 6.0, lambda x: ((_row(x, [0.0, 0.0]),), {"dim": 1}), _first)
_ELEMENTWISE = Curve("elementwise", "x", -6.0, 6.0, lambda x: ((x,), {}))

CURVES: dict[str, Curve] = {
    "l1_loss": _TARGET0,
    "mse_loss": _TARGET0,
    "huber_loss": _TARGET0,
    "smooth_l1_loss": _TARGET0,
    "binary_cross_entropy": Curve("target y = 1", "probability x", 0.02, 1.0, _against(1.0)),
    "binary_cross_entropy_with_logits": _LOGIT1,
    "cross_entropy": _CLASS0,
    "nll_loss": Curve("log-probabilities [x, -1, -1], target class 0", "log-probability x of the target class",
                      -5.0, 0.0, _classes([0.0, -1.0, -1.0])),
    "poisson_nll_loss": Curve("target count y = 2", "log-rate x", -2.0, 3.0, _against(2.0)),
    "gaussian_nll_loss": Curve("target y = 0, var = 1", "mean x", -3.0, 3.0,
                               lambda x: ((x, np.zeros(_size(x)), np.ones(_size(x))), {})),
    "kl_div": Curve("input log_softmax([x, 0]), target [0.75, 0.25], summed over the classes", "logit x",
                    -4.0, 6.0, _kl, _class_sum),
    "margin_ranking_loss": Curve("input2 = 0, target y = 1", "input1 x", -3.0, 3.0,
                                 lambda x: ((x, np.zeros(_size(x)), np.ones(_size(x))), {})),
    "hinge_embedding_loss": Curve("target y = -1", "input x (a distance)", -0.5, 3.0, _against(-1.0)),
    "soft_margin_loss": Curve("target y = 1", "input x", -6.0, 6.0, _against(1.0)),
    "multi_margin_loss": _SCORE0,
    "multilabel_margin_loss": Curve("scores [x, 0, 0], target classes [0]", "score x of the target class",
                                    -3.0, 3.0, _multilabel),
    "multilabel_soft_margin_loss": Curve("one class, target y = 1", "input x", -6.0, 6.0,
                                         lambda x: ((reshape(x, (_size(x), 1)), np.ones((_size(x), 1))), {})),
    "cosine_embedding_loss": Curve("input1 [1, x], input2 [1, 0], target y = 1", "x", -4.0, 4.0,
                                   lambda x: ((*_angle(x), np.ones(_size(x))), {})),
    "triplet_margin_loss": _TRIPLET,
    "triplet_margin_with_distance_loss": _TRIPLET,
    "ctc_loss": Curve("target [1], 2 time steps of scores [0, x] (log_softmax applied)", "score x of label 1",
                      -4.0, 6.0, _ctc),
    "focal_loss": _CLASS0,
    "sigmoid_focal_loss": _LOGIT1,
    "linear_cross_entropy": Curve("weight [[1], [0], [-1]] (logits [x, 0, -x]), target class 0",
                                  "input x (one feature)", -4.0, 4.0, _linear),
    "cosine_similarity": Curve("x1 [1, x], x2 [1, 0]", "x", -4.0, 4.0, lambda x: (_angle(x), {})),
    "pairwise_distance": Curve("x1 [x, 1], x2 [0, 0]", "x", -3.0, 3.0,
                               lambda x: ((_row(x, [0.0, 1.0]), np.zeros((_size(x), 2))), {})),
    "log_softmax": _TWO_LOGITS,
    "softmax": _TWO_LOGITS,
    "logsumexp": Curve("input [x, 0]", "x", -6.0, 6.0, lambda x: ((_row(x, [0.0, 0.0]),), {"dim": 1})),
    "sigmoid": _ELEMENTWISE,
    "logsigmoid": _ELEMENTWISE,
    "softplus": Curve("elementwise", "x", -4.0, 4.0, lambda x: ((x,), {})),
}


# --- computing and drawing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One curve: the loss and its gradient at the points ``x``."""

    name: str
    options: dict
    x: np.ndarray
    value: np.ndarray
    grad: np.ndarray


def _curve(name: str) -> tuple[catalog.Entry, Curve]:
    try:
        entry = catalog.entry(name)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    return entry, CURVES[entry.name]


def series(name: str, options: dict | None = None, x_range: tuple[float, float] | None = None, points: int = 801) -> Series:
    """``name``'s value and gradient at ``points`` values of the swept input over ``x_range``."""
    entry, curve = _curve(name)
    lo, hi = x_range or (curve.lo, curve.hi)
    xs = np.linspace(lo, hi, points)
    x = Tensor(xs, requires_grad=True)
    args, kwargs = curve.inputs(x)
    kwargs = {**kwargs, **(options or {})}
    if entry.kind == "loss":
        kwargs["reduction"] = "none"
    try:
        out = entry.function()(*args, **kwargs)
    except (ValueError, TypeError, IndexError) as exc:
        shown = ", ".join(f"{k}={v!r}" for k, v in (options or {}).items())
        raise UsageError(f"{entry.name}({shown}): {exc}") from None
    value = reshape(curve.value(out) if curve.value else out, (points,))
    value.backward(np.ones(points))
    return Series(entry.name, dict(options or {}), xs, np.asarray(value.data), np.asarray(x.grad.data))


def _combinations(name: str, params: dict[str, list]) -> list[dict]:
    """One option dict per combination of the values of the params that ``name`` accepts."""
    accepted = inspect.signature(getattr(F, catalog.entry(name).name)).parameters
    keys = [k for k in params if k in accepted]
    return [dict(zip(keys, values)) for values in itertools.product(*(params[k] for k in keys))]


def _label(s: Series, several_names: bool) -> str:
    opts = ", ".join(f"{k}={_short(v)}" for k, v in s.options.items())
    if several_names:
        return f"{s.name} ({opts})" if opts else s.name
    return opts or s.name


def _short(v: Any) -> str:
    return np.array2string(v, precision=3, separator=", ") if isinstance(v, np.ndarray) else repr(v)


def compute(names: Sequence[str], params: dict[str, list] | None = None,
            x_range: tuple[float, float] | None = None, points: int = 801) -> list[Series]:
    """The curves of ``names`` for every combination of the ``params`` values each accepts."""
    params = params or {}
    if "reduction" in params:
        raise UsageError("plot draws the unreduced loss; --param reduction does not apply")
    if x_range is not None and not x_range[0] < x_range[1]:
        raise UsageError(f"--range {x_range[0]:g} {x_range[1]:g}: LO must be below HI")
    entries = [_curve(n)[0] for n in names]
    check_keys(params, {e.name: getattr(F, e.name) for e in entries}, "plot")
    x_range = x_range or (CURVES[entries[0].name].lo, CURVES[entries[0].name].hi)
    return [series(e.name, opts, x_range, points) for e in entries for opts in _combinations(e.name, params)]


def figure(names: Sequence[str], params: dict[str, list] | None = None, x_range: tuple[float, float] | None = None,
           size: tuple[int, int] = (960, 400), dpi: int = 100, title: str | None = None) -> Any:
    """A matplotlib Figure of ``size`` pixels: the loss on the left, its gradient on the right.

    Several names, or several values of one ``--param``, give several curves; ``x_range`` defaults
    to the first name's range.
    """
    from matplotlib.figure import Figure

    curves = compute(names, params, x_range)
    names = list(dict.fromkeys(s.name for s in curves))
    fixed = list(dict.fromkeys(CURVES[n].fixed for n in names))  # one line when the names share it
    xlabels = list(dict.fromkeys(CURVES[n].xlabel for n in names))

    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi, layout="constrained")
    loss_ax, grad_ax = fig.subplots(1, 2, sharex=True)
    styles = itertools.cycle(["-", "--", "-.", ":"])
    name_style = {n: next(styles) for n in names}
    for i, s in enumerate(curves):
        color = f"C{i % 10}"
        label = _label(s, len(names) > 1)
        loss_ax.plot(s.x, s.value, name_style[s.name], color=color, lw=1.8, label=label)
        grad_ax.plot(s.x, s.grad, name_style[s.name], color=color, lw=1.8, label=label)
    what = "loss" if all(catalog.entry(n).kind == "loss" for n in names) else "value"
    for ax, what in ((loss_ax, what), (grad_ax, f"gradient  d {what} / d x")):
        ax.set_title(what, fontsize=11)
        ax.set_xlabel(xlabels[0] if len(xlabels) == 1 else "swept input x")
        ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
        ax.axvline(0.0, color="0.6", lw=0.8, zorder=0)
        ax.grid(True, color="0.92")
        ax.set_xlim(curves[0].x[0], curves[0].x[-1])
    if len(curves) > 1:
        loss_ax.legend(fontsize=9, frameon=False)
    fig.suptitle(title or ", ".join(names), fontsize=12)
    held = fixed[0] if len(fixed) == 1 else "; ".join(f"{n}: {CURVES[n].fixed}" for n in names)
    fig.supxlabel("\n".join(textwrap.wrap(f"held fixed: {held}", max(40, size[0] // 7))), fontsize=9, color="0.3")
    return fig


def save(fig: Any, target: Any, fmt: str | None = None) -> None:
    """Write ``fig`` to the path ``target`` (format from its suffix) or to a binary file as ``fmt``."""
    if fmt is None:
        suffix = str(target)[str(target).rfind("."):].lower() if "." in str(target) else ""
        if suffix not in FORMATS:
            raise UsageError(f"-o {target!r}: the file name must end in {', '.join(FORMATS)}")
        fmt = suffix[1:]
    import matplotlib

    # No date, version stamp or random ids: the same figure gives the same file.
    metadata = {"png": {"Software": None}, "svg": {"Date": None}}.get(fmt, {})
    with matplotlib.rc_context({"svg.hashsalt": "losskit"}):
        fig.savefig(target, format=fmt, metadata=metadata)


def main(args: Any) -> int:
    from ._args import params as parse_params

    fig = figure(args.names, parse_params(args.param), tuple(args.range) if args.range else None,
                 tuple(args.size), args.dpi, args.title)
    save(fig, args.output)
    print(f"wrote {args.output} ({args.size[0]}x{args.size[1]} px)")
    return 0
