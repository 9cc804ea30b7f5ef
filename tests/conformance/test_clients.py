"""Conformance: the real tracing clients, over a fake OpenAI server, into a real llmops server.

Each client script (clients/*.py, run in the conformance environment) makes its calls and
prints the trace ids it made; the tests read those traces back through the REST API and
assert what llmops shows: the tree, span kinds, model, tokens, messages and error status.
What llmops does not do yet, or is changing now (which spans get a cost, ...), is recorded in
the conformance report printed at the end of the session, not asserted; a feature that lands
turns its line there into an assertion here. A new client is a script in clients/ and a test here.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from _conformance_report import record
from _fake_openai import EMBEDDING_SIZE, USAGE, FakeOpenAI

from conformance._harness import ANSWER, LlmopsServer, SpanView, TraceView, run_client

pytestmark = [pytest.mark.conformance, pytest.mark.xdist_group("conformance")]

# what the client scripts send (clients/_common.py, which runs in the other environment)
MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
MISSING_MODEL = "missing-model"
SYSTEM = "You are a terse assistant."
QUESTION = "What is the capital of France?"
WEATHER = "What is the weather in Paris?"


def _traces(
    report: dict[str, Any], server: LlmopsServer, operations: list[str]
) -> dict[str, TraceView]:
    """The trace of each operation, which made exactly one."""
    assert list(report["traces"]) == operations
    views = {}
    for operation, trace_id in report["traces"].items():
        assert isinstance(trace_id, str), f"{operation} made {trace_id!r}, not one trace"
        views[operation] = TraceView.read(server, trace_id)
    return views


def _roles_and_texts(messages: Any) -> list[tuple[str, str | None]]:
    assert isinstance(messages, list), f"not messages: {messages!r}"
    return [(m["role"], m["content"]) for m in messages]


def _tool_calls(messages: Any) -> list[tuple[str, Any]]:
    """(name, arguments) of every tool call part of ``messages``."""
    return [
        (part["name"], part["arguments"])
        for message in messages
        for part in message.get("parts", [])
        if part.get("type") == "tool_call"
    ]


def _assert_usage(span: SpanView, item: dict[str, Any]) -> None:
    """Tokens on the span and, summed, on the trace's list item."""
    assert (span["input_tokens"], span["output_tokens"]) == (
        USAGE["prompt_tokens"],
        USAGE["completion_tokens"],
    )
    assert (item["input_tokens"], item["output_tokens"]) == (
        USAGE["prompt_tokens"],
        USAGE["completion_tokens"],
    )


@functools.cache
def _prices() -> dict[str, Any]:
    """litellm's bundled price map (read as a file: importing litellm takes seconds)."""
    spec = importlib.util.find_spec("litellm")
    assert spec is not None and spec.submodule_search_locations
    folder = Path(next(iter(spec.submodule_search_locations)))
    prices: dict[str, Any] = json.loads(
        (folder / "model_prices_and_context_window_backup.json").read_text()
    )
    return prices


def _cost(view: TraceView) -> float | None:
    """Cost on OTLP spans is being added: where a span has one, it must be its tokens at
    litellm's prices (a model without a price: the client's own cost) and the trace's total
    their sum; whether it has one is reported."""
    costs = []
    for span in view.spans:
        if span["cost_usd"] is None:
            continue
        price = _prices().get(span["model"])
        if price is None:  # no price known: a cost the client sent itself, kept
            assert span["cost_usd"] >= 0
        else:
            expected = (span["input_tokens"] or 0) * price["input_cost_per_token"] + (
                span["output_tokens"] or 0
            ) * price.get("output_cost_per_token", 0.0)
            assert span["cost_usd"] == pytest.approx(expected), span.name
        costs.append(span["cost_usd"])
    if costs:
        assert view.item["cost_usd"] == pytest.approx(sum(costs))
    cost: float | None = view.item.get("cost_usd")
    return cost


def _record_costs(client: str, views: dict[str, TraceView]) -> None:
    """One report line: each operation's trace cost (None: llmops gave it none)."""
    record(client, "cost", **{operation: _cost(view) for operation, view in views.items()})


# --- the instrumentors of the openai package: one span per call --------------------------

