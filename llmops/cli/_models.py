"""``llmops models``: the model registry from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from llmops._exceptions import InputError, NotFoundError
from llmops.cli._aliases import print_events
from llmops.cli._output import console, fmt_time, print_json, short
from llmops.cli._table import WIDE, Col, print_table

__all__ = ["models_app"]

models_app = typer.Typer(
    help="Register model versions, move their aliases, see their lineage.", no_args_is_help=True
)

_JSON = typer.Option(False, "--json", help="Print JSON.")


def _store() -> Any:
    # lazy: keeps import llmops light
    from llmops.store import open_store

    return open_store()


def _params(pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs; a value that parses as JSON (``0.2``, ``true``, ``[1]``) keeps its type."""
    import orjson

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InputError(f"--param {pair!r}: expected NAME=VALUE")
        try:
            params[key] = orjson.loads(value)
        except orjson.JSONDecodeError:
            params[key] = value
    return params


@models_app.command("register")
def register(
    name: str = typer.Argument(..., help="Registered model name (created on first use)."),
    serve: str = typer.Option(..., "--serve", help="The litellm/vLLM model string to call."),
    base: str = typer.Option("", "--base", help="The base model it derives from."),
    api_base: str | None = typer.Option(None, "--api-base", help="The server to call."),
    adapter: Path | None = typer.Option(
        None, "--adapter", help="Adapter file or folder, pinned by its SHA-256."
    ),
    run: str | None = typer.Option(None, "--run", help="The tracking run that produced it."),
    param: list[str] = typer.Option(
        [], "--param", "-p", help="A call parameter as NAME=VALUE (repeatable)."
    ),
    description: str = typer.Option("", "--description", "-d", help="What changed."),
    as_json: bool = _JSON,
) -> None:
    """Register the next version of a model."""
    from llmops.cli._tracking import find_run
    from llmops.registry import register_model_version

    store = _store()
    if run is not None:  # lineage must point at a run that exists, by its whole id
        try:
            run = find_run(store, run)[1]
        except NotFoundError as exc:
            raise NotFoundError(f"--run: {exc}") from None
    version = register_model_version(
        store,
        name,
        serve_model=serve,
        base_model=base,
        api_base=api_base,
        params=_params(param),
        adapter_path=adapter,
        source_run_id=run,
        description=description,
    )
    if as_json:
        print_json(version.to_dict())
        return
    pinned = f" · adapter sha256 {version.adapter_digest[:12]}" if version.adapter_digest else ""
    console.print(f"registered {version.ref} → {version.serve_model}{pinned}")


_MODEL_COLUMNS = (
    Col("name", 0, id="full"),
    Col("latest", 1, justify="right"),
    Col("serves", 2),
    Col("aliases", 1),
    Col("created", 3),
)


@models_app.command("list")
def list_(wide: bool = WIDE, as_json: bool = _JSON) -> None:
    """List registered models with their newest version and aliases."""
    from rich.markup import escape

    from llmops.registry import list_models

    models = list_models(_store())
    if as_json:
        print_json([m.to_dict() for m in models])
        return
    rows = [
        (
            escape(m.name),
            str(m.latest),
            escape(m.serve_model),
            escape(" ".join(f"{alias}→{version}" for alias, version in m.aliases.items())),
            fmt_time(m.created_at),
        )
        for m in models
    ]
    print_table(
        _MODEL_COLUMNS, rows, wide=wide, empty="no models yet: try `llmops models register`"
    )


