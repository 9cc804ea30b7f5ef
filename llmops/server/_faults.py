"""Store faults as HTTP answers: 503 with ``Retry-After``, logged once per outage.

OTLP exporters retry 429, 502, 503 and 504 only, so a full disk or a lost database
connection must read as 503 (the spans come again once the store is back), never as a 500
(the exporter drops them). The log gets the first fault and the recovery, not a line per
request while the fault lasts.
"""

from __future__ import annotations

import errno
import logging
import threading

from llmops._exceptions import StoreError

__all__ = ["RETRY_AFTER_S", "StoreHealth", "fault_kind", "is_store_fault"]

#: Seconds a client is asked to wait before retrying after a store fault.
RETRY_AFTER_S = 10

_log = logging.getLogger("llmops.server")


def is_store_fault(exc: BaseException) -> bool:
    """Errors of the store's disk or connection: they pass when the store recovers."""
    from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    faults = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, OSError)
    return isinstance(exc, (*faults, StoreError))


def _cause(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    return " ".join(str(orig if orig is not None else exc).split())[:300]


def fault_kind(exc: BaseException) -> str:
    """A few words on what failed, for a client: no paths, hosts or SQL."""
    cause = _cause(exc).lower()
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "full" in cause:
        return "disk full"
    if "locked" in cause or "busy" in cause:
        return "database locked"
    if "connect" in cause or "closed" in cause or "terminat" in cause:
        return "database connection failed"
    return type(exc).__name__


class StoreHealth:
    """Whether the store is failing now, for writes and for reads apart (a full disk still
    serves reads); logs the first fault and the recovery of each, not every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures = {"write": 0, "read": 0}

    def failed(self, exc: BaseException, operation: str) -> str:
        """Note a fault of a ``write`` or ``read``; returns the one-line message for the client."""
        with self._lock:
            first = self._failures[operation] == 0
            self._failures[operation] += 1
        if first:
            _log.error(
                "store unavailable for %ss (%s: %s); answering 503 until it recovers",
                operation,
                type(exc).__name__,
                _cause(exc),
            )
        return f"store unavailable ({fault_kind(exc)}); retry in {RETRY_AFTER_S} s"

    def succeeded(self, operation: str) -> None:
        """Note a ``write`` or ``read`` the store served: ends an outage of that kind."""
        if not self._failures[operation]:  # the common case, without the lock
            return
        with self._lock:
            failures, self._failures[operation] = self._failures[operation], 0
        if failures:
            _log.warning("store recovered for %ss after %d failed requests", operation, failures)
