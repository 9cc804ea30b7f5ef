"""``llmops runs``: list, show and compare stored eval runs and tracking runs."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from llmops.cli._output import console, fmt_ms, fmt_score, fmt_time, print_json, short
from llmops.cli._table import WIDE, Col, print_table
from llmops.cli._tracking import (
    RunKind,
    compare,
    kinds_wanted,
    list_tracking_rows,
    newest_first,
    run_kind,
    show_tracking_run,
    tracking_cells,
)
from llmops.cli._tracking_history import artifacts, metrics

__all__ = ["runs_app"]

runs_app = typer.Typer(
    help="List, show and compare stored eval runs and tracking runs.", no_args_is_help=True
)
runs_app.command("compare")(compare)
runs_app.command("metrics")(metrics)
runs_app.command("artifacts")(artifacts)


def _run_dict(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "suite": run.suite,
        "model": run.model_name,
        "model_string": run.model,
        "prompt_version_id": run.prompt_version_id,
        "status": run.status,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "cases": run.n_cases,
        "errors": run.n_errors,
        "dataset_hash": run.dataset_hash,
        "dataset": (run.config or {}).get("dataset"),
        "config": run.config,
        "summary": run.summary or {},
    }


_RUN_COLUMNS = (
    Col("id", 0, id="prefix"),
    Col("kind", 6),
    Col("suite / experiment", 0),
    Col("model / run", 1),
    Col("prompt", 3),
    Col("status", 1),
    Col("cases", 3, justify="right"),
    Col("errors", 5, justify="right"),
    Col("scores / params", 2),
    Col("started", 2),
)


@runs_app.command("list")
def list_(
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many runs, newest first."),
    suite: str | None = typer.Option(None, "--suite", help="Only eval runs of this suite."),
    experiment: str | None = typer.Option(
        None, "--experiment", help="Only tracking runs of this experiment."
    ),
    kind: RunKind = typer.Option(RunKind.all, "--kind", help="Eval runs, tracking runs or all."),
    wide: bool = WIDE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List eval and tracking runs, newest first (a running run counts its stored cases)."""
    # lazy: keeps import llmops light; the store's Core reads, not llmops.evals and its models
    from llmops.store import eval_case_counts, eval_run_listing, open_store

    store = open_store()
    want_eval, want_tracking = kinds_wanted(kind, suite, experiment)
    runs = eval_run_listing(store, limit=limit, suite=suite) if want_eval else []
    tracked = list_tracking_rows(store, limit=limit, experiment=experiment) if want_tracking else []
    # a running run writes its counts when it ends: count what is stored
    counts = eval_case_counts(store, [run.id for run in runs if run.status == "running"])
    evals = []
    for run in runs:
        row = {**_run_dict(run), "kind": "eval"}
        if run.id in counts:
            row["cases"], row["errors"] = counts[run.id]
        evals.append(row)
    rows = newest_first(evals + tracked, limit)
    if as_json:
        print_json(rows)
        return
    by_id = {run.id: run for run in runs}
    cells: list[tuple[str, ...]] = []
    for row in rows:
        if row["kind"] == "tracking":
            cells.append(tracking_cells(row))
            continue
        run = by_id[row["id"]]
        scores = "\n".join(
            f"{k}={fmt_score(v.get('mean'))}" for k, v in (run.summary or {}).items()
        )
        cells.append(
            (
                run.id,
                "eval",
                escape(run.suite),
                escape(run.model_name),
                escape(str((run.config or {}).get("prompt", "-"))),
                run.status,
                str(row["cases"]),
                str(row["errors"]),
                scores,
                fmt_time(run.started_at),
            )
        )
    print_table(
        _RUN_COLUMNS,
        cells,
        wide=wide,
        empty="no runs yet: try `llmops eval run evals/llmops_docs.yaml` or "
        "`with llmops.start_run(experiment='x'):` in a script",
    )


@runs_app.command("show")
def show(
    run_id: str = typer.Argument(..., help="Run id or a unique prefix of it."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one run: an eval run's settings, per-case outputs and scores, or a tracking run's
    params, metrics and artifacts."""
    from rich.table import Table

    from llmops.evals import get_run
    from llmops.store import open_store

    store = open_store()
    if run_kind(store, run_id) == "tracking":
        show_tracking_run(store, run_id, as_json=as_json)
        return
    detail = get_run(store, run_id)
    run = detail.run
    if as_json:
        data = _run_dict(run)
        data["cases"] = [
            {
                "index": case.case_index,
                "repeat": case.repeat,
                "inputs": case.inputs,
                "expected": case.expected,
                "output": case.output,
                "error": case.error,
                "latency_ms": case.latency_ms,
                "input_tokens": case.input_tokens,
                "output_tokens": case.output_tokens,
                "trace_id": case.trace_id,
                "scores": {
                    k: {"value": s.value, "error": s.error}
                    for k, s in detail.case_scores(case).items()
                },
            }
            for case in detail.cases
        ]
        print_json(data)
        return
    prompt = (run.config or {}).get("prompt", "-")
    # a stored dataset is named by its version; a file by the hash of its content
    dataset = (run.config or {}).get("dataset") or f"#{run.dataset_hash[:12]}"
    console.print(
        f"[bold]run {run.id}[/] · suite {run.suite} · model {run.model_name} ({run.model}) · "
        f"prompt {prompt} · dataset {escape(dataset)} · {run.status} · "
        f"{fmt_time(run.started_at)}"
    )
    scorers = list((run.summary or {}).keys())
    table = Table()
    for column in ("#", "expected", "output", *scorers, "latency", "tokens", "trace"):
        wide = column in ("expected", "output")
        table.add_column(
            column,
            no_wrap=True,
            overflow="ellipsis",
            ratio=(2 if column == "output" else 1) if wide else None,
            min_width=None if wide else len(column),
        )
    for case in detail.cases:
        scores = detail.case_scores(case)
        output = (
            escape(short(case.output, 50))
            if case.error is None
            else f"[red]error: {escape(short(case.error, 44))}"
        )
        tokens = (case.input_tokens or 0) + (case.output_tokens or 0)
        table.add_row(
            f"{case.case_index + 1}" + (f".{case.repeat + 1}" if run.repeats > 1 else ""),
            escape(short(case.expected, 24)),
            output,
            *(fmt_score(scores[k].value) if k in scores else "-" for k in scorers),
            fmt_ms(case.latency_ms),
            str(tokens),
            (case.trace_id or "-")[-12:],
        )
    console.print(table)
    summary = " · ".join(f"{k} {fmt_score(v.get('mean'))}" for k, v in (run.summary or {}).items())
    console.print(f"{run.n_cases} cases · {run.n_errors} errors · {summary}")
