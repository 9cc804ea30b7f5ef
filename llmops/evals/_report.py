"""A static HTML report of a run or a comparison: one self-contained page, safe to open.

Every text that comes from a model, a dataset or a user is passed through ``html.escape``;
the page has no script, loads nothing, and its Content-Security-Policy forbids scripts
anyway. Plots are inline SVG drawn here.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from llmops.evals._compare import CaseChange, RunComparison, case_means, run_info
from llmops.evals._results import RunDetail
from llmops.evals._stats import summarize_values
from llmops.store.models import EvalScoreRecord

__all__ = ["render_report"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;
color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.text{white-space:pre-wrap;word-break:break-word;max-height:12rem;overflow:auto;margin:0;
font:12px/1.4 ui-monospace,monospace}
.small{color:#59636e;font-size:12px}.error{color:#b42318}.warn{background:#fff8c5;
padding:.5rem 1rem;border:1px solid #d4a72c}.bad{color:#b42318}.good{color:#1a7f37}
.diff{background:#fff8c5}figure{display:inline-block;margin:.5rem 1rem .5rem 0}
figcaption{font-size:12px;color:#59636e}svg text{font:10px sans-serif;fill:#59636e}
"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'"
_A, _B = "#8c959f", "#0969da"


def _e(value: Any) -> str:
    """Escaped text of ``value`` ('' for None), safe in element content and attributes."""
    return "" if value is None else html.escape(str(value), quote=True)


def _num(value: float | None, digits: int = 3, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _ci(low: float | None, high: float | None, signed: bool = False) -> str:
    if low is None or high is None:
        return "-"
    return f"[{_num(low, signed=signed)}, {_num(high, signed=signed)}]"


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A table; ``head`` is escaped here, cells must be escaped HTML already."""
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _td(content: str, cls: str = "") -> str:
    return f'<td class="{cls}">{content}</td>' if cls else f"<td>{content}</td>"


def _text(value: Any) -> str:
    return f'<pre class="text">{_e(value)}</pre>' if value not in (None, "") else ""


def _inputs(inputs: Any) -> str:
    if isinstance(inputs, dict) and len(inputs) == 1:
        inputs = next(iter(inputs.values()))
    if not isinstance(inputs, str):
        inputs = orjson.dumps(inputs, option=orjson.OPT_INDENT_2, default=str).decode()
    return _text(inputs)


def _histogram(series: Sequence[tuple[str, Sequence[float], str]], bins: int = 10) -> str:
    """Grouped bars of each series' values over ``bins`` equal bins of [0, 1]."""
    width, height, pad = 360, 150, 20
    counts = [[0] * bins for _ in series]
    for k, (_, values, _) in enumerate(series):
        for value in values:
            counts[k][min(bins - 1, max(0, int(value * bins)))] += 1
    top = max([1, *(max(c) for c in counts)])
    slot = (width - 2 * pad) / bins
    bar = (slot - 2) / max(1, len(series))
    parts = []
    for k, (label, _, color) in enumerate(series):
        for i, count in enumerate(counts[k]):
            h = (height - 2 * pad) * count / top
            x, y = pad + i * slot + 1 + k * bar, height - pad - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{color}"><title>{_e(label)}: {count} in '
                f"[{i / bins:.1f}, {(i + 1) / bins:.1f})</title></rect>"
            )
    axis = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'stroke="#59636e"/>'
        f'<text x="{pad}" y="{height - 5}">0</text>'
        f'<text x="{width - pad - 6}" y="{height - 5}">1</text>'
        f'<text x="{pad}" y="12">max {top}</text>'
    )
    legend = "".join(
        f'<text x="{width - pad - 90}" y="{12 + 12 * k}" style="fill:{color}">{_e(label)}</text>'
        for k, (label, _, color) in enumerate(series)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img">{"".join(parts)}{axis}{legend}</svg>'
    )


