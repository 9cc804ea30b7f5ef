"""Numbers typed into references and filters are ASCII digits (``llmops._digits``): a
superscript, another script's digit or thousands of digits are a clear refusal or a
not-found, never a ``ValueError`` (a 500 from the server), on every path that reads one."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from _live_server import LiveServer

from llmops._digits import ascii_int
from llmops._exceptions import LlmopsError
from llmops.evals._dataset_registry import get_dataset_version, parse_dataset_ref
from llmops.gates._bundles import get_bundle
from llmops.prompts._registry import get_version
from llmops.prompts._version import parse_ref
from llmops.rag._index import resolve_index
from llmops.registry._models import get_model_version
from llmops.registry._version import parse_model_ref
from llmops.server import create_app
from llmops.store import Store
from llmops.tracing._semconv import to_genai
from llmops.tracing._stats import parse_duration

#: what ``str.isdigit`` takes and ``int`` refuses or misreads, and numbers past 64 bits
HOSTILE = ["¹", "²³", "٣", "१२", "9" * 19, "9" * 5000, "1¹"]


def test_ascii_int_reads_ascii_digits_only() -> None:
    assert [ascii_int(text) for text in ("0", "3", "042", "9" * 18)] == [0, 3, 42, int("9" * 18)]
    assert all(ascii_int(text) is None for text in [*HOSTILE, "", " 3", "-3", "3.0", "+3"])
    assert ascii_int("12345", 4) is None and ascii_int("1234", 4) == 1234


@pytest.mark.parametrize("selector", HOSTILE)
def test_every_selector_reader_refuses_or_finds_nothing(store: Store, selector: str) -> None:
    readers: list[Callable[[], Any]] = [
        lambda: parse_ref(f"qa@{selector}"),
        lambda: get_version(store, "qa", parse_ref(f"qa@{selector}")[1]),
        lambda: parse_model_ref(f"m@{selector}"),
        lambda: get_model_version(store, "m", selector),
        lambda: get_dataset_version(store, "d", (parse_dataset_ref(f"d@{selector}") or ("", 0))[1]),
        lambda: get_bundle(store, "b", selector),
        lambda: resolve_index(store, f"ix@{selector}"),
        lambda: parse_duration(selector, "since"),
    ]
    for read in readers:  # anything but a refusal or a not-found with its message fails
        with contextlib.suppress(LlmopsError):
            read()


def test_the_api_answers_hostile_version_selectors_without_a_server_error(store: Store) -> None:
    paths = [
        "/api/v1/models/m/versions/{}",
        "/api/v1/datasets/d/versions/{}/rows",
        "/api/v1/indexes/ix/diff?a={}&b=1",
        "/api/v1/prompts/qa/diff?a={}&b=1",
        "/api/v1/bundles/b/versions/{}",
        "/api/v1/stats?since={}",
        "/api/v1/traces?since_ns={}",
    ]
    with LiveServer(create_app(store)) as live, httpx.Client(base_url=live.url) as client:
        for path in paths:
            for selector in HOSTILE:
                response = client.get(path.format(selector))
                assert response.status_code in (400, 404, 422), (path, selector, response.text)


def test_list_attribute_indexes_of_other_scripts_are_left_as_keys() -> None:
    """OpenInference flattens lists as ``llm.input_messages.0.message.role``: an index in
    another script's digits is no index (kept as sent), and no failure of the span."""
    attributes = {
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "hi",
        "llm.input_messages.¹.message.role": "system",
        "llm.token_count.prompt": "¹²",
    }
    mapped = to_genai(attributes)
    assert mapped["llm.input_messages.¹.message.role"] == "system"
    assert "gen_ai.usage.input_tokens" not in mapped
