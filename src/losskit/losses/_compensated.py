r"""Error-free transformations: a rounded sum together with its exact rounding error.

``two_sum(a, b) = (s, e)`` with ``s = fl(a + b)`` and ``a + b = s + e`` exactly (Knuth's
TwoSum: six additions, no branch, any order of magnitudes). A loss that subtracts a third
number from ``a + b`` computes ``(c + s) + e``: where ``c + s`` cancels, it is exact (Sterbenz),
so the result is ``a + b + c`` rounded once, instead of the rounding error of ``a + b`` left
standing alone (for example ``margin - (x1 - x2)`` when ``x1 - x2`` is within an ulp of the
margin). ``e`` is 0 where ``s`` is not finite (an overflowing or infinite sum), not nan.

``two_diff(a, b)`` is the same transformation of ``a - b`` without forming ``-b``, its
temporaries updated in place (it runs on large arrays), and with ``e`` left nan where ``s`` is
not finite: for callers that check finiteness on a reduced result anyway.
"""

from __future__ import annotations


def two_sum(xp, a, b):
    """``(s, e)``: ``s = fl(a + b)`` and its exact rounding error ``e = (a + b) - s``."""
    s = a + b
    b_virtual = s - a
    e = (a - (s - b_virtual)) + (b - b_virtual)
    return s, xp.where(xp.isfinite(s), e, 0.0)


def two_diff(xp, a, b):
    """``(s, e)``: ``s = fl(a - b)``, ``a - b = s + e`` exactly where ``s`` is finite (else ``e``
    is nan). TwoSum of ``a`` and ``-b``, with ``t = a - s`` standing for ``-b_virtual``."""
    s = a - b
    t = a - s
    a_err = s + t  # a_virtual; then a_virtual - a = -(a - a_virtual) exactly
    a_err -= a
    t -= b  # b's rounding error -b - b_virtual, then the sum of both errors
    t -= a_err
    return s, t
