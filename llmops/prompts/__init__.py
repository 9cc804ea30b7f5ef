"""Prompt registry: templates kept as files, registered as immutable content-hashed versions,
moved between environments with audited aliases, fetched by apps through a cached client.

    import llmops.prompts as prompts
    qa = prompts.get("qa@production")
    messages = qa.render(question="...", context="...")
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
    PromptInfo,
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
from llmops.store import AliasEvent, on_alias_moved, open_store
from llmops.store import rollback_alias as _store_rollback_alias
from llmops.store import set_alias as _store_set_alias

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
    from llmops.store import GateToken, Store

_client: PromptClient | None = None


def _store(store: Store | None) -> Store:
    return store if store is not None else open_store()


def _default_client() -> PromptClient:
    global _client
    if _client is None:
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
    """Point ``alias`` (e.g. ``staging``) of ``name`` at ``version``, recorded with why: the
    store's :func:`llmops.store.set_alias` for kind ``prompt``, in the project store by default.

    ``production`` is protected: it moves through ``llmops.gates.promote``.
    """
    return _store_set_alias(
        _store(store), "prompt", name, alias, version, reason=reason, actor=actor, gate=gate
    )


def rollback_alias(
    name: str,
    alias: str,
    *,
    reason: str = "",
    actor: str | None = None,
    store: Store | None = None,
    gate: GateToken | None = None,
) -> AliasEvent:
    """Move ``alias`` back to where it pointed before its last move (the store's
    :func:`llmops.store.rollback_alias` for kind ``prompt``)."""
    return _store_rollback_alias(
        _store(store), "prompt", name, alias, reason=reason, actor=actor, gate=gate
    )


def _forget(event: AliasEvent) -> None:
    # any move (CLI, gates, another module) makes this process's cached alias lookups stale
    if event.kind == "prompt" and _client is not None:
        _client.invalidate(event.name)


on_alias_moved(_forget)
