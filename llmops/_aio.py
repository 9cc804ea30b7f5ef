"""One long-lived event loop in a daemon thread for blocking wrappers of async code, and the
interrupt policy of long commands.

litellm caches async HTTP clients per event loop; running every call on the same loop keeps
those clients valid across calls instead of creating and closing a loop each time.

Interrupts: the main thread waits in :func:`run_sync` while the work runs on the loop's
thread, so Ctrl-C lands in the waiting thread. :func:`run_sync` then cancels the work and
waits (briefly) for it to unwind, which closes its HTTP connections. That matters for the
local llama.cpp server: stopping it with a request still open blocks forever while holding
the GIL (see ``llmops.llm._local``). :func:`interrupt_policy` gives long CLI commands one
behaviour for SIGINT and SIGTERM: the first raises :class:`~llmops._exceptions.Interrupted`
and starts a watchdog that ends the process if cleanup takes longer than a few seconds; a
second exits at once, even while the main thread is blocked in C (the watchdog thread hears
of it through the signal wakeup fd).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import contextvars
import dataclasses
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any, NoReturn, TypeVar

from llmops._exceptions import Interrupted

__all__ = [
    "DetachedStats",
    "cancel_all",
    "detach",
    "detached_stats",
    "finish_detached_at_exit",
    "interrupt_policy",
    "interrupted_exit_code",
    "run_sync",
    "wait_detached",
]

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()

#: How long an interrupted run_sync waits for its work to unwind (its ``finally`` blocks,
#: closing its connections) before giving up on it.
CANCEL_WAIT_S = 2.0
#: How long the exit of the process waits for detached work (a route's shadow calls).
DETACHED_EXIT_WAIT_S = 5.0
#: How long cleanup may take after the first SIGINT/SIGTERM before the process is ended
#: (the spec is an exit within 5 s; this leaves a margin for interpreter shutdown).
FORCE_EXIT_AFTER_S = 4.0


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="llmops-aio", daemon=True).start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the shared loop and wait for its result.

    If the wait is interrupted (Ctrl-C raises in this thread), the task is cancelled and
    given up to ``CANCEL_WAIT_S`` to unwind before the interrupt propagates.
    """
    loop = _background_loop()
    finished = threading.Event()
    created: list[asyncio.Task[T]] = []

    def start() -> None:
        task = loop.create_task(coro)
        task.add_done_callback(lambda _: finished.set())
        created.append(task)

    loop.call_soon_threadsafe(start)
    try:
        finished.wait()
    except BaseException:

        def cancel() -> None:  # runs after start(): the loop runs callbacks in order
            if created:
                created[0].cancel()

        loop.call_soon_threadsafe(cancel)
        finished.wait(CANCEL_WAIT_S)
        raise
    return created[0].result()


@dataclass
class DetachedStats:
    """Work started with :func:`detach`: how much, how much ended, how much was left at exit."""

    started: int = 0
    finished: int = 0
    abandoned: int = 0


_detached: set[concurrent.futures.Future[Any]] = set()
_detached_stats = DetachedStats()
_detached_lock = threading.Lock()


def detach(
    coro: Coroutine[Any, Any, T], context: contextvars.Context | None = None
) -> concurrent.futures.Future[T]:
    """Start ``coro`` on the shared loop without waiting for it (in ``context``, else a copy of
    the caller's, so its spans nest where it was started).

    Unlike a task on the caller's loop, it outlives that loop (``asyncio.run`` cancels what is
    left when it returns), and :func:`wait_detached` awaits it at exit.
    """
    loop = _background_loop()
    future: concurrent.futures.Future[T] = concurrent.futures.Future()
    context = context if context is not None else contextvars.copy_context()

    def finished(task: asyncio.Task[T]) -> None:
        with _detached_lock:
            _detached.discard(future)
            _detached_stats.finished += 1
        if task.cancelled():
            future.cancel()
        elif (error := task.exception()) is not None:
            future.set_exception(error)
        else:
            future.set_result(task.result())

    def start() -> None:  # runs in ``context``: the task copies it
        loop.create_task(coro).add_done_callback(finished)

    with _detached_lock:
        _detached.add(future)
        _detached_stats.started += 1
    loop.call_soon_threadsafe(start, context=context)
    return future


def wait_detached(timeout_s: float) -> int:
    """Wait up to ``timeout_s`` for the work started with :func:`detach`; the number of those
    still running, which are then counted as abandoned."""
    with _detached_lock:
        pending = set(_detached)
    if not pending:
        return 0
    _, running = concurrent.futures.wait(pending, timeout=timeout_s)
    with _detached_lock:
        _detached_stats.abandoned += len(running)
    return len(running)


_waited_at_exit: list[bool] = []


