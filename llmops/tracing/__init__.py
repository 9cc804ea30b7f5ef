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

import importlib
from typing import TYPE_CHECKING, Any

from llmops.tracing._cost import Pricing as Pricing
from llmops.tracing._feedback import current_trace_id, feedback
from llmops.tracing._genai_events import event_messages as event_messages
from llmops.tracing._instrument import (
    Integration,
    instrument,
    instrumentable,
    register_integration,
    uninstrument,
)
from llmops.tracing._pipeline import PipelineStats, SpanPipeline, get_pipeline, set_pipeline
from llmops.tracing._queries import TraceFilter, TraceSummary, get_trace, list_traces
from llmops.tracing._queries import count as count
from llmops.tracing._queries import has_tag as has_tag
from llmops.tracing._queries import json_number as json_number
from llmops.tracing._queries import json_text as json_text
from llmops.tracing._queries import parse_prompt_ref as parse_prompt_ref
from llmops.tracing._queries import prompt_matches as prompt_matches
from llmops.tracing._queries import route_matches as route_matches
from llmops.tracing._queries import text_matches as text_matches
from llmops.tracing._queries import trace_status_is as trace_status_is
from llmops.tracing._redact import Redactor
from llmops.tracing._score_configs import (
    ScoreConfig,
    check_against_configs,
    create_score_config,
    get_score_config,
    list_score_configs,
)
from llmops.tracing._score_configs import configs_named as configs_named
from llmops.tracing._scores import (
    MAX_SCORES_PER_REQUEST,
    SCORE_SOURCES,
    ScoreCondition,
    ScoreSort,
    TraceScore,
    add_scores,
    delete_score,
    eval_run_scores,
    list_scores,
    make_score,
    parse_score_filter,
    parse_score_sort,
    parse_score_value,
    score_matches,
    score_order,
    score_summaries,
)
from llmops.tracing._sdk import (
    extract_traceparent,
    span,
    span_attributes,
    start_span,
    trace,
    trace_context,
)
from llmops.tracing._semconv import message_text as message_text
from llmops.tracing._semconv import normalize_role as normalize_role
from llmops.tracing._semconv import parse_genai_messages as parse_genai_messages
from llmops.tracing._semconv import parse_json as parse_json
from llmops.tracing._semconv import to_genai as to_genai
from llmops.tracing._setup import current_redactor as current_redactor
from llmops.tracing._setup import pricing_for as pricing_for
from llmops.tracing._setup import redactor_for as redactor_for
from llmops.tracing._sinks import StoreSink as StoreSink
from llmops.tracing._span import SPAN_KINDS, Span, current_span
from llmops.tracing._stats import GROUP_BY as GROUP_BY
from llmops.tracing._stats import RANGES as RANGES
from llmops.tracing._stats import DashboardStats, dashboard_stats
from llmops.tracing._stats import parse_duration as parse_duration
from llmops.tracing._stats import parse_range as parse_range
from llmops.tracing._time import duration_s as duration_s
from llmops.tracing._time import since_ns as since_ns

if TYPE_CHECKING:
    from llmops.config import Config
    from llmops.store import Store
    from llmops.tracing._ingest import OtlpIngest as OtlpIngest
    from llmops.tracing._otlp import MAX_BODY_BYTES as MAX_BODY_BYTES
    from llmops.tracing._otlp import PayloadTooLargeError as PayloadTooLargeError
    from llmops.tracing._otlp import UnsupportedContentError as UnsupportedContentError

# Names imported ``as`` themselves (``count as count``) and left out of ``__all__`` are for the
# layers above (server, CLI, evals, rag, tracking), not the public API: query helpers, pricing,
# redaction, GenAI message parsing and OTLP ingest, so that no one imports a private module.
#: OTLP decoding, loaded on first use (only the server needs it).
_LAZY = {
    "MAX_BODY_BYTES": "llmops.tracing._otlp",
    "OtlpIngest": "llmops.tracing._ingest",
    "PayloadTooLargeError": "llmops.tracing._otlp",
    "UnsupportedContentError": "llmops.tracing._otlp",
}

__all__ = [
    "MAX_SCORES_PER_REQUEST",
    "SCORE_SOURCES",
    "SPAN_KINDS",
    "DashboardStats",
    "Integration",
    "PipelineStats",
    "Redactor",
    "ScoreCondition",
    "ScoreConfig",
    "ScoreSort",
    "Span",
    "SpanPipeline",
    "TraceFilter",
    "TraceScore",
    "TraceSummary",
    "add_scores",
    "check_against_configs",
    "configure_tracing",
    "create_score_config",
    "current_span",
    "current_trace_id",
    "dashboard_stats",
    "delete_score",
    "eval_run_scores",
    "extract_traceparent",
    "feedback",
    "flush",
    "get_pipeline",
    "get_score_config",
    "get_trace",
    "instrument",
    "instrumentable",
    "list_score_configs",
    "list_scores",
    "list_traces",
    "make_score",
    "parse_score_filter",
    "parse_score_sort",
    "parse_score_value",
    "register_integration",
    "score_matches",
    "score_order",
    "score_summaries",
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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