def _diff_plot(diffs: Sequence[float], points: int = 500) -> str:
    """Each paired case's ``b - a``, sorted, as bars from 0 (quantiles above ``points``)."""
    width, height, pad = 360, 150, 20
    ordered = sorted(diffs)
    if len(ordered) > points:
        step = (len(ordered) - 1) / (points - 1)
        ordered = [ordered[round(i * step)] for i in range(points)]
    zero = height / 2
    scale = (height - 2 * pad) / 2
    slot = (width - 2 * pad) / max(1, len(ordered))
    parts = []
    for i, diff in enumerate(ordered):
        h = abs(diff) * scale
        y = zero - h if diff > 0 else zero
        color = "#1a7f37" if diff > 0 else "#b42318"
        parts.append(
            f'<rect x="{pad + i * slot:.2f}" y="{y:.1f}" width="{max(slot, 0.5):.2f}" '
            f'height="{h:.1f}" fill="{color}"/>'
        )
    axis = (
        f'<line x1="{pad}" y1="{zero}" x2="{width - pad}" y2="{zero}" stroke="#59636e"/>'
        f'<text x="2" y="{pad + 4}">+1</text><text x="2" y="{height - pad + 4}">-1</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img">{"".join(parts)}{axis}</svg>'
    )


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"


def _metadata(runs: Sequence[dict[str, Any]], labels: Sequence[str]) -> str:
    rows = []
    for key in runs[0]:
        values = [run[key] for run in runs]
        cls = "diff" if len(runs) > 1 and len({str(v) for v in values}) > 1 else ""
        rows.append([_td(_e(key)), *(_td(_e(v if v is not None else "-"), cls) for v in values)])
    return _table(["", *labels], rows)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>{body}"
        '<p class="small">CI: percentile bootstrap over cases (a case\'s repeats averaged). '
        "p: paired sign-flip permutation test of the mean difference.</p></body></html>"
    )


def _score_cell(score: EvalScoreRecord | None) -> str:
    if score is None:
        return _td("-", "num")
    note = score.error if score.value is None else score.reason
    extra = f'<div class="small">{_e(note)}</div>' if note else ""
    return f'<td class="num">{_num(score.value)}{extra}</td>'


def _run_page(detail: RunDetail, max_cases: int) -> str:
    run = detail.run
    means = case_means(detail)
    summary_rows, figures = [], []
    for name, by_case in means.items():
        measured = [v for v in by_case.values() if v is not None]
        stats = summarize_values(measured)
        summary_rows.append(
            [
                _td(_e(name)),
                _td(_num(stats.mean), "num"),
                _td(_num(stats.stderr), "num"),
                _td(_ci(stats.ci_low, stats.ci_high), "num"),
                _td(str(stats.n), "num"),
                _td(str(len(by_case) - stats.n), "num"),
            ]
        )
        figures.append(_figure(_histogram([(name, measured, _B)]), f"{name}: case scores"))
    names = list(means)
    repeats = run.repeats > 1
    case_rows = []
    for case in detail.cases[:max_cases]:
        scores = detail.case_scores(case)
        output = (
            _text(case.output)
            if case.error is None
            else f'<pre class="text error">{_e(case.error)}</pre>'
        )
        case_rows.append(
            [
                _td(str(case.case_index + 1) + (f".{case.repeat + 1}" if repeats else ""), "num"),
                _td(_inputs(case.inputs)),
                _td(_text(case.expected)),
                _td(output),
                *(_score_cell(scores.get(name)) for name in names),
                _td(_num(case.latency_ms, 0), "num"),
            ]
        )
    shown = (
        f'<p class="small">first {max_cases} of {len(detail.cases)} cases</p>'
        if len(detail.cases) > max_cases
        else ""
    )
    body = (
        f"<h1>Eval run {_e(run.id[:12])} · {_e(run.suite)}</h1>"
        f"<h2>Run</h2>{_metadata([run_info(run)], ['run'])}"
        "<h2>Scores</h2>"
        + _table(["scorer", "mean", "± stderr", "95% CI", "measured", "unmeasured"], summary_rows)
        + "".join(figures)
        + f"<h2>Cases</h2>{shown}"
        + _table(["#", "input", "expected", "output", *names, "latency ms"], case_rows)
    )
    return _page(f"llmops run {run.id[:12]}", body)


