"""The OpenTelemetry SDK with the OTLP/HTTP exporter and hand-made GenAI spans.

A pipeline nests 6 levels deep across every way context travels in Python: a sync retriever,
an async agent task, a plan in a worker thread running with a copy of the context, a chat (a
real call to the fake server) and a tool on an event loop of that thread, whose lookup runs in
``asyncio.to_thread``. Beside it: an embeddings span linked to the pipeline's chat, a chat
that fails, and a fallback whose first chat fails and whose second answers.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
from _common import EMBEDDING_MODEL, MISSING_MODEL, MODEL, QUESTION, SYSTEM, Session
from opentelemetry import trace
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode

session = Session("conformance-otel-sdk-http")
tracer = trace.get_tracer("conformance.handmade", "1.0.0")
client = openai.OpenAI()
chats: list[SpanContext] = []  # every chat span, for the embeddings span to link to


def messages_attribute(messages: list[dict[str, Any]]) -> str:
    """OpenAI-style messages as GenAI JSON messages (role and text parts)."""
    return json.dumps(
        [
            {"role": m["role"], "parts": [{"type": "text", "content": m["content"]}]}
            for m in messages
        ]
    )


def chat(model: str, messages: list[dict[str, Any]]) -> str:
    """A chat span as the GenAI conventions describe it, around a real call."""
    with tracer.start_as_current_span(f"chat {model}", kind=SpanKind.CLIENT) as span:
        chats.append(span.get_span_context())
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", model)
        span.set_attribute("gen_ai.input.messages", messages_attribute(messages))
        try:
            response = client.chat.completions.create(model=model, messages=messages)
        except openai.APIStatusError as exc:
            span.set_attribute("error.type", type(exc).__name__)
            raise  # the SDK records the exception and sets the status to ERROR
        answer = response.choices[0].message.content or ""
        span.set_attribute("gen_ai.response.model", response.model)
        span.set_attribute("gen_ai.response.finish_reasons", ["stop"])
        span.set_attribute("gen_ai.usage.input_tokens", response.usage.prompt_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", response.usage.completion_tokens)
        span.set_attribute(
            "gen_ai.output.messages",
            messages_attribute([{"role": "assistant", "content": answer}]),
        )
        span.set_status(Status(StatusCode.OK))
        return answer


def lookup(city: str) -> str:
    """Runs in asyncio's worker thread (``to_thread`` copies the context)."""
    with tracer.start_as_current_span("weather lookup") as span:
        span.set_attribute("gen_ai.operation.name", "retrieval")
        span.set_attribute("gen_ai.data_source.id", "weather")
        return f"Sunny in {city}"


async def tool() -> str:
    with tracer.start_as_current_span("execute_tool get_weather") as span:
        span.set_attribute("gen_ai.operation.name", "execute_tool")
        span.set_attribute("gen_ai.tool.name", "get_weather")
        span.set_attribute("gen_ai.tool.call.id", "call_weather_1")
        return await asyncio.to_thread(lookup, "Paris")


def in_thread(question: str) -> str:
    """Runs in a worker thread, in the context copied from the async task."""
    with tracer.start_as_current_span("plan") as span:
        span.set_attribute("llmops.span.kind", "chain")
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
        answer = chat(MODEL, messages)
        asyncio.run(tool())  # a new event loop in this thread, in its context
        return answer


async def agent(question: str) -> str:
    with tracer.start_as_current_span("invoke_agent weather") as span:
        span.set_attribute("gen_ai.operation.name", "invoke_agent")
        span.set_attribute("gen_ai.agent.name", "weather")
        context = contextvars.copy_context()
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(context.run, in_thread, question)
            return await asyncio.wrap_future(future)


def retrieve(question: str) -> str:
    with tracer.start_as_current_span("retrieval facts") as span:
        span.set_attribute("gen_ai.operation.name", "retrieval")
        span.set_attribute("gen_ai.data_source.id", "facts")
        return asyncio.run(agent(question))


def pipeline() -> str:
    with tracer.start_as_current_span("pipeline") as span:
        span.set_attribute("llmops.span.kind", "chain")
        span.set_attribute("input.value", QUESTION)
        answer = retrieve(QUESTION)
        span.set_attribute("output.value", answer)
        return answer


def embeddings() -> None:
    link = Link(chats[0], {"link.reason": "embeds the pipeline's question"})
    with tracer.start_as_current_span(f"embeddings {EMBEDDING_MODEL}", links=[link]) as span:
        span.set_attribute("gen_ai.operation.name", "embeddings")
        span.set_attribute("gen_ai.request.model", EMBEDDING_MODEL)
        response = client.embeddings.create(model=EMBEDDING_MODEL, input=["first", "second"])
        span.set_attribute("gen_ai.usage.input_tokens", response.usage.prompt_tokens)
        span.set_attribute("gen_ai.embeddings.dimension.count", len(response.data[0].embedding))


def fallback() -> str:
    """A handled failure: the root stays unset, one child is an error."""
    with tracer.start_as_current_span("fallback") as span:
        span.set_attribute("llmops.span.kind", "chain")
        messages = [{"role": "user", "content": QUESTION}]
        try:
            return chat(MISSING_MODEL, messages)
        except openai.NotFoundError:
            return chat(MODEL, messages)


answer = session.record("pipeline", pipeline)
session.record("embeddings", embeddings)
session.record(
    "error", lambda: chat(MISSING_MODEL, [{"role": "user", "content": QUESTION}]), fails=True
)
session.record("fallback", fallback)
session.finish(answer=answer)
