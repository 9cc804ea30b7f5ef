"""The root ``llmops`` command and its global options."""

from __future__ import annotations

import typer

from llmops._version import __version__

__all__ = ["app", "state"]


class _State:
    debug: bool = False


state = _State()

app = typer.Typer(
    name="llmops",
    help="Local-first LLMOps: prompts, evals, traces and gates, offline on your laptop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: bool = typer.Option(
        False, "--debug", envvar="LLMOPS_DEBUG", help="Show tracebacks on errors."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Local-first LLMOps: prompts, evals, traces and gates, offline on your laptop."""
    state.debug = debug
