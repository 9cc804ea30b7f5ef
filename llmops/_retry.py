"""Retries of model and embedding calls: one policy, on tenacity, for every caller.

A failed attempt is retried when another attempt may succeed (``is_retryable``: not a bad
request, a refused key or a context overflow) until ``retries`` retries are spent, after
``backoff_s`` x 1, 2, 4, ... (at most a minute) plus up to ``backoff_s`` of random jitter, so
callers that failed together do not all come back at once. Cancellation and Ctrl-C are never
retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops._litellm import is_retryable

if TYPE_CHECKING:
    from tenacity import AsyncRetrying, Retrying
    from tenacity.wait import wait_base

__all__ = ["MAX_WAIT_S", "async_retrying", "retrying", "should_retry"]

#: The longest wait between two attempts, in seconds.
MAX_WAIT_S = 60.0


def should_retry(exc: BaseException) -> bool:
    """Whether a failed attempt is worth another: a call's own failure that may pass."""
    return isinstance(exc, Exception) and is_retryable(exc)


def _wait(backoff_s: float) -> wait_base:
    from tenacity import wait_exponential, wait_random

    return wait_exponential(multiplier=backoff_s, max=MAX_WAIT_S) + wait_random(0, backoff_s)


def retrying(retries: int, backoff_s: float) -> Retrying:
    """The policy for blocking calls: ``for attempt in retrying(...): with attempt: ...``.

    The last failure is raised as it is once the retries are spent or it is not retryable.
    """
    # imported here: tenacity is needed only once a model is called
    from tenacity import Retrying, retry_if_exception, stop_after_attempt

    return Retrying(
        retry=retry_if_exception(should_retry),
        stop=stop_after_attempt(retries + 1),
        wait=_wait(backoff_s),
        reraise=True,
    )


def async_retrying(retries: int, backoff_s: float) -> AsyncRetrying:
    """The same policy for coroutines: ``async for attempt in async_retrying(...)``."""
    from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

    return AsyncRetrying(
        retry=retry_if_exception(should_retry),
        stop=stop_after_attempt(retries + 1),
        wait=_wait(backoff_s),
        reraise=True,
    )
