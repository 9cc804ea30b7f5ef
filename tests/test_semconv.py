"""Attribute mapping from every convention (OpenInference, OTel GenAI old and new, OpenLLMetry,
Langfuse) to the GenAI names, through the real receiver, store and API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _live_server import LiveServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmops.server import create_app
from llmops.store import Store
from llmops.tracing._cost import COST, Price, Pricing
from llmops.tracing._semconv import (
    CONVENTIONS,
    KIND,
    normalize_role,
    refine_kind,
    to_genai,
    to_openinference,
)

OPENINFERENCE_LLM: dict[str, Any] = {
    "openinference.span.kind": "LLM",
    "llm.system": "openai",
    "llm.model_name": "gpt-4o-mini-2024-07-18",
    "llm.invocation_parameters": json.dumps(
        {"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 64, "top_p": 0.9, "seed": 1}
    ),
    "llm.token_count.prompt": 23,
    "llm.token_count.completion": "7",
    "llm.token_count.total": 30,
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "Be brief.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": "Capital of France?",
    "llm.input_messages.2.message.role": "assistant",
    "llm.input_messages.2.message.content": "Paris.",
    "llm.input_messages.3.message.role": "user",
    "llm.input_messages.3.message.content": "And of Italy?",
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "Rome.",
    "llm.finish_reason": "stop",
    "input.value": '{"model": "gpt-4o-mini", "messages": []}',
    "output.value": '{"choices": []}',
    "session.id": "s1",
    "user.id": "u1",
}


def _json(value: Any) -> Any:
    assert isinstance(value, str)
    return json.loads(value)


def test_openinference_llm_span_to_genai() -> None:
    out = to_genai(OPENINFERENCE_LLM)
    assert {k: out[k] for k in OPENINFERENCE_LLM} == OPENINFERENCE_LLM  # originals kept
    assert out["gen_ai.request.model"] == "gpt-4o-mini"  # the model asked for
    assert out["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert out["gen_ai.provider.name"] == "openai"
    assert out["gen_ai.operation.name"] == "chat"
    assert (out["gen_ai.usage.input_tokens"], out["gen_ai.usage.output_tokens"]) == (23, 7)
    assert out["gen_ai.request.temperature"] == 0.2
    assert out["gen_ai.request.max_tokens"] == 64
    assert out["gen_ai.request.top_p"] == 0.9
    assert out["gen_ai.request.seed"] == 1
    assert _json(out["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Capital of France?"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "Paris."}]},
        {"role": "user", "parts": [{"type": "text", "content": "And of Italy?"}]},
    ]
    assert _json(out["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Rome."}],
            "finish_reason": "stop",
        }
    ]
    assert out["llmops.input"] == "And of Italy?"  # the last user message
    assert out["llmops.output"] == "Rome."
    assert (out["session.id"], out["user.id"]) == ("s1", "u1")


def test_model_name_alone_is_the_request_and_response_model() -> None:
    out = to_genai({"llm.model_name": "m", "llm.provider": "mistralai", "llm.system": "openai"})
    assert (out["gen_ai.request.model"], out["gen_ai.response.model"]) == ("m", "m")
    assert out["gen_ai.provider.name"] == "mistral_ai"  # llm.provider wins, GenAI spelling
    embedding = to_genai({"embedding.model_name": "e", "openinference.span.kind": "EMBEDDING"})
    assert embedding["gen_ai.request.model"] == "e"
    assert embedding["gen_ai.operation.name"] == "embeddings"
    assert "gen_ai.response.model" not in embedding


def test_existing_genai_names_are_never_overwritten() -> None:
    attributes = {
        "llm.model_name": "oi-model",
        "gen_ai.request.model": "genai-model",
        "llm.token_count.prompt": 5,
        "gen_ai.usage.input_tokens": 9,
        "gen_ai.input.messages": '[{"role": "user", "content": "hi"}]',
        "llm.input_messages.0.message.content": "other",
        "llmops.input": "set by the app",
    }
    snapshot = dict(attributes)
    out = to_genai(attributes)
    assert out["gen_ai.request.model"] == "genai-model"
    assert out["gen_ai.usage.input_tokens"] == 9
    assert out["gen_ai.input.messages"] == attributes["gen_ai.input.messages"]
    assert out["llmops.input"] == "set by the app"
    assert attributes == snapshot  # the argument is not changed
    assert out["gen_ai.response.model"] == "oi-model"


def test_tool_calls_and_tool_results() -> None:
    out = to_genai(
        {
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "Weather?",
            "llm.input_messages.1.message.role": "assistant",
            "llm.input_messages.1.message.tool_calls.0.tool_call.id": "c1",
            "llm.input_messages.1.message.tool_calls.0.tool_call.function.name": "weather",
            "llm.input_messages.1.message.tool_calls.0.tool_call.function.arguments": '{"a": 1}',
            "llm.input_messages.2.message.role": "tool",
            "llm.input_messages.2.message.tool_call_id": "c1",
            "llm.input_messages.2.message.content": "sunny",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.contents.0.message_content.type": "text",
            "llm.output_messages.0.message.contents.0.message_content.text": "It is sunny.",
            "llm.tools.0.tool.json_schema": json.dumps(
                {"type": "function", "function": {"name": "weather", "parameters": {}}}
            ),
        }
    )
    assert _json(out["gen_ai.input.messages"])[1:] == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"a": 1}}],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "c1", "response": "sunny"}],
        },
    ]
    assert out["llmops.input"] == "Weather?"
    assert out["llmops.output"] == "It is sunny."
    assert _json(out["gen_ai.tool.definitions"]) == [
        {"type": "function", "name": "weather", "parameters": {}}
    ]


def test_retrieval_documents() -> None:
    out = to_genai(
        {
            "openinference.span.kind": "RETRIEVER",
            "input.value": "capital of France",
            "retrieval.documents.0.document.id": "d1",
            "retrieval.documents.0.document.content": "Paris is the capital.",
            "retrieval.documents.0.document.score": 0.9,
            "retrieval.documents.1.document.content": "France is in Europe.",
            "retrieval.documents.1.document.metadata": '{"source": "wiki"}',
            "retrieval.documents.10.document.id": "d11",
        }
    )
    assert _json(out["gen_ai.retrieval.documents"]) == [
        {"id": "d1", "content": "Paris is the capital.", "score": 0.9},
        {"content": "France is in Europe.", "metadata": {"source": "wiki"}},
        {"id": "d11"},
    ]
    assert out["gen_ai.operation.name"] == "retrieval"
    assert out["llmops.input"] == "capital of France"  # no messages: the input value


def test_chain_span_uses_input_and_output_values() -> None:
    out = to_genai({"openinference.span.kind": "CHAIN", "input.value": "q", "output.value": "a"})
    assert (out["llmops.input"], out["llmops.output"]) == ("q", "a")
    assert "gen_ai.operation.name" not in out


def test_deprecated_and_vendor_genai_names() -> None:
    out = to_genai(
        {
            "gen_ai.system": "az.ai.openai",
            "gen_ai.usage.prompt_tokens": 11,
            "gen_ai.usage.completion_tokens": 4,
            "gen_ai.usage.reasoning_tokens": 2,
            "gen_ai.openai.request.seed": 3,
            "gen_ai.conversation.id": "conv-1",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Hello",
            "gen_ai.completion.0.content": "Hi!",
            "gen_ai.prompt.name": "greeting",
        }
    )
    assert out["gen_ai.provider.name"] == "azure.ai.openai"
    assert (out["gen_ai.usage.input_tokens"], out["gen_ai.usage.output_tokens"]) == (11, 4)
    assert out["gen_ai.usage.reasoning.output_tokens"] == 2
    assert out["gen_ai.request.seed"] == 3
    assert out["session.id"] == "conv-1"
    assert _json(out["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hello"}]}
    ]
    assert (out["llmops.input"], out["llmops.output"]) == ("Hello", "Hi!")


def test_genai_messages_in_both_shapes_give_short_texts() -> None:
    parts = to_genai(
        {
            "gen_ai.input.messages": json.dumps(
                [
                    {"role": "user", "parts": [{"type": "text", "content": "first"}]},
                    {"role": "user", "parts": [{"type": "text", "content": "last"}]},
                ]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": "out"}]}]
            ),
        }
    )
    assert (parts["llmops.input"], parts["llmops.output"]) == ("last", "out")
    openai_style = to_genai(
        {
            "gen_ai.input.messages": '[{"role": "system", "content": "s"}, {"role": "user", '
            '"content": "q"}]',
            "gen_ai.output.messages": '[{"role": "assistant", "content": "a"}]',
        }
    )
    assert (openai_style["llmops.input"], openai_style["llmops.output"]) == ("q", "a")


@pytest.mark.parametrize(
    "attributes",
    [
        {"llm.invocation_parameters": "{not json"},
        {"llm.invocation_parameters": '{"temperature": "hot", "stop": 5}'},
        {"gen_ai.input.messages": "not json", "gen_ai.output.messages": "[1, null]"},
        {"llm.token_count.prompt": "many", "llm.input_messages.x.message.content": "?"},
        {"retrieval.documents.0": "no field", "llm.model_name": 5},
    ],
)
def test_malformed_values_are_skipped(attributes: dict[str, Any]) -> None:
    out = to_genai(attributes)
    assert {k: out[k] for k in attributes} == attributes
    assert "gen_ai.request.temperature" not in out
    assert "gen_ai.usage.input_tokens" not in out
    assert "gen_ai.request.model" not in out
    to_openinference(attributes)


GENAI_LLM: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "gcp.vertex_ai",
    "gen_ai.request.model": "gemini-pro",
    "gen_ai.response.model": "gemini-pro-002",
    "gen_ai.request.temperature": 0.1,
    "gen_ai.request.max_tokens": 100,
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 3,
    "gen_ai.response.finish_reasons": ["tool_calls"],
    "gen_ai.system_instructions": '[{"type": "text", "content": "Be brief."}]',
    "gen_ai.input.messages": json.dumps(
        [{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]
    ),
    "gen_ai.output.messages": json.dumps(
        [
            {
                "role": "assistant",
                "parts": [
                    {"type": "tool_call", "id": "c1", "name": "weather", "arguments": {"q": 1}}
                ],
                "finish_reason": "tool_call",
            }
        ]
    ),
    "gen_ai.conversation.id": "conv-9",
}


def test_genai_llm_span_to_openinference() -> None:
    out = to_openinference(GENAI_LLM, kind="llm")
    assert {k: out[k] for k in GENAI_LLM} == GENAI_LLM
    assert out["openinference.span.kind"] == "LLM"
    assert out["llm.model_name"] == "gemini-pro-002"
    assert (out["llm.provider"], out["llm.system"]) == ("google", "vertexai")
    assert out["llm.token_count.prompt"] == 12
    assert out["llm.token_count.completion"] == 3
    assert out["llm.token_count.total"] == 15
    assert _json(out["llm.invocation_parameters"]) == {"temperature": 0.1, "max_tokens": 100}
    assert out["llm.input_messages.0.message.role"] == "system"
    assert out["llm.input_messages.0.message.content"] == "Be brief."
    assert out["llm.input_messages.1.message.role"] == "user"
    assert out["llm.input_messages.1.message.content"] == "Weather in Paris?"
    prefix = "llm.output_messages.0.message.tool_calls.0.tool_call."
    assert out[prefix + "id"] == "c1"
    assert out[prefix + "function.name"] == "weather"
    assert _json(out[prefix + "function.arguments"]) == {"q": 1}
    assert out["llm.finish_reason"] == "tool_calls"
    assert out["input.value"] == "Weather in Paris?"
    assert out["input.mime_type"] == "text/plain"
    assert "output.value" not in out  # a tool call has no text
    assert out["session.id"] == "conv-9"


def test_llmops_span_to_openinference() -> None:
    """The attributes llmops itself writes (OpenAI-style messages, llmops.* texts)."""
    out = to_openinference(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.input.messages": '[{"role": "user", "content": "hi"}]',
            "gen_ai.output.messages": '[{"role": "assistant", "content": "hello"}]',
            "gen_ai.usage.prompt_tokens": 4,
            "gen_ai.usage.completion_tokens": 2,
            "llmops.input": "hi",
            "llmops.output": "hello",
        }
    )
    assert out["openinference.span.kind"] == "LLM"
    assert out["llm.model_name"] == "gpt-4o-mini"
    assert (out["llm.provider"], out["llm.system"]) == ("openai", "openai")
    assert (out["llm.token_count.prompt"], out["llm.token_count.completion"]) == (4, 2)
    assert out["llm.input_messages.0.message.content"] == "hi"
    assert out["llm.output_messages.0.message.role"] == "assistant"
    assert out["llm.output_messages.0.message.content"] == "hello"
    assert (out["input.value"], out["output.value"]) == ("hi", "hello")


@pytest.mark.parametrize(
    ("attributes", "kind", "expected"),
    [
        ({"gen_ai.operation.name": "embeddings"}, None, "EMBEDDING"),
        ({"gen_ai.operation.name": "execute_tool"}, None, "TOOL"),
        ({"gen_ai.operation.name": "invoke_agent"}, None, "AGENT"),
        ({"gen_ai.operation.name": "retrieval"}, None, "RETRIEVER"),
        ({"gen_ai.operation.name": "chat"}, "evaluator", "EVALUATOR"),
        ({}, "chain", "CHAIN"),
        ({}, "server", None),
        ({"openinference.span.kind": "TOOL"}, "llm", "TOOL"),
    ],
)
def test_openinference_span_kind(
    attributes: dict[str, Any], kind: str | None, expected: str | None
) -> None:
    assert to_openinference(attributes, kind).get("openinference.span.kind") == expected


def test_embedding_and_retrieval_to_openinference() -> None:
    embedding = to_openinference(
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.usage.input_tokens": 8,
            "gen_ai.input.messages": '[{"role": "user", "parts": [{"type": "text", '
            '"content": "chunk"}]}]',
        }
    )
    assert embedding["embedding.model_name"] == "text-embedding-3-small"
    assert "llm.model_name" not in embedding
    assert embedding["embedding.embeddings.0.embedding.text"] == "chunk"
    assert not any(key.startswith("llm.input_messages") for key in embedding)
    retrieval = to_openinference(
        {
            "gen_ai.operation.name": "retrieval",
            "gen_ai.retrieval.query.text": "capital",
            "gen_ai.request.top_k": 2,
            "gen_ai.retrieval.documents": '[{"id": "d1", "score": 0.9, "meta": 1}, {"id": "d2", '
            '"score": 0.5, "metadata": {"a": 1}}]',
        }
    )
    assert retrieval["retrieval.documents.0.document.id"] == "d1"
    assert retrieval["retrieval.documents.0.document.score"] == 0.9
    assert _json(retrieval["retrieval.documents.1.document.metadata"]) == {"a": 1}
    assert retrieval["input.value"] == "capital"
    assert "llm.invocation_parameters" not in retrieval


def test_round_trip_keeps_messages_tokens_and_model() -> None:
    back = to_genai(
        {k: v for k, v in to_openinference(GENAI_LLM).items() if not k.startswith("gen_ai.")}
    )
    assert back["gen_ai.response.model"] == "gemini-pro-002"
    assert back["gen_ai.provider.name"] == "gcp.gen_ai"  # OpenInference only says "google"
    assert (back["gen_ai.usage.input_tokens"], back["gen_ai.usage.output_tokens"]) == (12, 3)
    assert _json(back["gen_ai.input.messages"])[1] == _json(GENAI_LLM["gen_ai.input.messages"])[0]
    [output] = _json(back["gen_ai.output.messages"])
    assert output["parts"] == _json(GENAI_LLM["gen_ai.output.messages"])[0]["parts"]
    assert back["session.id"] == "conv-9"


# --- every convention through the real receiver, store and API -------------------------------

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "otlp-traces" / "captured"
CAPTURED = sorted(DATA.glob("*.otlp.pb")) if DATA.is_dir() else []
GENAI_ROLES = {"system", "user", "assistant", "tool"}


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": value}


def _otlp(*spans: tuple[str, str | None, dict[str, Any]], trace: str = "ab" * 16) -> bytes:
    """An OTLP/JSON request of ``(span id, parent id, attributes)`` spans of one trace,
    as an OTel SDK exports them (span kind INTERNAL)."""
    items = [
        {
            "traceId": trace,
            "spanId": span_id,
            **({"parentSpanId": parent} if parent else {}),
            "name": f"span-{span_id[-2:]}",
            "kind": 1,
            "startTimeUnixNano": str(1_765_000_000_000_000_000 + i * 1000),
            "endTimeUnixNano": str(1_765_000_000_000_000_000 + i * 1000 + 500),
            "attributes": [{"key": k, "value": _value(v)} for k, v in attributes.items()],
        }
        for i, (span_id, parent, attributes) in enumerate(spans)
    ]
    request = {"resourceSpans": [{"scopeSpans": [{"spans": items}]}]}
    return json.dumps(request).encode()


class _Api:
    """The server's REST API, read as the web UI reads it."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(self, body: bytes, content_type: str = "application/json") -> None:
        response = self.client.post(
            "/v1/traces", content=body, headers={"Content-Type": content_type}
        )
        assert response.status_code == 200, response.text

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def traces(self, **params: Any) -> list[dict[str, Any]]:
        return list(self.get("/api/v1/traces", limit=100, **params)["items"])

    def spans(self, trace_id: str) -> list[dict[str, Any]]:
        """Every span of the trace in full, walking the tree from its roots."""
        found, parents = [], ["ROOT"]
        while parents:
            base = f"/api/v1/traces/{trace_id}/spans"
            for item in self.get(base, parent=parents.pop(), limit=200)["items"]:
                found.append(self.get(f"{base}/{item['span_id']}"))
                parents.append(item["span_id"])
        return found


