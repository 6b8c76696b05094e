"""Whether operations on Tensors record a graph: a thread-local switch, as in torch."""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


def _set(enabled: bool) -> None:
    _state.enabled = enabled


class set_grad_enabled:
    """Context manager and decorator that turns graph recording on or off in this thread."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"mode must be a bool, got {type(mode).__name__}")
        self._mode = mode

    # The saved modes live on a per-thread stack, so one instance may be entered from many threads.
    def __enter__(self) -> None:
        _state.__dict__.setdefault("saved", []).append(is_grad_enabled())
        _set(self._mode)

    def __exit__(self, *exc: object) -> None:
        _set(_state.saved.pop())

    def __call__(self, func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class no_grad(set_grad_enabled):
    """Operations inside record no graph: for evaluation and for parameter updates."""

    def __init__(self) -> None:
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Turns recording back on inside a ``no_grad`` block."""

    def __init__(self) -> None:
        super().__init__(True)
