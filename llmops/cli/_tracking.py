"""Tracking runs on the command line: ``llmops experiments list``, and the tracking side of
``llmops runs list|show|compare`` (the commands themselves live in ``_runs.py``)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from llmops._exceptions import InputError, NotFoundError
from llmops.cli._output import console, fmt_time, print_json, short

if TYPE_CHECKING:
    from llmops.store import Store
    from llmops.tracking import TrackingRun

__all__ = [
    "RunKind",
    "compare",
    "experiments_app",
    "find_run",
    "kinds_wanted",
    "list_tracking_rows",
    "newest_first",
    "run_kind",
    "show_tracking_run",
    "tracking_cells",
]

experiments_app = typer.Typer(help="List experiments of tracking runs.", no_args_is_help=True)


class RunKind(StrEnum):
    """Which runs ``llmops runs list`` shows."""

    eval = "eval"
    tracking = "tracking"
    all = "all"


def kinds_wanted(kind: RunKind, suite: str | None, experiment: str | None) -> tuple[bool, bool]:
    """(eval runs?, tracking runs?) for a kind and filters: ``--suite`` selects eval runs,
    ``--experiment`` tracking runs."""
    if kind is RunKind.eval:
        if experiment is not None:
            raise InputError("--experiment selects tracking runs: drop --kind eval")
        return True, False
    if kind is RunKind.tracking:
        if suite is not None:
            raise InputError("--suite selects eval runs: drop --kind tracking")
        return False, True
    return suite is not None or experiment is None, experiment is not None or suite is None


def _run_dict(run: TrackingRun) -> dict[str, Any]:
    return {"id": run.id, "kind": "tracking", **run.to_dict()}  # the key order of `runs list`


def list_tracking_rows(
    store: Store, *, limit: int, experiment: str | None = None, status: str | None = None
) -> list[dict[str, Any]]:
    """Tracking runs newest first, as the JSON rows of ``llmops runs list``."""
    # lazy: keeps import llmops light
    if status is None:  # `runs list`: the store's Core read, without loading llmops.tracking
        from llmops.store import tracking_run_listing

        runs = tracking_run_listing(store, limit=limit, experiment=experiment)
    else:
        from llmops.tracking import list_tracking_runs  # which checks the status

        runs = list_tracking_runs(store, experiment=experiment, status=status, limit=limit)
    return [_run_dict(run) for run in runs]


def _utc_naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo is not None else value


def newest_first(rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Rows of both kinds merged by ``started_at``, newest first, at most ``limit``."""
    return sorted(rows, key=lambda row: _utc_naive(row["started_at"]), reverse=True)[:limit]


def tracking_cells(row: dict[str, Any]) -> tuple[str, ...]:
    """A tracking row in the columns of ``llmops runs list``: id, kind, suite / experiment,
    model / run, prompt, status, cases, errors, scores / params, started."""
    params = "\n".join(f"{k}={short(v, 24)}" for k, v in list(row["params"].items())[:4])
    return (
        row["id"],
        "tracking",
        row["experiment"],
        row["name"] or "-",
        "-",
        row["status"],
        "-",
        "-",
        params,
        fmt_time(row["started_at"]),
    )


def run_kind(store: Store, run_id: str) -> str:
    """``eval`` or ``tracking``: the kind of the one run whose id is or starts with ``run_id``."""
    return find_run(store, run_id)[0]


