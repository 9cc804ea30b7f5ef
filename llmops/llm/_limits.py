"""Per-model rate limits: at most ``max_concurrency`` calls in flight and ``rpm`` per minute.

Every caller of a model (eval targets, judges, RAG answers) shares the limits of that model
within the process, because they are kept per (event loop, model name).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["RateLimiter", "limited"]


class RateLimiter:
    """A token bucket (``rpm``, burst of one second's worth) and a concurrency cap."""

    def __init__(self, rpm: float | None, max_concurrency: int | None) -> None:
        self.rpm = rpm
        self._semaphore = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._capacity = max(1.0, (rpm or 0) / 60.0)
        self._tokens = self._capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def _take(self) -> None:
        assert self.rpm is not None
        rate = self.rpm / 60.0
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self._capacity, self._tokens + (now - self._updated) * rate)
                self._updated = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await asyncio.sleep((1.0 - self._tokens) / rate)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a request token and a concurrency slot; release the slot on exit."""
        if self._semaphore is not None:
            async with self._semaphore:
                if self.rpm:
                    await self._take()
                yield
        else:
            if self.rpm:
                await self._take()
            yield


_limiters: dict[tuple[int, str], RateLimiter] = {}


@asynccontextmanager
async def limited(name: str, rpm: float | None, max_concurrency: int | None) -> AsyncIterator[None]:
    """The shared limiter of model ``name`` on the running loop (no-op without limits)."""
    if not rpm and not max_concurrency:
        yield
        return
    key = (id(asyncio.get_running_loop()), name)
    limiter = _limiters.get(key)
    if limiter is None:
        limiter = _limiters[key] = RateLimiter(rpm, max_concurrency)
    async with limiter.slot():
        yield
