"""The tracing SDK: nesting, decorators of every function kind, context, errors, propagation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import llmops
from llmops.store import Store
from llmops.tracing import (
    configure_tracing,
    current_span,
    extract_traceparent,
    flush,
    get_trace,
    list_traces,
    span,
    stats,
    trace,
    trace_context,
)


@pytest.fixture
def traced(store: Store) -> Store:
    configure_tracing(store)
    return store


def _spans(store: Store) -> list[Any]:
    assert flush()
    return [s for t in list_traces(store, limit=100) for s in get_trace(store, t.trace_id)]


def test_nesting_kinds_attributes_events(traced: Store) -> None:
    with span("agent run", kind="agent") as root:
        assert current_span() is root
        with span("search", kind="retriever", attributes={"query": "q"}) as child:
            child.set("k", 3).set({"ids": ["a", "b"]})
            child.add_event("cache miss", {"key": "q"})
        assert current_span() is root
    assert current_span() is None
    root_row, child_row = _spans(traced)
    assert (root_row.kind, child_row.kind) == ("agent", "retriever")
    assert child_row.parent_span_id == root_row.span_id and child_row.trace_id == root_row.trace_id
    assert len(root_row.trace_id) == 32 and len(root_row.span_id) == 16
    assert child_row.attributes == {"query": "q", "k": 3, "ids": ["a", "b"]}
    assert child_row.events[0]["name"] == "cache miss" and child_row.events[0]["attributes"] == {
        "key": "q"
    }
    assert child_row.end_ns >= child_row.start_ns >= root_row.start_ns


def test_exceptions_are_recorded_with_status(traced: Store) -> None:
    with pytest.raises(ValueError, match="bad"), span("step"):
        raise ValueError("bad")
    [row] = _spans(traced)
    assert (row.status_code, row.status_message) == ("ERROR", "ValueError: bad")
    event = row.events[0]
    assert event["name"] == "exception" and event["attributes"]["exception.type"] == "ValueError"
    assert "raise ValueError" in event["attributes"]["exception.stacktrace"]


def test_decorator_on_every_kind_of_function(traced: Store) -> None:
    @trace
    def add(a: int, b: int = 2) -> int:
        return a + b

    @trace(name="fetch", kind="tool")
    async def fetch(key: str) -> dict[str, str]:
        await asyncio.sleep(0)
        return {"key": key}

    @trace(kind="chain")
    def count(n: int) -> Iterator[int]:
        yield from range(n)

    @trace(capture_output=False)
    async def stream(n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    async def consume() -> list[int]:
        return [i async for i in stream(3)]

    assert add(1) == 3
    assert asyncio.run(fetch("x")) == {"key": "x"}
    assert list(count(2)) == [0, 1]
    assert asyncio.run(consume()) == [0, 1, 2]
    rows = {row.name.rsplit(".", 1)[-1]: row for row in _spans(traced)}
    assert rows["add"].attributes == {"input.value": '{"a":1}', "output.value": "3"}
    assert (
        rows["fetch"].kind == "tool" and rows["fetch"].attributes["output.value"] == '{"key":"x"}'
    )
    assert rows["count"].attributes["output.value"] == "[0,1]"
    assert "output.value" not in rows["stream"].attributes


def test_trace_context_sets_session_user_tags(traced: Store) -> None:
    with (
        trace_context(session_id="s-1", user_id="u-7", tags=["beta"], plan="pro"),
        trace_context(tags=["eu"]),
        span("turn"),
    ):
        pass
    with span("outside"):
        pass
    rows = {row.name: row for row in _spans(traced)}
    turn = rows["turn"]
    assert turn.attributes["session.id"] == "s-1" and turn.attributes["llmops.tags"] == [
        "beta",
        "eu",
    ]
    assert turn.attributes["llmops.metadata.plan"] == "pro"
    assert (turn.session_id, turn.user_id) == ("s-1", "u-7")
    assert rows["outside"].session_id is None


def test_traceparent_round_trip(traced: Store) -> None:
    with span("client call") as client:
        header = client.traceparent
    assert extract_traceparent(header) == (client.trace_id, client.span_id)
    assert extract_traceparent("00-" + "0" * 32 + "-" + "1" * 16 + "-01") is None
    assert extract_traceparent("garbage") is None
    with span("server handler", parent=header) as server:
        pass
    assert server.trace_id == client.trace_id and server.parent_id == client.span_id


def test_public_api_exposes_the_sdk(traced: Store) -> None:
    with llmops.trace_context(user_id="u"), llmops.span("via package"):
        pass
    assert llmops.flush()
    assert stats().written >= 1


def test_otel_interop_both_ways(traced: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(
        otel_trace, "_TRACER_PROVIDER", provider
    )  # as trace.set_tracer_provider does
    tracer = provider.get_tracer("app")
    with (
        tracer.start_as_current_span("otel outer") as outer,
        span("llmops middle") as middle,
        tracer.start_as_current_span("otel inner") as inner,
    ):
        pass
    outer_context, inner_context = outer.get_span_context(), inner.get_span_context()
    assert middle.trace_id == outer_context.trace_id
    assert middle.parent_id == outer_context.span_id
    assert inner_context.trace_id == middle.trace_id
    assert inner.parent is not None and inner.parent.span_id == middle.span_id
    provider.shutdown()


def test_llmops_spans_reach_an_otel_exporter(store: Store) -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from llmops.tracing import SpanPipeline, set_pipeline
    from llmops.tracing._sinks import OTelExporterSink

    exporter = InMemorySpanExporter()
    previous = set_pipeline(SpanPipeline([OTelExporterSink(exporter)]))
    with span("root", kind="chain") as root, span("llm call", kind="llm") as call:
        call.set({"gen_ai.usage.input_tokens": 5, "messages": [{"role": "user"}]})
    assert flush()
    exported = {s.name: s for s in exporter.get_finished_spans()}
    assert (
        exported["llm call"].parent is not None
        and exported["llm call"].parent.span_id == root.span_id
    )
    assert exported["llm call"].attributes is not None
    assert exported["llm call"].attributes["gen_ai.usage.input_tokens"] == 5
    assert exported["llm call"].attributes["llmops.span.kind"] == "llm"
    assert exported["llm call"].attributes["messages"] == '[{"role":"user"}]'
    current = set_pipeline(previous)
    assert current is not None
    current.shutdown()
