"""Prompt registry: templates kept as files, registered as immutable content-hashed versions,
moved between environments with audited aliases, fetched by apps through a cached client.

    import llmops.prompts as prompts
    qa = prompts.get("qa@production")
    messages = qa.render(question="...", context="...")
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from llmops.prompts import _registry
from llmops.prompts._cache import DEFAULT_ALIAS_TTL, PromptClient
from llmops.prompts._files import (
    ChatMessage,
    Placeholder,
    PromptSpec,
    check_prompt_name,
    find_prompt_file,
    list_prompt_files,
    load_prompt_file,
)
from llmops.prompts._registry import (
    AliasEvent,
    PromptInfo,
    alias_history,
    content_hash,
    get_prompt_version,
    get_version,
    list_prompts,
    list_versions,
    register_prompt,
)
from llmops.prompts._sync import SyncItem, plan_sync, sync_prompts
from llmops.prompts._template import declared_variables, render_template
from llmops.prompts._version import LATEST, PromptVersion, check_alias, diff_versions, parse_ref

__all__ = [
    "DEFAULT_ALIAS_TTL",
    "LATEST",
    "AliasEvent",
    "ChatMessage",
    "Placeholder",
    "PromptClient",
    "PromptInfo",
    "PromptSpec",
    "PromptVersion",
    "SyncItem",
    "alias_history",
    "check_alias",
    "check_prompt_name",
    "content_hash",
    "declared_variables",
    "diff",
    "diff_versions",
    "find_prompt_file",
    "get",
    "get_prompt_version",
    "get_version",
    "list_prompt_files",
    "list_prompts",
    "list_versions",
    "load_prompt_file",
    "parse_ref",
    "plan_sync",
    "register",
    "register_prompt",
    "render_template",
    "rollback_alias",
    "set_alias",
    "sync_prompts",
]

if TYPE_CHECKING:
    from llmops.gates._protect import GateToken
    from llmops.store import Store

_client: PromptClient | None = None


def _store(store: Store | None) -> Store:
    from llmops.store import open_store

    return store if store is not None else open_store()


def _default_client() -> PromptClient:
    global _client
    if _client is None:
        from llmops.store import open_store

        _client = PromptClient(open_store)
    return _client


def get(ref: str, *, fallback: PromptSpec | None = None) -> PromptVersion:
    """``get("qa")``, ``get("qa@production")``, ``get("qa@3")`` from the project store, cached."""
    return _default_client().get(ref, fallback=fallback)


def register(
    source: PromptSpec | Path | str, *, message: str = "", author: str | None = None
) -> PromptVersion:
    """Register a prompt (a spec or a prompt file) in the project store."""
    spec = source if isinstance(source, PromptSpec) else load_prompt_file(Path(source))
    version = register_prompt(_store(None), spec, message=message, author=author)
    _default_client().invalidate(spec.name)
    return version


def diff(name: str, a: int | str, b: int | str) -> str:
    """A unified diff between two versions (numbers or aliases) of a prompt."""
    store = _store(None)
    first = get_version(store, name, parse_ref(f"{name}@{a}")[1])
    second = get_version(store, name, parse_ref(f"{name}@{b}")[1])
    return diff_versions(first, second)


def set_alias(
    name: str,
    alias: str,
    version: int,
    *,
    reason: str,
    actor: str | None = None,
    store: Store | None = None,
    gate: GateToken | None = None,
) -> AliasEvent:
    """Point ``alias`` (e.g. ``staging``) of ``name`` at ``version``, recorded with why.

    ``production`` is protected: it moves through ``llmops.gates.promote``.
    """
    event = _registry.set_alias(
        _store(store), name, alias, version, reason=reason, actor=actor, gate=gate
    )
    _default_client().invalidate(name)
    return event


def rollback_alias(
    name: str,
    alias: str,
    *,
    reason: str = "",
    actor: str | None = None,
    store: Store | None = None,
    gate: GateToken | None = None,
) -> AliasEvent:
    """Move ``alias`` back to where it pointed before its last move."""
    event = _registry.rollback_alias(
        _store(store), name, alias, reason=reason, actor=actor, gate=gate
    )
    _default_client().invalidate(name)
    return event
