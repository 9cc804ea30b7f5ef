"""The ``llmops`` command line. Errors map to exit codes here, in one place:

0 ok · 1 a check or threshold failed · 2 bad input or environment · 70 internal error ·
130 interrupted.
"""

from __future__ import annotations

import sys

from rich.markup import escape

from llmops._exceptions import LlmopsError
from llmops.cli._app import app, state
from llmops.cli._eval import eval_app
from llmops.cli._gates import bundles_app, gate_app, promote_command
from llmops.cli._models import models_app
from llmops.cli._output import err_console
from llmops.cli._prompts import prompts_app
from llmops.cli._rag import rag_app
from llmops.cli._runs import runs_app
from llmops.cli._serve import serve_app
from llmops.cli._server import server, ui
from llmops.cli._store import store_app
from llmops.cli._traces import traces_app
from llmops.cli._tracking import experiments_app

__all__ = ["app", "main"]

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
app.command("promote")(promote_command)
app.command("server")(server)
app.command("ui")(ui)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code (usage errors are handled by click: exit 2)."""
    try:
        app(args=argv, standalone_mode=True, prog_name="llmops")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except LlmopsError as exc:
        if state.debug:
            raise
        err_console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:
        if state.debug:
            raise
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        err_console.print(
            f"[red]internal error:[/] {escape(type(exc).__name__)}: {escape(first_line)}"
            " (rerun with --debug for the traceback, and please report it)",
            soft_wrap=True,
        )
        return 70
    return 0


def _entry() -> None:
    sys.exit(main())
