"""Numbers people type into references and filters (``name@3``, ``--since 3600``): ASCII digits.

``str.isdigit`` also holds for ``'¹'`` and ``'٣'``, which ``int`` refuses (a 500 where a 400 or
a 404 is due) or reads in another script, and for thousands of digits, which ``int`` refuses
too: version numbers, indexes and counts from outside are read here instead.
"""

from __future__ import annotations

__all__ = ["MAX_DIGITS", "ascii_digits", "ascii_int"]

#: Digits of the largest number read by default: below 2**63, so it fits a BIGINT.
MAX_DIGITS = 18


def ascii_digits(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits (of any length)."""
    return text.isascii() and text.isdigit()


def ascii_int(text: str, max_digits: int = MAX_DIGITS) -> int | None:
    """``text`` as a whole number where it is 1 to ``max_digits`` ASCII digits, else None."""
    if len(text) <= max_digits and ascii_digits(text):
        return int(text)
    return None