def find_run(store: Store, run_id: str) -> tuple[str, str]:
    """(kind, full id) of the one eval or tracking run whose id is or starts with ``run_id``."""
    from sqlmodel import col, select

    from llmops.store.models import EvalRunRecord, TrackingRunRecord

    if not run_id:
        raise InputError("a run id (or a prefix of one) is required")
    models: tuple[tuple[str, Any], ...] = (("eval", EvalRunRecord), ("tracking", TrackingRunRecord))
    matches: list[tuple[str, str]] = []
    # run ids are 32 characters: a longer one matches nothing (and SQLite refuses a LIKE
    # pattern past 50,000 bytes)
    with store.session() as session:
        for kind, model in models if len(run_id) <= 32 else ():
            if session.get(model, run_id) is not None:
                return kind, run_id
        for kind, model in models if len(run_id) <= 32 else ():
            query = select(model.id).where(
                col(model.id).startswith(run_id.lower(), autoescape=True)
            )
            matches += [(kind, found) for found in session.exec(query.limit(2)).all()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFoundError(
            # repr: a pasted newline or control character stays visible, on one line
            f"run {run_id[:64]!r} not found: no eval or tracking run has this id"
            + _closest_run(store, models, run_id[:64])
        )
    listed = ", ".join(f"{kind} run {found[:12]}" for kind, found in matches)
    raise NotFoundError(f"run id prefix '{run_id}' is ambiguous: {listed}...")


#: A mistyped id is matched against the newest runs only, so the lookup stays bounded.
_SUGGEST_AMONG = 500


def _closest_run(store: Store, models: tuple[tuple[str, Any], ...], run_id: str) -> str:
    """`` (did you mean 'c019aa01'?)`` for an id a character or two off a recent run's."""
    import difflib

    from sqlmodel import col, select

    typed = run_id.lower()
    starts: dict[str, str] = {}
    with store.session() as session:
        for _, model in models:
            query = select(model.id).order_by(col(model.started_at).desc()).limit(_SUGGEST_AMONG)
            for found in session.exec(query).all():
                starts.setdefault(found[: len(typed)], found)
    # random hex ids look alike at difflib's default 0.6; a typo keeps nearly every character
    match = difflib.get_close_matches(typed, list(starts), n=1, cutoff=0.8)
    if not match:
        return ""
    return f" (did you mean '{starts[match[0]][: max(len(typed), 8)]}'?)"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else short(value, 40)


def show_tracking_run(store: Store, run_id: str, *, as_json: bool) -> None:
    """Print one tracking run: provenance, params, latest metrics, tags and artifacts."""
    from rich.markup import escape
    from rich.table import Table

    from llmops.tracking import get_tracking_run

    detail = get_tracking_run(store, run_id)
    run = detail.run
    metrics = {
        key: {"value": p.value, "step": p.step, "timestamp_ms": p.timestamp_ms}
        for key, p in detail.metrics.items()
    }
    artifacts = [
        {"path": a.path, "digest": a.digest, "size": a.size, "created_at": a.created_at}
        for a in detail.artifacts
    ]
    if as_json:
        print_json({**_run_dict(run), "metrics": metrics, "artifacts": artifacts})
        return
    took = f"{run.duration_s:.1f} s" if run.duration_s is not None else "running"
    console.print(
        f"[bold]run {run.id}[/] · experiment {escape(run.experiment)}"
        + (f" · {escape(run.name)}" if run.name else "")
        + f" · {run.status} · {fmt_time(run.started_at)} · {took}"
    )
    console.print(
        f"git {(run.git_commit or '-')[:12]} · user {escape(run.user or '-')} · "
        f"source {escape(run.source or '-')}"
    )
    for title, values in (("param", run.params), ("tag", run.tags)):
        if values:
            table = Table(title=f"{title}s", title_justify="left")
            table.add_column(title)
            table.add_column("value")
            for key, value in values.items():
                table.add_row(escape(key), escape(_value(value)))
            console.print(table)
    if detail.metrics:
        table = Table(title="metrics (latest)", title_justify="left")
        for column in ("metric", "value", "step"):
            table.add_column(column)
        for key, point in detail.metrics.items():
            table.add_row(escape(key), _value(point.value), str(point.step))
        console.print(table)
    if detail.artifacts:
        table = Table(title="artifacts", title_justify="left")
        for column in ("path", "size", "sha256"):
            table.add_column(column)
        for artifact in detail.artifacts:
            table.add_row(escape(artifact.path), f"{artifact.size:,} B", artifact.digest[:12])
        console.print(table)


def compare(
    run_ids: list[str] = typer.Argument(..., help="Two or more tracking run ids (or prefixes)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compare tracking runs: params and latest metrics side by side, differences marked."""
    from rich.markup import escape
    from rich.table import Table

    from llmops.store import open_store
    from llmops.tracking import compare_tracking_runs

    if len(run_ids) < 2:
        raise InputError("runs compare needs at least two run ids")
    store = open_store()
    evals = [run_id for run_id in run_ids if run_kind(store, run_id) == "eval"]
    if evals:
        if len(evals) == len(run_ids) == 2:
            raise InputError(
                f"{run_ids[0]} and {run_ids[1]} are eval runs: compare them with "
                f"`llmops eval compare {run_ids[0]} {run_ids[1]}`"
            )
        raise InputError(
            f"{', '.join(evals)}: eval run(s); `runs compare` compares tracking runs, "
            "`llmops eval compare A B` compares two eval runs"
        )
    result = compare_tracking_runs(store, run_ids)
    if as_json:
        print_json(
            {
                "runs": [_run_dict(run) for run in result.runs],
                "params": result.params,
                "metrics": result.metrics,
                "differing": {
                    "params": result.differing_params,
                    "metrics": result.differing_metrics,
                },
            }
        )
        return
    table = Table()
    table.add_column("")
    for run in result.runs:
        table.add_column(f"{run.id[:8]}\n{escape(run.name or run.experiment)}")
    sections: tuple[tuple[str, dict[str, list[Any]], list[str]], ...] = (
        ("param", result.params, result.differing_params),
        ("metric", result.metrics, result.differing_metrics),
    )
    for kind, values, differing in sections:
        for key, row in values.items():
            differs = key in differing
            table.add_row(
                f"{'≠ ' if differs else '  '}{kind} {escape(key)}",
                *(escape(_value(value)) for value in row),
                style="bold yellow" if differs else None,
            )
    console.print(table)
    console.print(
        f"≠ {len(result.differing_params)} param(s) and {len(result.differing_metrics)} "
        "metric(s) differ"
    )


@experiments_app.command("list")
def list_experiments_command(
    wide: bool = typer.Option(False, "--wide", "-w", help="Every column, nothing truncated."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List experiments with their number of runs."""
    from rich.markup import escape

    from llmops.store import open_store
    from llmops.tracking import list_experiments

    experiments = list_experiments(open_store())
    if as_json:
        print_json([e.to_dict() for e in experiments])
        return
    if not experiments:
        console.print(
            "no experiments yet: try `with llmops.start_run(experiment='x'):` in a script"
        )
        return
    from llmops.cli._table import Col, print_table

    columns = (
        Col("experiment", 0, id="full"),
        Col("runs", 1, justify="right"),
        Col("last run", 2),
        Col("created", 3),
    )
    rows = [
        (escape(e.name), str(e.runs), fmt_time(e.last_run_at), fmt_time(e.created_at))
        for e in experiments
    ]
    print_table(columns, rows, wide=wide)
