"""``llmops eval compare`` and ``llmops eval report``: compare stored runs, write HTML reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmops._exceptions import CheckFailed, InputError
from llmops.cli._eval import eval_app
from llmops.cli._output import console, err_console, fmt_score, print_json, short

if TYPE_CHECKING:
    from llmops.evals import CaseChange, RunComparison

__all__ = ["compare", "report"]

_SHOWN = 20  # regressed cases printed in the terminal; --json and --html have them all


def _write(path: Path, text: str) -> Path:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _print_changes(title: str, changes: list[CaseChange]) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    shown = changes[:_SHOWN]
    index_width = max(len(str(c.case_index + 1)) for c in shown)
    scorer_width = min(16, max(len(c.scorer) for c in shown))
    free = max(25, console.width - index_width - scorer_width - 11 - 5 * 2 - 2)
    text_width = free // 5
    table = Table(
        title=f"{title} ({len(changes)})",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("scorer", no_wrap=True, overflow="ellipsis", max_width=scorer_width)
    table.add_column("A → B", no_wrap=True)
    table.add_column("expected", no_wrap=True, max_width=text_width)
    table.add_column("output A", no_wrap=True, max_width=2 * text_width)
    table.add_column("output B", no_wrap=True, max_width=2 * text_width)
    for change in shown:
        color = "red" if change.diff < 0 else "green"
        table.add_row(
            str(change.case_index + 1),
            escape(change.scorer),
            f"[{color}]{fmt_score(change.value_a)}→{fmt_score(change.value_b)}",
            escape(short(change.expected, text_width)),
            escape(short(change.error_a or change.output_a, 2 * text_width)),
            escape(short(change.error_b or change.output_b, 2 * text_width)),
        )
    console.print(table)
    if len(changes) > _SHOWN:
        console.print(f"… and {len(changes) - _SHOWN} more (--json or --html for all)")


def _print_comparison(comparison: RunComparison) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    a, b = comparison.a.run, comparison.b.run
    console.print(
        f"[bold]A[/] {a.id[:12]} · {escape(a.suite)} · {escape(a.model_name)}  →  "
        f"[bold]B[/] {b.id[:12]} · {escape(b.suite)} · {escape(b.model_name)}"
    )
    for warning in comparison.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    table = Table(title="scores", title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True)
    table.add_column("scorer", overflow="fold", min_width=8)
    for column in ("A", "B", "B - A", "95% CI", "p", "W/L/T", "pairs"):
        table.add_column(column, justify="right", no_wrap=True)
    unpaired = []
    for name, s in comparison.scorers.items():
        st = s.stats
        ci = "-" if st.ci_low is None else f"{_signed(st.ci_low)},{_signed(st.ci_high)}"
        style = "[red]" if s.regressed else "[green]" if (st.ci_low or 0) > 0 else ""
        table.add_row(
            escape(name),
            fmt_score(st.mean_a),
            fmt_score(st.mean_b),
            f"{style}{_signed(st.mean_diff)}",
            ci,
            _p(st.p_value),
            f"{st.wins}/{st.losses}/{st.ties}",
            str(st.n),
        )
        if s.unpaired_a or s.unpaired_b:
            unpaired.append(f"{escape(name)} {s.unpaired_a}/{s.unpaired_b}")
    console.print(table)
    if unpaired:
        console.print("cases measured in one run only (A/B): " + ", ".join(unpaired))
    if comparison.regressed:
        _print_changes("regressed cases", comparison.regressed)
    console.print(
        f"{len(comparison.regressed)} regressed · {len(comparison.improved)} improved "
        f"case scores (threshold {comparison.threshold:g})"
    )


@eval_app.command("compare")
def compare(
    run_a: str = typer.Argument(..., help="Baseline run id (or unique prefix)."),
    run_b: str = typer.Argument(..., help="Candidate run id (or unique prefix)."),
    threshold: float = typer.Option(
        0.0, "--threshold", min=0.0, max=1.0, help="List cases that moved by more than this."
    ),
    fail_on_regression: bool = typer.Option(
        False,
        "--fail-on-regression",
        help="Exit 1 when a scorer's 95% CI of B - A lies wholly below 0.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    html: Path | None = typer.Option(
        None, "--html", dir_okay=False, help="Also write an HTML report to FILE."
    ),
) -> None:
    """Compare run B with baseline run A, case by case, with CIs and p-values."""
    # lazy: keeps import llmops light
    from llmops.evals import compare_runs
    from llmops.store import open_store

    comparison = compare_runs(open_store(), run_a, run_b, threshold=threshold)
    if as_json:
        print_json(comparison.to_dict())
    else:
        _print_comparison(comparison)
    if html is not None:
        from rich.markup import escape

        from llmops.evals import render_report

        written = _write(html, render_report(comparison))
        (err_console if as_json else console).print(
            f"report written to {escape(str(written))}", soft_wrap=True
        )
    regressed = comparison.regressed_scorers()
    if fail_on_regression and regressed:
        detail = ", ".join(
            f"{s.scorer} {_signed(s.stats.mean_diff)} "
            f"(95% CI {_signed(s.stats.ci_low)} to {_signed(s.stats.ci_high)})"
            for s in regressed
        )
        raise CheckFailed(f"regression: {detail}")


@eval_app.command("report")
def report(
    run_id: str = typer.Argument(..., help="Run id (or unique prefix)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", dir_okay=False, help="HTML file (default: report-RUNID.html)."
    ),
) -> None:
    """Write a run's scores, plots and cases as one self-contained HTML page."""
    # lazy: keeps import llmops light
    from llmops.evals import get_run, render_report
    from llmops.store import open_store

    detail = get_run(open_store(), run_id)
    path = output or Path(f"report-{detail.run.id[:12]}.html")
    from rich.markup import escape

    console.print(escape(str(_write(path, render_report(detail)))), soft_wrap=True)
