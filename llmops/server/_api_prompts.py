"""``GET /api/v1/prompts``: the prompt registry, its versions, diffs and alias history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from llmops._exceptions import NotFoundError
from llmops.prompts import (
    PromptInfo,
    check_prompt_name,
    diff_versions,
    get_version,
    list_prompts,
    list_versions,
    parse_ref,
)
from llmops.server._api_deps import StoreDep
from llmops.server._pagination import Cursor, Limit, decode_cursor, json_response, page
from llmops.store import Store, alias_history

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/prompts", tags=["prompts"])

Name = Annotated[str, Path(min_length=1, max_length=200)]
Selector = Annotated[str, Query(min_length=1, max_length=64, description="Version or alias.")]


def _info(store: Store, name: str) -> PromptInfo:
    check_prompt_name(name)
    for info in list_prompts(store):
        if info.name == name:
            return info
    raise NotFoundError(f"prompt '{name}' not found")


@router.get("", summary="Prompts by name, with latest version, aliases and tags")
def prompts(store: StoreDep, limit: Limit = 50, cursor: Cursor = None) -> Response:
    after = decode_cursor(cursor, (str,))
    found = [p for p in list_prompts(store) if after is None or p.name > after[0]]
    return page(found[: limit + 1], limit, key=lambda p: (p.name,), render=PromptInfo.to_dict)


@router.get("/{name}", summary="A prompt with every version (newest first) and its aliases")
def prompt(store: StoreDep, name: Name) -> Response:
    info = _info(store, name)
    versions = [v.to_dict() for v in list_versions(store, name)]
    return json_response({**info.to_dict(), "versions": versions})


@router.get("/{name}/diff", summary="A unified diff between two versions (numbers or aliases)")
def diff(store: StoreDep, name: Name, a: Selector, b: Selector) -> Response:
    check_prompt_name(name)
    first = get_version(store, name, parse_ref(f"{name}@{a}")[1])
    second = get_version(store, name, parse_ref(f"{name}@{b}")[1])
    return json_response(
        {"a": first.version, "b": second.version, "diff": diff_versions(first, second)}
    )


@router.get("/{name}/history", summary="Every move of the prompt's aliases, newest first")
def history(
    store: StoreDep,
    name: Name,
    alias: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """Alias events; the cursor counts from the oldest event, so new moves never shift a page."""
    check_prompt_name(name)
    after = decode_cursor(cursor, (int,))
    get_version(store, name)  # a missing prompt is a 404, not an empty history
    events = alias_history(store, "prompt", name, alias)
    numbered: list[tuple[int, Any]] = [(len(events) - i, e) for i, e in enumerate(events)]
    if after is not None:
        numbered = [(n, e) for n, e in numbered if n < after[0]]
    return page(
        numbered[: limit + 1], limit, key=lambda r: (r[0],), render=lambda r: r[1].to_dict()
    )
