"""``llmops traces``: list and show stored traces."""

from __future__ import annotations

from typing import Any

import typer

from llmops.cli._output import console, fmt_ms, fmt_time, print_json, short
from llmops.cli._table import WIDE, Col, print_table
from llmops.cli._trace_filter import (
    MODEL,
    NAME,
    NO_FILTER,
    SESSION,
    STATUS,
    TAG,
    USER,
    TraceFilterOptions,
    with_trace_filter,
)

__all__ = ["traces_app"]

traces_app = typer.Typer(help="List and show stored traces.", no_args_is_help=True)


def _span_dict(span: Any) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "duration_ms": (span.end_ns - span.start_ns) / 1e6,
        "status_code": span.status_code,
        "status_message": span.status_message,
        "attributes": span.attributes,
        "events": span.events,
        "otel_kind": span.otel_kind,
        "links": span.links,
        "scope": span.scope,
        "trace_state": span.trace_state,
    }


_TRACE_COLUMNS = (
    Col("trace id", 0, id="suffix"),
    Col("name", 0),
    Col("started", 1),
    Col("duration", 2, justify="right"),
    Col("spans", 4, justify="right"),
    Col("tokens", 3, justify="right"),
    Col("status", 1),
    Col("scores", 2),
    Col("errors", 3, justify="right"),
    Col("session", 5),
)


def _rows(traces: list[Any]) -> list[tuple[str, ...]]:
    from rich.markup import escape

    rows: list[tuple[str, ...]] = []
    for trace in traces:
        status = f"[red]{trace.status}" if trace.status == "ERROR" else trace.status
        tokens = (
            f"{trace.input_tokens}+{trace.output_tokens}"
            if trace.input_tokens or trace.output_tokens
            else "-"
        )
        rows.append(
            (
                trace.trace_id,
                escape(short(trace.name, 40)),
                fmt_time(trace.start_ns),
                fmt_ms(trace.duration_ms),
                str(trace.span_count),
                tokens,
                status,
                escape(_scores_text(trace.scores)),
                f"[red]{trace.error_count}" if trace.error_count else "0",
                escape(trace.session_id or "-"),
            )
        )
    return rows


_SORT = typer.Option(
    None, "--sort", help="score.NAME (lowest mean first) or -score.NAME (highest first)."
)


def _shown(value: Any) -> str:
    if value is None:  # an online evaluator's unmeasured score (its comment says why)
        return "unmeasured"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _scores_text(scores: dict[str, Any]) -> str:
    """``name=latest`` per score name, with the mean and count when there are several."""
    parts = []
    for name, summary in scores.items():
        text = f"{name}={_shown(summary['value'])}"
        if summary["n"] > 1:
            mean = summary["mean"]
            text += f" (n={summary['n']}" + (f", mean {mean:.3g})" if mean is not None else ")")
        parts.append(text)
    return short(", ".join(parts), 60) if parts else "-"


