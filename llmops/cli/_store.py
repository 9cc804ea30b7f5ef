"""``llmops store``: schema migrations, store information, export and import."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmops.cli._output import console, print_json

if TYPE_CHECKING:
    from llmops.store import TransferReport

__all__ = ["store_app"]

store_app = typer.Typer(help="Manage the llmops store.", no_args_is_help=True)


@store_app.command("upgrade")
def upgrade() -> None:
    """Migrate the store to the schema of this llmops version."""
    # lazy: keeps import llmops light
    from llmops.config import load_config
    from llmops.store import Store, display_url

    url = load_config().resolved_store_url
    store = Store(url)
    try:
        before, after = store.upgrade()
    finally:
        store.close()
    console.print(f"store {display_url(url)}: revision {before or '(empty)'} -> {after}")


@store_app.command("info")
def info(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Show the store URL, backend and schema revision."""
    # lazy: keeps import llmops light
    from llmops.config import load_config
    from llmops.store import Store, display_url, head_revision

    config = load_config()
    store = Store(config.resolved_store_url)
    data = {
        "url": display_url(store.url),
        "backend": store.dialect,
        "revision": store.revision(),
        "head": head_revision(),
        "project_dir": str(config.project_dir or ""),
    }
    if as_json:
        print_json(data)
    else:
        for key, value in data.items():
            console.print(f"{key}: {value}")


def _table_names(tables: str | None) -> list[str] | None:
    return None if tables is None else [name.strip() for name in tables.split(",") if name.strip()]


def _report(report: TransferReport, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "directory": str(report.directory),
                "revision": report.revision,
                "tables": report.tables,
                "dry_run": report.dry_run,
            }
        )
        return
    for name, rows in report.tables.items():
        if rows:
            console.print(f"{name}: {rows:,} rows")
    total = sum(report.tables.values())
    note = " (dry run: nothing written)" if report.dry_run else ""
    console.print(
        f"{verb} {total:,} rows of {len(report.tables)} tables at revision {report.revision}{note}",
        soft_wrap=True,
    )


@store_app.command("export")
def export(
    directory: Path = typer.Argument(..., help="A new or empty folder."),
    tables: str | None = typer.Option(None, "--tables", help="Only these tables (a,b,...)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Export the store to JSONL files (one per table) and a manifest."""
    # lazy: keeps import llmops light
    from llmops.store import export_store, open_store

    _report(export_store(open_store(), directory, tables=_table_names(tables)), "exported", as_json)


@store_app.command("import")
def import_(
    directory: Path = typer.Argument(..., help="A folder written by `llmops store export`."),
    tables: str | None = typer.Option(None, "--tables", help="Only these tables (a,b,...)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Check everything, constraints included; write nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Import an export into an empty store, ids kept."""
    # lazy: keeps import llmops light
    from llmops.store import import_store, open_store

    report = import_store(open_store(), directory, tables=_table_names(tables), dry_run=dry_run)
    _report(report, "imported", as_json)


def _age(value: str | None, option: str, configured: str | None) -> float | None:
    """Seconds of an age option, else of the config's retention; None: keep for ever."""
    # lazy: keeps import llmops light
    from llmops._duration import retention_s
    from llmops._exceptions import InputError

    if value is None:
        return retention_s(configured)
    try:
        return retention_s(value)
    except ValueError as exc:
        raise InputError(f"{option} {value[:64]!r}: {exc}") from None


@store_app.command("prune")
def prune(
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        help="Delete traces whose root ended longer ago than this (30d, 12h, 2w; 'forever' "
        "keeps them). Default: retention.traces of the config.",
    ),
    eval_runs_older_than: str | None = typer.Option(
        None,
        "--eval-runs-older-than",
        help="Delete eval runs started longer ago than this. Default: retention.eval_runs.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Count what would be deleted and kept; delete nothing."
    ),
    batch_size: int = typer.Option(
        500, "--batch-size", min=1, max=100_000, help="Traces per transaction."
    ),
    vacuum: bool = typer.Option(
        False,
        "--vacuum",
        help="SQLite: then rewrite the file once (VACUUM), so a store created before "
        "incremental auto-vacuum takes it and gives its free space back.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete old traces (spans, logs, scores) and eval runs, keeping every trace an eval
    run, dataset, annotation queue or gate decision refers to."""
    # lazy: keeps import llmops light
    from llmops._aio import interrupt_policy
    from llmops._exceptions import Interrupted
    from llmops.config import load_config
    from llmops.store import open_store, vacuum_store
    from llmops.store import prune as prune_store

    config = load_config()
    traces_s = _age(older_than, "--older-than", config.retention.traces)
    runs_s = _age(eval_runs_older_than, "--eval-runs-older-than", config.retention.eval_runs)
    store = open_store(config.resolved_store_url)
    try:
        with interrupt_policy():  # Ctrl-C or SIGTERM: the batch under way is rolled back
            report = prune_store(
                store,
                traces_older_than_s=traces_s,
                eval_runs_older_than_s=runs_s,
                dry_run=dry_run,
                batch=batch_size,
            )
    except KeyboardInterrupt as exc:
        if dry_run:
            raise
        code = getattr(exc, "exit_code", 130)
        raise Interrupted(
            f"{'terminated (SIGTERM)' if code == 143 else 'interrupted'}: whole batches of "
            "traces and eval runs were deleted (each its own transaction), none in part; run "
            "the same command again to finish",
            exit_code=code,
        ) from None
    data = report.to_dict()
    if vacuum and not dry_run:
        data["vacuum_bytes_freed"] = vacuum_store(store)
    if as_json:
        print_json(data)
        return
    if traces_s is None and runs_s is None:
        console.print(
            "nothing to prune: traces and eval runs are kept for ever (give --older-than or "
            "set retention in configs/llmops.yaml)",
            soft_wrap=True,
        )
    verb = "would delete" if dry_run else "deleted"
    if traces_s is not None:
        console.print(f"traces ended before {data['traces_before']}: {verb} {report.traces:,}")
    if runs_s is not None:
        console.print(
            f"eval runs started before {data['eval_runs_before']}: {verb} {report.eval_runs:,}"
            f" (kept {report.eval_runs_kept:,} a gate decision rests on)"
        )
    for table, rows in report.deleted.items():
        console.print(f"  {table}: {rows:,} rows")
    if traces_s is not None:
        console.print(
            "old traces kept, referred to by: "
            + ", ".join(f"{kind} {n:,}" for kind, n in report.kept.items())
        )
    if report.partitions_dropped:
        dropped = "would be dropped" if dry_run else "dropped"
        console.print(f"day partitions {dropped} whole: {', '.join(report.partitions_dropped)}")
    if "vacuum_bytes_freed" in data:
        console.print(f"vacuum: the file shrank by {data['vacuum_bytes_freed']:,} bytes")
