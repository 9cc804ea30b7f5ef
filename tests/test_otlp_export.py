"""``tracing.otlp_endpoint`` export into a real llmops server: the app's resource and service
name, OTel span kinds, the llmops scope, links, GenAI and (opt-in) OpenInference attributes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _live_server import LiveServer
from opentelemetry.trace import SpanContext, TraceFlags, TraceState

from llmops import __version__
from llmops.config import Config, TracingConfig
from llmops.server import create_app
from llmops.store import Store
from llmops.tracing import Span, configure_tracing, flush, shutdown_tracing, span

SECRET = "sk-proj-Zx81Qw7TnL0pVb3RmY6sKd2H"
LINKED = SpanContext(
    0x0123456789ABCDEF0123456789ABCDEF,
    0x0123456789ABCDEF,
    True,
    TraceFlags(TraceFlags.SAMPLED),
    TraceState([("vendor", "v1")]),
)
MESSAGES = [{"role": "user", "parts": [{"type": "text", "content": "Where is my refund?"}]}]
ANSWER = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "On its way."}],
        "finish_reason": "stop",
    }
]


@pytest.fixture
def receiver(store: Store) -> Iterator[LiveServer]:
    """A second llmops server, the OTLP destination (its store is the ``store`` fixture)."""
    with LiveServer(create_app(store)) as live:
        yield live


@pytest.fixture(autouse=True)
def _app_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "my-app")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"deployment.environment=test,secret={SECRET}")
    yield
    shutdown_tracing()


def _export(receiver: LiveServer, local: Store | None = None, **settings: Any) -> dict[str, Span]:
    """Record a chain span (with a link) around an llm span, exported to ``receiver``."""
    tracing = TracingConfig(
        otlp_endpoint=f"{receiver.url}/v1/traces", store=local is not None, **settings
    )
    configure_tracing(local, Config(tracing=tracing))
    with span("answer", kind="chain") as chain, span("chat gpt-4o-mini", kind="llm") as llm:
        chain.add_link(LINKED, {"reason": "retry of"})
        llm.set(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.request.temperature": 0.2,
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 4,
                "gen_ai.input.messages": MESSAGES,
                "gen_ai.output.messages": ANSWER,
            }
        )
    assert flush()
    return {"chain": chain, "llm": llm}


def _received(receiver: LiveServer, sent: Span) -> dict[str, Any]:
    response = httpx.get(
        f"{receiver.url}/api/v1/traces/{sent.trace_id_hex}/spans/{sent.span_id_hex}"
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_export_keeps_resource_kinds_scope_links_and_genai(receiver: LiveServer) -> None:
    sent = _export(receiver)
    chain, llm = _received(receiver, sent["chain"]), _received(receiver, sent["llm"])

    for received in (chain, llm):
        resource = received["resource"]
        assert resource["service.name"] == "my-app"
        assert resource["deployment.environment"] == "test"
        assert resource["telemetry.sdk.name"] == "opentelemetry"
        assert "secret" in resource and SECRET not in json.dumps(resource)
        assert received["scope"]["name"] == "llmops"
        assert received["scope"]["version"] == __version__

    assert chain["otel_kind"] == "INTERNAL" and chain["kind"] == "chain"
    assert llm["otel_kind"] == "CLIENT" and llm["kind"] == "llm"
    # OTel Python's OTLP encoder sends no link trace state (opentelemetry-python 1.45)
    [link] = chain["links"]
    assert link["trace_id"] == "0123456789abcdef0123456789abcdef"
    assert link["span_id"] == "0123456789abcdef"
    assert link["attributes"] == {"reason": "retry of"}
    assert llm["links"] == []

    attributes = llm["attributes"]
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert attributes["gen_ai.usage.output_tokens"] == 4
    assert json.loads(attributes["gen_ai.input.messages"]) == MESSAGES
    assert json.loads(attributes["gen_ai.output.messages"]) == ANSWER
    assert llm["input_tokens"] == 12 and llm["model"] == "gpt-4o-mini"
    # OpenInference names are opt-in
    assert not [key for key in attributes if key.startswith(("llm.", "openinference."))]


def test_openinference_names_are_exported_when_asked(receiver: LiveServer) -> None:
    sent = _export(receiver, otlp_openinference=True)
    chain, llm = _received(receiver, sent["chain"]), _received(receiver, sent["llm"])

    attributes = llm["attributes"]
    assert attributes["openinference.span.kind"] == "LLM"
    assert attributes["llm.model_name"] == "gpt-4o-mini"
    assert attributes["llm.provider"] == "openai"
    assert attributes["llm.token_count.prompt"] == 12
    assert attributes["llm.token_count.completion"] == 4
    assert attributes["llm.token_count.total"] == 16
    assert attributes["llm.input_messages.0.message.role"] == "user"
    assert attributes["llm.input_messages.0.message.content"] == "Where is my refund?"
    assert attributes["llm.output_messages.0.message.role"] == "assistant"
    assert attributes["llm.output_messages.0.message.content"] == "On its way."
    assert attributes["input.value"] == "Where is my refund?"
    assert attributes["output.value"] == "On its way."
    assert json.loads(attributes["llm.invocation_parameters"]) == {"temperature": 0.2}
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"  # the GenAI names stay
    assert chain["attributes"]["openinference.span.kind"] == "CHAIN"
    assert llm["kind"] == "llm" and chain["kind"] == "chain"


def test_the_local_store_keeps_links_and_kinds(receiver: LiveServer, tmp_path: Path) -> None:
    from llmops.store import open_store

    local = open_store(f"sqlite:///{tmp_path / 'local.db'}")
    sent = _export(receiver, local)
    with LiveServer(create_app(local)) as viewer:
        chain, llm = _received(viewer, sent["chain"]), _received(viewer, sent["llm"])
    assert chain["links"][0]["span_id"] == "0123456789abcdef"
    assert chain["links"][0]["trace_state"] == "vendor=v1"  # no OTLP encoder in between
    assert chain["otel_kind"] == "INTERNAL" and llm["otel_kind"] == "CLIENT"
    assert llm["scope"] == {"name": "llmops", "version": __version__}
    # the resource goes to the OTLP endpoint only: stored with every span it costs ~15%
    assert llm["resource"] is None
    assert _received(receiver, sent["llm"])["resource"]["service.name"] == "my-app"


def test_service_name_and_resource_from_the_config(
    receiver: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=search")
    sent = _export(
        receiver,
        service_name="shop",
        resource_attributes={"team": "checkout", "service.version": "1.2.0"},
    )
    resource = _received(receiver, sent["llm"])["resource"]
    assert resource["service.name"] == "shop"
    assert resource["service.version"] == "1.2.0"
    assert resource["team"] == "search"  # the environment wins, as in OpenTelemetry SDKs


def test_without_a_service_name_the_otel_default(
    receiver: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES")
    sent = _export(receiver)
    resource = _received(receiver, sent["chain"])["resource"]
    assert resource["service.name"].startswith("unknown_service")


def test_replayed_rows_keep_trace_state_and_get_their_kind(tmp_path: Path) -> None:
    """Rows spilled before spans carried an OTel kind, a scope or a resource (an older
    llmops) are exported with the kind of their llmops kind; a link's trace state and the
    span's own reach the exporter."""
    import orjson
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    from llmops.tracing import SpanPipeline
    from llmops.tracing._sinks import OTelExporterSink

    row = {
        "trace_id": "0123456789abcdef0123456789abcdef",
        "span_id": "00000000000000aa",
        "parent_span_id": None,
        "name": "embed",
        "kind": "embedding",
        "start_ns": 1,
        "end_ns": 2,
        "status_code": "OK",
        "attributes": {"gen_ai.request.model": "minilm"},
        "trace_state": "vendor=v2",
        "links": [
            {"trace_id": "f" * 32, "span_id": "e" * 16, "trace_state": "a=b", "attributes": {}}
        ],
    }
    spill = tmp_path / "spill"
    spill.mkdir()
    (spill / "spans-1.jsonl").write_bytes(orjson.dumps(row) + b"\n")
    exporter = InMemorySpanExporter()
    pipeline = SpanPipeline([OTelExporterSink(exporter)], spill_dir=spill)
    assert pipeline.flush()
    pipeline.shutdown()
    [exported] = exporter.get_finished_spans()
    assert exported.kind is SpanKind.CLIENT
    assert exported.context is not None
    assert exported.context.trace_state.to_header() == "vendor=v2"
    assert exported.links[0].context.trace_state.to_header() == "a=b"
    assert exported.instrumentation_scope is None
    assert exported.attributes is not None
    assert exported.attributes["llmops.span.kind"] == "embedding"