@pytest.fixture
def api(store: Store) -> Iterator[_Api]:
    app = create_app(store, pricing=Pricing({"my-local-model": Price(1e-6, 2e-6)}))
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as client:
        yield _Api(client)


def _all_spans(api: _Api) -> list[dict[str, Any]]:
    return [s for t in api.traces() for s in api.spans(t["trace_id"])]


def _roles(span: dict[str, Any]) -> set[str]:
    messages = [*(span["input"] or []), *(span["output"] or [])]
    return {m["role"] for m in messages if isinstance(m, dict)}


@pytest.mark.skipif(not CAPTURED, reason=f"no captured OTLP payloads at {DATA}")
@pytest.mark.parametrize(
    "name",
    [
        "openinference-openai",
        "otel-genai-openai-v2-default",
        "otel-genai-openai-v2-latest",
        "traceloop-openai",
    ],
)
def test_captured_openai_payloads_read_back_the_same(api: _Api, name: str) -> None:
    """Four instrumentations of the same OpenAI calls read back with the same model, provider,
    tokens, kind and cost (priced from litellm's bundled map), whatever their convention."""
    api.post((DATA / f"{name}.otlp.pb").read_bytes(), "application/x-protobuf")
    spans = _all_spans(api)
    first = next(s for s in spans if s["input_tokens"] == 23)
    assert first["kind"] == "llm"
    assert first["model"] == "gpt-4o-mini"
    assert first["attributes"]["gen_ai.provider.name"] == "openai"
    assert first["output_tokens"] == 7
    assert first["cost_usd"] == pytest.approx(23 * 1.5e-7 + 7 * 6e-7)  # gpt-4o-mini's price
    if name != "otel-genai-openai-v2-default":  # that one records no content
        assert _roles(first) == {"system", "user", "assistant"}
        assert first["output"][-1]["content"] == "Paris is the capital of France."
    embedding = next(s for s in spans if s["kind"] == "embedding")
    assert (embedding["model"], embedding["input_tokens"]) == ("text-embedding-3-small", 8)
    assert embedding["cost_usd"] == pytest.approx(8 * 2e-8)
    failed = next(s for s in spans if s["model"] == "error-model")
    assert failed["cost_usd"] is None  # no tokens, no price: no cost
    listed = {t["trace_id"]: t for t in api.traces()}
    assert sum(t["cost_usd"] or 0 for t in listed.values()) == pytest.approx(
        sum(s["cost_usd"] or 0 for s in spans)
    )


