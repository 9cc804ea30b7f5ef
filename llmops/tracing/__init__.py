"""Tracing: spans in the OpenTelemetry trace model with GenAI semantic conventions, batched
into the llmops store (and any OTLP endpoint), never dropped silently.

    import llmops

    @llmops.trace(kind="tool")
    def search(query: str) -> list[str]: ...

    with llmops.trace_context(session_id="s1", user_id="u7"):
        with llmops.span("answer", kind="chain") as span:
            span.set("question", "...")

    llmops.instrument("langchain")  # every LangChain run, no handler per call

The current span is OpenTelemetry's current span: llmops and OTel spans nest as they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.tracing._instrument import instrument, uninstrument
from llmops.tracing._pipeline import PipelineStats, SpanPipeline, get_pipeline, set_pipeline
from llmops.tracing._queries import TraceFilter, TraceSummary, get_trace, list_traces
from llmops.tracing._redact import Redactor
from llmops.tracing._sdk import (
    extract_traceparent,
    span,
    span_attributes,
    start_span,
    trace,
    trace_context,
)
from llmops.tracing._span import SPAN_KINDS, Span, current_span

if TYPE_CHECKING:
    from llmops.config import Config
    from llmops.store import Store

__all__ = [
    "SPAN_KINDS",
    "PipelineStats",
    "Redactor",
    "Span",
    "SpanPipeline",
    "TraceFilter",
    "TraceSummary",
    "configure_tracing",
    "current_span",
    "extract_traceparent",
    "flush",
    "get_pipeline",
    "get_trace",
    "instrument",
    "list_traces",
    "set_pipeline",
    "shutdown_tracing",
    "span",
    "span_attributes",
    "start_span",
    "stats",
    "trace",
    "trace_context",
    "uninstrument",
]


def configure_tracing(store: Store | None = None, config: Config | None = None) -> SpanPipeline:
    """Send spans to ``store`` (default: the project store) as ``config`` says; flushes the old
    pipeline first."""
    from llmops.tracing._setup import build_pipeline

    pipeline = build_pipeline(config, store)
    previous = set_pipeline(pipeline)
    if previous is not None:
        previous.shutdown()
    return pipeline


def flush(timeout_s: float = 30.0) -> bool:
    """Write every finished span now; False if that did not finish within the timeout."""
    from llmops.tracing import _pipeline

    pipeline = _pipeline._pipeline
    return pipeline.flush(timeout_s) if pipeline is not None else True


def stats() -> PipelineStats:
    """Counters of the current pipeline: submitted, written, spilled, replayed, dropped."""
    return get_pipeline().stats


def shutdown_tracing() -> None:
    """Flush and stop the current pipeline."""
    previous = set_pipeline(None)
    if previous is not None:
        previous.shutdown()
