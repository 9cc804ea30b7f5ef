"""``llmops server --workers N``: N server processes on the same listening sockets, under a
small supervisor (the process the command started).

The supervisor binds the sockets, then forks the workers; each opens its own store connections
and builds its own app and gRPC server. Nothing else crosses the fork: the supervisor never
holds a store connection nor imports grpc, and starts no thread. The kernel hands each new
connection to one of the workers accepting on the shared sockets.

- SIGINT, SIGTERM or SIGHUP to the supervisor: SIGTERM to each worker, which shuts down
  gracefully (the workers run in their own process group, so a terminal's Ctrl-C reaches the
  supervisor alone and each worker gets one signal, not two); workers still running after
  :data:`GRACE_S` are killed, and a second signal kills them at once. Exit 130, 143 or 129.
- A worker that ends on its own after it was ready is restarted in its slot. One that ends
  before it was ready (a gRPC port taken, the store unreachable) would only fail again: the
  server stops and exits with that worker's code.
- A worker whose supervisor is gone (killed with SIGKILL) stops itself within a second.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable

from rich.markup import escape

from llmops._exceptions import LlmopsError
from llmops.cli._output import err_console

__all__ = ["GRACE_S", "supervise"]

#: Seconds the workers have to finish their requests after the first signal.
GRACE_S = 20.0
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PID = struct.Struct("=i")

#: ``run(slot, ready)`` serves in a worker until it is stopped; it calls ``ready()`` once set up.
Worker = Callable[[int, Callable[[], None]], None]


def supervise(count: int, run: Worker) -> int:
    """Run ``count`` workers until a signal or a failed start; returns the exit code."""
    ready_r, ready_w = os.pipe()
    workers: dict[int, int] = {}  # pid -> slot
    ready: set[int] = set()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        # only noted: the loop signals the workers, so one forked meanwhile is not missed
        received.append(signum)

    def spawn(slot: int) -> None:
        pid = _fork(slot, run, ready_w)
        workers[pid] = slot
        err_console.print(f"llmops server: worker {slot} started (pid {pid})")

    previous = {signum: signal.signal(signum, on_signal) for signum in _SIGNALS}
    code = 0
    deadline: float | None = None
    handled = 0  # signals passed on to the workers
    try:
        for slot in range(count):
            if received:
                break
            spawn(slot)
        while workers:
            if len(received) > handled:
                handled = len(received)
                _signal_all(workers, signal.SIGTERM if handled == 1 else signal.SIGKILL)
            _read_ready(ready_r, ready, 0.2)
            if (received or code) and deadline is None:
                deadline = time.monotonic() + GRACE_S
            if deadline is not None and time.monotonic() > deadline:
                _signal_all(workers, signal.SIGKILL)
            ended_now = _reaped()
            _read_ready(ready_r, ready, 0)  # a worker may have said so just before it ended
            for pid, status in ended_now:
                slot = workers.pop(pid, -1)
                ended = _describe(status)
                if received or code or slot < 0:
                    continue  # stopping: every worker is meant to end
                if pid not in ready:
                    err_console.print(
                        f"llmops server: worker {slot} (pid {pid}) {ended} before it was ready; "
                        "stopping"
                    )
                    exit_code = os.waitstatus_to_exitcode(status)
                    code = exit_code if exit_code > 0 else 1
                    _signal_all(workers, signal.SIGTERM)
                    continue
                ready.discard(pid)
                err_console.print(
                    f"llmops server: worker {slot} (pid {pid}) {ended}; restarting it"
                )
                spawn(slot)
    finally:
        _signal_all(workers, signal.SIGKILL)  # only when the loop itself failed
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        os.close(ready_r)
        os.close(ready_w)
    if received:
        return 128 + received[0]
    return code


def _read_ready(ready_r: int, ready: set[int], wait_s: float) -> None:
    """Add the pids the workers wrote to the pipe (ready) to ``ready``, waiting up to ``wait_s``."""
    readable, _, _ = select.select([ready_r], [], [], wait_s)
    if readable:
        data = os.read(ready_r, _PID.size * 64)  # writes of 4 bytes are atomic: whole pids
        ready.update(pid for (pid,) in _PID.iter_unpack(data))


def _signal_all(workers: dict[int, int], signum: int) -> None:
    for pid in list(workers):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def _reaped() -> list[tuple[int, int]]:
    """(pid, wait status) of the workers that ended, without waiting."""
    found: list[tuple[int, int]] = []
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if pid == 0:
            return found
        found.append((pid, status))


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def _fork(slot: int, run: Worker, ready_w: int) -> int:
    """Fork a worker; in the child, serve and never return."""
    parent = os.getpid()
    # blocked across the fork: a signal arriving before the child has its own handlers would
    # run the supervisor's handler (with the supervisor's list of workers) in the child
    signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        pid = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        raise
    if pid:
        with contextlib.suppress(OSError):  # the child does it too; whoever is first wins
            os.setpgid(pid, pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        return pid
    code = 70
    try:
        os.setpgid(0, 0)
        for signum in _SIGNALS:
            signal.signal(signum, signal.SIG_DFL)  # uvicorn installs its own, then re-raises
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()

        def announce() -> None:
            os.write(ready_w, _PID.pack(os.getpid()))

        run(slot, announce)
        code = 0
    except LlmopsError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        code = exc.exit_code
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        code = 130
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        # not sys.exit: the supervisor's exit handlers, copied by the fork, are not this
        # process's to run
        os._exit(code)


def _watch_parent(parent: int) -> None:
    """Stop this worker (gracefully) once its supervisor is gone."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)