@pytest.mark.skipif(not CAPTURED, reason=f"no captured OTLP payloads at {DATA}")
def test_captured_langchain_payload(api: _Api) -> None:
    api.post((DATA / "openinference-langchain.otlp.pb").read_bytes(), "application/x-protobuf")
    spans = _all_spans(api)
    assert {s["kind"] for s in spans} == {"chain", "retriever", "prompt", "llm"}
    [llm] = [s for s in spans if s["kind"] == "llm"]
    assert llm["attributes"]["gen_ai.provider.name"] == "fakelistchatmodel"
    assert _roles(llm) == {"system", "user", "assistant"}
    assert llm["output"] == [{"role": "assistant", "content": "Paris is the capital of France."}]
    assert llm["cost_usd"] is None  # its fake model reports no usage
    [retriever] = [s for s in spans if s["kind"] == "retriever"]
    assert len(retriever["documents"]) == 2


def test_streamed_langchain_roles_are_normalized(api: _Api) -> None:
    """OpenInference's LangChain instrumentation names streamed messages after their class."""
    api.post(
        _otlp(
            (
                "00000000000000a1",
                None,
                {
                    "openinference.span.kind": "LLM",
                    "llm.model_name": "gpt-4o-mini",
                    "llm.input_messages.0.message.role": "HumanMessageChunk",
                    "llm.input_messages.0.message.content": "Hi",
                    "llm.output_messages.0.message.role": "AIMESSAGECHUNK",
                    "llm.output_messages.0.message.content": "Hello!",
                    "llm.token_count.prompt": 2,
                    "llm.token_count.completion": 3,
                },
            ),
            (
                "00000000000000a2",
                "00000000000000a1",
                {  # stored by an older llmops: shown normalized too
                    "gen_ai.input.messages": '[{"role": "human", "content": "Hi"}]',
                    "gen_ai.output.messages": '[{"role": "AIMessageChunk", "content": "Yo"}]',
                },
            ),
        )
    )
    spans = _all_spans(api)
    assert [_roles(s) for s in spans] == [{"user", "assistant"}, {"user", "assistant"}]
    assert spans[0]["cost_usd"] == pytest.approx(2 * 1.5e-7 + 3 * 6e-7)


