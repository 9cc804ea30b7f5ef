"""Tracing: OpenTelemetry spans with GenAI semantic conventions, stored in the llmops store."""

from llmops.tracing._provider import (
    configure_tracing,
    failed_span_count,
    flush,
    get_tracer,
    shutdown_tracing,
)
from llmops.tracing._queries import TraceSummary, get_trace, list_traces

__all__ = [
    "TraceSummary",
    "configure_tracing",
    "failed_span_count",
    "flush",
    "get_trace",
    "get_tracer",
    "list_traces",
    "shutdown_tracing",
]
