"""Durations as people write them: ``30s``, ``15m``, ``2h``, ``7d``, ``2w`` (a decimal allowed).

Core, so that the config (``retention.traces: 30d``) and the CLI read a duration the same
way; ``llmops.tracing`` builds its points in time (``--since``) on it.
"""

from __future__ import annotations

import re

__all__ = ["FOREVER", "duration_s", "retention_s"]

# at most 9 digits: a longer number is a typo, and would overflow the nanoseconds of a BIGINT
_DURATION = re.compile(r"\s*([0-9]{1,9}(?:\.[0-9]+)?)\s*([smhdw])\s*")  # ASCII digits
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}

#: The word that keeps data for ever (a retention of ``null`` means the same).
FOREVER = "forever"


def duration_s(text: str) -> float | None:
    """``30s``, ``15m``, ``2h``, ``7d``, ``2w`` in seconds; None where ``text`` is not one."""
    found = _DURATION.fullmatch(text)
    if found is None:
        return None
    return float(found.group(1)) * _UNIT_S[found.group(2)]


def retention_s(value: object) -> float | None:
    """A retention period in seconds: a positive duration (``30d``), or None for
    ``forever``/``None`` (keep). Otherwise ``ValueError`` saying what was expected (the
    caller names the key or option and the value)."""
    if value is None or (isinstance(value, str) and value.strip().lower() == FOREVER):
        return None
    seconds = duration_s(value) if isinstance(value, str) else None
    if seconds is None or seconds <= 0:
        raise ValueError(f"expected a duration such as 30d, 12h or 2w, or {FOREVER}")
    return seconds