LANGFUSE_ROOT = {
    "langfuse.observation.type": "span",
    "langfuse.trace.name": "support-chat",
    "langfuse.trace.input": '{"question": "Capital of France?"}',
    "langfuse.trace.output": '"Paris."',
    "langfuse.trace.tags": ["prod", "beta"],
    "langfuse.trace.metadata.team": "geo",
    "langfuse.session.id": "lf-session",
    "langfuse.user.id": "lf-user",
    "langfuse.version": "1.2.0",
    "langfuse.release": "r42",
    "langfuse.environment": "production",
}
LANGFUSE_GENERATION = {
    "langfuse.observation.type": "generation",
    "langfuse.observation.model.name": "gpt-4o-mini",
    "langfuse.observation.model.parameters": '{"temperature": 0.3, "max_tokens": 50}',
    "langfuse.observation.input": json.dumps(
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Capital of France?"},
        ]
    ),
    "langfuse.observation.output": '{"role": "assistant", "content": "Paris."}',
    "langfuse.observation.usage_details": '{"input": 120, "output": 8, "total": 128}',
    "langfuse.observation.prompt.name": "geo-prompt",
    "langfuse.observation.prompt.version": 3,
    "langfuse.observation.level": "DEFAULT",
    "langfuse.observation.completion_start_time": '"2026-12-06T01:00:00Z"',
}
LANGFUSE_PRICED = {  # a generation whose SDK computed the cost
    "langfuse.observation.type": "generation",
    "langfuse.observation.model.name": "my-local-model",
    "langfuse.observation.usage_details": '{"input": 10, "output": 10}',
    "langfuse.observation.cost_details": '{"input": 0.25, "output": 0.25, "total": 0.5}',
}
LANGFUSE_LOCAL = {
    "langfuse.observation.type": "generation",
    "langfuse.observation.model.name": "my-local-model",
    "langfuse.observation.usage_details": '{"input": 1000, "output": 500}',
    "langfuse.observation.input": '"plain text prompt"',
    "langfuse.observation.output": '"plain text answer"',
}


