"""``llmops score-configs`` and ``llmops queues``: the shapes of human scores, and annotation
queues of traces or dataset rows to label with them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from llmops._exceptions import InputError
from llmops.cli._output import console, fmt_time, print_json, short
from llmops.cli._table import WIDE, Col, print_table
from llmops.cli._trace_filter import NO_FILTER, TraceFilterOptions, with_trace_filter

__all__ = ["queues_app", "score_configs_app"]

score_configs_app = typer.Typer(
    help="Score configs: the data type, labels or range of a score name.", no_args_is_help=True
)
queues_app = typer.Typer(
    help="Annotation queues: traces or dataset rows for people to label with score configs.",
    no_args_is_help=True,
)

_JSON = typer.Option(False, "--json", help="Print JSON.")
_QUEUE = typer.Argument(..., help="The queue's name.")


def _store() -> Any:
    # lazy: keeps import llmops light
    from llmops.store import open_store

    return open_store()


# ---- score configs -------------------------------------------------------------------------------


@score_configs_app.command("create")
def create_config(
    name: str = typer.Argument(..., help="The score name, e.g. helpful."),
    data_type: str = typer.Option(..., "--type", "-t", help="numeric, boolean or categorical."),
    values: str | None = typer.Option(
        None, "--values", help="categorical: the allowed labels, comma-separated (good,bad)."
    ),
    min_value: float | None = typer.Option(None, "--min", help="numeric: the lowest value."),
    max_value: float | None = typer.Option(None, "--max", help="numeric: the highest value."),
    description: str = typer.Option("", "--description", "-d", help="What the score means."),
    as_json: bool = _JSON,
) -> None:
    """Declare a score name's type: numeric (optionally in a range), boolean or categorical."""
    from llmops.tracing import create_score_config

    categories = [v.strip() for v in values.split(",")] if values is not None else []
    config = create_score_config(
        _store(),
        name,
        data_type.upper(),
        categories=categories,
        min_value=min_value,
        max_value=max_value,
        description=description,
    )
    if as_json:
        print_json(config.to_dict())
        return
    console.print(f"created score config {config.name} ({_shape(config)})", markup=False)


def _values(config: Any) -> str:
    """The allowed values: the labels, the numeric range, or ``-``."""
    if config.data_type == "CATEGORICAL":
        return ", ".join(config.categories)
    if config.data_type == "NUMERIC" and (
        config.min_value is not None or config.max_value is not None
    ):
        low = "-inf" if config.min_value is None else f"{config.min_value:g}"
        high = "inf" if config.max_value is None else f"{config.max_value:g}"
        return f"{low}..{high}"
    return "true, false" if config.data_type == "BOOLEAN" else "-"


def _shape(config: Any) -> str:
    return f"{config.data_type.lower()}: {_values(config)}"


_CONFIG_COLUMNS = (
    Col("name", 0, id="full"),
    Col("type", 0),
    Col("values", 1),
    Col("created", 3),
    Col("description", 2),
)


@score_configs_app.command("list")
def list_configs(wide: bool = WIDE, as_json: bool = _JSON) -> None:
    """List score configs."""
    from rich.markup import escape

    from llmops.tracing import list_score_configs

    configs = list_score_configs(_store())
    if as_json:
        print_json([config.to_dict() for config in configs])
        return
    rows = [
        (
            escape(config.name),
            config.data_type.lower(),
            escape(_values(config) if wide else short(_values(config), 50)),
            fmt_time(config.created_at),
            escape(config.description if wide else short(config.description, 50)),
        )
        for config in configs
    ]
    print_table(
        _CONFIG_COLUMNS,
        rows,
        wide=wide,
        empty="no score configs yet: try `llmops score-configs create`",
    )


# ---- queues --------------------------------------------------------------------------------------


@queues_app.command("create")
@with_trace_filter
def create(
    name: str = typer.Argument(..., help="The queue's name."),
    score_config: list[str] = typer.Option(
        ..., "--score-config", "-c", help="A score config to label with (repeatable)."
    ),
    filters: TraceFilterOptions = NO_FILTER,
    dataset: str | None = typer.Option(
        None, "--dataset", help="Items from a dataset's rows: NAME, NAME@VERSION or NAME@ALIAS."
    ),
    sample: int | None = typer.Option(
        None, "--sample", min=1, help="Draw this many of the matching traces (or rows)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the --sample draw (recorded)."),
    limit: int = typer.Option(
        1000, "--limit", "-n", min=1, help="At most this many traces, newest (10,000 at most)."
    ),
    description: str = typer.Option("", "--description", "-d", help="What to judge, and how."),
    as_json: bool = _JSON,
) -> None:
    """Create a queue of the traces matching the filter options (all traces when none), or of
    a dataset's rows (--dataset)."""
    from llmops.evals import create_queue

    if dataset is not None and filters.given:
        raise InputError(f"queue '{name}': trace filters do not apply with --dataset")
    where = None
    if dataset is None:
        where = filters.where()
    queue = create_queue(
        _store(),
        name,
        where=where,
        dataset=dataset,
        sample=sample,
        seed=seed,
        limit=limit,
        score_configs=score_config,
        description=description,
    )
    if as_json:
        print_json(queue.to_dict())
        return
    console.print(
        f"created queue {queue.name}: {queue.total} items to label with "
        f"{', '.join(queue.score_configs)}",
        markup=False,
    )


_QUEUE_COLUMNS = (
    Col("name", 0, id="full"),
    Col("done", 0, justify="right"),
    Col("skipped", 2, justify="right"),
    Col("pending", 1, justify="right"),
    Col("score configs", 1),
    Col("source", 3),
    Col("created", 4),
    Col("description", 3),
)


