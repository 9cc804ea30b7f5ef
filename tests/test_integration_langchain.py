"""LangChain integration: runs of a small RAG chain become a stored llmops span tree."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

pytest.importorskip("langchain_core")

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnableParallel, RunnablePassthrough
from langchain_core.tools import tool
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel import select

import llmops
from llmops import InputError
from llmops.store import Store
from llmops.store.models import SpanRecord
from llmops.tracing import (
    configure_tracing,
    current_span,
    flush,
    get_trace,
    list_traces,
    span,
    uninstrument,
)
from llmops.tracing.integrations import LlmopsCallbackHandler

DOCS = [
    Document(id="d1", page_content="Paris is the capital of France.", metadata={"score": 0.9}),
    Document(page_content="France is in Europe.", metadata={"relevance_score": 0.4}),
]


class StaticRetriever(BaseRetriever):
    """Returns the same two documents for every query."""

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return DOCS


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(reason)


def _model() -> GenericFakeChatModel:
    answer = AIMessage(
        content="Paris.",
        usage_metadata={"input_tokens": 12, "output_tokens": 2, "total_tokens": 14},
        response_metadata={"model_name": "fake-1", "finish_reason": "stop"},
    )
    return GenericFakeChatModel(messages=iter([answer]))


def _prompt(inputs: dict[str, Any]) -> list[BaseMessage]:
    return [
        SystemMessage(content=f"Context: {inputs['context']}"),
        HumanMessage(inputs["question"]),
    ]


def _chain(model: GenericFakeChatModel) -> Any:
    context = StaticRetriever() | RunnableLambda(
        lambda docs: " ".join(d.page_content for d in docs)
    )
    return (
        RunnableParallel(context=context, question=RunnablePassthrough())
        | RunnableLambda(_prompt)
        | model
    )


@pytest.fixture
def traced(store: Store) -> Store:
    configure_tracing(store)
    return store


def _rows(store: Store) -> list[Any]:
    assert flush()
    return [s for t in list_traces(store, limit=100) for s in get_trace(store, t.trace_id)]


def _ancestors(row: Any, by_id: dict[str, Any]) -> list[str]:
    names = []
    while row.parent_span_id in by_id:
        row = by_id[row.parent_span_id]
        names.append(row.name)
    return names


def test_chain_run_becomes_a_span_tree(traced: Store) -> None:
    handler = LlmopsCallbackHandler()
    with span("request", kind="agent") as root:
        answer = _chain(_model()).invoke(
            "capital of France?", config={"callbacks": [handler], "run_name": "qa"}
        )
    assert answer.content == "Paris."
    rows = _rows(traced)
    assert {row.trace_id for row in rows} == {root.trace_id_hex}
    by_id = {row.span_id: row for row in rows}
    named = {row.name: row for row in rows}
    assert named["qa"].kind == "chain" and named["qa"].parent_span_id == root.span_id_hex
    assert orjson.loads(named["qa"].attributes["input.value"]) == "capital of France?"

    [retriever] = [row for row in rows if row.kind == "retriever"]
    assert retriever.name == "StaticRetriever"
    assert _ancestors(retriever, by_id)[-2:] == ["qa", "request"]
    assert retriever.attributes["gen_ai.retrieval.query.text"] == "capital of France?"
    assert orjson.loads(retriever.attributes["gen_ai.retrieval.documents"]) == [
        {
            "id": "d1",
            "content": "Paris is the capital of France.",
            "score": 0.9,
            "metadata": {"score": 0.9},
        },
        {
            "content": "France is in Europe.",
            "score": 0.4,
            "metadata": {"relevance_score": 0.4},
        },
    ]

    [llm] = [row for row in rows if row.kind == "llm"]
    assert llm.name == "GenericFakeChatModel" and llm.parent_span_id == named["qa"].span_id
    attributes = llm.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "genericfakechatmodel"
    assert orjson.loads(attributes["gen_ai.input.messages"]) == [
        {
            "role": "system",
            "content": "Context: Paris is the capital of France. France is in Europe.",
        },
        {"role": "user", "content": "capital of France?"},
    ]
    assert orjson.loads(attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "content": "Paris."}
    ]
    assert attributes["gen_ai.response.model"] == "fake-1"
    assert attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (
        12,
        2,
    )
    assert attributes["llmops.latency_ms"] >= 0
    assert all(row.status_code == "UNSET" for row in rows)
    assert all(row.end_ns >= row.start_ns for row in rows)


def test_async_run_nests_under_the_current_span(traced: Store) -> None:
    async def main() -> None:
        with span("async request"):
            await _chain(_model()).ainvoke("q", config={"callbacks": [LlmopsCallbackHandler()]})

    asyncio.run(main())
    rows = _rows(traced)
    by_id = {row.span_id: row for row in rows}
    [llm] = [row for row in rows if row.kind == "llm"]
    [retriever] = [row for row in rows if row.kind == "retriever"]
    assert _ancestors(llm, by_id)[-1] == "async request"
    assert _ancestors(retriever, by_id)[-1] == "async request"
    assert len({row.trace_id for row in rows}) == 1


def test_tools_and_text_models(traced: Store) -> None:
    handler = LlmopsCallbackHandler()
    assert add.invoke({"a": 2, "b": 3}, config={"callbacks": [handler]}) == 5
    FakeListLLM(responses=["done"]).invoke("say done", config={"callbacks": [handler]})
    rows = {row.name: row for row in _rows(traced)}
    assert rows["add"].kind == "tool" and rows["add"].parent_span_id is None
    assert rows["add"].attributes["gen_ai.tool.name"] == "add"
    assert rows["add"].attributes["gen_ai.tool.description"] == "Add two integers."
    assert orjson.loads(rows["add"].attributes["gen_ai.tool.call.arguments"]) == {"a": 2, "b": 3}
    assert rows["add"].attributes["gen_ai.tool.call.result"] == "5"
    llm = rows["FakeListLLM"]
    assert llm.kind == "llm" and llm.attributes["gen_ai.operation.name"] == "text_completion"
    assert orjson.loads(llm.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "content": "say done"}
    ]
    assert orjson.loads(llm.attributes["gen_ai.output.messages"])[0]["content"] == "done"


def test_errors_set_status_on_every_failed_run(traced: Store) -> None:
    handler = LlmopsCallbackHandler()

    def fail(_: str) -> str:
        raise RuntimeError("no answer")

    chain = RunnableLambda(lambda x: x) | RunnableLambda(fail)
    with pytest.raises(RuntimeError, match="no answer"):
        chain.invoke("q", config={"callbacks": [handler], "run_name": "broken"})
    with pytest.raises(ValueError, match="kaboom"):
        explode.invoke({"reason": "kaboom"}, config={"callbacks": [handler]})
    rows = {row.name: row for row in _rows(traced)}
    assert rows["broken"].status_code == "ERROR"
    assert rows["broken"].status_message == "RuntimeError: no answer"
    assert rows["fail"].status_code == "ERROR"
    assert rows["fail"].events[0]["attributes"]["exception.type"] == "RuntimeError"
    assert rows["fail"].parent_span_id == rows["broken"].span_id
    assert rows["explode"].kind == "tool" and rows["explode"].status_code == "ERROR"
    assert rows["explode"].attributes["error.type"] == "ValueError"


def test_importing_llmops_does_not_import_langchain_or_litellm() -> None:
    code = (
        "import sys, llmops, llmops.tracing, llmops.tracing.integrations; "
        "print(sorted(m for m in ('langchain_core', 'litellm') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# -- llmops.instrument("langchain"): no handler per call; each run is the current span --------


@pytest.fixture
def instrumented(traced: Store) -> Iterator[tuple[Store, InMemorySpanExporter]]:
    llmops.instrument("langchain")
    yield traced, InMemorySpanExporter()
    uninstrument("langchain")


def _tracer(exporter: InMemorySpanExporter) -> Any:
    """A tracer of a provider that is not the global one: the context is shared all the same."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("app")


