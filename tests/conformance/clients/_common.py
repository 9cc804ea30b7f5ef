"""What every client script shares: the OTLP/HTTP provider, the five OpenAI calls, the report.

Runs in the conformance environment (tests/_conformance_venv.py), never with llmops. The test
gives each script ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the llmops server), ``OPENAI_BASE_URL``
(the fake OpenAI server) and ``OPENAI_API_KEY``; a script prints one JSON line on stdout:
``{"traces": {operation: trace id}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
MISSING_MODEL = "missing-model"  # the fake server answers 404 for it
SYSTEM = "You are a terse assistant."
QUESTION = "What is the capital of France?"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


class TraceIds(SpanProcessor):
    """Remembers the trace of every span started, in order, to name each operation's trace."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_start(self, span: Span, parent_context: Any = None) -> None:
        trace_id = format(span.get_span_context().trace_id, "032x")
        if trace_id not in self.seen:
            self.seen.append(trace_id)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class Session:
    """A tracer provider exporting OTLP/HTTP (endpoint from the environment) or with
    ``exporter``, set as global."""

    def __init__(self, service: str, exporter: SpanExporter | None = None) -> None:
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.ids = TraceIds()
        self.provider.add_span_processor(self.ids)
        self.provider.add_span_processor(BatchSpanProcessor(exporter or OTLPSpanExporter()))
        trace.set_tracer_provider(self.provider)
        self.traces: dict[str, str | list[str]] = {}
        self.errors: dict[str, str] = {}

    def record(self, operation: str, call: Callable[[], Any], *, fails: bool = False) -> Any:
        """Run ``call`` and name the traces it started ``operation``."""
        before = len(self.ids.seen)
        result = None
        try:
            result = call()
        except Exception as exc:
            if not fails:
                raise
            self.errors[operation] = type(exc).__name__
        else:
            if fails:
                raise AssertionError(f"{operation} should have failed")
        new = self.ids.seen[before:]
        self.traces[operation] = new[0] if len(new) == 1 else new
        return result

    def finish(self, **extra: Any) -> None:
        """Flush every span to the server, then print the report."""
        if not self.provider.force_flush(120_000):
            raise SystemExit("spans were not flushed")
        self.provider.shutdown()
        print(json.dumps({"traces": self.traces, "errors": self.errors, **extra}))


def openai_calls(session: Session, client: Any) -> None:
    """The five calls of the suite with an ``openai.OpenAI`` client: chat, tool call, stream,
    embeddings and a call that fails with 404."""
    chat = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
    session.record(
        "chat", lambda: client.chat.completions.create(model=MODEL, messages=chat, temperature=0)
    )
    weather = [{"role": "user", "content": "What is the weather in Paris?"}]
    session.record(
        "tool_call",
        lambda: client.chat.completions.create(model=MODEL, messages=weather, tools=[WEATHER_TOOL]),
    )

    def stream() -> str:
        chunks = client.chat.completions.create(
            model=MODEL, messages=chat, stream=True, stream_options={"include_usage": True}
        )
        return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)

    streamed = session.record("stream", stream)
    session.record(
        "embeddings",
        lambda: client.embeddings.create(model=EMBEDDING_MODEL, input=["first", "second"]),
    )
    session.record(
        "error",
        lambda: client.chat.completions.create(model=MISSING_MODEL, messages=chat),
        fails=True,
    )
    if streamed != "Paris is the capital of France.":
        raise SystemExit(f"the stream read back {streamed!r}")
