"""``llmops datasets``: versioned eval datasets from files or traces; list, show, diff, export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, cast

import typer

from llmops._digits import ascii_int
from llmops._exceptions import InputError
from llmops.cli._output import console, fmt_time, print_json, short
from llmops.cli._table import WIDE, Col, print_table
from llmops.cli._trace_filter import NO_FILTER, TraceFilterOptions, with_trace_filter

__all__ = ["datasets_app"]

datasets_app = typer.Typer(
    help="Versioned eval datasets: create from a file or traces, list, show, diff, export.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON.")
_REF = typer.Argument(..., help="NAME (the newest version), NAME@VERSION or NAME@ALIAS.")


def _store() -> Any:
    # lazy: keeps import llmops light
    from llmops.store import open_store

    return open_store()


def _ref(text: str) -> tuple[str, int | str]:
    # lazy: keeps import llmops light
    from llmops.evals import parse_dataset_ref

    if "@" not in text:
        return text, "latest"
    found = parse_dataset_ref(text)
    if found is None:
        raise InputError(f"invalid dataset reference {text!r}: expected NAME[@VERSION|@ALIAS]")
    return found


@datasets_app.command("create")
@with_trace_filter
def create(
    name: str = typer.Argument(..., help="The dataset's name."),
    file: Path | None = typer.Argument(
        None, help="A JSONL, CSV, JSON or parquet file (or a saved Hugging Face dataset)."
    ),
    file_format: str | None = typer.Option(
        None, "--format", help="jsonl, json, csv, parquet or hf, when the suffix does not say."
    ),
    from_traces: bool = typer.Option(
        False, "--from-traces", help="Rows from the traces matching the filter options."
    ),
    from_queue: str | None = typer.Option(
        None, "--from-queue", help="Rows from an annotation queue's labelled items."
    ),
    expected_from: str | None = typer.Option(
        None,
        "--expected-from",
        help="With --from-queue: 'expected' is the item's label of this score config; items "
        "without it are left out.",
    ),
    filters: TraceFilterOptions = NO_FILTER,
    limit: int = typer.Option(
        1000, "--limit", "-n", min=1, help="With --from-traces: at most this many, newest."
    ),
    expected_from_score: str | None = typer.Option(
        None,
        "--expected-from-score",
        help="With --from-traces: 'expected' is the trace's latest value (or label) of this "
        "score; traces without one are left out.",
    ),
    description: str = typer.Option("", "--description", "-d", help="What the dataset is."),
    note: str = typer.Option("", "--note", "-m", help="What this version changes."),
    as_json: bool = _JSON,
) -> None:
    """Create a version of a dataset; the same content again returns the existing version."""
    from llmops.evals import create_dataset_from_file, create_dataset_from_traces

    store = _store()
    if expected_from is not None and from_queue is None:
        raise InputError(f"dataset '{name}': --expected-from applies only with --from-queue")
    if (file is not None) + from_traces + (from_queue is not None) != 1:
        raise InputError(
            f"dataset '{name}': give a FILE or --from-traces or --from-queue (one of them)"
        )
    if not from_traces and (filters.given or expected_from_score):
        raise InputError(f"dataset '{name}': trace filters apply only with --from-traces")
    if from_queue is not None:
        # lazy: keeps import llmops light
        from llmops.evals import create_dataset_from_queue

        version = create_dataset_from_queue(
            store, name, from_queue, expected_from=expected_from, description=description, note=note
        )
    elif file is not None:
        known = ("jsonl", "json", "csv", "parquet", "hf")
        if file_format is not None and file_format not in known:
            raise InputError(f"--format {file_format!r}: use one of {', '.join(known)}")
        version = create_dataset_from_file(
            store,
            name,
            file,
            format=cast(Any, file_format),  # checked against the known formats above
            description=description,
            note=note,
        )
    else:
        where = filters.where()
        version = create_dataset_from_traces(
            store,
            name,
            where,
            limit=limit,
            expected_from_score=expected_from_score,
            description=description,
            note=note,
        )
    if as_json:
        print_json({**version.to_dict(), "created": version.created})
        return
    what = "created" if version.created else "unchanged: the same content is"
    console.print(
        f"{what} {version.ref} ({version.row_count} rows, hash {version.content_hash[:12]})",
        markup=False,
    )


_DATASET_COLUMNS = (
    Col("name", 0, id="full"),
    Col("latest", 1, justify="right"),
    Col("rows", 1, justify="right"),
    Col("aliases", 1),
    Col("created", 3),
    Col("description", 2),
)


@datasets_app.command("list")
def list_(wide: bool = WIDE, as_json: bool = _JSON) -> None:
    """List datasets with their newest version, its row count and their aliases."""
    from rich.markup import escape

    from llmops.evals import list_datasets

    datasets = list_datasets(_store())
    if as_json:
        print_json([d.to_dict() for d in datasets])
        return
    rows = [
        (
            escape(d.name),
            str(d.latest),
            str(d.row_count),
            escape(" ".join(f"{alias}→{version}" for alias, version in d.aliases.items())),
            fmt_time(d.created_at),
            escape(d.description if wide else short(d.description, 50)),
        )
        for d in datasets
    ]
    print_table(
        _DATASET_COLUMNS, rows, wide=wide, empty="no datasets yet: try `llmops datasets create`"
    )


_VERSION_COLUMNS = (
    Col("version", 0, justify="right"),
    Col("rows", 1, justify="right"),
    Col("hash", 2),
    Col("source", 2),
    Col("created", 3),
    Col("by", 4),
    Col("note", 3),
)


def _source_text(source: dict[str, Any] | None) -> str:
    if not source:
        return "-"
    if "file" in source:
        return str(source["file"])
    if "traces" in source:
        shown = ", ".join(f"{k}={v}" for k, v in (source.get("traces") or {}).items())
        return f"traces({shown or 'all'})"
    return ", ".join(f"{k}={v}" for k, v in source.items())


@datasets_app.command("versions")
def versions(
    name: str = typer.Argument(..., help="The dataset's name."),
    wide: bool = WIDE,
    as_json: bool = _JSON,
) -> None:
    """List the versions of a dataset, newest first."""
    from rich.markup import escape

    from llmops.evals import list_dataset_versions

    found = list_dataset_versions(_store(), name)
    if as_json:
        print_json([v.to_dict() for v in found])
        return
    rows = [
        (
            str(v.version),
            str(v.row_count),
            v.content_hash[:12],
            escape(short(_source_text(v.source), 50)),
            fmt_time(v.created_at),
            escape(v.created_by),
            escape(short(v.note, 40)),
        )
        for v in found
    ]
    print_table(_VERSION_COLUMNS, rows, wide=wide)


@datasets_app.command("show")
def show(
    ref: str = _REF,
    rows: int = typer.Option(5, "--rows", min=0, help="Show this many rows."),
    as_json: bool = _JSON,
) -> None:
    """Show a version: row count, columns, source, aliases and its first rows."""
    from llmops.evals import dataset_rows, get_dataset_version
    from llmops.store import aliases_of

    store = _store()
    version = get_dataset_version(store, *_ref(ref))
    first = dataset_rows(store, version.name, version.version, limit=rows)
    pointing = {
        alias: number
        for alias, number in aliases_of(store, "dataset", version.name).items()
        if number == version.version
    }
    if as_json:
        print_json({**version.to_dict(), "aliases": pointing, "rows": [r.to_dict() for r in first]})
        return
    lines = [
        f"{version.ref}  ({version.row_count} rows, hash {version.content_hash[:12]})",
        f"columns: {', '.join(version.columns)}",
        f"source:  {_source_text(version.source)}",
        f"created: {fmt_time(version.created_at)} by {version.created_by or '-'}",
    ]
    if pointing:
        lines.append(f"aliases: {', '.join(sorted(pointing))}")
    if version.note:
        lines.append(f"note:    {version.note}")
    for row in first:
        lines.append(f"  [{row.idx}] {short(_json(row.data), 110)}")
    console.print("\n".join(lines), markup=False, soft_wrap=True)


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value, default=str).decode()


@datasets_app.command("diff")
def diff(
    name: str = typer.Argument(..., help="The dataset's name."),
    old: str = typer.Argument(..., help="The older version or alias."),
    new: str = typer.Argument("latest", help="The newer version or alias (default: newest)."),
    as_json: bool = _JSON,
) -> None:
    """Rows added, removed and changed between two versions, matched by their input."""
    from llmops.evals import diff_dataset_versions

    def selector(text: str) -> int | str:
        number = ascii_int(text)
        return text if number is None else number

    found = diff_dataset_versions(_store(), name, selector(old), selector(new))
    if as_json:
        print_json(found.to_dict())
        return
    lines = [
        f"{found.old} → {found.new}: {len(found.added)} added, {len(found.removed)} removed, "
        f"{len(found.changed)} changed, {found.unchanged} unchanged"
    ]
    lines += [f"+ [{row.idx}] {short(_json(row.data), 110)}" for row in found.added]
    lines += [f"- [{row.idx}] {short(_json(row.data), 110)}" for row in found.removed]
    for before, after in found.changed:
        lines.append(f"~ [{before.idx}] {short(_json(before.data), 110)}")
        lines.append(f"  [{after.idx}] {short(_json(after.data), 110)}")
    console.print("\n".join(lines), markup=False, soft_wrap=True)


@datasets_app.command("export")
def export(
    ref: str = _REF,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file (default: stdout)."
    ),
    file_format: str = typer.Option("jsonl", "--format", help="jsonl or csv."),
) -> None:
    """Write a version's rows as JSONL (one object per line) or CSV."""
    import csv
    import io

    import orjson

    from llmops.evals import dataset_rows, get_dataset_version

    if file_format not in ("jsonl", "csv"):
        raise InputError(f"--format {file_format!r}: use jsonl or csv")
    store = _store()
    version = get_dataset_version(store, *_ref(ref))
    found = dataset_rows(store, version.name, version.version)
    buffer = io.StringIO()
    if file_format == "jsonl":
        for row in found:
            buffer.write(orjson.dumps(row.data).decode() + "\n")
    else:
        writer = csv.DictWriter(buffer, fieldnames=version.columns, lineterminator="\n")
        writer.writeheader()
        for row in found:
            writer.writerow(
                {
                    key: value if isinstance(value, str) or value is None else _json(value)
                    for key, value in row.data.items()
                }
            )
    if output is None:
        sys.stdout.write(buffer.getvalue())
    else:
        output.write_text(buffer.getvalue(), encoding="utf-8")
        console.print(f"wrote {len(found)} rows of {version.ref} to {output}", markup=False)
