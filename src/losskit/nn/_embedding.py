"""Loss modules of the embedding family (filled in by issue 3)."""

from __future__ import annotations

__all__: list[str] = []