@models_app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME, NAME@VERSION or NAME@ALIAS."), as_json: bool = _JSON
) -> None:
    """Show one version: how to call it, its adapter, lineage and alias history."""
    import yaml
    from rich.table import Table

    from llmops.registry import get_model_version, list_models, model_lineage
    from llmops.store import alias_history

    store = _store()
    version = get_model_version(store, ref)
    info = next(m for m in list_models(store) if m.name == version.name)
    aliases = sorted(alias for alias, number in info.aliases.items() if number == version.version)
    lineage = model_lineage(store, version.name, version.version)
    events = alias_history(store, "model", version.name)
    if as_json:
        print_json(
            {
                **version.to_dict(),
                "aliases": aliases,
                "lineage": lineage.to_dict(),
                "alias_events": [e.to_dict() for e in events],
            }
        )
        return
    console.print(
        f"[bold]{version.ref}[/] · by {version.author or '-'} · {fmt_time(version.created_at)}"
        + (f" · aliases: {', '.join(aliases)}" if aliases else "")
    )
    if version.description:
        console.print(f"description: {version.description}")
    body = {
        "serve_model": version.serve_model,
        "base_model": version.base_model or None,
        "api_base": version.api_base,
        "params": version.params,
        "adapter_path": version.adapter_path,
        "adapter_sha256": version.adapter_digest,
        "training_run": lineage.training_run_id,
        "datasets": lineage.dataset_hashes,
    }
    console.print(yaml.safe_dump(body, sort_keys=False, allow_unicode=True).rstrip())
    if lineage.eval_runs:
        runs = Table(title=f"{version.ref} · eval runs", title_justify="left")
        for column in ("run", "suite", "status", "started", "summary"):
            runs.add_column(column)
        for run in lineage.eval_runs:
            runs.add_row(
                run.id[:12],
                run.suite or "(not in this store)",
                run.status,
                fmt_time(run.started_at),
                short(run.summary, 60),
            )
        console.print(runs)
    if events:
        print_events(f"{version.name} · alias moves", events)


_HISTORY_COLUMNS = (
    Col("version", 0, justify="right"),
    Col("created", 0),
    Col("author", 3),
    Col("serves", 1),
    Col("adapter", 2),
    Col("description", 4),
)


@models_app.command("history")
def history(
    name: str = typer.Argument(..., help="Model name."),
    alias_name: str | None = typer.Argument(None, metavar="[ALIAS]", help="Only this alias."),
    wide: bool = WIDE,
    as_json: bool = _JSON,
) -> None:
    """List every version of a model and every move of its aliases (or of one alias)."""
    from rich.markup import escape

    from llmops.registry import list_model_versions
    from llmops.store import alias_history

    store = _store()
    versions = list_model_versions(store, name)
    events = alias_history(store, "model", name, alias_name)
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
            escape(v.serve_model),
            (v.adapter_digest or "-") if wide else (v.adapter_digest or "-")[:12],
            escape(v.description if wide else short(v.description, 40)),
        )
        for v in versions
    ]
    print_table(_HISTORY_COLUMNS, rows, wide=wide, title=f"{escape(name)} · versions")
    if events:
        print_events(f"{escape(name)} · alias moves", events, wide=wide)
    elif alias_name is not None:
        console.print(f"alias '{alias_name}' of model '{name}' has never moved")


@models_app.command("alias")
def alias(
    name: str = typer.Argument(..., help="Model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="e.g. staging."),
    version: int = typer.Argument(..., help="Version number to point at."),
    reason: str = typer.Option(..., "--reason", "-r", help="Why; recorded in the alias history."),
    as_json: bool = _JSON,
) -> None:
    """Point an alias at a version (recorded: who, when, from, to, why).

    ``production`` is protected: it moves through ``llmops promote``.
    """
    # lazy: keeps import llmops light
    from llmops.registry import check_model_name
    from llmops.store import set_alias

    event = set_alias(_store(), "model", check_model_name(name), alias_name, version, reason=reason)
    if as_json:
        print_json(event.to_dict())
        return
    console.print(
        f"{name}@{alias_name}: {event.from_version or '(new)'} -> {event.to_version} "
        f"by {event.actor}"
    )


@models_app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="The alias to move back."),
    reason: str = typer.Option("", "--reason", "-r", help="Why; recorded in the alias history."),
    as_json: bool = _JSON,
) -> None:
    """Move an alias back to the version it pointed to before its last move."""
    # lazy: keeps import llmops light
    from llmops.registry import check_model_name
    from llmops.store import rollback_alias

    event = rollback_alias(_store(), "model", check_model_name(name), alias_name, reason=reason)
    if as_json:
        print_json(event.to_dict())
        return
    console.print(
        f"{name}@{alias_name}: rolled back {event.from_version} -> {event.to_version} "
        f"by {event.actor}"
    )
