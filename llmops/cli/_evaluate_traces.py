"""``llmops evaluate-traces``: run the online evaluators of ``configs/evaluators.yaml`` once."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from llmops.cli._output import console, print_json
from llmops.cli._table import Col, print_table

__all__ = ["evaluate_traces_command", "evaluators_path"]

_COLUMNS = [
    Col("evaluator", priority=0),
    Col("version", priority=0),
    Col("matched", justify="right", priority=1),
    Col("sampled out", justify="right", priority=3),
    Col("already scored", justify="right", priority=2),
    Col("scored", justify="right", priority=0),
    Col("unmeasured", justify="right", priority=1),
]


def evaluators_path(given: Path | None) -> Path:
    """``given``, else the project's ``configs/evaluators.yaml``."""
    if given is not None:
        return given
    from llmops.config import find_project_dir

    return (find_project_dir() or Path.cwd()) / "configs" / "evaluators.yaml"


def evaluate_traces_command(
    since: str = typer.Option(
        "1h", "--since", help="Traces started since: 30m, 2h, 7d or an ISO time."
    ),
    evaluator: list[str] | None = typer.Option(
        None, "--evaluator", "-e", help="Only this evaluator (repeatable)."
    ),
    file: Path | None = typer.Option(
        None, "--file", "-f", help="Evaluators file (default configs/evaluators.yaml)."
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="At most this many traces per evaluator."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Score the traces each evaluator matches, once per evaluator version (reruns add
    nothing); unmeasured scores are stored with their reason."""
    from llmops._aio import interrupt_policy
    from llmops._exceptions import InputError
    from llmops._suggest import did_you_mean
    from llmops.config import load_config
    from llmops.evals import evaluate_traces, load_evaluators
    from llmops.store import open_store
    from llmops.tracing import since_ns

    evaluators = load_evaluators(evaluators_path(file))
    if evaluator:
        known = [e.name for e in evaluators]
        for name in evaluator:
            if name not in known:
                raise InputError(
                    f"--evaluator {name!r}: no such evaluator{did_you_mean(name, known)}"
                )
        evaluators = [e for e in evaluators if e.name in evaluator]
    config = load_config()
    with interrupt_policy():
        summaries = evaluate_traces(
            open_store(config.resolved_store_url),
            evaluators,
            since_ns=since_ns(since, "--since"),
            limit=limit,
            config=config,
        )
    if as_json:
        print_json([summary.to_dict() for summary in summaries])
        return
    rows = [
        [
            escape(s.evaluator),
            s.version,
            str(s.matched),
            str(s.sampled_out),
            str(s.already_scored),
            str(s.scored),
            str(sum(s.unmeasured.values())),
        ]
        for s in summaries
    ]
    print_table(_COLUMNS, rows, empty="no evaluators")
    for s in summaries:
        for reason, n in s.unmeasured.most_common(5):
            console.print(f"{s.evaluator}: {n} unmeasured: {reason}", markup=False)
