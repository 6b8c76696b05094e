"""The accuracy rule, and one runner that judges losskit and torch on the same cases.

The rule (issue 5): a value or gradient element is *accurate* when it is within 64 ulp of the
exact result, relative, plus the dtype's smallest normal number in absolute terms:

    |actual - exact| <= 64 * eps(dtype) * max(|exact|, scale) + smallest_normal(dtype)

``scale`` (default 0) is the magnitude of the O(1) terms whose difference is the exact result,
for elements such as softmax minus one-hot whose exact value is a cancellation. An element is a
*blow-up* when it is inf or nan although the exact result is finite.

"Exact" is the loss's definition evaluated with mpmath at 60+ digits on the same dtype-rounded
inputs (independent code written from the formula, never from losskit), rounded once to float64.
Case modules (``test_*.py`` in this folder) build :class:`Case` objects and judge them with
:func:`assert_accurate`; ``python tests/accuracy/report.py`` runs every case through losskit and
through torch and prints the counts of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

ULPS = 64


@dataclass
class Case:
    """One call of one loss on stress inputs, with its exact value and exact gradients.

    ``args`` are NumPy arrays already rounded to the dtype under test, or Python scalars;
    ``exact`` is the exact output (float64 array of the output's shape); ``grads`` maps an
    argument position to the exact gradient of ``sum(output)`` with respect to that argument.
    ``scales`` maps ``"value"`` or a position to the per-element magnitude of cancelling terms.
    ``torch_fn`` replaces ``torch.nn.functional.<loss>`` where torch has no such function (it
    takes and returns torch tensors); ``None`` for ``torch_skip`` means torch cannot run it.
    ``losskit_fn`` likewise replaces ``losskit.functional.<loss>`` (a composition such as
    ``ctc_loss(log_softmax(z))``, judged in ``z``).
    """

    loss: str
    label: str
    args: tuple
    kwargs: dict
    exact: Any
    grads: dict = field(default_factory=dict)
    scales: dict = field(default_factory=dict)
    torch_fn: Callable | None = None
    losskit_fn: Callable | None = None
    torch_skip: str | None = None

    @property
    def dtype(self) -> np.dtype:
        return next(np.asarray(a).dtype for a in self.args if isinstance(a, np.ndarray) and a.dtype.kind == "f")

    @property
    def id(self) -> str:
        return f"{self.loss}-{self.label}-{self.dtype.name}"


@dataclass
class Counts:
    elements: int = 0
    blowups: int = 0
    inaccurate: int = 0
    worst: list = field(default_factory=list)  # (what, index, actual, exact, ulps) of bad elements

    def __iadd__(self, other: "Counts") -> "Counts":
        self.elements += other.elements
        self.blowups += other.blowups
        self.inaccurate += other.inaccurate
        self.worst += other.worst
        return self


def judge(actual: Any, exact: Any, dtype: np.dtype, scale: Any = 0.0, what: str = "value") -> Counts:
    """Counts of elements, blow-ups and inaccurate elements of ``actual`` against ``exact``."""
    actual = np.asarray(actual, dtype=np.float64)
    exact = np.asarray(exact, dtype=np.float64)
    if actual.shape != exact.shape:
        raise AssertionError(f"{what}: shape {actual.shape}, exact result has shape {exact.shape}")
    fi = np.finfo(dtype)
    bound = ULPS * float(fi.eps) * np.maximum(np.abs(exact), scale) + float(fi.smallest_normal)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(actual - exact)
        same_nonfinite = ~np.isfinite(exact) & ((actual == exact) | (np.isnan(actual) & np.isnan(exact)))
        blowup = np.isfinite(exact) & ~np.isfinite(actual)
        bad = ~same_nonfinite & ~(err <= bound)
        counts = Counts(int(exact.size), int(blowup.sum()), int(bad.sum()))
        for index in map(tuple, np.argwhere(bad)):  # (argwhere, unlike nonzero, takes a 0-d result)
            ulps = err[index] / (float(fi.eps) * max(abs(exact[index]), 1e-300))
            counts.worst.append((what, index, actual[index], exact[index], ulps))
    return counts


def evaluate(framework: str, case: Case) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """``(value, {position: gradient of sum(value)})`` of ``case`` run by losskit or torch."""
    if framework == "losskit":
        import losskit
        import losskit.functional as F

        args = [losskit.Tensor(a, requires_grad=True) if i in case.grads else a for i, a in enumerate(case.args)]
        with np.errstate(all="ignore"):
            out = (case.losskit_fn or getattr(F, case.loss))(*args, **case.kwargs)
            if case.grads:
                out.backward(np.ones(out.shape, out.data.dtype))
        value = np.asarray(out.data if isinstance(out, losskit.Tensor) else out)
        return value, {i: np.asarray(args[i].grad.data) for i in case.grads}

    import torch

    def conv(a: Any, grad: bool = False) -> Any:
        if isinstance(a, np.ndarray):
            t = torch.from_numpy(a.copy())
            return t.requires_grad_(True) if grad else t
        return a

    args = [conv(a, i in case.grads) for i, a in enumerate(case.args)]
    kwargs = {k: conv(v) for k, v in case.kwargs.items()}
    fn = case.torch_fn or getattr(torch.nn.functional, case.loss)
    out = fn(*args, **kwargs)
    grads = {}
    if case.grads:
        g = torch.autograd.grad(out, [args[i] for i in case.grads], torch.ones_like(out), allow_unused=True)
        grads = {i: (np.zeros(case.args[i].shape) if gi is None else gi.numpy()) for i, gi in zip(case.grads, g)}
    return out.detach().numpy(), grads


def run(framework: str, case: Case) -> Counts:
    """Judge ``case`` as computed by ``framework``: the value and every exact gradient."""
    value, grads = evaluate(framework, case)
    dtype = case.dtype
    counts = judge(value, case.exact, dtype, case.scales.get("value", 0.0), "value")
    for i, exact in case.grads.items():
        counts += judge(grads[i], exact, dtype, case.scales.get(i, 0.0), f"grad[{i}]")
    return counts


def assert_accurate(case: Case) -> None:
    """losskit computes ``case`` with no blow-up and no element outside the bound."""
    counts = run("losskit", case)
    if counts.blowups or counts.inaccurate:
        lines = [f"{w}{list(map(int, i))}: losskit {a!r}, exact {e!r} ({u:.3g} ulp)" for w, i, a, e, u in counts.worst[:8]]
        raise AssertionError(
            f"{case.id}: {counts.blowups} blow-ups, {counts.inaccurate} of {counts.elements} elements "
            f"outside {ULPS} ulp:\n  " + "\n  ".join(lines)
        )
