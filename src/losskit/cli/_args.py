"""Command-line values: ``--param KEY=VALUE`` literals and arrays read from .npy/.npz files.

Nothing typed on the command line is ever evaluated as code: values go through
:func:`ast.literal_eval` (numbers, quoted strings, True/False/None, tuples, lists) and arrays are
read with ``allow_pickle=False``. A bad value raises :class:`UsageError`, which the command
reports with exit status 2, as argparse does for its own errors.
"""

from __future__ import annotations

import ast
import inspect
import pathlib
from typing import Any, Callable

import numpy as np


class UsageError(ValueError):
    """A command-line value the command cannot use; reported with exit status 2."""


def literal(text: str, what: str) -> Any:
    """``text`` as a Python literal, or the array in ``@FILE.npy`` / ``@FILE.npz:KEY``.

    A list becomes a float64 array (for ``weight=[1, 2, 0.5]``); a tuple stays a tuple (for
    ``dim=(0, 1)``).
    """
    if text.startswith("@"):
        return _array_file(text[1:], what)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise UsageError(
            f"{what}: {text!r} is not a Python literal (a number, a quoted string, True, False, "
            "None, a tuple or a list; or @FILE.npy for an array); it is never evaluated as code"
        ) from None
    return np.asarray(value, dtype=np.float64) if isinstance(value, list) else value


def params(items: list[str] | None) -> dict[str, list[Any]]:
    """``["beta=0.5", "beta=1", "margin=0.2"]`` -> ``{"beta": [0.5, 1], "margin": [0.2]}``.

    A key given several times asks for one curve (or one run) per value.
    """
    out: dict[str, list[Any]] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"--param expects KEY=VALUE (e.g. beta=0.5), got {item!r}")
        out.setdefault(key, []).append(literal(text.strip(), f"--param {key}"))
    return out


def check_keys(keys: Any, functions: dict[str, Callable], command: str) -> None:
    """Every key is a keyword of at least one of ``functions`` (name -> callable)."""
    accepted = {name: set(inspect.signature(fn).parameters) for name, fn in functions.items()}
    for key in keys:
        if not any(key in names for names in accepted.values()):
            which = ", ".join(accepted)
            raise UsageError(f"{command}: --param {key}: not a parameter of {which}")


def _array_file(spec: str, what: str) -> np.ndarray:
    path, key = spec, ""
    head, sep, tail = spec.rpartition(":")
    if sep and head.endswith(".npz"):  # @FILE.npz:KEY
        path, key = head, tail
    arrays = load_arrays(path, what)
    if isinstance(arrays, np.ndarray):
        return arrays
    if key:
        if key not in arrays:
            raise UsageError(f"{what}: {path} holds no array {key!r} (it holds {', '.join(arrays)})")
        return arrays[key]
    if len(arrays) != 1:
        raise UsageError(f"{what}: {path} holds {len(arrays)} arrays; name one as @{path}:KEY")
    return next(iter(arrays.values()))


def load_arrays(path: str, what: str) -> np.ndarray | dict[str, np.ndarray]:
    """The array of a .npy file, or the named arrays of a .npz file (never unpickled)."""
    p = pathlib.Path(path)
    if p.suffix not in (".npy", ".npz"):
        raise UsageError(f"{what}: {path!r} is not a .npy or .npz file")
    try:
        loaded = np.load(p, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"{what}: no such file {path!r}") from None
    except (ValueError, OSError) as exc:  # object arrays (pickles) or a corrupt file
        raise UsageError(f"{what}: cannot read {path!r} without unpickling: {exc}") from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        return {k: loaded[k] for k in loaded.files}
