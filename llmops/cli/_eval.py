"""``llmops eval``: run eval suites."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmops._exceptions import CheckFailed, InputError
from llmops.cli._output import console, err_console, fmt_ms, fmt_score, print_json, short

if TYPE_CHECKING:
    from rich.progress import TaskID

    from llmops.evals import CaseResult, EvalRun

__all__ = ["eval_app"]

eval_app = typer.Typer(help="Run evaluation suites.", no_args_is_help=True)


def _parse_fail_under(values: list[str], scorers: list[str]) -> dict[str, float]:
    thresholds: dict[str, float] = {}
    for value in values:
        name, _, number = value.rpartition("=")
        try:
            threshold = float(number)
        except ValueError:
            raise InputError(f"--fail-under {value!r}: expected NUMBER or SCORER=NUMBER") from None
        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"--fail-under {value!r}: the threshold must be between 0 and 1")
        if name and name not in scorers:
            raise InputError(
                f"--fail-under {value!r}: the suite has no scorer '{name}' ({', '.join(scorers)})"
            )
        for scorer in [name] if name else scorers:
            thresholds[scorer] = threshold
    return thresholds


class _Progress:
    """A rich progress bar with ETA and the running mean of the first scorer."""

    def __init__(self, enabled: bool, *, resumed: int | None = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[score]}"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self._enabled = enabled
        self._task: TaskID | None = None
        self._sum = 0.0
        self._n = 0
        self._errors = 0
        self._scorer: str | None = None
        self._resumed = resumed  # cases a resumed run had stored before; None: a new run

    def on_start(self, run_id: str, total: int, model: str, prompt: str) -> None:
        if self._resumed is not None:
            # ``total`` counts the cases still to run; the stored ones are skipped
            (console if self._enabled else err_console).print(
                f"resuming: {self._resumed} of {self._resumed + total} cases already done"
            )
        if self._enabled:
            console.print(
                f"run [bold]{run_id[:12]}[/] · model [cyan]{model}[/] · "
                f"prompt [cyan]{prompt}[/] · {total} cases"
            )
        self._progress.start()
        self._task = self._progress.add_task("evaluating", total=total, score="")

    def on_result(self, result: CaseResult) -> None:
        if self._scorer is None and result.scores:
            self._scorer = next(iter(result.scores))
        value = result.scores.get(self._scorer) if self._scorer else None
        if value is not None:
            self._sum += value
            self._n += 1
        self._errors += result.error is not None
        text = f"{self._scorer} {self._sum / self._n:.2f}" if self._n and self._scorer else ""
        if self._errors:
            text += f" · {self._errors} errors"
        assert self._task is not None
        self._progress.update(self._task, advance=1, score=text)

    def stop(self) -> None:
        self._progress.stop()


def _print_run(run: EvalRun, elapsed: float, show_cases: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    if show_cases:
        names = list(run.summary)
        fixed = (2 + 3) + (7 + 3) + sum(max(5, len(name)) + 3 for name in names) + 3 * 2 + 1
        free = max(20, console.width - fixed)
        expected_width, output_width = free // 3, free - free // 3
        cases = Table(title=f"{run.suite} · cases", title_justify="left")
        cases.add_column("#", justify="right", no_wrap=True)
        cases.add_column("expected", no_wrap=True, max_width=expected_width)
        cases.add_column("output", no_wrap=True, max_width=output_width)
        for name in names:
            cases.add_column(name, justify="right", no_wrap=True, min_width=max(5, len(name)))
        cases.add_column("latency", justify="right", no_wrap=True, min_width=7)
        for result in run.results:
            if result.error is None:
                output = escape(short(result.output, output_width))
            else:
                output = f"[red]error: {escape(short(result.error, output_width - 7))}"
            cases.add_row(
                str(result.case.index + 1),
                escape(short(result.case.expected, expected_width)),
                output,
                *(fmt_score(result.scores.get(name)) for name in names),
                fmt_ms(result.latency_ms),
            )
        console.print(cases)
    table = Table(title=f"{run.suite} · summary", title_justify="left")
    table.add_column("scorer", no_wrap=True)
    for column in ("mean", "95% CI", "n", "unmeasured", "threshold", "result"):
        table.add_column(column, justify="right", no_wrap=True)
    failed = run.failed_thresholds()
    for name, summary in run.summary.items():
        threshold = run.thresholds.get(name)
        verdict = "" if threshold is None else ("[red]FAIL" if name in failed else "[green]pass")
        table.add_row(
            name,
            fmt_score(summary.mean),
            "-"
            if summary.ci_low is None or summary.ci_high is None
            else f"{summary.ci_low:.2f}-{summary.ci_high:.2f}",
            str(summary.n),
            str(summary.unmeasured),
            "-" if threshold is None else f"{threshold:.2f}",
            verdict,
        )
    console.print(table)
    tokens = sum((r.input_tokens or 0) + (r.output_tokens or 0) for r in run.results)
    cached = f" · {run.n_cached} cached" if run.n_cached else ""
    console.print(
        f"{len(run.results)} cases · {run.n_errors} errors{cached} · {tokens} tokens · "
        f"{elapsed:.1f} s · run id {run.id} (llmops runs show {run.id[:12]})"
    )
    for line in run.skipped_rows[:10]:
        console.print(f"[yellow]skipped {escape(line)}")
    if len(run.skipped_rows) > 10:
        console.print(f"[yellow]… and {len(run.skipped_rows) - 10} more skipped rows")


def _print_matrix(runs: list[EvalRun]) -> None:
    from rich.markup import escape

    from llmops.cli._table import Col, print_table

    names = list(runs[0].summary)
    columns = (
        Col("prompt", 0),
        Col("model", 0),
        *(Col(name, 1 + number, justify="right") for number, name in enumerate(names)),
        Col("errors", 1 + len(names), justify="right"),
        Col("run", 0, id="prefix"),
    )
    rows = []
    for run in runs:
        failed = run.failed_thresholds()
        cells = []
        for name in names:
            summary = run.summary.get(name)
            text = fmt_score(summary.mean if summary else None)
            cells.append(f"[red]{text}" if name in failed else text)
        rows.append((escape(run.prompt), escape(run.model), *cells, str(run.n_errors), run.id))
    print_table(columns, rows, title=f"{runs[0].suite} · matrix")


class GenerationBackend(StrEnum):
    litellm = "litellm"
    vllm_offline = "vllm-offline"


@eval_app.command("run")
def run(
    suite: Path = typer.Argument(..., help="Suite file, e.g. evals/llmops_docs.yaml."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Configured model name (default: the suite's)."
    ),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Run only the first N cases."),
    concurrency: int | None = typer.Option(
        None, "--concurrency", "-j", min=1, help="Cases in flight."
    ),
    repeats: int | None = typer.Option(
        None, "--repeats", min=1, help="Run every case N times (default: the suite's)."
    ),
    cache: bool | None = typer.Option(
        None, "--cache/--no-cache", help="Reuse stored responses to identical calls."
    ),
    fail_under: list[str] = typer.Option(
        [],
        "--fail-under",
        help="Exit 1 when a mean is below: NUMBER (every scorer) or SCORER=NUMBER.",
    ),
    allow_errors: bool = typer.Option(
        False, "--allow-errors", help="Exit 0 even when some cases errored or went unmeasured."
    ),
    cases: bool = typer.Option(True, "--cases/--no-cases", help="Print the per-case table."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    backend: GenerationBackend = typer.Option(
        GenerationBackend.litellm,
        "--backend",
        help="litellm: call each model (HTTP, local server); vllm-offline: vLLM's "
        "in-process engine, batched (needs vLLM).",
    ),
) -> None:
    """Run an eval suite (every prompt x model cell of it), store and print the results."""
    # lazy: keeps import llmops light
    from llmops._aio import interrupt_policy
    from llmops.evals import build_scorer, load_suite, run_matrix

    spec = load_suite(suite).spec
    overrides = _parse_fail_under(fail_under, [build_scorer(s).name for s in spec.scorers])
    progress = _Progress(enabled=not as_json)
    started = time.perf_counter()
    try:
        with interrupt_policy():
            runs = run_matrix(
                suite,
                model=model,
                limit=limit,
                concurrency=concurrency,
                repeats=repeats,
                use_cache=cache,
                observer=progress,
                backend=None if backend is GenerationBackend.litellm else backend.value,
            )
    finally:
        progress.stop()
    _report(runs, overrides, started, cases, as_json, allow_errors)


@eval_app.command("resume")
def resume(
    run_id: str = typer.Argument(..., help="Run id (or unique prefix) of a killed run."),
    allow_errors: bool = typer.Option(
        False, "--allow-errors", help="Exit 0 even when some cases errored or went unmeasured."
    ),
    cases: bool = typer.Option(True, "--cases/--no-cases", help="Print the per-case table."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Finish a run that was killed or interrupted: only its missing cases run."""
    # lazy: keeps import llmops light
    from llmops._aio import interrupt_policy
    from llmops.config import load_config
    from llmops.evals import get_run, resume_run
    from llmops.store import open_store

    detail = get_run(open_store(load_config().resolved_store_url), run_id)
    progress = _Progress(enabled=not as_json, resumed=len(detail.cases))
    started = time.perf_counter()
    try:
        with interrupt_policy():
            result = resume_run(run_id, observer=progress)
    finally:
        progress.stop()
    _report([result], {}, started, cases, as_json, allow_errors)


def _report(
    runs: list[EvalRun],
    overrides: dict[str, float],
    started: float,
    cases: bool,
    as_json: bool,
    allow_errors: bool,
) -> None:
    for result in runs:
        result.thresholds.update(overrides)
    if as_json:
        payload = [result.to_dict() for result in runs]
        print_json(payload[0] if len(payload) == 1 else payload)
    else:
        elapsed = time.perf_counter() - started
        for result in runs:
            _print_run(result, elapsed, cases and len(runs) == 1)
        if len(runs) > 1:
            _print_matrix(runs)
    problems = [
        (f"{result.prompt} x {result.model}: " if len(runs) > 1 else "") + problem
        for result in runs
        for problem in result.problems(allow_errors=allow_errors or None)
    ]
    if problems:
        raise CheckFailed("; ".join(problems))


from llmops.cli import _eval_calibrate, _eval_compare  # noqa: E402, F401