def _condition(key: str, value: Any) -> str:
    if key == "scores" and isinstance(value, list):
        return " ".join(
            f"{c.get('name')}{c.get('op')}{c.get('value')}" if isinstance(c, dict) else str(c)
            for c in value
        )
    if key.endswith("_ns") and isinstance(value, int):
        return f"{key.removesuffix('_ns')}={fmt_time(value)}"
    return f"{key}={value}"


def _source_text(source: dict[str, Any]) -> str:
    if "dataset" in source:
        text = f"dataset {source['dataset']}"
    else:
        shown = ", ".join(_condition(k, v) for k, v in (source.get("traces") or {}).items())
        text = f"traces({shown or 'all'})"
    if source.get("sample") is not None:
        text += f", sample {source['sample']} seed {source.get('seed')}"
    return text


@queues_app.command("list")
def list_(wide: bool = WIDE, as_json: bool = _JSON) -> None:
    """List queues with their progress."""
    from rich.markup import escape

    from llmops.evals import list_queues

    queues = list_queues(_store())
    if as_json:
        print_json([queue.to_dict() for queue in queues])
        return
    rows = [
        (
            escape(q.name),
            f"{q.done}/{q.total}",
            str(q.skipped),
            str(q.pending),
            escape(", ".join(q.score_configs)),
            escape(short(_source_text(q.source), 50)),
            fmt_time(q.created_at),
            escape(q.description if wide else short(q.description, 50)),
        )
        for q in queues
    ]
    print_table(_QUEUE_COLUMNS, rows, wide=wide, empty="no queues yet: try `llmops queues create`")


def _labels_text(labels: dict[str, dict[str, Any]]) -> str:
    return ", ".join(f"{name}={label['value']}" for name, label in labels.items()) or "-"


@queues_app.command("show")
def show(
    name: str = _QUEUE,
    items: bool = typer.Option(False, "--items", help="List the items too (the first 1,000)."),
    as_json: bool = _JSON,
) -> None:
    """Show a queue: its source, score configs and progress (and items)."""
    import orjson

    from llmops.evals import get_queue, queue_items

    store = _store()
    queue = get_queue(store, name)
    found = queue_items(store, name, limit=1000) if items else []
    if as_json:
        shown = queue.to_dict()
        if items:
            shown["items"] = [item.to_dict() for item in found]
        print_json(shown)
        return
    lines = [
        f"{queue.name}: {queue.done} done, {queue.skipped} skipped, {queue.pending} pending "
        f"of {queue.total}",
        f"score configs: {', '.join(queue.score_configs)}",
        f"source:  {_source_text(queue.source)}",
        f"created: {fmt_time(queue.created_at)} by {queue.created_by or '-'}",
    ]
    if queue.description:
        lines.append(f"about:   {queue.description}")
    for item in found:
        given = item.data.get("input")
        what = "-" if given is None else short(orjson.dumps(given, default=str).decode(), 60)
        lines.append(
            f"  [{item.id}] {item.status:<7} {what}  {_labels_text(item.labels)}"
            + (f"  by {item.annotator}" if item.annotator else "")
        )
    console.print("\n".join(lines), markup=False, soft_wrap=True)


@queues_app.command("export")
def export(
    name: str = _QUEUE,
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to this file (default: stdout)."
    ),
) -> None:
    """Write every item with its labels as JSONL (one object per line)."""
    import orjson

    from llmops.evals import export_queue

    lines = export_queue(_store(), name)
    if output is None:
        for line in lines:
            sys.stdout.write(orjson.dumps(line).decode() + "\n")
        return
    count = 0
    try:
        with output.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(orjson.dumps(line).decode() + "\n")
                count += 1
    except OSError as exc:
        raise InputError(f"{output}: cannot write: {exc.strerror or exc}") from None
    console.print(f"wrote {count} items of queue {name} to {output}", markup=False)


@queues_app.command("label")
def label(
    name: str = _QUEUE,
    item: int = typer.Argument(..., help="The item's id."),
    labels: list[str] | None = typer.Argument(
        None, help="LABEL=VALUE for each score config to set (helpful=4, tone=polite, ok=true)."
    ),
    annotator: str | None = typer.Option(
        None, "--annotator", help="Who labels (default: LLMOPS_USER or your user name)."
    ),
    skip: bool = typer.Option(False, "--skip", help="Skip the item instead of labelling it."),
    as_json: bool = _JSON,
) -> None:
    """Label an item of a queue (or skip it); labels are checked against the score configs."""
    from llmops._identity import current_actor
    from llmops.evals import complete_queue_item, get_queue
    from llmops.tracing import get_score_config, parse_score_value

    store = _store()
    queue = get_queue(store, name)
    values: dict[str, object] = {}
    for index, text in enumerate(labels or [], start=1):
        key, sep, raw = text.partition("=")
        if not sep or not key:
            raise InputError(f"label {index} {text[:80]!r}: expected LABEL=VALUE")
        if key in values:
            raise InputError(f"label {index} {text[:80]!r}: '{key}' is given twice")
        if key not in queue.score_configs:
            # completing names it too; the config's type decides how the value is read here
            values[key] = raw
            continue
        config = get_score_config(store, key)
        values[key] = raw if config.data_type == "CATEGORICAL" else parse_score_value(raw)
    done = complete_queue_item(
        store,
        name,
        item,
        annotator=annotator or current_actor(),
        labels=values,
        status="skipped" if skip else "done",
    )
    if as_json:
        print_json(done.to_dict())
        return
    console.print(
        f"{done.status} item {done.id} of queue {name}: {_labels_text(done.labels)}",
        markup=False,
    )
