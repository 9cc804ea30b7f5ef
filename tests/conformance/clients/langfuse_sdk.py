"""Langfuse's SDK (v3+ is built on OpenTelemetry): ``@observe`` for nesting and its OpenAI
drop-in (``langfuse.openai``), as its README says, over the five calls.

Langfuse exports OTLP/HTTP to ``{LANGFUSE_HOST}/api/public/otel/v1/traces``, which llmops
serves as an alias of ``/v1/traces``: the test sets only ``LANGFUSE_HOST`` and the keys.
Each call runs under an observed function, which names its trace.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from _common import EMBEDDING_MODEL, MISSING_MODEL, MODEL, QUESTION, SYSTEM, WEATHER_TOOL
from langfuse import get_client, observe
from langfuse.openai import openai

langfuse = get_client()
traces: dict[str, str] = {}
errors: dict[str, str] = {}
chat = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]


@observe(as_type="retriever")
def retrieve(question: str) -> list[str]:
    return ["Paris is the capital of France."]


def traced(operation: str, call: Callable[[], Any]) -> Any:
    @observe(name=operation)
    def run() -> Any:
        traces[operation] = langfuse.get_current_trace_id() or ""
        return call()

    try:
        return run()
    except openai.NotFoundError as exc:
        errors[operation] = type(exc).__name__
        return None


def answer() -> str:
    retrieve(QUESTION)
    response = openai.chat.completions.create(model=MODEL, messages=chat, temperature=0)
    return response.choices[0].message.content or ""


def stream() -> str:
    chunks = openai.chat.completions.create(
        model=MODEL, messages=chat, stream=True, stream_options={"include_usage": True}
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


weather = [{"role": "user", "content": "What is the weather in Paris?"}]
answered = traced("chat", answer)
traced(
    "tool_call",
    lambda: openai.chat.completions.create(model=MODEL, messages=weather, tools=[WEATHER_TOOL]),
)
streamed = traced("stream", stream)
traced(
    "embeddings",
    lambda: openai.embeddings.create(model=EMBEDDING_MODEL, input=["first", "second"]),
)
traced("error", lambda: openai.chat.completions.create(model=MISSING_MODEL, messages=chat))
langfuse.flush()
langfuse.shutdown()
print(json.dumps({"traces": traces, "errors": errors, "answer": answered, "streamed": streamed}))