def test_langfuse_payload(api: _Api) -> None:
    api.post(
        _otlp(
            ("00000000000000b1", None, LANGFUSE_ROOT),
            ("00000000000000b2", "00000000000000b1", LANGFUSE_GENERATION),
            ("00000000000000b3", "00000000000000b1", LANGFUSE_PRICED),
            ("00000000000000b4", "00000000000000b1", LANGFUSE_LOCAL),
            ("00000000000000b5", "00000000000000b1", {"langfuse.observation.type": "tool"}),
        )
    )
    [trace] = api.traces()
    assert trace["tags"] == ["prod", "beta"]
    assert (trace["session_id"], trace["user_id"]) == ("lf-session", "lf-user")
    expected = {
        "00000000000000b2": 120 * 1.5e-7 + 8 * 6e-7,  # litellm's price of gpt-4o-mini
        "00000000000000b3": 0.5,  # carried
        "00000000000000b4": 1000 * 1e-6 + 500 * 2e-6,  # the configured local price
    }
    assert trace["cost_usd"] == pytest.approx(sum(expected.values()))
    assert (trace["input_tokens"], trace["output_tokens"]) == (1130, 518)
    assert [t["trace_id"] for t in api.traces(tag="beta")] == [trace["trace_id"]]
    assert api.traces(tag="team") == []
    assert len(api.traces(session="lf-session", user="lf-user")) == 1
    spans = {s["span_id"]: s for s in api.spans(trace["trace_id"])}
    assert {k: s["kind"] for k, s in spans.items()} == {
        "00000000000000b1": "chain",
        "00000000000000b2": "llm",
        "00000000000000b3": "llm",
        "00000000000000b4": "llm",
        "00000000000000b5": "tool",
    }
    assert {k: spans[k]["cost_usd"] for k in expected} == pytest.approx(expected)
    generation = spans["00000000000000b2"]
    assert generation["model"] == "gpt-4o-mini"
    assert generation["attributes"]["gen_ai.request.temperature"] == 0.3
    assert generation["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert generation["output"] == [{"role": "assistant", "content": "Paris."}]
    assert generation["prompt"] == {"name": "geo-prompt", "version": 3}
    local = spans["00000000000000b4"]
    assert (local["input"], local["output"]) == ('"plain text prompt"', '"plain text answer"')
    root = spans["00000000000000b1"]
    assert root["input"] == '{"question": "Capital of France?"}'
    # the session and user are named on the root span, tokens and cost on its children
    [session] = api.get("/api/v1/sessions")["items"]
    [user] = api.get("/api/v1/users")["items"]
    assert (session["session_id"], session["user_id"], user["user_id"]) == (
        "lf-session",
        "lf-user",
        "lf-user",
    )
    assert (user["session_count"], user["trace_count"]) == (1, 1)
    for total in (session, user):
        assert (total["input_tokens"], total["output_tokens"]) == (1130, 518)
        assert total["cost_usd"] == pytest.approx(trace["cost_usd"])


def test_langfuse_v3_session_and_user_names() -> None:
    """The Langfuse v3 SDK writes ``session.id``/``user.id`` itself: kept as they are."""
    out = to_genai({"session.id": "s", "user.id": "u", "langfuse.session.id": "other"})
    assert (out["session.id"], out["user.id"]) == ("s", "u")


OPENLLMETRY_WORKFLOW = {
    "traceloop.span.kind": "workflow",
    "traceloop.entity.name": "qa",
    "traceloop.entity.input": '{"args": ["Capital of France?"], "kwargs": {}}',
    "traceloop.entity.output": '"Paris."',
    "traceloop.workflow.name": "qa",
    "traceloop.association.properties.session_id": "tl-session",
    "traceloop.association.properties.user_id": "tl-user",
}
OPENLLMETRY_CHAT = {  # opentelemetry-instrumentation-openai before the GenAI names (0.3x)
    "llm.request.type": "chat",
    "gen_ai.system": "OpenAI",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "llm.is_streaming": False,
    "gen_ai.prompt.0.role": "system",
    "gen_ai.prompt.0.content": "Be brief.",
    "gen_ai.prompt.1.role": "user",
    "gen_ai.prompt.1.content": "Capital of France?",
    "gen_ai.completion.0.role": "assistant",
    "gen_ai.completion.0.content": "Paris.",
    "gen_ai.completion.0.finish_reason": "stop",
    "llm.usage.prompt_tokens": 20,
    "llm.usage.completion_tokens": 3,
    "llm.usage.total_tokens": 23,
    "gen_ai.usage.cache_read_input_tokens": 0,
}
OPENLLMETRY_EMBEDDING = {
    "llm.request.type": "embedding",
    "gen_ai.system": "openai",
    "llm.request.model": "text-embedding-3-small",
    "gen_ai.usage.prompt_tokens": 8,
    "llm.usage.total_tokens": 8,
}


def test_old_openllmetry_payload(api: _Api) -> None:
    api.post(
        _otlp(
            ("00000000000000c1", None, OPENLLMETRY_WORKFLOW),
            ("00000000000000c2", "00000000000000c1", OPENLLMETRY_CHAT),
            ("00000000000000c3", "00000000000000c1", OPENLLMETRY_EMBEDDING),
            ("00000000000000c4", "00000000000000c1", {"traceloop.span.kind": "tool"}),
        )
    )
    [trace] = api.traces(session="tl-session")
    assert trace["user_id"] == "tl-user"
    spans = {s["span_id"]: s for s in api.spans(trace["trace_id"])}
    assert [spans[f"00000000000000c{i}"]["kind"] for i in range(1, 5)] == [
        "chain",
        "llm",
        "embedding",
        "tool",
    ]
    workflow, chat, embedding = (spans[f"00000000000000c{i}"] for i in range(1, 4))
    assert workflow["input"] == OPENLLMETRY_WORKFLOW["traceloop.entity.input"]
    assert workflow["output"] == '"Paris."'
    assert chat["model"] == "gpt-4o-mini"
    assert chat["attributes"]["gen_ai.provider.name"] == "openai"  # from "OpenAI"
    assert (chat["input_tokens"], chat["output_tokens"]) == (20, 3)
    assert chat["input"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert chat["output"] == [{"role": "assistant", "content": "Paris."}]
    assert chat["cost_usd"] == pytest.approx(20 * 1.5e-7 + 3 * 6e-7)
    assert (embedding["model"], embedding["input_tokens"]) == ("text-embedding-3-small", 8)
    assert trace["cost_usd"] == pytest.approx(chat["cost_usd"] + embedding["cost_usd"])


def test_openinference_tags_fill_the_tags_column(api: _Api) -> None:
    api.post(
        _otlp(
            (
                "00000000000000d1",
                None,
                {"openinference.span.kind": "CHAIN", "tag.tags": ["nightly", "rag"]},
            )
        )
    )
    [trace] = api.traces()
    assert trace["tags"] == ["nightly", "rag"]
    assert len(api.traces(tag="rag")) == 1


# --- the tables themselves ------------------------------------------------------------------


def test_explicit_genai_names_win_over_every_convention() -> None:
    out = to_genai(
        {
            "gen_ai.request.model": "explicit",
            "gen_ai.usage.input_tokens": 1,
            "gen_ai.operation.name": "chat",
            "llmops.tags": ["mine"],
            "llmops.cost_usd": 0.01,
            "llm.model_name": "openinference",
            "langfuse.observation.model.name": "langfuse",
            "llm.usage.prompt_tokens": 2,
            "langfuse.observation.usage_details": '{"input": 3}',
            "llm.request.type": "embedding",
            "langfuse.trace.tags": ["theirs"],
            "llm.cost.total": 0.5,
        }
    )
    assert out["gen_ai.request.model"] == "explicit"
    assert out["gen_ai.usage.input_tokens"] == 1
    assert out["gen_ai.operation.name"] == "chat"
    assert (out["llmops.tags"], out["llmops.cost_usd"]) == (["mine"], 0.01)
    # between conventions, the first table of CONVENTIONS wins
    both = to_genai({"llm.model_name": "oi", "langfuse.observation.model.name": "lf"})
    assert both["gen_ai.request.model"] == "oi"


@pytest.mark.parametrize(
    ("kind", "attributes", "expected"),
    [
        ("internal", {"langfuse.observation.type": "generation"}, "llm"),
        ("internal", {"langfuse.observation.type": "EVENT"}, "event"),
        ("client", {"llm.request.type": "completion"}, "llm"),
        ("internal", {"traceloop.span.kind": "task"}, "chain"),
        ("internal", {"traceloop.span.kind": "unknown"}, "internal"),
        ("chain", {"langfuse.observation.type": "generation"}, "chain"),  # OpenInference's
        ("server", {}, "server"),
    ],
)
def test_refine_kind(kind: str, attributes: dict[str, Any], expected: str) -> None:
    mapped = to_genai(attributes)
    assert refine_kind(kind, mapped) == expected
    assert KIND not in mapped


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("AIMessageChunk", "assistant"),
        ("AIMESSAGECHUNK", "assistant"),
        ("ai", "assistant"),
        ("AIMessage", "assistant"),
        ("model", "assistant"),
        ("human", "user"),
        ("HumanMessageChunk", "user"),
        ("SystemMessage", "system"),
        ("ToolMessageChunk", "tool"),
        ("function", "tool"),
        ("developer", "developer"),
        ("", "user"),
        (None, "user"),
        ("message", "message"),
    ],
)
def test_normalize_role(role: Any, expected: str) -> None:
    assert normalize_role(role) == expected