OPENAI_CLIENTS = {
    "openinference-openai": ("openinference_openai", {}),
    "openllmetry": ("openllmetry", {}),
    "openai-v2": ("openai_v2", {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"}),
    "openai-v2-latest": (
        "openai_v2",
        {
            "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "SPAN_ONLY",
        },
    ),
}
#: Every client's messages are shown: from the span, or (openai-v2 with its default
#: conventions) from the log records it sends to ``/v1/logs``, joined to the span.


@pytest.mark.parametrize("client", list(OPENAI_CLIENTS))
def test_openai_instrumentor(
    client: str, client_python: Path, fake_openai: FakeOpenAI, llmops_server: LlmopsServer
) -> None:
    script, env = OPENAI_CLIENTS[client]
    report = run_client(client_python, script, llmops_server, fake_openai.api_base, **env)
    assert report["errors"] == {"error": "NotFoundError"}
    traces = _traces(report, llmops_server, ["chat", "tool_call", "stream", "embeddings", "error"])
    for view in traces.values():
        assert view.trace["span_count"] == 1 == len(view.spans), view.shape()
        assert view.item["trace_id"] == view.trace["trace_id"]
    _record_costs(client, traces)

    for operation in ("chat", "tool_call", "stream"):
        view = traces[operation]
        span = view.root
        assert span.kind == "llm"
        assert span["model"] == view.item["model"] == MODEL
        assert span["status"] in ("OK", "UNSET")
        assert view.item["error_count"] == 0
        _assert_usage(span, view.item)
    embedding = traces["embeddings"].root
    assert embedding.kind == "embedding"
    assert embedding["model"] == EMBEDDING_MODEL
    assert embedding["input_tokens"] == 2 * EMBEDDING_SIZE
    failed = traces["error"]
    assert failed.root.kind == "llm"
    assert failed.root["model"] == MISSING_MODEL
    assert failed.root["status"] == failed.item["status"] == "ERROR"
    assert failed.item["error_count"] == 1

    for operation in ("chat", "stream", "error"):
        assert _roles_and_texts(traces[operation].root["input"]) == [
            ("system", SYSTEM),
            ("user", QUESTION),
        ]
    for operation in ("chat", "stream"):
        output = traces[operation].root["output"]
        assert _roles_and_texts(output) == [("assistant", ANSWER)]
    tool = traces["tool_call"].root
    assert _roles_and_texts(tool["input"]) == [("user", WEATHER)]
    assert [m["role"] for m in tool["output"]] == ["assistant"]
    assert _tool_calls(tool["output"]) == [("get_weather", {"city": "Paris"})]
    if client == "openai-v2":  # the messages came as log records, shown with the span
        events = [log["event_name"] for log in traces["chat"].root["logs"]]
        assert events == ["gen_ai.system.message", "gen_ai.user.message", "gen_ai.choice"]
    record(
        client,
        "messages",
        chat_input=traces["chat"].root["input"] is not None,
        embeddings_input=traces["embeddings"].root["input"],
        statuses={op: v.root["status"] for op, v in traces.items()},
    )


# --- OpenInference LangChain: chains, a retriever, a prompt, tools ------------------------


def test_openinference_langchain(
    client_python: Path, fake_openai: FakeOpenAI, llmops_server: LlmopsServer
) -> None:
    report = run_client(
        client_python, "openinference_langchain", llmops_server, fake_openai.api_base
    )
    assert report["errors"] == {"error": "OpenAIModelNotFoundError"}
    assert report["streamed"] == ANSWER
    traces = _traces(report, llmops_server, ["chain", "stream", "tool_call", "error"])

    for operation in ("chain", "stream"):
        view = traces[operation]
        # RunnableParallel runs its branches in threads: they may start in either order
        assert view.shape(ordered=False) == [
            "RunnableSequence [chain]",
            "  ChatOpenAI [llm]",
            "  ChatPromptTemplate [prompt]",
            "  RunnableParallel<context,question> [chain]",
            "    RunnablePassthrough [chain]",
            "    RunnableSequence [chain]",
            "      FactsRetriever [retriever]",
            "      RunnableLambda [chain]",
            "  StrOutputParser [chain]",
        ]
        top = [s.name for s in view.spans if s.depth == 1]
        assert top == [  # the sequence, in its order
            "RunnableParallel<context,question>",
            "ChatPromptTemplate",
            "ChatOpenAI",
            "StrOutputParser",
        ]
        assert view.trace["span_count"] == view.item["span_count"] == 9
        assert view.root["status"] == view.item["status"] == "OK"
        assert view.root["input"] == QUESTION
        assert view.root["output"] == ANSWER
        llm = view.named("ChatOpenAI")
        assert llm["model"] == view.item["model"] == MODEL
        _assert_usage(llm, view.item)
        assert _roles_and_texts(llm["input"]) == [
            ("system", f"{SYSTEM} Context: Paris is the capital of France. France is in Europe."),
            ("user", QUESTION),
        ]
        assert _roles_and_texts(llm["output"]) == [("assistant", ANSWER)]
        documents = view.named("FactsRetriever")["documents"]
        assert [(d["content"], d["metadata"]) for d in documents] == [
            ("Paris is the capital of France.", {"id": "d1"}),
            ("France is in Europe.", {"id": "d2"}),
        ]

    agent = traces["tool_call"]
    assert agent.shape() == [
        "weather_agent [agent]",
        "  ChatOpenAI [llm]",
        "  get_weather [tool]",
        "  ChatOpenAI [llm]",
    ]
    first, second = agent.of_kind("llm")
    assert _tool_calls(first["output"]) == [("get_weather", {"city": "Paris"})]
    assert [m["role"] for m in second["input"]] == ["user", "assistant", "tool"]
    assert _roles_and_texts(second["output"]) == [("assistant", ANSWER)]
    assert (agent.item["input_tokens"], agent.item["output_tokens"]) == (
        2 * USAGE["prompt_tokens"],
        2 * USAGE["completion_tokens"],
    )
    assert agent.named("get_weather")["attributes"].get("tool.name") == "get_weather"

    failed = traces["error"]
    assert failed.shape() == [
        "RunnableSequence [chain]",
        "  ChatPromptTemplate [prompt]",
        "  ChatOpenAI [llm]",
    ]
    llm = failed.named("ChatOpenAI")
    assert llm["status"] == failed.root["status"] == failed.item["status"] == "ERROR"
    assert llm["model"] == MISSING_MODEL
    assert failed.item["error_count"] == 2
    _record_costs("openinference-langchain", traces)
    record(
        "openinference-langchain",
        "messages",
        stream_parser_input=str(traces["stream"].named("StrOutputParser")["input"])[:60],
    )


# --- the OpenTelemetry SDK by hand: GenAI attributes, context across sync/async/threads ---


def test_otel_sdk_http_nesting(
    client_python: Path, fake_openai: FakeOpenAI, llmops_server: LlmopsServer
) -> None:
    report = run_client(client_python, "otel_sdk_http", llmops_server, fake_openai.api_base)
    assert report["answer"] == ANSWER
    assert report["errors"] == {"error": "NotFoundError"}
    traces = _traces(report, llmops_server, ["pipeline", "embeddings", "error", "fallback"])

    pipeline = traces["pipeline"]
    # sync -> sync -> asyncio task -> worker thread (copied context) -> chat, and a tool on
    # an event loop of that thread -> asyncio.to_thread
    assert pipeline.shape() == [
        "pipeline [chain]",
        "  retrieval facts [retriever]",
        "    invoke_agent weather [agent]",
        "      plan [chain]",
        "        chat gpt-4o-mini [llm]",
        "        execute_tool get_weather [tool]",
        "          weather lookup [retriever]",
    ]
    assert [s.depth for s in pipeline.spans] == [0, 1, 2, 3, 4, 4, 5]
    for span in pipeline.spans[1:]:
        parent = pipeline.parent(span)
        assert parent is not None and parent.depth == span.depth - 1
    assert pipeline.trace["span_count"] == pipeline.item["span_count"] == 7
    assert pipeline.root["input"] == QUESTION
    assert pipeline.root["output"] == ANSWER
    chat = pipeline.named("chat gpt-4o-mini")
    assert chat["status"] == "OK"
    assert chat["model"] == pipeline.item["model"] == MODEL
    _assert_usage(chat, pipeline.item)
    assert _roles_and_texts(chat["input"]) == [("system", SYSTEM), ("user", QUESTION)]
    assert _roles_and_texts(chat["output"]) == [("assistant", ANSWER)]
    assert chat["resource"]["service.name"] == "conformance-otel-sdk-http"
    tool = pipeline.named("execute_tool get_weather")
    assert tool["attributes"]["gen_ai.tool.name"] == "get_weather"

    embedding = traces["embeddings"].root
    assert embedding.kind == "embedding"
    assert embedding["model"] == EMBEDDING_MODEL
    assert embedding["input_tokens"] == 2 * EMBEDDING_SIZE

    failed = traces["error"]
    assert failed.root["status"] == failed.item["status"] == "ERROR"
    assert failed.root["model"] == MISSING_MODEL
    assert failed.root["status_message"]  # the exception's text
    assert any(e.get("name") == "exception" for e in failed.root["events"])

    fallback = traces["fallback"]
    assert fallback.shape() == [
        "fallback [chain]",
        "  chat missing-model [llm]",
        "  chat gpt-4o-mini [llm]",
    ]
    assert [s["status"] for s in fallback.of_kind("llm")] == ["ERROR", "OK"]
    assert fallback.item["error_count"] == 1
    assert fallback.root["status"] == fallback.item["root_status"] == "UNSET"
    # a trace failed where any of its spans did: the handled failure lists as ERROR
    assert fallback.item["status"] == "ERROR"
    assert pipeline.item["status"] == pipeline.root["status"] == "UNSET"
    assert pipeline.item["error_count"] == 0
    _record_costs("otel-sdk-http", traces)

    # the OTel kind apart from the llmops kind, the scope, and a link to another stored trace
    assert (chat.kind, chat["otel_kind"]) == ("llm", "CLIENT")
    assert pipeline.root["otel_kind"] == "INTERNAL"
    assert chat["scope"] == {"name": "conformance.handmade", "version": "1.0.0"}
    assert embedding["links"] == [
        {
            "trace_id": pipeline.trace["trace_id"],
            "span_id": chat["span_id"],
            "trace_state": None,
            "attributes": {"link.reason": "embeds the pipeline's question"},
            "stored": True,
        }
    ]


# --- the OpenTelemetry SDK over OTLP/gRPC ----------------------------------------------------


def test_otel_sdk_grpc(
    client_python: Path, fake_openai: FakeOpenAI, llmops_server: LlmopsServer
) -> None:
    """The gRPC exporter (gzip) into the server's gRPC port: the same tree, kinds, model and
    tokens as OTLP/HTTP."""
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": llmops_server.grpc_url}
    report = run_client(
        client_python, "otel_sdk_grpc", llmops_server, fake_openai.api_base, **endpoint
    )
    assert report["answer"] == ANSWER
    assert report["errors"] == {"error": "NotFoundError"}
    traces = _traces(report, llmops_server, ["agent", "error"])
    agent = traces["agent"]
    assert agent.shape() == [
        "invoke_agent weather [agent]",
        "  chat gpt-4o-mini [llm]",
        "  execute_tool get_weather [tool]",
    ]
    chat = agent.named("chat gpt-4o-mini")
    assert chat["status"] == "OK"
    assert chat["model"] == agent.item["model"] == MODEL
    _assert_usage(chat, agent.item)
    assert chat["resource"]["service.name"] == "conformance-otel-sdk-grpc"
    failed = traces["error"]
    assert failed.root["status"] == failed.item["status"] == "ERROR"
    assert failed.root["model"] == MISSING_MODEL


# --- litellm's own OpenTelemetry callback -------------------------------------------------


def test_litellm_otel_callback(
    client_python: Path, fake_openai: FakeOpenAI, llmops_server: LlmopsServer
) -> None:
    report = run_client(
        client_python,
        "litellm_otel",
        llmops_server,
        fake_openai.api_base,
        OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT="SPAN_ONLY",
    )
    assert report["errors"] == {"error": "NotFoundError"}
    # litellm logs from a worker after each call, so the order of its traces is not the calls'
    trace_ids = report["traces"]["all"]
    assert len(trace_ids) == 5
    views = sorted(
        (TraceView.read(llmops_server, trace_id) for trace_id in trace_ids),
        key=lambda v: (v.root.kind, v.root["model"], v.root["status"], str(v.root["input"])),
    )
    assert [(v.root.name, v.root.kind, v.root["model"], v.root["status"]) for v in views] == [
        ("litellm_request", "embedding", EMBEDDING_MODEL, "OK"),
        ("litellm_request", "llm", MODEL, "OK"),
        ("litellm_request", "llm", MODEL, "OK"),
        ("litellm_request", "llm", MODEL, "OK"),
        ("litellm_request", "llm", MISSING_MODEL, "ERROR"),
    ]
    # content capture adds the raw request under each successful call
    for view in views[:4]:
        assert view.shape()[1:] == ["  raw_gen_ai_request [internal]"]
    embedding, *chats, failed = views
    assert embedding.root["input_tokens"] == 2 * EMBEDDING_SIZE
    for view in chats:
        _assert_usage(view.root, view.item)
    _record_costs("litellm", {str(v.root["model"]) + str(i): v for i, v in enumerate(views)})
    asked = sorted(_roles_and_texts(v.root["input"])[-1][1] or "" for v in chats)
    assert asked == [QUESTION, QUESTION, WEATHER]
    tool = next(v for v in chats if _roles_and_texts(v.root["input"]) == [("user", WEATHER)])
    for view in chats:
        if view is not tool:  # the chat and the stream
            assert _roles_and_texts(view.root["input"]) == [("system", SYSTEM), ("user", QUESTION)]
            assert _roles_and_texts(view.root["output"]) == [("assistant", ANSWER)]
    # litellm leaves the tool call out of its gen_ai.output.messages: reported below
    assert [m["role"] for m in tool.root["output"]] == ["assistant"]
    assert failed.trace["span_count"] == 1
    assert failed.item["error_count"] == 1
    assert _roles_and_texts(failed.root["input"]) == [("system", SYSTEM), ("user", QUESTION)]
    record(
        "litellm",
        "tool_call",
        output=tool.root["output"],
        function_call=tool.root["attributes"].get("gen_ai.completion.0.function_call.name"),
    )


# --- Langfuse's SDK: @observe and its OpenAI drop-in, over OTLP -----------------------------


def test_langfuse_sdk(
    client_python: Path, fake_openai: FakeOpenAI, llmops_server: LlmopsServer
) -> None:
    report = run_client(
        client_python,
        "langfuse_sdk",
        llmops_server,
        fake_openai.api_base,
        LANGFUSE_HOST=llmops_server.url,
        LANGFUSE_PUBLIC_KEY="pk-lf-not-a-real-key",
        LANGFUSE_SECRET_KEY="sk-lf-not-a-real-key",
    )
    assert report["answer"] == report["streamed"] == ANSWER
    assert report["errors"] == {"error": "NotFoundError"}
    traces = _traces(report, llmops_server, ["chat", "tool_call", "stream", "embeddings", "error"])
    for operation, view in traces.items():
        assert view.root.name == operation
    _record_costs("langfuse", traces)

    chat = traces["chat"]
    assert chat.shape() == [
        "chat [chain]",
        "  retrieve [retriever]",
        "  OpenAI-generation [llm]",
    ]
    assert chat.root["output"] == ANSWER
    for operation in ("chat", "stream"):
        generation = traces[operation].named("OpenAI-generation")
        assert generation["model"] == traces[operation].item["model"] == MODEL
        _assert_usage(generation, traces[operation].item)
        assert _roles_and_texts(generation["input"]) == [("system", SYSTEM), ("user", QUESTION)]
    assert _roles_and_texts(chat.named("OpenAI-generation")["output"]) == [("assistant", ANSWER)]

    tool = traces["tool_call"]
    assert tool.shape() == ["tool_call [chain]", "  OpenAI-generation [llm]"]
    generation = tool.named("OpenAI-generation")
    assert _roles_and_texts(generation["input"]) == [("user", WEATHER)]
    assert _tool_calls(generation["output"]) == [("get_weather", {"city": "Paris"})]

    embeddings = traces["embeddings"]
    assert embeddings.shape() == ["embeddings [chain]", "  OpenAI-embedding [embedding]"]
    embedding = embeddings.named("OpenAI-embedding")
    assert embedding["model"] == EMBEDDING_MODEL
    assert embedding["input_tokens"] == 2 * EMBEDDING_SIZE

    failed = traces["error"]
    assert failed.shape() == ["error [chain]", "  OpenAI-generation [llm]"]
    generation = failed.named("OpenAI-generation")
    assert generation["status"] == failed.root["status"] == failed.item["status"] == "ERROR"
    assert generation["model"] == MISSING_MODEL
    assert failed.item["error_count"] == 2

    record(
        "langfuse",
        "gaps",
        stream_output=traces["stream"].named("OpenAI-generation")["output"],
    )