def _all_spans(store: Store, exporter: InMemorySpanExporter) -> dict[str, tuple[str, Any, str]]:
    """span id -> (name, parent id, trace id) over the llmops store and the OTel exporter."""
    assert flush()
    spans: dict[str, tuple[str, Any, str]] = {}
    with store.session() as session:
        for row in session.exec(select(SpanRecord)):
            spans[row.span_id] = (row.name, row.parent_span_id, row.trace_id)
    for item in exporter.get_finished_spans():
        context = item.get_span_context()
        assert context is not None
        parent = f"{item.parent.span_id:016x}" if item.parent is not None else None
        spans[f"{context.span_id:016x}"] = (item.name, parent, f"{context.trace_id:032x}")
    return spans


def _parents(store: Store, exporter: InMemorySpanExporter) -> dict[str, tuple[str | None, str]]:
    """name -> (parent's name, trace id)."""
    spans = _all_spans(store, exporter)
    return {
        name: (spans[parent][0] if parent in spans else parent, trace_id)
        for name, parent, trace_id in spans.values()
    }


def _lineage(span_id: str, spans: dict[str, tuple[str, Any, str]]) -> list[str]:
    """The names of a span and its ancestors, innermost first."""
    names = []
    while span_id in spans:
        name, span_id, _ = spans[span_id]
        names.append(name)
    return names


def _deep_chain(tracer: Any) -> Any:
    """outer -> @trace helper -> OTel span -> inner (a Runnable) -> @trace leaf."""

    @llmops.trace(name="leaf")
    def leaf(x: int) -> int:
        return x + 1

    @llmops.trace(name="helper")
    def helper(x: int) -> int:
        with tracer.start_as_current_span("otel"):
            return int(RunnableLambda(leaf, name="inner").invoke(x))

    return RunnableLambda(lambda x: x * 2, name="double") | RunnableLambda(helper, name="outer")


