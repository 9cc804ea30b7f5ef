"""The ingest path of the OTLP receiver: decode, map attributes, redact, store (spans and
log records)."""

from __future__ import annotations

from typing import Any

from llmops.tracing._cost import Pricing
from llmops.tracing._otlp import decode_otlp
from llmops.tracing._otlp_logs import decode_otlp_logs
from llmops.tracing._redact import Redactor
from llmops.tracing._semconv import refine_kind, to_genai
from llmops.tracing._sinks import LogStoreSink, StoreSink

__all__ = ["OtlpIngest"]


class OtlpIngest:
    """Turns OTLP/HTTP request bodies into stored spans, one transaction per request."""

    def __init__(
        self, sink: StoreSink, redactor: Redactor | None = None, pricing: Pricing | None = None
    ) -> None:
        self.sink = sink
        self.redactor = redactor or Redactor()
        self.pricing = pricing or Pricing()
        self.log_sink = LogStoreSink(sink.store)

    def rows(
        self, body: bytes, content_type: str, content_encoding: str | None = None
    ) -> list[dict[str, Any]]:
        """Decoded, mapped (every convention's names also under GenAI names), priced and
        redacted rows, with the same :meth:`Redactor.span` as spans of the SDK."""
        rows = decode_otlp(body, content_type, content_encoding)
        redact = self.redactor.span
        add_cost = self.pricing.add_cost
        for row in rows:
            attributes = to_genai(row["attributes"])
            row["kind"] = refine_kind(row["kind"], attributes)
            add_cost(attributes)
            row["attributes"] = attributes
            redact(row)
        return rows

    def ingest(self, body: bytes, content_type: str, content_encoding: str | None = None) -> int:
        """Store the spans of one request; returns how many."""
        rows = self.rows(body, content_type, content_encoding)
        if rows:
            self.sink.write(rows)
        return len(rows)

    def log_rows(
        self, body: bytes, content_type: str, content_encoding: str | None = None
    ) -> list[dict[str, Any]]:
        """Decoded and redacted log rows (the scope name kept as ``otel.scope.name``)."""
        rows = decode_otlp_logs(body, content_type, content_encoding)
        redact = self.redactor.log
        for row in rows:
            scope = row.pop("scope", None)
            if scope:
                row["attributes"].setdefault("otel.scope.name", scope)
            redact(row)
        return rows

    def ingest_logs(
        self, body: bytes, content_type: str, content_encoding: str | None = None
    ) -> int:
        """Store the log records of one ``ExportLogsServiceRequest``; returns how many."""
        rows = self.log_rows(body, content_type, content_encoding)
        if rows:
            self.log_sink.write(rows)
        return len(rows)
