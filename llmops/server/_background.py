"""The server's background loops (online evaluators, retention): a daemon thread calling one
pass after another until stopped, its stop bounded."""

from __future__ import annotations

import threading
from typing import Self

__all__ = ["BackgroundLoop"]


class BackgroundLoop:
    """Calls :meth:`run_once`, then waits :meth:`wait_s`, until :meth:`stop`; a subclass
    defines both and keeps its counters under ``self._lock``."""

    def __init__(self, name: str) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop after the pass under way; False when it did not end within ``timeout_s``."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def run_once(self) -> None:
        """One pass (the thread's loop body)."""
        raise NotImplementedError

    def wait_s(self) -> float:
        """Seconds to wait after a pass."""
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.wait_s())
