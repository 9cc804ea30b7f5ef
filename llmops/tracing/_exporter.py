"""An OpenTelemetry ``SpanExporter`` that writes OTel SDK spans into the llmops store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llmops.store import Store
from llmops.tracing._redact import Redactor
from llmops.tracing._sinks import StoreSink

__all__ = ["StoreSpanExporter", "span_to_row"]

_KIND_ATTRIBUTE = "llmops.span.kind"


def span_to_row(span: ReadableSpan) -> dict[str, Any]:
    """The ``spans`` row of a finished OTel SDK span, before :meth:`Redactor.span` masks and
    cuts it."""
    context = span.context
    assert context is not None
    attributes = dict(span.attributes or {})
    kind = attributes.pop(_KIND_ATTRIBUTE, None) or span.kind.name.lower()
    events = [
        {"name": event.name, "time_ns": event.timestamp, "attributes": dict(event.attributes or {})}
        for event in span.events
    ]
    resource = dict(span.resource.attributes) if span.resource is not None else None
    links = [
        {
            "trace_id": format(link.context.trace_id, "032x"),
            "span_id": format(link.context.span_id, "016x"),
            "trace_state": link.context.trace_state.to_header() or None,
            "attributes": dict(link.attributes or {}),
        }
        for link in span.links
    ]
    scope = span.instrumentation_scope
    scope_row = {"name": scope.name, "version": scope.version} if scope is not None else None
    row: dict[str, Any] = orjson.loads(
        orjson.dumps(
            {
                "trace_id": format(context.trace_id, "032x"),
                "span_id": format(context.span_id, "016x"),
                "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
                "name": span.name,
                "kind": str(kind),
                "start_ns": span.start_time or 0,
                "end_ns": span.end_time or span.start_time or 0,
                "status_code": span.status.status_code.name,
                "status_message": span.status.description,
                "attributes": attributes,
                "events": events or None,
                "resource": resource,
                "otel_kind": span.kind.name,
                "links": links or None,
                "scope": {k: v for k, v in scope_row.items() if v} if scope_row else None,
                "trace_state": context.trace_state.to_header() or None,
            },
            default=str,
        )
    )
    return row


class StoreSpanExporter(SpanExporter):
    """Use with an OTel ``BatchSpanProcessor`` to keep OTel SDK spans in the llmops store."""

    def __init__(self, store: Store, redactor: Redactor | None = None) -> None:
        """``redactor``: by default the one of the project's tracing settings."""
        from llmops.tracing._setup import current_redactor

        self._sink = StoreSink(store)
        self._redactor = redactor or current_redactor()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            redact = self._redactor.span
            self._sink.write([redact(span_to_row(span)) for span in spans])
        except Exception:  # telemetry must never break the traced program
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
