"""A static HTML report of a run or a comparison: one self-contained page, safe to open.

The pages are Jinja2 templates (``llmops/evals/templates``) rendered with autoescaping on, so
every text that comes from a model, a dataset or a user is escaped by construction; this
module only computes what the pages show. The page has no script, loads nothing, and its
Content-Security-Policy forbids scripts anyway. Plots are inline SVG drawn by the templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

import orjson

from llmops.evals._compare import CaseChange, RunComparison, case_means, run_info
from llmops.evals._results import RunDetail
from llmops.evals._stats import summarize_values
from llmops.store.models import EvalScoreRecord

if TYPE_CHECKING:
    from jinja2 import Environment

__all__ = ["render_report"]

_A, _B = "#8c959f", "#0969da"
_WIDTH, _HEIGHT, _PAD = 360, 150, 20


@cache
def _environment() -> Environment:
    # imported here: the CLI imports this module for `eval report` only
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("llmops.evals", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,  # a misspelt name in a template fails, never renders ''
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(template: str, **context: object) -> str:
    return _environment().get_template(template).render(**context)


def _num(value: float | None, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _ci(low: float | None, high: float | None, signed: bool = False) -> str:
    if low is None or high is None:
        return "-"
    return f"[{_num(low, signed=signed)}, {_num(high, signed=signed)}]"


def _inputs(inputs: Any) -> str | None:
    """A case's input as text: its one value, or the inputs as indented JSON."""
    if isinstance(inputs, dict) and len(inputs) == 1:
        inputs = next(iter(inputs.values()))
    if inputs is None or isinstance(inputs, str):
        return inputs
    return orjson.dumps(inputs, option=orjson.OPT_INDENT_2, default=str).decode()


def _histogram(
    series: Sequence[tuple[str, Sequence[float], str]], caption: str, bins: int = 10
) -> dict[str, Any]:
    """Grouped bars of each series' values over ``bins`` equal bins of [0, 1]."""
    counts = [[0] * bins for _ in series]
    for k, (_, values, _) in enumerate(series):
        for value in values:
            counts[k][min(bins - 1, max(0, int(value * bins)))] += 1
    top = max([1, *(max(c) for c in counts)])
    slot = (_WIDTH - 2 * _PAD) / bins
    bar = (slot - 2) / max(1, len(series))
    bars = []
    for k, (label, _, color) in enumerate(series):
        for i, count in enumerate(counts[k]):
            h = (_HEIGHT - 2 * _PAD) * count / top
            bars.append(
                {
                    "x": f"{_PAD + i * slot + 1 + k * bar:.1f}",
                    "y": f"{_HEIGHT - _PAD - h:.1f}",
                    "width": f"{bar:.1f}",
                    "height": f"{h:.1f}",
                    "color": color,
                    "title": f"{label}: {count} in [{i / bins:.1f}, {(i + 1) / bins:.1f})",
                }
            )
    legend = [(label, color, 12 + 12 * k) for k, (label, _, color) in enumerate(series)]
    return {
        "width": _WIDTH,
        "height": _HEIGHT,
        "pad": _PAD,
        "bars": bars,
        "top": top,
        "legend": legend,
        "caption": caption,
    }


def _diff_plot(diffs: Sequence[float], caption: str, points: int = 500) -> dict[str, Any]:
    """Each paired case's ``b - a``, sorted, as bars from 0 (quantiles above ``points``)."""
    ordered = sorted(diffs)
    if len(ordered) > points:
        step = (len(ordered) - 1) / (points - 1)
        ordered = [ordered[round(i * step)] for i in range(points)]
    zero = _HEIGHT / 2
    scale = (_HEIGHT - 2 * _PAD) / 2
    slot = (_WIDTH - 2 * _PAD) / max(1, len(ordered))
    bars = []
    for i, diff in enumerate(ordered):
        h = abs(diff) * scale
        bars.append(
            {
                "x": f"{_PAD + i * slot:.2f}",
                "y": f"{zero - h if diff > 0 else zero:.1f}",
                "width": f"{max(slot, 0.5):.2f}",
                "height": f"{h:.1f}",
                "color": "#1a7f37" if diff > 0 else "#b42318",
            }
        )
    return {
        "width": _WIDTH,
        "height": _HEIGHT,
        "pad": _PAD,
        "zero": zero,
        "bars": bars,
        "caption": caption,
    }


