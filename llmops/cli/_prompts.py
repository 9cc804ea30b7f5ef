"""``llmops prompts``: the prompt registry from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from llmops._exceptions import CheckFailed, InputError
from llmops.cli._aliases import print_events
from llmops.cli._output import console, fmt_time, print_json, short
from llmops.cli._table import WIDE, Col, print_table

__all__ = ["prompts_app"]

prompts_app = typer.Typer(help="Manage prompt versions and aliases.", no_args_is_help=True)

_JSON = typer.Option(False, "--json", help="Print JSON.")


def _store() -> Any:
    # lazy: keeps import llmops light
    from llmops.store import open_store

    return open_store()


def _prompts_dir() -> Path:
    # lazy: keeps import llmops light
    from llmops.config import load_config

    return load_config().path("prompts")


_PROMPT_COLUMNS = (
    Col("name", 0, id="full"),
    Col("latest", 1, justify="right"),
    Col("aliases", 1),
    Col("tags", 3),
    Col("description", 2),
)


@prompts_app.command("list")
def list_(wide: bool = WIDE, as_json: bool = _JSON) -> None:
    """List prompts with their newest version and aliases."""
    from rich.markup import escape

    # the store's Core read, not llmops.prompts: templates, jinja2 and the models stay unloaded
    from llmops.store import prompt_listing

    prompts = prompt_listing(_store())
    if as_json:
        print_json([p.to_dict() for p in prompts])
        return
    rows = [
        (
            escape(p.name),
            str(p.latest),
            escape(" ".join(f"{alias}→{version}" for alias, version in p.aliases.items())),
            escape(", ".join(p.tags)),
            escape(p.description if wide else short(p.description, 50)),
        )
        for p in prompts
    ]
    print_table(_PROMPT_COLUMNS, rows, wide=wide, empty="no prompts yet: try `llmops prompts sync`")


@prompts_app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME, NAME@VERSION or NAME@ALIAS."), as_json: bool = _JSON
) -> None:
    """Show one version: template, variables, model parameters."""
    import yaml
    from rich.syntax import Syntax

    from llmops.prompts import get_version, parse_ref

    name, selector = parse_ref(ref)
    version = get_version(_store(), name, selector)
    if as_json:
        print_json(version.to_dict())
        return
    console.print(
        f"[bold]{version.ref}[/] · {version.kind} · by {version.author or '-'} · "
        f"{fmt_time(version.created_at)}"
        f" · sha256 {version.content_hash[:12]}"
    )
    if version.message:
        console.print(f"message: {version.message}")
    console.print(f"variables: {', '.join(version.variables) or '-'}")
    body = yaml.safe_dump(
        {"template": version.template, "model_params": version.model_params},
        sort_keys=False,
        allow_unicode=True,
    )
    console.print(Syntax(body, "yaml", word_wrap=True))


_HISTORY_COLUMNS = (
    Col("version", 0, justify="right"),
    Col("created", 0),
    Col("author", 2),
    Col("sha256", 1),
    Col("message", 3),
)


@prompts_app.command("history")
def history(
    name: str = typer.Argument(..., help="Prompt name."), wide: bool = WIDE, as_json: bool = _JSON
) -> None:
    """List every version of a prompt and every move of its aliases."""
    from rich.markup import escape

    from llmops.prompts import list_versions
    from llmops.store import alias_history

    store = _store()
    versions = list_versions(store, name)
    events = alias_history(store, "prompt", name)
    if as_json:
        print_json(
            {
                "versions": [v.to_dict() for v in versions],
                "alias_events": [e.to_dict() for e in events],
            }
        )
        return
    rows = [
        (
            str(v.version),
            fmt_time(v.created_at),
            escape(v.author),
            v.content_hash if wide else v.content_hash[:12],
            escape(v.message if wide else short(v.message, 50)),
        )
        for v in versions
    ]
    print_table(_HISTORY_COLUMNS, rows, wide=wide, title=f"{escape(name)} · versions")
    if events:
        print_events(f"{escape(name)} · alias moves", events, wide=wide)


@prompts_app.command("diff")
def diff(
    name: str = typer.Argument(..., help="Prompt name."),
    a: str = typer.Argument(..., help="Version number or alias."),
    b: str = typer.Argument(..., help="Version number or alias."),
) -> None:
    """A coloured unified diff between two versions."""
    from rich.syntax import Syntax

    from llmops.prompts import diff_versions, get_version, parse_ref

    store = _store()
    first = get_version(store, name, parse_ref(f"{name}@{a}")[1])
    second = get_version(store, name, parse_ref(f"{name}@{b}")[1])
    text = diff_versions(first, second)
    console.print(
        Syntax(text, "diff", word_wrap=True)
        if text
        else f"{first.ref} and {second.ref} have the same content"
    )


@prompts_app.command("push")
def push(
    file: Path = typer.Argument(..., help="A prompt file (.yaml or .md)."),
    message: str = typer.Option("", "--message", "-m", help="Commit message of the version."),
    as_json: bool = _JSON,
) -> None:
    """Register a prompt file as a version (the existing one when the content is known)."""
    # lazy: keeps import llmops light
    from llmops.prompts import LATEST, get_version, load_prompt_file, register_prompt

    store = _store()
    spec = load_prompt_file(file)
    try:
        before = get_version(store, spec.name, LATEST).version
    except InputError:
        before = 0
    version = register_prompt(store, spec, message=message)
    created = version.version > before
    if as_json:
        print_json({**version.to_dict(), "created": created})
        return
    verb = "registered new version" if created else "unchanged, already version"
    console.print(f"{spec.name}: {verb} {version.version} (sha256 {version.content_hash[:12]})")


@prompts_app.command("sync")
def sync(
    check: bool = typer.Option(
        False, "--check", help="Change nothing; exit 1 when files and registry differ."
    ),
    message: str = typer.Option("", "--message", "-m", help="Commit message of new versions."),
    as_json: bool = _JSON,
) -> None:
    """Register a version for every new or changed file in prompts/."""
    from rich.table import Table

    from llmops.prompts import plan_sync, sync_prompts

    store = _store()
    folder = _prompts_dir()
    items = plan_sync(store, folder) if check else sync_prompts(store, folder, message=message)
    if as_json:
        print_json([item.to_dict() for item in items])
    else:
        table = Table(title=f"{folder}", title_justify="left")
        for column in ("prompt", "file", "status", "version"):
            table.add_column(column)
        for item in items:
            status = (
                item.status
                if check or item.status == "unchanged"
                else f"[green]{item.status}: registered"
            )
            table.add_row(item.name, item.path.name, status, str(item.version or "-"))
        console.print(table if items else f"no prompt files in {folder}")
    pending = [item.name for item in items if item.status != "unchanged"]
    if check and pending:
        raise CheckFailed(
            f"prompt files differ from the registry: {', '.join(pending)} "
            "(run `llmops prompts sync`)"
        )


@prompts_app.command("alias")
def alias(
    name: str = typer.Argument(..., help="Prompt name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="e.g. production, staging."),
    version: int = typer.Argument(..., help="Version number to point at."),
    reason: str = typer.Option(..., "--reason", "-r", help="Why; recorded in the alias history."),
    as_json: bool = _JSON,
) -> None:
    """Point an alias at a version (recorded: who, when, from, to, why)."""
    # lazy: keeps import llmops light
    from llmops.prompts import set_alias

    event = set_alias(name, alias_name, version, reason=reason, store=_store())
    if as_json:
        print_json(event.to_dict())
        return
    console.print(
        f"{name}@{alias_name}: {event.from_version or '(new)'} -> {event.to_version} "
        f"by {event.actor}"
    )


@prompts_app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Prompt name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="The alias to move back."),
    reason: str = typer.Option("", "--reason", "-r", help="Why; recorded in the alias history."),
    as_json: bool = _JSON,
) -> None:
    """Move an alias back to the version it pointed to before its last move."""
    # lazy: keeps import llmops light
    from llmops.prompts import rollback_alias

    event = rollback_alias(name, alias_name, reason=reason, store=_store())
    if as_json:
        print_json(event.to_dict())
        return
    console.print(
        f"{name}@{alias_name}: rolled back {event.from_version} -> {event.to_version} "
        f"by {event.actor}"
    )


def _variables(pairs: list[str], json_text: str | None) -> dict[str, Any]:
    import orjson

    variables: dict[str, Any] = {}
    if json_text:
        try:
            loaded = orjson.loads(json_text)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"--vars-json: invalid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise InputError("--vars-json: expected a JSON object")
        variables.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--var {pair!r}: expected NAME=VALUE")
        variables[key] = value
    return variables


@prompts_app.command("render")
def render(
    ref: str = typer.Argument(..., help="NAME, NAME@VERSION or NAME@ALIAS."),
    var: list[str] = typer.Option([], "--var", "-v", help="A variable as NAME=VALUE (repeatable)."),
    vars_json: str | None = typer.Option(None, "--vars-json", help="Variables as a JSON object."),
    as_json: bool = _JSON,
) -> None:
    """Render a version with variables: text, or chat messages as JSON."""
    import sys

    from llmops.prompts import get_version, parse_ref

    name, selector = parse_ref(ref)
    version = get_version(_store(), name, selector)
    rendered = version.render(**_variables(var, vars_json))
    if as_json or not isinstance(rendered, str):
        print_json(rendered)
    else:
        sys.stdout.write(rendered if rendered.endswith("\n") else rendered + "\n")
