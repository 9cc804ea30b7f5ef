"""Attribute mapping between OpenInference and the OTel GenAI semantic conventions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmops.tracing._semconv import to_genai, to_openinference

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
