"""litellm integration: direct litellm calls become llmops spans (offline, with mock_response)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from llmops.llm._client import _litellm
from llmops.store import Store
from llmops.tracing import configure_tracing, flush, get_trace, list_traces, span
from llmops.tracing.integrations import TRACED_MARKER, instrument_litellm, uninstrument_litellm
from llmops.tracing.integrations import litellm as integration

# litellm's streaming types make pydantic warn about their ReadOnly TypedDict items
pytestmark = pytest.mark.filterwarnings(
    "ignore:Item '\\w+' on TypedDict class '\\w+' is using the `ReadOnly` qualifier:UserWarning"
)

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def litellm(store: Store) -> Iterator[Any]:
    configure_tracing(store)
    instrument_litellm()
    yield _litellm()
    uninstrument_litellm()


def _rows(store: Store) -> list[Any]:
    assert flush()
    return [s for t in list_traces(store, limit=100) for s in get_trace(store, t.trace_id)]


def _wait(store: Store, count: int) -> list[Any]:
    """The stored spans once ``count`` are there (litellm reports from its own threads)."""
    deadline = time.monotonic() + 10
    while len(rows := _rows(store)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return rows


async def _await(store: Store, count: int) -> list[Any]:
    """As :func:`_wait`, yielding to litellm's logging worker on this event loop."""
    deadline = time.monotonic() + 10
    while len(rows := _rows(store)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return rows


def _llm(rows: list[Any]) -> list[Any]:
    return [row for row in rows if row.kind in ("llm", "embedding")]


def test_sync_completion_nests_with_genai_attributes(litellm: Any, store: Store) -> None:
    with span("app", kind="chain") as root:
        response = litellm.completion(
            model="gpt-4o-mini",
            messages=MESSAGES,
            mock_response="hello",
            temperature=0.2,
            max_tokens=5,
            seed=7,
        )
    assert response.choices[0].message.content == "hello"
    rows = _wait(store, 2)
    [call] = _llm(rows)
    assert (call.name, call.kind, call.status_code) == ("chat gpt-4o-mini", "llm", "UNSET")
    assert call.parent_span_id == root.span_id_hex and call.trace_id == root.trace_id_hex
    attributes = call.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.request.temperature"] == 0.2
    assert attributes["gen_ai.request.max_tokens"] == 5
    assert attributes["gen_ai.request.seed"] == 7
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == response.usage.completion_tokens
    assert attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert orjson.loads(attributes["gen_ai.input.messages"]) == MESSAGES
    assert orjson.loads(attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "content": "hello"}
    ]
    assert attributes["llmops.cost_usd"] > 0
    assert attributes["llmops.latency_ms"] >= 0
    assert call.end_ns >= call.start_ns


def test_sync_stream_logs_the_final_response(litellm: Any, store: Store) -> None:
    stream = litellm.completion(
        model="gpt-4o-mini", messages=MESSAGES, mock_response="hello world", stream=True
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream) == "hello world"
    [call] = _llm(_wait(store, 1))
    assert orjson.loads(call.attributes["gen_ai.output.messages"])[0]["content"] == "hello world"
    assert call.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert call.attributes["llmops.time_to_first_token_ms"] >= 0


def test_async_completion_and_stream(litellm: Any, store: Store) -> None:
    async def main() -> list[Any]:
        with span("agent", kind="agent"):
            await litellm.acompletion(model="gpt-4o-mini", messages=MESSAGES, mock_response="a")
            stream = await litellm.acompletion(
                model="gpt-4o-mini", messages=MESSAGES, mock_response="b c", stream=True
            )
            assert "".join([c.choices[0].delta.content or "" async for c in stream]) == "b c"
        return await _await(store, 3)

    rows = asyncio.run(main())
    [root] = [row for row in rows if row.kind == "agent"]
    calls = _llm(rows)
    assert len(calls) == 2 and all(c.parent_span_id == root.span_id for c in calls)
    outputs = sorted(
        orjson.loads(c.attributes["gen_ai.output.messages"])[0]["content"] for c in calls
    )
    assert outputs == ["a", "b c"]
    assert all(c.attributes["llmops.cost_usd"] > 0 for c in calls)


def test_failed_call_sets_error_status(litellm: Any, store: Store) -> None:
    with pytest.raises(Exception, match="boom") as raised:
        litellm.completion(model="gpt-4o-mini", messages=MESSAGES, mock_response=Exception("boom"))
    [call] = _llm(_wait(store, 1))
    assert call.status_code == "ERROR" and "boom" in call.status_message
    assert call.events[0]["name"] == "exception"
    assert call.attributes["error.type"] == type(raised.value).__name__
    assert "gen_ai.output.messages" not in call.attributes


def test_error_before_the_request_is_traced_under_the_current_span(
    litellm: Any, store: Store
) -> None:
    with span("app") as root, pytest.raises(Exception, match="LLM Provider NOT provided"):
        litellm.completion(model="no-such-provider/model", messages=MESSAGES)
    rows = _wait(store, 2)
    [call] = _llm(rows)
    assert call.status_code == "ERROR" and call.attributes["error.type"] == "BadRequestError"
    assert call.parent_span_id == root.span_id_hex


def test_embedding_span(litellm: Any, store: Store) -> None:
    litellm.embedding(model="text-embedding-3-small", input=["a", "b"], mock_response=[0.1, 0.2])
    [call] = _llm(_wait(store, 1))
    assert (call.name, call.kind) == ("embeddings text-embedding-3-small", "embedding")
    assert call.attributes["gen_ai.operation.name"] == "embeddings"
    assert orjson.loads(call.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
    ]
    assert call.attributes["gen_ai.usage.input_tokens"] > 0
    assert "gen_ai.usage.output_tokens" not in call.attributes


def test_calls_marked_by_llmops_are_not_traced_twice(litellm: Any, store: Store) -> None:
    async def main() -> list[Any]:
        await litellm.acompletion(
            model="gpt-4o-mini",
            messages=MESSAGES,
            mock_response="marked",
            metadata={TRACED_MARKER: True},
        )
        await litellm.acompletion(model="gpt-4o-mini", messages=MESSAGES, mock_response="plain")
        await _await(store, 1)
        await asyncio.sleep(0.1)  # the marked call was reported first; give it every chance
        return _rows(store)

    [call] = _llm(asyncio.run(main()))
    assert orjson.loads(call.attributes["gen_ai.output.messages"])[0]["content"] == "plain"


def test_instrument_is_idempotent_and_uninstrument_removes_it(litellm: Any) -> None:
    instrument_litellm()
    logger = integration._installed[0]
    assert sum(c is logger for c in litellm.callbacks) == 1
    uninstrument_litellm()
    lists = [getattr(litellm, name, []) for name in integration._CALLBACK_LISTS]
    assert not any(c is logger for callbacks in lists for c in callbacks)
    uninstrument_litellm()  # a second time does nothing


def test_a_call_inside_an_instrumented_langchain_run_is_its_child(
    litellm: Any, store: Store
) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.runnables import RunnableLambda

    import llmops

    def answer(question: str) -> str:
        response = litellm.completion(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": question}],
            mock_response="hi",
        )
        return str(response.choices[0].message.content)

    llmops.instrument("langchain")
    try:
        with span("app") as root:
            assert RunnableLambda(answer, name="answer").invoke("q") == "hi"
    finally:
        llmops.tracing.uninstrument("langchain")
    rows = _wait(store, 3)
    by_name = {row.name: row for row in rows}
    [call] = _llm(rows)
    assert call.parent_span_id == by_name["answer"].span_id
    assert by_name["answer"].parent_span_id == root.span_id_hex
