"""The cost of a model call, from its model name and token counts.

Prices come from the project config's ``pricing:`` first (custom and local models), then from
litellm's bundled price map, read from its JSON file without importing litellm (that takes
seconds) and never fetched from the network. A cost the span already carries is kept. A model
with no known price gets no cost (absent, not 0): a local model costs nothing only when the
config says so.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

__all__ = ["COST", "Price", "Pricing", "bundled_prices"]

#: The one attribute holding a span's cost in US dollars (llmops' litellm integration's too).
COST = "llmops.cost_usd"
_BUNDLED = "model_prices_and_context_window_backup.json"
# a date a provider appends to a model's name: -2024-07-18, -20241022, @20240229
_DATE = re.compile(r"[-@](?:\d{4}-\d{2}-\d{2}|\d{8})$")
_MODELS = ("gen_ai.response.model", "gen_ai.request.model")


@dataclass(frozen=True)
class Price:
    """US dollars per token; ``cache_read`` prices cached input tokens (else ``input``)."""

    input: float
    output: float = 0.0
    cache_read: float | None = None


@functools.cache
def bundled_prices() -> dict[str, Any]:
    """litellm's bundled price map (``{model: {input_cost_per_token, ...}}``), or ``{}``
    without litellm; read once."""
    # find_spec on a top-level package locates it without importing it
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    for folder in spec.submodule_search_locations:
        path = Path(folder) / _BUNDLED
        if path.is_file():
            prices = orjson.loads(path.read_bytes())
            return prices if isinstance(prices, dict) else {}
    return {}


def _candidates(model: str) -> Iterator[str]:
    """Spellings of ``model`` to look up, most specific first: as given, lowercase, without
    a provider prefix (``openai/``, ``hosted_vllm/``), then without a date suffix."""
    seen: set[str] = set()
    names = [model, model.lower()]
    if "/" in model:
        names += [model.split("/", 1)[1], model.rsplit("/", 1)[1].lower()]
    for name in names + [_DATE.sub("", name) for name in names]:
        if name and name not in seen:
            seen.add(name)
            yield name


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return float(value)


def _bundled_price(entry: Any) -> Price | None:
    if not isinstance(entry, dict):
        return None
    input_price = _number(entry.get("input_cost_per_token"))
    if input_price is None:  # priced per image, second or call: not a token model
        return None
    return Price(
        input_price,
        _number(entry.get("output_cost_per_token")) or 0.0,
        _number(entry.get("cache_read_input_token_cost")),
    )


class Pricing:
    """Prices by model name: ``custom`` first, then litellm's bundled map; lookups cached."""

    def __init__(self, custom: Mapping[str, Price] | None = None) -> None:
        self.custom = dict(custom or {})
        self._cache: dict[str, Price | None] = {}

    def price(self, model: str) -> Price | None:
        """The price of ``model``, or None when neither the config nor litellm knows it."""
        if model in self._cache:
            return self._cache[model]
        found: Price | None = None
        for name in _candidates(model):
            found = self.custom.get(name)
            if found is not None:
                break
        if found is None:
            bundled = bundled_prices()
            for name in _candidates(model):
                found = _bundled_price(bundled.get(name))
                if found is not None:
                    break
        if len(self._cache) >= 4096:  # model names come from clients: keep the cache bounded
            self._cache.clear()
        self._cache[model] = found
        return found

    def cost(self, attributes: Mapping[str, Any]) -> float | None:
        """The cost of a span's call from its model and ``gen_ai.usage.*`` tokens; None without
        tokens or a known price. Cached input tokens (counted within the input tokens, as
        the GenAI conventions say) are priced at the cache-read price."""
        tokens_in = _tokens(attributes.get("gen_ai.usage.input_tokens"))
        tokens_out = _tokens(attributes.get("gen_ai.usage.output_tokens"))
        if tokens_in is None and tokens_out is None:
            return None
        price = None
        for key in _MODELS:
            model = attributes.get(key)
            if isinstance(model, str) and model:
                price = self.price(model)
                if price is not None:
                    break
        if price is None:
            return None
        tokens_in, tokens_out = tokens_in or 0, tokens_out or 0
        cached = min(
            _tokens(attributes.get("gen_ai.usage.cache_read.input_tokens")) or 0, tokens_in
        )
        cache_price = price.input if price.cache_read is None else price.cache_read
        return (tokens_in - cached) * price.input + cached * cache_price + tokens_out * price.output

    def add_cost(self, attributes: dict[str, Any]) -> None:
        """Set :data:`COST` on ``attributes`` unless it carries a cost already."""
        if COST in attributes:
            return
        cost = self.cost(attributes)
        if cost is not None:
            attributes[COST] = cost


def _tokens(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    return max(int(value), 0) if abs(value) < 2**53 else None
