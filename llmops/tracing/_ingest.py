"""The ingest path of the OTLP receiver: decode, map attributes, redact, store."""

from __future__ import annotations

from typing import Any

from llmops.tracing._otlp import decode_otlp
from llmops.tracing._redact import Redactor
from llmops.tracing._semconv import to_genai
from llmops.tracing._sinks import StoreSink

__all__ = ["OtlpIngest"]


class OtlpIngest:
    """Turns OTLP/HTTP request bodies into stored spans, one transaction per request."""

    def __init__(self, sink: StoreSink, redactor: Redactor | None = None) -> None:
        self.sink = sink
        self.redactor = redactor or Redactor()

    def rows(
        self, body: bytes, content_type: str, content_encoding: str | None = None
    ) -> list[dict[str, Any]]:
        """Decoded, mapped (OpenInference names also under GenAI names) and redacted rows:
        attributes, event attributes, resource and status message, as the SDK redacts."""
        rows = decode_otlp(body, content_type, content_encoding)
        redact = self.redactor.attributes
        last: tuple[Any, Any] = (None, None)  # spans of one resource come together
        for row in rows:
            resource = row.get("resource")
            if resource:
                if resource != last[0]:
                    last = (resource, redact(resource))
                row["resource"] = last[1]
            if row.get("status_message"):
                row["status_message"] = self.redactor.text(row["status_message"])
            attributes = to_genai(row["attributes"])
            scope = row.pop("scope", None)
            if scope:
                attributes.setdefault("otel.scope.name", scope)
            row["attributes"] = redact(attributes)
            if row.get("events"):
                row["events"] = [
                    {**e, "attributes": redact(e.get("attributes") or {})} for e in row["events"]
                ]
        return rows

    def ingest(self, body: bytes, content_type: str, content_encoding: str | None = None) -> int:
        """Store the spans of one request; returns how many."""
        rows = self.rows(body, content_type, content_encoding)
        if rows:
            self.sink.write(rows)
        return len(rows)