@traces_app.command("list")
@with_trace_filter
def list_(
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many traces, newest first."),
    offset: int = typer.Option(0, "--offset", min=0, help="Skip this many (pagination)."),
    filters: TraceFilterOptions = NO_FILTER,
    sort: str | None = _SORT,
    wide: bool = WIDE,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List traces, newest first, with filters."""
    from llmops.store import open_store
    from llmops.tracing import list_traces, parse_score_sort

    where = filters.where()
    order = parse_score_sort(sort) if sort is not None else None
    traces = list_traces(open_store(), limit=limit, offset=offset, where=where, sort=order)
    if as_json:
        print_json([trace.to_dict() for trace in traces])
        return
    print_table(_TRACE_COLUMNS, _rows(traces), wide=wide, empty="no traces match")


@traces_app.command("tail")
def tail(
    interval: float = typer.Option(1.0, "--interval", min=0.05, help="Seconds between polls."),
    count: int | None = typer.Option(None, "--count", min=1, help="Stop after this many traces."),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0, help="Stop after this many seconds."
    ),
    name: str | None = NAME,
    status: str | None = STATUS,
    session: str | None = SESSION,
    user: str | None = USER,
    model: str | None = MODEL,
    tag: str | None = TAG,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per line."),
) -> None:
    """Print new traces as they arrive (Ctrl-C to stop)."""
    import dataclasses
    import time

    import orjson

    from llmops.store import open_store
    from llmops.tracing import list_traces

    store = open_store()
    seen: set[str] = set()
    since = time.time_ns()
    started = time.monotonic()
    shown = 0
    while True:
        chosen = TraceFilterOptions(
            name=name, status=status, session=session, user=user, model=model, tag=tag
        )
        where = dataclasses.replace(chosen.where(), since_ns=since)
        fresh = [
            t
            for t in reversed(list_traces(store, limit=500, where=where))
            if t.trace_id not in seen
        ]
        for trace in fresh:
            seen.add(trace.trace_id)
            if as_json:
                print(orjson.dumps(trace.to_dict()).decode(), flush=True)
            else:
                console.print(
                    f"{fmt_time(trace.start_ns)} {trace.trace_id} {trace.name} "
                    f"{fmt_ms(trace.duration_ms)} {trace.span_count} spans {trace.status}"
                )
            shown += 1
            if count is not None and shown >= count:
                return
        if timeout is not None and time.monotonic() - started >= timeout:
            return
        time.sleep(interval)


def _label(span: Any) -> str:
    attrs = span.attributes or {}
    parts = [
        f"[bold]{span.name}[/] [dim]{span.kind}[/] {fmt_ms((span.end_ns - span.start_ns) / 1e6)}"
    ]
    if "gen_ai.request.model" in attrs:
        parts.append(f"model={attrs['gen_ai.request.model']}")
    if "llmops.prompt.name" in attrs:
        parts.append(f"prompt={attrs['llmops.prompt.name']}@{attrs.get('llmops.prompt.version')}")
    if "gen_ai.usage.input_tokens" in attrs:
        output_tokens = attrs.get("gen_ai.usage.output_tokens", 0)
        parts.append(f"tokens={attrs['gen_ai.usage.input_tokens']}+{output_tokens}")
    if span.status_code == "ERROR":
        parts.append(f"[red]ERROR {short(span.status_message, 80)}")
    return " · ".join(parts)


@traces_app.command("show")
def show(
    trace_id: str = typer.Argument(..., help="Trace id or a unique prefix of it."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show one trace as a span tree with model, prompt version, tokens and latency."""
    from rich.markup import escape
    from rich.tree import Tree

    from llmops.store import open_store
    from llmops.tracing import get_trace, list_scores

    store = open_store()
    spans = get_trace(store, trace_id)
    scores = list_scores(store, spans[0].trace_id)
    if as_json:
        print_json(
            {
                "trace_id": spans[0].trace_id,
                "spans": [_span_dict(span) for span in spans],
                "scores": [score.to_dict() for score in scores],
            }
        )
        return
    ids = {span.span_id for span in spans}
    children: dict[str | None, list[Any]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    root = Tree(f"trace {spans[0].trace_id}")

    def add(node: Tree, parent: str | None) -> None:
        for span in children.get(parent, []):
            branch = node.add(_label(span))
            attrs = span.attributes or {}
            for key in ("gen_ai.input.messages", "gen_ai.output.messages"):
                if key in attrs:
                    branch.add(f"[dim]{key}[/] {escape(short(attrs[key], 160))}")
            add(branch, span.span_id)

    add(root, None)
    console.print(root)
    if scores:
        console.print("[bold]scores[/]")
    for item in scores:
        who = " · ".join(x for x in (item.source, item.author or "") if x)
        comment = f" — {short(item.comment, 100)}" if item.comment else ""
        target = f" span {item.span_id}" if item.span_id else ""
        console.print(
            f"  {escape(item.name)} = {escape(_shown(item.shown))} [dim]({escape(who)}{target}, "
            f"{fmt_time(item.created_at)})[/]{escape(comment)}"
        )


@traces_app.command("score")
def score_(
    trace_id: str = typer.Argument(..., help="Trace id (32 hex digits) or a unique end of it."),
    name: str = typer.Argument(..., help="Score name, e.g. helpful."),
    value: str = typer.Argument(..., help="A number, true/false, or a label."),
    comment: str | None = typer.Option(None, "--comment", "-c", help="A note on the score."),
    source: str = typer.Option("human", "--source", help="human, app, judge or scorer."),
    author: str | None = typer.Option(None, "--author", help="Who scored (default: you)."),
    span: str | None = typer.Option(None, "--span", help="The span (16 hex digits) it is on."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored score as JSON."),
) -> None:
    """Score a trace: a number, true/false or a label, with an optional comment.

    A full trace id is accepted before the trace is stored (feedback can come first); a
    shorter one must name a stored trace.
    """
    import re

    from rich.markup import escape

    from llmops._identity import current_actor
    from llmops.store import open_store
    from llmops.tracing import feedback, get_trace, parse_score_value

    store = open_store()
    if not re.fullmatch(r"[0-9a-fA-F]{32}", trace_id):
        trace_id = get_trace(store, trace_id)[0].trace_id
    stored = feedback(
        trace_id,
        name,
        parse_score_value(value),
        comment=comment,
        source=source,
        author=author or current_actor(),
        span_id=span,
        store=store,
    )
    if as_json:
        print_json(stored.to_dict())
        return
    shown = escape(_shown(stored.shown))
    console.print(f"scored trace {stored.trace_id}: {escape(name)} = {shown}")
