"""The cached client: versions forever, aliases for a TTL, fallbacks when the store is away."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops import StoreError
from llmops.prompts import PromptClient, PromptSpec, register_prompt
from llmops.store import Store, set_alias


class _Switchable:
    """A store factory that can be made to fail, as an unreachable store does."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.down = False
        self.calls = 0

    def __call__(self) -> Store:
        self.calls += 1
        if self.down:
            raise StoreError("cannot open store sqlite:///x: unreachable")
        return self.store


def test_versions_are_cached_and_aliases_expire(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.ensure_schema()
    for body in ("one", "two"):
        register_prompt(store, PromptSpec(name="qa", template=body))
    set_alias(store, "prompt", "qa", "staging", 1, reason="r")
    factory = _Switchable(store)
    client = PromptClient(factory, alias_ttl=60)
    assert client.get("qa@staging").version == 1
    assert client.get("qa@2").version == 2
    calls = factory.calls
    set_alias(store, "prompt", "qa", "staging", 2, reason="r")
    assert client.get("qa@staging").version == 1  # within the TTL
    assert client.get("qa@1").template == "one"  # filled by the alias lookup
    assert factory.calls == calls
    client.alias_ttl = 0
    assert client.get("qa@staging").version == 2  # expired: read again
    store.close()


def test_store_down_serves_last_known_then_fallback(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    store.ensure_schema()
    register_prompt(store, PromptSpec(name="qa", template="stored {{ q }}"))
    factory = _Switchable(store)
    client = PromptClient(factory, alias_ttl=0)
    assert client.get("qa").template == "stored {{ q }}"
    factory.down = True
    assert client.get("qa").template == "stored {{ q }}"  # stale but known
    bundled = PromptSpec(name="other", template="bundled {{ q }}")
    default = client.get("other", fallback=bundled)
    assert (default.version, default.render(q="x")) == (0, "bundled x")
    with pytest.raises(StoreError, match="unreachable"):
        client.get("third")
    store.close()


def test_sdk_functions_use_the_project_store(project: Path) -> None:
    import llmops

    prompts = llmops.prompts
    prompts._client = None  # a fresh default client for this project
    first = prompts.register(project / "prompts" / "qa.yaml", message="initial")
    second = prompts.register(PromptSpec(name="qa", template="{{ question }}?"), message="short")
    assert (first.version, second.version, first.author) == (1, 2, first.author)
    prompts.set_alias("qa", "staging", 1, reason="release")
    assert prompts.get("qa@staging").version == 1
    prompts.set_alias("qa", "staging", 2, reason="shorter")
    assert prompts.get("qa@staging").version == 2  # set_alias invalidates the cache
    assert prompts.rollback_alias("qa", "staging").to_version == 1
    assert prompts.get("qa@staging").render(context="c", question="q")[1]["content"].endswith("q")
    assert "+template: '{{ question }}?'" in prompts.diff("qa", 1, 2)
    prompts._client = None