def test_instrumented_runs_are_current_for_traced_functions_and_otel_spans(
    instrumented: tuple[Store, InMemorySpanExporter],
) -> None:
    store, exporter = instrumented
    with span("request") as root:
        assert _deep_chain(_tracer(exporter)).invoke(3) == 7
    assert current_span() is None
    parents = _parents(store, exporter)
    assert {name: parent for name, (parent, _) in parents.items()} == {
        "request": None,
        "RunnableSequence": "request",
        "double": "RunnableSequence",
        "outer": "RunnableSequence",
        "helper": "outer",
        "otel": "helper",
        "inner": "otel",
        "leaf": "inner",
    }
    assert {trace_id for _, trace_id in parents.values()} == {root.trace_id_hex}


def test_instrumented_async_runs_nest_the_same(
    instrumented: tuple[Store, InMemorySpanExporter],
) -> None:
    store, exporter = instrumented
    tracer = _tracer(exporter)

    @llmops.trace(name="aleaf")
    async def aleaf(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    async def ahelper(x: int) -> int:
        with tracer.start_as_current_span("otel"):
            return int(await RunnableLambda(aleaf, name="ainner").ainvoke(x))

    async def main() -> list[int]:
        chain = RunnableLambda(lambda x: x, name="first") | RunnableLambda(ahelper, name="outer")
        with span("request"):
            return list(await asyncio.gather(chain.ainvoke(1), chain.ainvoke(2)))

    assert asyncio.run(main()) == [2, 3]
    spans = _all_spans(store, exporter)
    leaves = [span_id for span_id, (name, _, _) in spans.items() if name == "aleaf"]
    assert len(leaves) == 2
    for leaf in leaves:
        assert _lineage(leaf, spans) == [
            "aleaf",
            "ainner",
            "otel",
            "outer",
            "RunnableSequence",
            "request",
        ]
    assert len({spans[leaf][1] for leaf in leaves}) == 2  # each under its own run
    assert len({trace_id for _, _, trace_id in spans.values()}) == 1


def test_instrumented_batch_and_parallel_runs_keep_each_input_apart(
    instrumented: tuple[Store, InMemorySpanExporter],
) -> None:
    store, _ = instrumented

    @llmops.trace(name="work")
    def work(x: int) -> int:
        return x

    step = RunnableLambda(work, name="step")
    sequence = RunnableLambda(lambda x: x, name="first") | step
    with span("request"):
        assert sequence.batch([1, 2, 3]) == [1, 2, 3]
        parallel = RunnableParallel(a=step, b=RunnableLambda(work, name="other"))
        assert parallel.invoke(4) == {"a": 4, "b": 4}
    assert current_span() is None
    assert otel_trace.get_current_span() is otel_trace.INVALID_SPAN
    assert flush()
    with store.session() as session:
        rows = list(session.exec(select(SpanRecord)))
    by_id = {row.span_id: row for row in rows}
    for row in [r for r in rows if r.name == "work"]:
        x = orjson.loads(row.attributes["input.value"])["x"]
        run = by_id[row.parent_span_id]  # the run of the same input, not another one's
        assert run.name in ("step", "other") and orjson.loads(run.attributes["input.value"]) == x
        assert _ancestors(row, by_id)[-1] == "request"
    assert len([r for r in rows if r.name == "work"]) == 5


def test_a_handler_passed_as_well_does_not_record_twice(
    instrumented: tuple[Store, InMemorySpanExporter],
) -> None:
    store, _ = instrumented
    RunnableLambda(lambda x: x, name="once").invoke(1, {"callbacks": [LlmopsCallbackHandler()]})
    uninstrument("langchain")
    RunnableLambda(lambda x: x, name="untraced").invoke(1)
    assert [row.name for row in _rows(store)] == ["once"]


def test_instrument_rejects_an_unknown_library() -> None:
    with pytest.raises(InputError, match="langchain, litellm"):
        llmops.instrument("langchian")


def test_streamed_output_is_recorded_with_the_assistant_role(traced: Store) -> None:
    # streamed chat models hand the handler AIMessageChunk messages (type "AIMessageChunk")
    handler = LlmopsCallbackHandler()
    model = GenericFakeChatModel(messages=iter([AIMessage(content="Paris is the capital.")]))
    chunks = list(model.stream("capital of France?", config={"callbacks": [handler]}))
    assert "".join(str(chunk.content) for chunk in chunks) == "Paris is the capital."
    [llm] = [row for row in _rows(traced) if row.kind == "llm"]
    output = orjson.loads(llm.attributes["gen_ai.output.messages"])
    assert [message["role"] for message in output] == ["assistant"]
    assert output[0]["content"] == "Paris is the capital."
