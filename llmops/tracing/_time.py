"""Durations and points in time as people write them: ``30s``, ``15m``, ``2h``, ``7d``, ``2w``
(a decimal allowed) and ISO times.

One parser, so that ``traces list --since``, a queue's ``filter.since``, a gate's
``online.since`` and the dashboard's range read the same text the same way; durations are
``llmops._duration``'s, which the config's ``retention`` reads too.
"""

from __future__ import annotations

import time
from datetime import datetime

from llmops._duration import duration_s
from llmops._exceptions import InputError

__all__ = ["duration_s", "since_ns"]


def since_ns(value: str, name: str) -> int:
    """A duration before now, or an ISO time (local time where it names no zone), in
    nanoseconds since the epoch (0 at the least). ``name`` leads the error message."""
    seconds = duration_s(value)
    if seconds is not None:
        return max(0, int((time.time() - seconds) * 1e9))
    try:
        return max(0, int(datetime.fromisoformat(value.strip()).timestamp() * 1e9))
    except (ValueError, OverflowError, OSError):
        raise InputError(
            f"{name} {value[:64]!r}: expected e.g. 30m, 2h, 7d or 2026-11-29T10:00"
        ) from None
