"""litellm's own OpenTelemetry callback (``litellm.callbacks = ["otel"]``), configured from
the environment as its docs say, over the five calls through the ``openai/`` provider.

litellm logs from a background worker after each call returns, so the script waits until
every call's span has ended before flushing. With content capture on
(``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=SPAN_ONLY``) each call's
``litellm_request`` span gets a ``raw_gen_ai_request`` child.
"""

from __future__ import annotations

import os
import time

import litellm
from _common import (
    EMBEDDING_MODEL,
    MISSING_MODEL,
    MODEL,
    QUESTION,
    SYSTEM,
    WEATHER_TOOL,
    Session,
)
from opentelemetry.sdk.trace import ReadableSpan

session = Session("conformance-litellm")
ended: list[str] = []  # the root spans ended, one per call


def on_end(span: ReadableSpan) -> None:
    if span.parent is None:
        ended.append(span.name)


session.ids.on_end = on_end  # type: ignore[method-assign]
litellm.callbacks = ["otel"]
base = {"api_base": os.environ["OPENAI_BASE_URL"], "api_key": os.environ["OPENAI_API_KEY"]}
chat = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
weather = [{"role": "user", "content": "What is the weather in Paris?"}]


def wait_for(count: int) -> None:
    """Until ``count`` calls' spans ended (litellm's callback runs after the call returns)."""
    deadline = time.monotonic() + 60
    while len(ended) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def calls() -> None:
    litellm.completion(model=f"openai/{MODEL}", messages=chat, **base)
    litellm.completion(model=f"openai/{MODEL}", messages=weather, tools=[WEATHER_TOOL], **base)
    chunks = litellm.completion(
        model=f"openai/{MODEL}",
        messages=chat,
        stream=True,
        stream_options={"include_usage": True},
        **base,
    )
    "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    litellm.embedding(model=f"openai/{EMBEDDING_MODEL}", input=["first", "second"], **base)
    try:
        litellm.completion(model=f"openai/{MISSING_MODEL}", messages=chat, num_retries=0, **base)
    except Exception as exc:
        session.errors["error"] = type(exc).__name__


calls()
wait_for(5)
session.traces["all"] = list(session.ids.seen)
session.finish(ended=ended)