def _change_rows(changes: Sequence[CaseChange]) -> list[list[str]]:
    rows = []
    for c in changes:
        outputs = []
        for output, error, reason in (
            (c.output_a, c.error_a, c.reason_a),
            (c.output_b, c.error_b, c.reason_b),
        ):
            text = f'<pre class="text error">{_e(error)}</pre>' if error else _text(output)
            note = f'<div class="small">{_e(reason)}</div>' if reason else ""
            outputs.append(_td(text + note))
        rows.append(
            [
                _td(str(c.case_index + 1), "num"),
                _td(_e(c.scorer)),
                _td(_num(c.value_a), "num"),
                _td(_num(c.value_b), "num"),
                _td(_num(c.diff, signed=True), "num " + ("bad" if c.diff < 0 else "good")),
                _td(_inputs(c.inputs)),
                _td(_text(c.expected)),
                *outputs,
            ]
        )
    return rows


def _comparison_page(comparison: RunComparison, max_cases: int) -> str:
    a, b = comparison.a.run, comparison.b.run
    warnings = "".join(f"<li>{_e(w)}</li>" for w in comparison.warnings)
    rows, figures = [], []
    for name, s in comparison.scorers.items():
        st = s.stats
        diff_class = "num " + ("bad" if s.regressed else "good" if (st.ci_low or 0) > 0 else "")
        rows.append(
            [
                _td(_e(name)),
                _td(_num(st.mean_a), "num"),
                _td(_num(st.mean_b), "num"),
                _td(_num(st.mean_diff, signed=True), diff_class),
                _td(_ci(st.ci_low, st.ci_high, signed=True), "num"),
                _td(_num(st.p_value, 4), "num"),
                _td(f"{st.wins} / {st.losses} / {st.ties}", "num"),
                _td(str(st.n), "num"),
                _td(f"{s.unpaired_a} / {s.unpaired_b}", "num"),
                _td(f"{s.unmeasured_a} / {s.unmeasured_b}", "num"),
            ]
        )
        diffs = [d for _, d in s.diffs()]
        figures.append(
            f"<h3>{_e(name)}</h3>"
            + _figure(_diff_plot(diffs), f"B - A per paired case, sorted ({len(diffs)} cases)")
            + _figure(
                _histogram(
                    [("A", list(s.values_a.values()), _A), ("B", list(s.values_b.values()), _B)]
                ),
                "case scores of A (grey) and B (blue)",
            )
        )
    head = ["#", "scorer", "A", "B", "B - A", "input", "expected", "output A", "output B"]

    def section(title: str, changes: Sequence[CaseChange]) -> str:
        more = len(changes) - max_cases
        note = f'<p class="small">and {more} more</p>' if more > 0 else ""
        if not changes:
            return f"<h2>{_e(title)}</h2><p>none</p>"
        return (
            f"<h2>{_e(title)} ({len(changes)})</h2>"
            + _table(head, _change_rows(changes[:max_cases]))
            + note
        )

    threshold = f" by more than {comparison.threshold:g}" if comparison.threshold else ""
    body = (
        f"<h1>Eval comparison: {_e(a.id[:12])} (A) → {_e(b.id[:12])} (B)</h1>"
        + (f'<div class="warn"><ul>{warnings}</ul></div>' if warnings else "")
        + f"<h2>Runs</h2>{_metadata([run_info(a), run_info(b)], ['A', 'B'])}"
        + "<h2>Scores</h2>"
        + _table(
            [
                "scorer",
                "mean A",
                "mean B",
                "B - A",
                "95% CI",
                "p",
                "wins / losses / ties",
                "paired",
                "unpaired A / B",
                "unmeasured A / B",
            ],
            rows,
        )
        + "".join(figures)
        + section(f"Regressed cases (B lower{threshold})", comparison.regressed)
        + section(f"Improved cases (B higher{threshold})", comparison.improved)
    )
    return _page(f"llmops compare {a.id[:12]} → {b.id[:12]}", body)


def render_report(subject: RunDetail | RunComparison, *, max_cases: int = 1000) -> str:
    """The HTML page of a run (``get_run``) or a comparison (``compare_runs``).

    At most ``max_cases`` case rows per table are written; statistics use every case.
    """
    if isinstance(subject, RunComparison):
        return _comparison_page(subject, max_cases)
    return _run_page(subject, max_cases)
