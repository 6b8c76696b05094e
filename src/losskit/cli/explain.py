"""``losskit list`` and ``losskit explain NAME``: the catalog, read in the terminal.

``list`` prints every entry of :mod:`losskit.catalog` (name, nn class, family, one-line
formula). ``explain`` prints one entry: its formula, signature, docstring, how it stays exact, and
a worked example, the catalog's default call on small inputs (or on arrays from .npy/.npz files),
with its value and its gradient from losskit's own backward.
"""

from __future__ import annotations

import inspect
import textwrap
from typing import Any, Callable

import numpy as np

from .. import catalog
from .. import functional as F
from ..autograd import Tensor
from ._args import UsageError, check_keys, load_arrays
from ._args import params as parse_params

WIDTH = 100


def list_entries(out: Callable[[str], None] = print, family: str | None = None) -> None:
    entries = [e for e in catalog.ENTRIES if family in (None, e.family)]
    if not entries:
        families = ", ".join(dict.fromkeys(e.family for e in catalog.ENTRIES))
        raise UsageError(f"list: no family {family!r}; the families are {families}")
    name_w = max(len(e.name) for e in entries)
    class_w = max(len(e.module or "-") for e in entries)
    family_w = max(len(e.family) for e in entries)
    out(f"{'name':{name_w}}  {'nn class':{class_w}}  {'family':{family_w}}  formula")
    for e in entries:
        out(f"{e.name:{name_w}}  {e.module or '-':{class_w}}  {e.family:{family_w}}  {e.formula}")
    losses = sum(e.kind == "loss" for e in entries)
    out(f"\n{losses} losses and {len(entries) - losses} functions; `losskit explain NAME` for one of them.")


def _fmt(a: Any, indent: int) -> str:
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a + 0.0  # shows -0.0 as 0.0
    text = np.array2string(a, precision=4, separator=", ", suppress_small=True)
    return "\n".join((" " * indent + line).rstrip() for line in text.split("\n")).lstrip()


def _wrap(text: str, indent: str = "  ") -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=indent)


def _example(entry: catalog.Entry, params: dict[str, list], files: list[str]) -> catalog.Example:
    """The default call (or the files' arrays), with the ``--param`` options."""
    for key, values in params.items():
        if len(values) > 1:
            raise UsageError(f"explain: --param {key} is given {len(values)} times; give one value")
    options = {k: v[0] for k, v in params.items()}
    default = entry.examples(np.random.default_rng(0), np.dtype(np.float64), 2, 3)[0]
    if not files:
        return catalog.Example(default.label, default.args, {**default.kwargs, **options}, default.grad)
    parameters = inspect.signature(getattr(F, entry.name)).parameters
    args: list = []
    named: dict = {}
    for path in files:
        arrays = load_arrays(path, "--inputs")
        if isinstance(arrays, np.ndarray):
            args.append(arrays)
            continue
        for key, array in arrays.items():
            if key in parameters:
                named[key] = array
            else:
                args.append(array)
    # the required arguments in the signature's order, then the rest as keywords
    required = [n for n, p in parameters.items() if p.default is p.empty and p.kind is not p.KEYWORD_ONLY]
    for name in required[len(args):]:
        if name not in named:
            break
        args.append(named.pop(name))
    options.update(named)
    grad = tuple(i for i in default.grad if i < len(args) and np.asarray(args[i]).dtype.kind == "f")
    return catalog.Example("your inputs", tuple(args), options, grad)


def _float_like(options: dict, dtype: np.dtype) -> dict:
    """Float array options (``--param weight=[...]``) in the inputs' dtype."""
    return {k: v.astype(dtype) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v for k, v in options.items()}


def explain(name: str, params: dict[str, list] | None = None, files: list[str] | None = None,
            out: Callable[[str], None] = print) -> None:
    try:
        entry = catalog.entry(name)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    fn = getattr(F, entry.name)
    params = params or {}
    check_keys(params, {entry.name: fn}, "explain")
    signature = inspect.signature(fn)

    where = f"losskit.nn.{entry.module}, " if entry.module else ""
    out(f"{entry.name}  ({where}{entry.family} {entry.kind})")
    out("")
    out(f"  {entry.formula}")
    out("")
    out("Signature")
    plain = signature.replace(parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
                              return_annotation=signature.empty)
    out(_wrap(f"losskit.functional.{entry.name}{plain}"))
    out("")
    out("Description")
    out(textwrap.indent(inspect.getdoc(fn) or "", "  "))
    out("")
    out("Numerics")
    out(_wrap(entry.numerics))
    out("")

    ex = _example(entry, params, files or [])
    floats = [np.asarray(a).dtype for a in ex.args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
    dtype = floats[0] if floats else np.dtype(np.float64)
    kwargs = _float_like(ex.kwargs, dtype)
    args = [Tensor(a, requires_grad=True) if i in ex.grad else a for i, a in enumerate(ex.args)]
    try:
        value = entry.function()(*args, **kwargs)
    except (ValueError, TypeError, IndexError) as exc:
        raise UsageError(f"explain {entry.name}: {exc}") from None
    arg_names = list(signature.parameters)[: len(args)]

    options = ", ".join(f"{k}={_fmt(v, 0)}" for k, v in kwargs.items())
    out(f"Worked example ({ex.label}; {dtype}{'; ' + options if options else ''})")
    if entry.log_softmax_dim is not None:
        out(f"  ({arg_names[0]}: raw scores; the loss is called on their log_softmax along dim {entry.log_softmax_dim})")
    width = max(len(n) for n in arg_names) + 2
    for n, a in zip(arg_names, ex.args):
        out(f"  {n:{width}} = {_fmt(a, width + 5)}")
    data = np.asarray(value.data)
    cotangent = np.zeros_like(data)
    if data.ndim == 0:
        cotangent = np.ones_like(data)
        out(f"  {'value':{width}} = {data.item():.6g}")
        of = "value"
    else:
        cotangent.flat[0] = 1.0
        out(f"  {'value':{width}} = {_fmt(data, width + 5)}")
        of = "value[" + ", ".join(["0"] * data.ndim) + "]"
    value.backward(cotangent)
    for i in ex.grad:
        label = f"d {of} / d {arg_names[i]}"
        out(f"  {label} = {_fmt(args[i].grad.data, len(label) + 5)}")
    out("")
    out(f"Plot it: losskit plot {entry.name} -o {entry.name}.png")


def list_main(args: Any) -> int:
    list_entries(family=args.family)
    return 0


def main(args: Any) -> int:
    explain(args.name, parse_params(args.param), args.inputs)
    return 0