def _metadata(runs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for key in runs[0]:
        values = [run[key] for run in runs]
        rows.append(
            {
                "key": key,
                "values": ["-" if v is None else v for v in values],
                "differs": len(runs) > 1 and len({str(v) for v in values}) > 1,
            }
        )
    return rows


def _score(score: EvalScoreRecord | None) -> dict[str, str | None]:
    if score is None:
        return {"value": "-", "note": None}
    return {
        "value": _num(score.value),
        "note": (score.error if score.value is None else score.reason) or None,
    }


def _run_page(detail: RunDetail, max_cases: int) -> str:
    run = detail.run
    means = case_means(detail)
    summary, histograms = [], []
    for name, by_case in means.items():
        measured = [v for v in by_case.values() if v is not None]
        stats = summarize_values(measured)
        summary.append(
            {
                "name": name,
                "mean": _num(stats.mean),
                "stderr": _num(stats.stderr),
                "ci": _ci(stats.ci_low, stats.ci_high),
                "measured": stats.n,
                "unmeasured": len(by_case) - stats.n,
            }
        )
        histograms.append(_histogram([(name, measured, _B)], f"{name}: case scores"))
    names = list(means)
    repeats = run.repeats > 1
    cases = []
    for case in detail.cases[:max_cases]:
        scores = detail.case_scores(case)
        cases.append(
            {
                "number": f"{case.case_index + 1}" + (f".{case.repeat + 1}" if repeats else ""),
                "inputs": _inputs(case.inputs),
                "expected": case.expected,
                "output": case.output,
                "error": case.error,
                "scores": [_score(scores.get(name)) for name in names],
                "latency": _num(case.latency_ms, 0),
            }
        )
    return _render(
        "run.html",
        title=f"llmops run {run.id[:12]}",
        run_id=run.id[:12],
        suite=run.suite,
        metadata=_metadata([run_info(run)]),
        summary=summary,
        histograms=histograms,
        scorers=names,
        cases=cases,
        shown=min(max_cases, len(detail.cases)),
        total=len(detail.cases),
    )


def _changes(changes: Sequence[CaseChange], max_cases: int) -> dict[str, Any]:
    rows = []
    for c in changes[:max_cases]:
        rows.append(
            {
                "number": c.case_index + 1,
                "scorer": c.scorer,
                "value_a": _num(c.value_a),
                "value_b": _num(c.value_b),
                "diff": _num(c.diff, signed=True),
                "diff_class": "bad" if c.diff < 0 else "good",
                "inputs": _inputs(c.inputs),
                "expected": c.expected,
                "outputs": [
                    {"text": c.output_a, "error": c.error_a, "reason": c.reason_a},
                    {"text": c.output_b, "error": c.error_b, "reason": c.reason_b},
                ],
            }
        )
    return {"rows": rows, "total": len(changes), "more": len(changes) - max_cases}


def _comparison_page(comparison: RunComparison, max_cases: int) -> str:
    a, b = comparison.a.run, comparison.b.run
    summary, plots = [], []
    for name, s in comparison.scorers.items():
        st = s.stats
        summary.append(
            {
                "name": name,
                "mean_a": _num(st.mean_a),
                "mean_b": _num(st.mean_b),
                "diff": _num(st.mean_diff, signed=True),
                "diff_class": "num "
                + ("bad" if s.regressed else "good" if (st.ci_low or 0) > 0 else ""),
                "ci": _ci(st.ci_low, st.ci_high, signed=True),
                "p": _num(st.p_value, 4),
                "record": f"{st.wins} / {st.losses} / {st.ties}",
                "n": st.n,
                "unpaired": f"{s.unpaired_a} / {s.unpaired_b}",
                "unmeasured": f"{s.unmeasured_a} / {s.unmeasured_b}",
            }
        )
        diffs = [d for _, d in s.diffs()]
        series = [("A", list(s.values_a.values()), _A), ("B", list(s.values_b.values()), _B)]
        plots.append(
            {
                "name": name,
                "diffs": _diff_plot(diffs, f"B - A per paired case, sorted ({len(diffs)} cases)"),
                "histogram": _histogram(series, "case scores of A (grey) and B (blue)"),
            }
        )
    return _render(
        "comparison.html",
        title=f"llmops compare {a.id[:12]} → {b.id[:12]}",
        id_a=a.id[:12],
        id_b=b.id[:12],
        warnings=list(comparison.warnings),
        metadata=_metadata([run_info(a), run_info(b)]),
        summary=summary,
        plots=plots,
        threshold=f" by more than {comparison.threshold:g}" if comparison.threshold else "",
        regressed=_changes(comparison.regressed, max_cases),
        improved=_changes(comparison.improved, max_cases),
    )


def render_report(subject: RunDetail | RunComparison, *, max_cases: int = 1000) -> str:
    """The HTML page of a run (``get_run``) or a comparison (``compare_runs``).

    At most ``max_cases`` case rows per table are written; statistics use every case.
    """
    if isinstance(subject, RunComparison):
        return _comparison_page(subject, max_cases)
    return _run_page(subject, max_cases)