def test_tables_map_only_to_genai_and_llmops_names() -> None:
    """A table never writes another convention's names: targets are what llmops reads."""
    for convention, rules in CONVENTIONS:
        for source, target, _ in rules:
            assert target != source, convention
            assert target.startswith(("gen_ai.", "llmops.")) or target in (
                "session.id",
                "user.id",
            ), (convention, target)


_SOURCES = sorted(
    {source for _, rules in CONVENTIONS for source, _, _ in rules}
    | {"llm.input_messages.0.message.role", "gen_ai.prompt.0.content", "gen_ai.input.messages"}
)
_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
_VALUES = (
    _JSON_VALUES
    | _JSON_VALUES.map(lambda v: json.dumps(v, default=str))
    | st.sampled_from(["chat", "generation", "AIMessageChunk", "[", "{}", "NaN", "-1", "1e999"])
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_SOURCES) | st.text(max_size=12), _VALUES, max_size=8))
def test_the_mapping_is_total(attributes: dict[str, Any]) -> None:
    """Any attributes map without an exception, keep their values and price without one."""
    out = to_genai(attributes)
    assert all(out[k] is v for k, v in attributes.items())
    assert isinstance(refine_kind("internal", dict(out)), str)
    Pricing().add_cost(out)
    cost = out.get(COST)
    assert cost is None or isinstance(cost, float | int)
    to_openinference(out)


