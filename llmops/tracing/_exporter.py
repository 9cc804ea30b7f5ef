"""An OpenTelemetry ``SpanExporter`` that writes spans into the llmops store in bulk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from sqlalchemy import insert

from llmops.store import Store
from llmops.store.models import SpanRecord, table_of

__all__ = ["SPAN_KIND_ATTRIBUTE", "StoreSpanExporter", "span_to_row"]

#: The llmops span kind (llm, chain, retriever, embedding, tool, agent, evaluator).
SPAN_KIND_ATTRIBUTE = "llmops.span.kind"


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    return value


def span_to_row(span: ReadableSpan) -> dict[str, Any]:
    """The ``spans`` row of a finished OTel span."""
    context = span.context
    assert context is not None
    attributes = {key: _jsonable(value) for key, value in (span.attributes or {}).items()}
    kind = attributes.pop(SPAN_KIND_ATTRIBUTE, None) or span.kind.name.lower()
    events = [
        {"name": event.name, "time_ns": event.timestamp, "attributes": dict(event.attributes or {})}
        for event in span.events
    ]
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
        "parent_span_id": format(span.parent.span_id, "016x") if span.parent else None,
        "name": span.name[:400],
        "kind": str(kind)[:32],
        "start_ns": span.start_time or 0,
        "end_ns": span.end_time or span.start_time or 0,
        "status_code": span.status.status_code.name,
        "status_message": span.status.description,
        "attributes": orjson.loads(orjson.dumps(attributes, default=str)),
        "events": orjson.loads(orjson.dumps(events, default=str)) if events else None,
    }


class StoreSpanExporter(SpanExporter):
    """Writes each batch of spans in one transaction; never raises into the app."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.failed_spans = 0
        self.last_error: str | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        rows = [span_to_row(span) for span in spans]
        try:
            with self._store.write() as session:
                session.connection().execute(insert(table_of(SpanRecord)), rows)
        except Exception as exc:  # telemetry must never break the traced program
            self.failed_spans += len(rows)
            self.last_error = str(exc)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True
