"""Registered model references (``NAME@VERSION``, ``registry:NAME@ALIAS``) resolved in
``llmops.llm``, which sits below the model registry and reaches it through ``llmops._hooks``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from llmops import ConfigError, InputError, _hooks
from llmops.config import Config
from llmops.llm import Route, resolve_model, resolve_version_model
from llmops.registry import register_model_version
from llmops.store import Store, open_store

# A fresh interpreter that imports llmops.llm and nothing above it, then resolves references.
_PLAIN_LLM_USER = """
import json, sys
import llmops.llm
from llmops.config import Config
from llmops.store import open_store

loaded_before = "llmops.registry" in sys.modules
url = sys.argv[1]
found = {}
for ref in sys.argv[2:]:
    if ref.startswith("registry:"):
        model = llmops.llm.resolve_model(ref, Config(store_url=url))
    else:
        model = llmops.llm.resolve_version_model(open_store(url), ref)
    found[ref] = [model.name, model.model, model.api_base, model.params]
print(json.dumps({"loaded_before": loaded_before, "found": found}))
"""


def _register(store: Store) -> None:
    register_model_version(
        store, "bot", serve_model="openai/bot-a", api_base="http://127.0.0.1:9/v1"
    )
    register_model_version(
        store,
        "bot",
        serve_model="openai/bot-b",
        api_base="http://127.0.0.1:9/v1",
        params={"temperature": 0},
    )


def test_a_plain_llm_user_resolves_registered_references(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    _register(open_store(url))
    refs = ["bot@1", "bot@2", "bot", "bot@latest", "registry:bot@1", "registry:bot"]
    result = subprocess.run(
        [sys.executable, "-c", _PLAIN_LLM_USER, url, *refs],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    answer = json.loads(result.stdout)
    assert answer["loaded_before"] is False  # the registry loads when first asked, not before
    one = ["bot@1", "openai/bot-a", "http://127.0.0.1:9/v1", {}]
    two = ["bot@2", "openai/bot-b", "http://127.0.0.1:9/v1", {"temperature": 0}]
    assert answer["found"] == {
        "bot@1": one,
        "bot@2": two,
        "bot": two,
        "bot@latest": two,
        "registry:bot@1": one,
        "registry:bot": two,
    }


def test_references_resolve_in_process_on_each_backend(store: Store) -> None:
    _register(store)
    assert resolve_version_model(store, "bot@1").model == "openai/bot-a"
    assert resolve_version_model(store, "registry:bot@latest").name == "bot@2"
    assert resolve_model("registry:bot@1", Config(store_url=store.url)).model == "openai/bot-a"


@pytest.mark.parametrize("ref", ["Bad Name@1", "@prod", "bot@-1", "bot@Prod"])
def test_a_malformed_reference_is_an_input_error(store: Store, ref: str) -> None:
    with pytest.raises(InputError) as raised:
        resolve_version_model(store, ref)
    message = str(raised.value)
    assert message.startswith("invalid ") and "\n" not in message
    # a routes file is validated by the same registry, through the same hook
    with pytest.raises(ValueError, match=re.escape(message)):
        Route(name="r", primary=f"registry:{ref}")


def test_without_a_registered_registry_the_call_fails_clearly(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(store)
    monkeypatch.setattr(_hooks, "_loader", [None])
    with pytest.raises(ConfigError, match=r"need the model registry, and none is registered"):
        resolve_version_model(store, "bot@1")
    with pytest.raises(ConfigError, match="none is registered"):
        Route(name="r", primary="bot@1")
