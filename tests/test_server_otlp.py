"""The OTLP/HTTP receiver on a real server: every captured payload, real OTel exporters, errors,
tokens, chunked and gzipped bodies."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _live_server import LiveServer

from llmops import ConfigError
from llmops.server import check_bind, create_app
from llmops.store import Store
from llmops.tracing import get_trace, list_traces

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "otlp-traces"
CAPTURED = sorted((DATA / "captured").glob("*.otlp.*")) if DATA.is_dir() else []
EXPECTED_SPANS = {
    "openinference-openai": 5,
    "openinference-langchain": 9,
    "otel-genai-openai-v2-latest": 5,
    "otel-genai-openai-v2-default": 5,
    "traceloop-openai": 5,
    "js-otlp-http-json": 4,
}


@pytest.fixture
def server(store: Store) -> Iterator[LiveServer]:
    with LiveServer(create_app(store)) as live:
        yield live


def _all_spans(store: Store) -> list[object]:
    return [s for t in list_traces(store, limit=1000) for s in get_trace(store, t.trace_id)]


def _stored(store: Store) -> list[object]:
    from sqlmodel import select

    from llmops.store.models import SpanRecord

    with store.session() as session:
        return list(session.exec(select(SpanRecord)).all())


@pytest.mark.skipif(not CAPTURED, reason=f"no OTLP fixtures at {DATA}")
@pytest.mark.parametrize("path", CAPTURED, ids=lambda p: p.name)
def test_every_captured_payload_is_accepted(store: Store, server: LiveServer, path: Path) -> None:
    name = path.name.split(".otlp.")[0]
    headers = json.loads((path.parent / f"{name}.request-headers.json").read_text())["headers"]
    content_type = "application/json" if path.suffix == ".json" else "application/x-protobuf"
    body = path.read_bytes()
    chunked = headers.get("Transfer-Encoding") == "chunked"
    response = httpx.post(
        f"{server.url}/v1/traces",
        content=iter([body]) if chunked else body,
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    spans = _stored(store)
    assert len(spans) == EXPECTED_SPANS[name]
    ids = {s.span_id for s in spans}  # type: ignore[attr-defined]
    for span in spans:
        parent = span.parent_span_id  # type: ignore[attr-defined]
        assert parent is None or parent in ids
    chats = [s for s in spans if s.kind == "llm" and s.status_code != "ERROR"]  # type: ignore[attr-defined]
    if name != "openinference-langchain":  # its fake chat model reports no usage
        assert any(s.attributes.get("gen_ai.usage.input_tokens", 0) > 0 for s in chats)  # type: ignore[attr-defined]
    if name != "openinference-langchain":
        assert any(s.status_code == "ERROR" for s in spans)  # type: ignore[attr-defined]


@pytest.mark.skipif(not DATA.is_dir(), reason=f"no OTLP fixtures at {DATA}")
def test_official_example_and_gzip(store: Store, server: LiveServer) -> None:
    body = (DATA / "opentelemetry-proto-examples" / "trace.json").read_bytes()
    response = httpx.post(
        f"{server.url}/v1/traces",
        content=gzip.compress(body),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200 and response.json() == {}
    assert len(_stored(store)) >= 1


def test_an_otel_sdk_app_exports_into_llmops(store: Store, server: LiveServer) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces"))
    )
    tracer = provider.get_tracer("shop")
    with (
        tracer.start_as_current_span("handle request"),
        tracer.start_as_current_span("chat gpt-x") as chat,
    ):
        chat.set_attributes(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-x",
                "gen_ai.usage.input_tokens": 12,
                "api_key": "sk-live-abcdefghijklmnopqrstu",
            }
        )
    provider.shutdown()
    spans = {s.name: s for s in _stored(store)}  # type: ignore[attr-defined]
    chat_row = spans["chat gpt-x"]
    assert chat_row.kind == "llm" and chat_row.parent_span_id == spans["handle request"].span_id
    assert chat_row.attributes["gen_ai.usage.input_tokens"] == 12
    assert chat_row.attributes["api_key"] == "[REDACTED]"
    assert chat_row.resource == {
        "service.name": "shop",
        **{k: v for k, v in chat_row.resource.items() if k != "service.name"},
    }


def test_llmops_spans_export_over_otlp_into_another_llmops(
    store: Store, server: LiveServer, tmp_path: Path
) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    from llmops.tracing import SpanPipeline, flush, set_pipeline, span
    from llmops.tracing._sinks import OTelExporterSink

    previous = set_pipeline(
        SpanPipeline([OTelExporterSink(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces"))])
    )
    with span("agent", kind="agent"), span("search", kind="retriever") as child:
        child.set("gen_ai.retrieval.query.text", "q")
    assert flush()
    current = set_pipeline(previous)
    assert current is not None
    current.shutdown()
    rows = {s.name: s for s in _stored(store)}  # type: ignore[attr-defined]
    assert rows["search"].kind == "retriever" and rows["agent"].kind == "agent"
    assert rows["search"].parent_span_id == rows["agent"].span_id


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\x0a\xff\xff", "application/x-protobuf", 400),
        (b"[1, 2]", "application/json", 400),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": '
            b'[{"traceId": "abcde", "spanId": "00"}]}]}]}',
            "application/json",
            400,
        ),
        (b"hello", "text/plain", 415),
    ],
)
def test_bad_payloads_are_rejected_and_nothing_is_stored(
    store: Store, server: LiveServer, body: bytes, content_type: str, status: int
) -> None:
    response = httpx.post(
        f"{server.url}/v1/traces", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == status
    assert _stored(store) == []


def test_token_is_required_when_configured(store: Store) -> None:
    with LiveServer(create_app(store, token="s3cret")) as live:
        body, headers = b'{"resourceSpans": []}', {"Content-Type": "application/json"}
        assert httpx.post(f"{live.url}/v1/traces", content=body, headers=headers).status_code == 401
        wrong = {**headers, "Authorization": "Bearer nope"}
        assert httpx.post(f"{live.url}/v1/traces", content=body, headers=wrong).status_code == 401
        right = {**headers, "Authorization": "Bearer s3cret"}
        assert httpx.post(f"{live.url}/v1/traces", content=body, headers=right).status_code == 200
        assert httpx.get(f"{live.url}/health").status_code == 200


def test_listening_beyond_localhost_needs_a_token() -> None:
    check_bind("127.0.0.1", None)
    check_bind("::1", None)
    check_bind("0.0.0.0", "token")
    with pytest.raises(ConfigError, match=r"refusing to listen on 0\.0\.0\.0 without a token"):
        check_bind("0.0.0.0", None)
