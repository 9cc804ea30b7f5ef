"""The ``llmops`` command line. Errors map to exit codes here, in one place:

0 ok · 1 a check or threshold failed · 2 bad input or environment · 70 internal error ·
130 interrupted (Ctrl-C) · 143 terminated (SIGTERM). Long commands (eval run/resume, rag
build/query, gate check, promote) run under ``llmops._aio.interrupt_policy``: the first
signal stops the work cleanly within seconds, a second one exits at once.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import warnings
from typing import NoReturn

from rich.markup import escape

from llmops._aio import interrupted_exit_code
from llmops._exceptions import Interrupted, LlmopsError
from llmops.cli._aliases import alias_app
from llmops.cli._app import app, state
from llmops.cli._datasets import datasets_app
from llmops.cli._eval import eval_app
from llmops.cli._evaluate_traces import evaluate_traces_command
from llmops.cli._gates import bundles_app, gate_app, promote_command
from llmops.cli._models import models_app
from llmops.cli._output import err_console
from llmops.cli._prompts import prompts_app
from llmops.cli._queues import queues_app, score_configs_app
from llmops.cli._rag import rag_app
from llmops.cli._runs import runs_app
from llmops.cli._serve import serve_app
from llmops.cli._server import server, ui
from llmops.cli._stats import stats_command
from llmops.cli._store import store_app
from llmops.cli._traces import traces_app
from llmops.cli._tracking import experiments_app

__all__ = ["app", "main"]

app.add_typer(alias_app, name="alias")
app.add_typer(datasets_app, name="datasets")
app.add_typer(eval_app, name="eval")
app.add_typer(models_app, name="models")
app.add_typer(prompts_app, name="prompts")
app.add_typer(rag_app, name="rag")
app.add_typer(runs_app, name="runs")
app.add_typer(traces_app, name="traces")
app.add_typer(experiments_app, name="experiments")
app.add_typer(store_app, name="store")
app.add_typer(gate_app, name="gate")
app.add_typer(bundles_app, name="bundles")
app.add_typer(serve_app, name="serve")
app.add_typer(score_configs_app, name="score-configs")
app.add_typer(queues_app, name="queues")
app.command("promote")(promote_command)
app.command("evaluate-traces")(evaluate_traces_command)
app.command("server")(server)
app.command("ui")(ui)
app.command("stats")(stats_command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (usage errors are handled by click: exit 2)."""
    try:
        app(args=argv, standalone_mode=True, prog_name="llmops")
    except SystemExit as exc:
        interrupt = _interrupt_behind(exc)
        if interrupt is not None:  # typer turned it into a silent exit 130
            return _report_interrupt(interrupt)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt as exc:
        return _report_interrupt(exc)
    except Exception as exc:
        if state.debug:
            raise
        code = interrupted_exit_code()
        if code is not None:
            # After the signal, an error is its consequence: a library that caught the
            # KeyboardInterrupt in an import it cut short reports the package as missing.
            return _report_interrupt(Interrupted(exit_code=code))
        if isinstance(exc, LlmopsError):
            err_console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
            return exc.exit_code
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        err_console.print(
            f"[red]internal error:[/] {escape(type(exc).__name__)}: {escape(first_line)}"
            " (rerun with --debug for the traceback, and please report it)",
            soft_wrap=True,
        )
        return 70
    return 0


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C (or SIGTERM) that an exit was raised for, if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _report_interrupt(exc: KeyboardInterrupt) -> int:
    """One line on what was kept (``Interrupted`` says it), and 130 or 143 (SIGTERM)."""
    err_console.print(escape(getattr(exc, "message", "interrupted")), soft_wrap=True)
    return int(getattr(exc, "exit_code", 130))


def _entry() -> None:
    # The process is the CLI's own. litellm makes its request coroutine in an executor thread;
    # cancelled by Ctrl-C while that runs, the coroutine is never awaited, and saying so at
    # exit is only noise. (The library itself leaves warning filters to the app.)
    warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
    code = main()
    if interrupted_exit_code() is not None:
        _exit_interrupted(code)
    # The exit handlers still run (spans flushed, runs ended, stores closed, servers stopped);
    # the interpreter's last garbage collection then skips the objects the command made: walking
    # them (sqlalchemy, pydantic, rich) cost a list command about 0.1 s of its 0.5 s
    gc.freeze()
    sys.exit(code)


def _exit_interrupted(code: int) -> NoReturn:
    """End an interrupted command without the exit handlers: the run is already marked and
    its results written, and stopping the in-process llama.cpp server takes 1-3 s of GIL-
    holding shutdown (waiting out its cancelled requests) for nothing. Spans are flushed
    first; the watchdog of ``interrupt_policy`` still bounds all of it."""
    # lazy: keeps import llmops light
    from llmops.tracing import flush

    with contextlib.suppress(Exception):
        flush(timeout_s=2.0)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
