"""A griffe extension for the API pages: docstring examples (``>>>`` blocks) shown as code.

losskit's docstrings hold their examples as bare doctest blocks (they run under
``pytest --doctest-modules``); Markdown would read their ``>>>`` as nested block quotes. Each run
of lines from a ``>>>`` line to the next blank line is wrapped in a ``pycon`` fence.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_DOCTEST = re.compile(r"^(?P<indent>[ \t]*)>>> .*?(?=\n[ \t]*\n|\Z)", re.M | re.S)


def fence(text: str) -> str:
    return _DOCTEST.sub(lambda m: f"{m['indent']}```pycon\n{m[0]}\n{m['indent']}```", text)


class DoctestFences(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence(obj.docstring.value)