def test_totals_per_trace_session_and_user(api: _Api) -> None:
    """Cost and tokens add up per trace, per session and per user, across pages."""
    priced = {"gen_ai.request.model": "my-local-model", "gen_ai.usage.input_tokens": 1000}
    for i, (session, user) in enumerate(
        [("s1", "ann"), ("s1", "ann"), ("s2", "ann"), ("s3", "bob")]
    ):
        root = {"session.id": session, "langfuse.user.id": user}
        api.post(
            _otlp(
                (f"{i:014x}e1", None, root),
                (f"{i:014x}e2", f"{i:014x}e1", {**priced, "gen_ai.usage.output_tokens": i}),
                trace=f"{i + 1:032x}",
            )
        )
    traces = {t["trace_id"][-1]: t for t in api.traces()}
    assert {k: t["cost_usd"] for k, t in traces.items()} == pytest.approx(
        {str(i + 1): 1000e-6 + i * 2e-6 for i in range(4)}
    )
    sessions = [api.get("/api/v1/sessions", limit=1)]
    while sessions[-1]["next_cursor"]:
        sessions.append(api.get("/api/v1/sessions", limit=1, cursor=sessions[-1]["next_cursor"]))
    by_session = {s["session_id"]: s for body in sessions for s in body["items"]}
    assert {k: (s["output_tokens"], s["cost_usd"]) for k, s in by_session.items()} == {
        "s1": (1, pytest.approx(2000e-6 + 2e-6)),
        "s2": (2, pytest.approx(1000e-6 + 4e-6)),
        "s3": (3, pytest.approx(1000e-6 + 6e-6)),
    }
    first = api.get("/api/v1/users", limit=1)
    second = api.get("/api/v1/users", limit=1, cursor=first["next_cursor"])
    assert second["next_cursor"] is None
    users = {u["user_id"]: u for u in [*first["items"], *second["items"]]}
    assert {
        k: (u["session_count"], u["trace_count"], u["input_tokens"]) for k, u in users.items()
    } == {
        "ann": (2, 3, 3000),
        "bob": (1, 1, 1000),
    }
    assert users["ann"]["cost_usd"] == pytest.approx(3000e-6 + 6e-6)
