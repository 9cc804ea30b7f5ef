"""One long-lived event loop in a daemon thread, for blocking wrappers of async code.

litellm caches async HTTP clients per event loop; running every call on the same loop keeps
those clients valid across calls instead of creating and closing a loop each time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="llmops-aio", daemon=True).start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the shared loop and wait for its result."""
    return asyncio.run_coroutine_threadsafe(coro, _background_loop()).result()
