"""Model calls through litellm against a real HTTP server: retries, errors, spans."""

from __future__ import annotations

from typing import Any

import pytest
from _fake_openai import FakeOpenAI

from llmops import ModelError, UnknownModelError
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
