"""``llmops traces``: list and show stored traces."""

from __future__ import annotations

from typing import Any

import typer

from llmops.cli._output import console, fmt_ms, fmt_time, print_json, short

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
    }


@traces_app.command("list")
def list_(
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many traces, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List traces, newest first."""
    from rich.table import Table

    from llmops.store import open_store
    from llmops.tracing import list_traces

    traces = list_traces(open_store(), limit=limit)
    if as_json:
        print_json([trace.to_dict() for trace in traces])
        return
    table = Table()
    for column in ("trace id", "name", "started", "duration", "spans", "status"):
        table.add_column(column)
    for trace in traces:
        table.add_row(
            trace.trace_id,
            trace.name,
            fmt_time(trace.start_ns),
            fmt_ms(trace.duration_ms),
            str(trace.span_count),
            trace.status,
        )
    console.print(table if traces else "no traces yet")


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
    from llmops.tracing import get_trace

    spans = get_trace(open_store(), trace_id)
    if as_json:
        print_json({"trace_id": spans[0].trace_id, "spans": [_span_dict(span) for span in spans]})
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
