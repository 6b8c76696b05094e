"""Public functions of the focal family (filled in by issue 3)."""

from __future__ import annotations

__all__: list[str] = []