def finish_detached_at_exit() -> None:
    """At exit, once: give detached work up to ``DETACHED_EXIT_WAIT_S`` to end, and say on
    stderr how much was abandoned."""
    if _waited_at_exit:
        return
    _waited_at_exit.append(True)
    abandoned = wait_detached(DETACHED_EXIT_WAIT_S)
    if abandoned:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(
                f"llmops: {abandoned} shadow call(s) still running {DETACHED_EXIT_WAIT_S:g} s "
                "after exit began were abandoned\n"
            )
            sys.stderr.flush()


# Before every atexit handler: those close litellm's HTTP clients (registered on its first
# use, so no registration order puts an atexit handler ahead of it), write the spans and stop
# the local model server, all of which must come after. threading's exit hooks run when the
# main thread ends, before atexit, newest first, so this also precedes concurrent.futures'
# (litellm builds each request in an executor thread). atexit is the fallback.
_register_early = getattr(threading, "_register_atexit", None)
if _register_early is not None:
    _register_early(finish_detached_at_exit)
else:  # pragma: no cover - CPython has it since 3.9
    atexit.register(finish_detached_at_exit)


# A forked child has no loop thread: what its parent had in flight is not its to wait for.
os.register_at_fork(after_in_child=_detached.clear)


def detached_stats() -> DetachedStats:
    """A copy of the counts of detached work in this process."""
    with _detached_lock:
        return dataclasses.replace(_detached_stats)


def cancel_all(timeout_s: float) -> bool:
    """Cancel every task on the shared loop and wait up to ``timeout_s`` for them to end.

    Used at exit, so that no request is left open on a server about to be stopped; returns
    whether they all ended.
    """
    loop = _loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return True

    async def cancel() -> bool:
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if not tasks:
            return True
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        return not pending

    try:
        return asyncio.run_coroutine_threadsafe(cancel(), loop).result(timeout_s + 0.5)
    except Exception:  # the loop is stuck in synchronous code: nothing more to do here
        return False


_interrupted: list[int] = []  # the exit code of the first interrupt, once there was one


def interrupted_exit_code() -> int | None:
    """130 (SIGINT) or 143 (SIGTERM) once :func:`interrupt_policy` caught a signal."""
    return _interrupted[0] if _interrupted else None


def _restore_terminal() -> None:
    if sys.stdout.isatty():  # a progress bar hides the cursor while it runs
        with contextlib.suppress(OSError):
            os.write(sys.stdout.fileno(), b"\x1b[?25h")


def _exit_now(code: int, why: str) -> NoReturn:
    _restore_terminal()
    with contextlib.suppress(OSError):
        os.write(2, f"{why}: exiting now\n".encode())
    os._exit(code)


def _watch(code: int, wakeup: int) -> None:
    """After the first signal: exit at the next SIGINT/SIGTERM, or when cleanup runs long.

    Runs in its own thread and learns of signals through the wakeup fd, which the C-level
    handler writes from any thread: a main thread blocked in C (a locked SQLite file) never
    runs the Python handler, but it releases the GIL, so this thread can still end things.
    """
    deadline = time.monotonic() + FORCE_EXIT_AFTER_S
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([wakeup], [], [], left)
        if ready and set(os.read(wakeup, 64)) & {signal.SIGINT, signal.SIGTERM}:
            _exit_now(code, "interrupted again")
    _exit_now(code, f"interrupted: cleanup took over {FORCE_EXIT_AFTER_S:g} s")


def _on_signal(signum: int, frame: FrameType | None) -> None:
    code = 128 + signum
    if _interrupted:  # the second Ctrl-C (or SIGTERM): the user does not want to wait
        _exit_now(_interrupted[0], "interrupted again")
    _interrupted.append(code)
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    signal.set_wakeup_fd(write_fd)
    threading.Thread(
        target=_watch, args=(code, read_fd), name="llmops-interrupt", daemon=True
    ).start()
    with contextlib.suppress(OSError):
        os.write(2, b"interrupting: finishing cleanly (press Ctrl-C again to exit now)\n")
    message = "terminated (SIGTERM)" if signum == signal.SIGTERM else "interrupted"
    raise Interrupted(message, exit_code=code)


@contextlib.contextmanager
def interrupt_policy() -> Iterator[None]:
    """SIGINT and SIGTERM during the block: the first raises ``Interrupted`` (exit 130, or
    143 for SIGTERM) and cleanup gets ``FORCE_EXIT_AFTER_S``; a second exits immediately.

    After an interrupt the handlers stay installed, so what runs after the command (printing
    what was kept, flushing spans before ``llmops.cli._entry`` ends with ``os._exit``) is
    covered too.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in signals}
    for signum in signals:
        signal.signal(signum, _on_signal)
    try:
        yield
    finally:
        if not _interrupted:
            for signum, handler in previous.items():
                if handler is not None:  # None: installed outside Python, nothing to restore
                    signal.signal(signum, handler)
