"""Model providers from plugins: ``provider/model`` names that litellm does not know.

A package registers a litellm ``CustomLLM`` (an instance or its class) under the provider
name in the ``llmops.providers`` entry-point group; a configured model ``NAME/anything`` then
reaches it through litellm like any other model (retries, limits, spans, cache).
"""

from __future__ import annotations

from typing import Any

from llmops._plugins import load_plugin, wrong_kind

__all__ = ["use_plugin_provider"]

_GROUP = "llmops.providers"


def use_plugin_provider(litellm: Any, provider: str) -> bool:
    """Make litellm route ``provider/...`` to an installed plugin's handler, if one is named
    ``provider``; whether one is (litellm's own providers are never looked up)."""
    if any(item.get("provider") == provider for item in litellm.custom_provider_map):
        return True
    if provider in litellm.provider_list:
        return False
    handler = load_plugin(_GROUP, provider)
    if handler is None:
        return False
    if isinstance(handler, type):
        handler = handler()
    if not isinstance(handler, litellm.CustomLLM):
        raise wrong_kind(_GROUP, provider, "a litellm CustomLLM (or its class)")
    # litellm reads this list on every call (custom_llm_setup): appending registers the provider
    litellm.custom_provider_map = [
        *litellm.custom_provider_map,
        {"provider": provider, "custom_handler": handler},
    ]
    return True
