"""Per-model rate limits: at most ``max_concurrency`` calls in flight and ``rpm`` per minute.

Every caller of a model (eval targets, judges, RAG answers) shares the limits of that model
within its event loop: asyncio primitives belong to one loop, so the limits are kept per
(loop, model name), and a loop's limits are dropped once the loop is closed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from aiolimiter import AsyncLimiter

__all__ = ["Limits", "limited"]


@dataclass
class Limits:
    """A model's limits on one event loop: a leaky bucket (``rpm``) and a concurrency cap."""

    rpm: float | None
    max_concurrency: int | None
    _rate: AsyncLimiter | None = field(init=False, default=None)
    _slots: asyncio.Semaphore | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.rpm:
            # a burst of one second's worth (at least one call), refilled at rpm / 60 per second
            burst = max(1.0, self.rpm / 60.0)
            self._rate = AsyncLimiter(burst, time_period=burst * 60.0 / self.rpm)
        if self.max_concurrency:
            self._slots = asyncio.Semaphore(self.max_concurrency)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Wait for a concurrency slot, then a request token; release the slot on exit."""
        async with AsyncExitStack() as stack:
            if self._slots is not None:
                await stack.enter_async_context(self._slots)
            if self._rate is not None:
                await self._rate.acquire()
            yield


_registry: dict[asyncio.AbstractEventLoop, dict[str, Limits]] = {}
_registry_lock = threading.Lock()  # loops of several threads (run_sync) share the registry


def _limits(name: str, rpm: float | None, max_concurrency: int | None) -> Limits:
    loop = asyncio.get_running_loop()
    with _registry_lock:
        per_loop = _registry.get(loop)
        if per_loop is None:
            # each asyncio.run makes a loop: forget the closed ones, whose limits hold them
            for closed in [known for known in _registry if known.is_closed()]:
                del _registry[closed]
            per_loop = _registry[loop] = {}
        limits = per_loop.get(name)
        if limits is None:
            limits = per_loop[name] = Limits(rpm, max_concurrency)
        return limits


@asynccontextmanager
async def limited(name: str, rpm: float | None, max_concurrency: int | None) -> AsyncIterator[None]:
    """The shared limits of model ``name`` on the running loop (no-op without limits)."""
    if not rpm and not max_concurrency:
        yield
        return
    async with _limits(name, rpm, max_concurrency).slot():
        yield
