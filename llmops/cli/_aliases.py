"""``llmops alias``: one front door to the alias service for every subject (``KIND:NAME``),
and the printing that ``prompts``/``models``/``rag`` alias commands share."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from llmops.cli._output import console, fmt_time, print_json, short
from llmops.cli._table import WIDE, Col, print_table

if TYPE_CHECKING:
    from llmops.store import AliasEvent

__all__ = ["alias_app", "move_alias", "move_alias_back", "print_events", "print_history"]

alias_app = typer.Typer(
    help="Move, list and roll back aliases of any subject: prompt:NAME, model:NAME, index:NAME.",
    no_args_is_help=True,
)
_JSON = typer.Option(False, "--json", help="Print JSON.")
_SUBJECT = typer.Argument(..., metavar="KIND:NAME", help="e.g. prompt:qa, model:bot, index:docs.")


def _subject(text: str) -> tuple[str, str]:
    # lazy: keeps import llmops light
    from llmops._exceptions import InputError
    from llmops.gates import load_owner
    from llmops.store import ALIAS_KINDS

    kind, _, name = text.partition(":")
    if kind not in ALIAS_KINDS or not name or "@" in name:
        raise InputError(
            f"'{text}' is not KIND:NAME with KIND one of {', '.join(ALIAS_KINDS)} "
            "(e.g. prompt:qa, model:support, index:docs)"
        )
    load_owner(kind)
    return kind, name


def _print_move(kind: str, name: str, event: AliasEvent, as_json: bool) -> None:
    if as_json:
        print_json(event.to_dict())
        return
    console.print(
        f"{kind}:{name}@{event.alias}: {event.from_version or '(new)'} -> {event.to_version} "
        f"by {event.actor}"
    )


def move_alias(kind: str, name: str, alias: str, version: int, reason: str, as_json: bool) -> None:
    """Point ``alias`` of ``kind:name`` at ``version`` and print the move."""
    # lazy: keeps import llmops light
    from llmops.store import open_store, set_alias

    event = set_alias(open_store(), kind, name, alias, version, reason=reason)
    _print_move(kind, name, event, as_json)


def move_alias_back(kind: str, name: str, alias: str, reason: str, as_json: bool) -> None:
    """Move ``alias`` of ``kind:name`` back to its previous version and print the move."""
    # lazy: keeps import llmops light
    from llmops.store import open_store, rollback_alias

    event = rollback_alias(open_store(), kind, name, alias, reason=reason)
    _print_move(kind, name, event, as_json)


# the move itself never drops; at 80 columns the gate decision and who give way before why
_EVENT_COLUMNS = (
    Col("when", 0),
    Col("alias", 0),
    Col("from", 0, justify="right"),
    Col("to", 0, justify="right"),
    Col("action", 2),
    Col("decision", 4, id="full"),
    Col("who", 3),
    Col("why", 1),
)


def print_events(title: str, events: list[AliasEvent], *, wide: bool = False) -> None:
    """The alias moves as a table, newest first (``wide``: every column, reasons whole)."""
    from rich.markup import escape

    rows = [
        (
            fmt_time(e.created_at),
            escape(e.alias),
            str(e.from_version or "-"),
            str(e.to_version),
            e.action,
            str(e.gate_decision_id or "-"),
            escape(e.actor),
            escape(e.reason if wide else short(e.reason, 50)),
        )
        for e in events
    ]
    print_table(_EVENT_COLUMNS, rows, wide=wide, title=title)


def print_history(
    kind: str, name: str, alias: str | None, as_json: bool, *, wide: bool = False
) -> None:
    """Every move of the aliases of ``kind:name`` (or of one alias), newest first."""
    # lazy: keeps import llmops light
    from llmops.store import alias_history, open_store

    events = alias_history(open_store(), kind, name, alias)
    if as_json:
        print_json([e.to_dict() for e in events])
    elif events:
        print_events(f"{kind}:{name} · alias moves", events, wide=wide)
    elif alias is not None:
        console.print(f"alias '{alias}' of {kind}:{name} has never moved")
    else:
        console.print(f"no alias of {kind}:{name} has moved yet")


@alias_app.command("set")
def set_command(
    subject: str = _SUBJECT,
    alias: str = typer.Argument(..., metavar="ALIAS", help="e.g. staging, canary."),
    version: int = typer.Argument(..., help="Version number to point at."),
    reason: str = typer.Option(..., "--reason", "-r", help="Why; recorded in the alias history."),
    as_json: bool = _JSON,
) -> None:
    """Point an alias at a version (recorded: who, when, from, to, why).

    A protected alias (production) moves only through ``llmops promote KIND:NAME@VERSION``.
    """
    kind, name = _subject(subject)
    move_alias(kind, name, alias, version, reason, as_json)


@alias_app.command("list")
def list_command(subject: str = _SUBJECT, as_json: bool = _JSON) -> None:
    """Where each alias of a subject points now."""
    # lazy: keeps import llmops light
    from llmops.store import aliases_of, open_store

    kind, name = _subject(subject)
    found = aliases_of(open_store(), kind, name)
    if as_json:
        print_json(found)
        return
    for alias, version in found.items():
        console.print(f"{kind}:{name}@{alias} -> {version}")
    if not found:
        console.print(f"{kind}:{name} has no aliases")


@alias_app.command("history")
def history_command(
    subject: str = _SUBJECT,
    alias: str | None = typer.Argument(None, metavar="[ALIAS]", help="Only this alias."),
    wide: bool = WIDE,
    as_json: bool = _JSON,
) -> None:
    """Every move of a subject's aliases (or of one alias), newest first."""
    kind, name = _subject(subject)
    print_history(kind, name, alias, as_json, wide=wide)


@alias_app.command("rollback")
def rollback_command(
    subject: str = _SUBJECT,
    alias: str = typer.Argument(..., metavar="ALIAS", help="The alias to move back."),
    reason: str = typer.Option("", "--reason", "-r", help="Why; recorded in the alias history."),
    as_json: bool = _JSON,
) -> None:
    """Move an alias back to the version it pointed to before its last move.

    A protected alias rolls back with ``llmops gate rollback KIND:NAME`` (a recorded decision).
    """
    kind, name = _subject(subject)
    move_alias_back(kind, name, alias, reason, as_json)
