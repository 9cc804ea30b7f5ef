"""Model calls through litellm against a real HTTP server: retries, errors, spans."""

from __future__ import annotations

import asyncio
import gc
import random
import weakref
from typing import Any

import pytest
from _fake_openai import FakeOpenAI

from llmops import ModelError, UnknownModelError
from llmops._retry import MAX_WAIT_S, async_retrying, retrying
from llmops.config import Config, ModelConfig
from llmops.llm import complete, resolve_model
from llmops.store import Store
from llmops.tracing import configure_tracing, flush, get_trace, list_traces


def _config(api_base: str) -> Config:
    return Config(
        models={
            "fake": ModelConfig(model="openai/fake", api_base=api_base, params={"max_tokens": 5})
        },
        default_model="fake",
    )


def test_transient_failures_are_retried(store: Store) -> None:
    def flaky(request: dict[str, Any], count: int) -> tuple[int, str]:
        return (503, "overloaded") if count < 3 else (200, "Paris")

    configure_tracing(store)
    with FakeOpenAI(flaky) as server:
        model = resolve_model(None, _config(server.api_base))
        completion = complete([{"role": "user", "content": "capital?"}], model, backoff_s=0.01)
        assert len(server.requests) == 3
        assert server.requests[0]["max_tokens"] == 5
    assert completion.text == "Paris"
    assert (completion.input_tokens, completion.output_tokens, completion.attempts) == (11, 3, 3)
    flush()
    [span] = get_trace(store, list_traces(store)[0].trace_id)
    assert span.kind == "llm"
    assert span.attributes["gen_ai.request.model"] == "openai/fake"
    assert span.attributes["gen_ai.usage.output_tokens"] == 3
    assert span.attributes["gen_ai.request.max_tokens"] == 5
    assert [event["name"] for event in span.events] == ["retry", "retry"]


def test_persistent_failure_raises_model_error(store: Store) -> None:
    configure_tracing(store)
    with FakeOpenAI(lambda request, count: (500, "down")) as server:
        model = resolve_model(None, _config(server.api_base))
        with pytest.raises(ModelError, match=r"^model 'fake' failed after 2 attempt\(s\): "):
            complete([{"role": "user", "content": "x"}], model, retries=1, backoff_s=0.01)
        assert len(server.requests) == 2
    flush()
    [span] = get_trace(store, list_traces(store)[0].trace_id)
    assert span.status_code == "ERROR"


def test_client_errors_are_not_retried(store: Store) -> None:
    configure_tracing(store)
    with FakeOpenAI(lambda request, count: (400, "bad request")) as server:
        model = resolve_model(None, _config(server.api_base))
        with pytest.raises(ModelError, match="BadRequestError"):
            complete([{"role": "user", "content": "x"}], model, retries=3, backoff_s=0.01)
        assert len(server.requests) == 1


def test_unknown_model_name() -> None:
    with pytest.raises(UnknownModelError, match="configured models: fake"):
        resolve_model("gpt-9", _config("http://127.0.0.1:9/v1"))


def test_model_limits_do_not_outlive_their_event_loop() -> None:
    from llmops.llm import _limits

    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def call(name: str) -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        async with _limits.limited(name, rpm=60_000, max_concurrency=2):
            await asyncio.sleep(0)

    for i in range(40):  # every blocking call (run_sync, asyncio.run) runs on a new loop
        asyncio.run(call(f"model-{i % 3}"))
        assert len(_limits._registry) <= 1
    gc.collect()
    assert sum(ref() is not None for ref in loops[:-1]) == 0


@pytest.mark.parametrize("backoff_s", [0.0, 0.01, 0.5, 2.0])
def test_retry_waits_grow_exponentially_with_bounded_jitter(backoff_s: float) -> None:
    from tenacity import RetryCallState

    policy = retrying(retries=5, backoff_s=backoff_s)
    random.seed(7)
    for attempt in range(1, 6):
        state = RetryCallState(policy, fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        waits = [policy.wait(state) for _ in range(20)]
        floor = min(backoff_s * 2 ** (attempt - 1), MAX_WAIT_S)
        assert all(floor <= wait <= floor + backoff_s for wait in waits)
        assert len(set(waits)) == (1 if backoff_s == 0 else 20)  # jittered


class BadRequestError(Exception):
    """Named like litellm's: another attempt cannot fix it."""


@pytest.mark.parametrize(
    ("error", "attempts"),
    [
        (ConnectionError("reset"), 4),
        (TimeoutError("slow"), 4),
        (BadRequestError("no"), 1),
        (KeyboardInterrupt(), 1),
        (asyncio.CancelledError(), 1),
    ],
)
def test_only_failures_that_may_pass_are_retried(error: BaseException, attempts: int) -> None:
    calls = 0

    def failing() -> None:
        nonlocal calls
        calls += 1
        raise error

    async def afailing() -> None:
        failing()

    async def run_async() -> None:
        async for attempt in async_retrying(retries=3, backoff_s=0):
            with attempt:
                await afailing()

    with pytest.raises(type(error)):
        for attempt in retrying(retries=3, backoff_s=0):
            with attempt:
                failing()
    assert calls == attempts
    calls = 0
    with pytest.raises(type(error)):
        asyncio.run(run_async())
    assert calls == attempts
