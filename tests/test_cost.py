"""Span cost: litellm's bundled prices read offline, name normalization, carried costs, the
config's prices, and the SDK pipeline pricing spans at write time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from llmops.config import load_config
from llmops.store import Store
from llmops.tracing import SpanPipeline, get_trace, list_traces, set_pipeline, span
from llmops.tracing._cost import COST, Price, Pricing, bundled_prices
from llmops.tracing._semconv import to_genai
from llmops.tracing._setup import pricing_for
from llmops.tracing._sinks import StoreSink


def _litellm_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    from llmops.llm._client import _litellm  # imported with the local cost map only

    prompt, completion = _litellm().cost_per_token(
        model=model, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
    )
    return float(prompt + completion)


def _usage(model: str, tokens_in: int | None, tokens_out: int | None = None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"gen_ai.request.model": model}
    if tokens_in is not None:
        attributes["gen_ai.usage.input_tokens"] = tokens_in
    if tokens_out is not None:
        attributes["gen_ai.usage.output_tokens"] = tokens_out
    return attributes


@pytest.mark.parametrize(
    ("model", "tokens_in", "tokens_out"),
    [("gpt-4o-mini", 23, 7), ("gpt-4o-mini-2024-07-18", 1000, 250), ("gpt-4o", 5, 0)],
)
def test_known_model_is_priced_as_litellm_prices_it(
    model: str, tokens_in: int, tokens_out: int
) -> None:
    cost = Pricing().cost(_usage(model, tokens_in, tokens_out))
    assert cost == pytest.approx(_litellm_cost(model, tokens_in, tokens_out), rel=1e-9)
    assert cost is not None and cost > 0


@pytest.mark.parametrize(
    "spelling",
    ["openai/gpt-4o-mini", "hosted_vllm/gpt-4o-mini", "GPT-4o-mini", "gpt-4o-mini-2099-01-31"],
)
def test_provider_prefixes_case_and_dates_are_normalized(spelling: str) -> None:
    pricing = Pricing()
    assert pricing.price(spelling) == pricing.price("gpt-4o-mini")
    assert pricing.price(spelling) is not None


def test_response_model_is_preferred_and_embeddings_need_no_output() -> None:
    pricing = Pricing({"dated": Price(1.0, 2.0)})
    attributes = {**_usage("undated-unknown", 3, 1), "gen_ai.response.model": "dated"}
    assert pricing.cost(attributes) == 5.0
    embedding = pricing.cost(_usage("text-embedding-3-small", 8))
    assert embedding == pytest.approx(_litellm_cost("text-embedding-3-small", 8, 0))


def test_cached_input_tokens_use_the_cache_read_price() -> None:
    entry = bundled_prices()["gpt-4o-mini"]
    attributes = {**_usage("gpt-4o-mini", 100, 10), "gen_ai.usage.cache_read.input_tokens": 40}
    expected = (
        60 * entry["input_cost_per_token"]
        + 40 * entry["cache_read_input_token_cost"]
        + 10 * entry["output_cost_per_token"]
    )
    assert Pricing().cost(attributes) == pytest.approx(expected)
    no_cache_price = Pricing({"m": Price(0.5, 1.0)})
    assert no_cache_price.cost({**attributes, "gen_ai.request.model": "m"}) == 60.0


@pytest.mark.parametrize(
    "attributes",
    [
        _usage("no-such-model-anywhere", 10, 10),
        _usage("gpt-4o-mini", None),  # no tokens
        {"gen_ai.usage.input_tokens": 10},  # no model
        _usage("dall-e-3", 10, 10),  # priced per image, not per token
    ],
)
def test_no_cost_without_a_price_or_tokens(attributes: dict[str, Any]) -> None:
    out = dict(attributes)
    Pricing().add_cost(out)
    assert COST not in out


@pytest.mark.parametrize(
    ("carried", "expected"),
    [
        ({"llm.cost.total": 0.25}, 0.25),  # OpenInference
        ({"gen_ai.usage.cost": "0.5"}, 0.5),  # LiteLLM's OTel callback
        ({"langfuse.observation.cost_details": '{"input": 0.1, "output": 0.2}'}, 0.3),
        ({"langfuse.observation.cost_details": '{"input": 1, "total": 0.75}'}, 0.75),
        ({COST: 2.0}, 2.0),  # llmops' own litellm integration
    ],
)
def test_a_carried_cost_is_honoured(carried: dict[str, Any], expected: float) -> None:
    attributes = to_genai({**_usage("gpt-4o-mini", 1000, 1000), **carried})
    Pricing().add_cost(attributes)
    assert attributes[COST] == pytest.approx(expected)


def test_config_prices_custom_and_local_models(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "llmops.yaml").write_text(
        "pricing:\n"
        "  my-local-model: {input_per_million: 0.1, output_per_million: 0.2}\n"
        "  gpt-4o-mini: {input_per_million: 1, output_per_million: 2, "
        "cached_input_per_million: 0.5}\n"
    )
    pricing = pricing_for(load_config(tmp_path).pricing)
    assert pricing.cost(_usage("my-local-model", 1_000_000, 500_000)) == pytest.approx(0.2)
    assert pricing.cost(_usage("openai/my-local-model", 10, 0)) == pytest.approx(1e-6)
    cached = {**_usage("gpt-4o-mini", 10, 0), "gen_ai.usage.cache_read.input_tokens": 10}
    assert pricing.cost(cached) == pytest.approx(5e-6)  # the config wins over litellm's map
    assert pricing_for(load_config(tmp_path).pricing) is pricing
    assert Pricing().cost(_usage("my-local-model", 10, 10)) is None  # unpriced: no cost


def test_config_refuses_unknown_price_fields(tmp_path: Path) -> None:
    from llmops import ConfigError

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "llmops.yaml").write_text(
        "pricing:\n  m: {input_per_million: 1, output_per_token: 2}\n"
    )
    with pytest.raises(ConfigError, match="output_per_token"):
        load_config(tmp_path)


def test_bundled_prices_are_read_without_importing_litellm() -> None:
    code = (
        "import sys; from llmops.tracing._cost import bundled_prices, Pricing; "
        "assert len(bundled_prices()) > 1000; assert Pricing().price('gpt-4o-mini'); "
        "assert 'litellm' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sdk_spans_are_priced_when_written(store: Store) -> None:
    pipeline = SpanPipeline(
        [StoreSink(store)], pricing=Pricing({"my-local-model": Price(1e-6, 2e-6)})
    )
    previous = set_pipeline(pipeline)
    if previous is not None:
        previous.shutdown()
    with span("chat", kind="llm") as call:
        call.set(_usage("my-local-model", 100, 50))
    with span("carried", kind="llm") as call:
        call.set({**_usage("my-local-model", 100, 50), COST: 9.0})
    with span("unpriced", kind="llm") as call:
        call.set(_usage("unknown-local-model", 100, 50))
    assert pipeline.flush(10)
    costs = {
        record.name: record.attributes.get(COST)
        for trace in list_traces(store)
        for record in get_trace(store, trace.trace_id)
    }
    assert costs == {"chat": pytest.approx(2e-4), "carried": 9.0, "unpriced": None}
