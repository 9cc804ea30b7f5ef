"""``llmops stats``: the dashboard's figures (traces, latency, errors, tokens, cost, scores)
per time bucket, as the viewer's home page shows them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer
from rich.markup import escape

from llmops.cli._output import fmt_ms, print_json
from llmops.cli._table import WIDE, Col, print_table

__all__ = ["stats_command"]

_TRACE_COLUMNS = [
    Col("Bucket", 0),
    Col("Group", 0),
    Col("Traces", 0, justify="right"),
    Col("Errors", 1, justify="right"),
    Col("p50", 0, justify="right"),
    Col("p95", 1, justify="right"),
    Col("p99", 2, justify="right"),
    Col("Tokens in", 3, justify="right"),
    Col("Tokens out", 3, justify="right"),
    Col("Cost", 2, justify="right"),
]
_SCORE_COLUMNS = [
    Col("Bucket", 0),
    Col("Score", 0),
    Col("Group", 0),
    Col("Mean", 0, justify="right"),
    Col("n", 1, justify="right"),
]


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")


def _group(value: Any) -> str:
    return "-" if value is None else escape(str(value))


def _trace_rows(stats: dict[str, Any]) -> list[list[str]]:
    rows = []
    for series in stats["traces"]:
        for p in series["points"]:
            cost = p["cost_usd"]
            rows.append(
                [
                    _when(p["start_ns"]),
                    _group(series["group"]),
                    str(p["traces"]),
                    f"{p['error_rate']:.1%}",
                    fmt_ms(p["p50_ms"]),
                    fmt_ms(p["p95_ms"]),
                    fmt_ms(p["p99_ms"]),
                    str(p["input_tokens"]),
                    str(p["output_tokens"]),
                    "-" if cost is None else f"${cost:.4f}",
                ]
            )
    return sorted(rows, key=lambda r: r[0])


def _score_rows(stats: dict[str, Any]) -> list[list[str]]:
    rows = []
    for kind, name_key in (("trace_scores", "name"), ("eval_scores", "scorer")):
        for series in stats[kind]:
            label = series[name_key] + (" (eval)" if kind == "eval_scores" else "")
            for p in series["points"]:
                rows.append(
                    [
                        _when(p["start_ns"]),
                        escape(label),
                        _group(series["group"]),
                        f"{p['mean']:.3f}",
                        str(p["n"]),
                    ]
                )
    return sorted(rows, key=lambda r: r[0])


def stats_command(
    since: str = typer.Option(
        "7d", "--since", help="A duration before --until (1h, 24h, 7d, 30d) or an ISO time."
    ),
    until: str | None = typer.Option(None, "--until", help="An ISO time (default: now)."),
    by: str | None = typer.Option(
        None, "--by", help="Group by model, prompt (name@version), route (version), user or tag."
    ),
    bucket: str = typer.Option("auto", "--bucket", help="Bucket width (15m, 1h, 1d) or auto."),
    wide: bool = WIDE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (as GET /api/v1/stats)."),
) -> None:
    """Trace count, latency p50/p95/p99, error rate, tokens, cost and mean scores per time
    bucket, from the store."""
    from llmops.store import open_store
    from llmops.tracing import dashboard_stats, parse_range

    since_ns, until_ns = parse_range(since, until)
    stats = dashboard_stats(
        open_store(), since_ns=since_ns, until_ns=until_ns, bucket=bucket, by=by
    ).to_dict()
    if as_json:
        print_json(stats)
        return
    title = f"{_when(since_ns)} to {_when(until_ns)} UTC, buckets of {stats['bucket_s']} s"
    print_table(_TRACE_COLUMNS, _trace_rows(stats), wide=wide, title=title, empty="no traces")
    scores = _score_rows(stats)
    if scores:
        print_table(_SCORE_COLUMNS, scores, wide=wide, title="Mean scores")
