"""Pagination of the REST API: ``limit``, opaque keyset cursors, ``{items, next_cursor}`` pages.

A cursor is the sort key of the last item given, as base64url JSON; the next page starts
strictly after it, so items added meanwhile never shift a page (no duplicates, no gaps).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Query, Response

from llmops._exceptions import InputError

__all__ = [
    "MAX_INT",
    "Cursor",
    "Limit",
    "decode_cursor",
    "encode_cursor",
    "json_response",
    "page",
    "page_body",
]

T = TypeVar("T")

#: The largest integer a cursor or filter may carry (a signed 64-bit column holds it).
MAX_INT = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=500, description="Items per page (at most 500).")]
Cursor = Annotated[
    str | None,
    Query(max_length=1000, description="The `next_cursor` of the previous page."),
]


def json_response(data: Any, status_code: int = 200) -> Response:
    """``data`` as JSON (orjson: datetimes as RFC 3339, NaN as null)."""
    body = orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS)
    return Response(body, status_code=status_code, media_type="application/json")


def encode_cursor(key: Sequence[str | int]) -> str:
    """An opaque cursor for the sort key of the last item of a page."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def decode_cursor(cursor: str | None, types: Sequence[type]) -> list[Any] | None:
    """The sort key a cursor carries, checked against ``types``; a bad cursor is ``InputError``."""
    if cursor is None or cursor == "":
        return None
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise InputError("invalid cursor: pass the next_cursor of the previous page") from None
    ok = isinstance(key, list) and len(key) == len(types)
    for value, kind in zip(key if ok else [], types, strict=False):
        if (
            type(value) is not kind
            or (isinstance(value, int) and abs(value) > MAX_INT)
            or (isinstance(value, str) and "\x00" in value)
        ):
            ok = False
    if not ok:
        raise InputError("invalid cursor: pass the next_cursor of the previous page")
    return list(key)


def page_body(
    rows: Sequence[T],
    limit: int,
    key: Callable[[T], Sequence[str | int]],
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    """``{items, next_cursor}`` for ``rows`` fetched with ``limit + 1`` (to know if more follow)."""
    shown = rows[:limit]
    more = len(rows) > limit and bool(shown)
    return {
        "items": [render(row) for row in shown],
        "next_cursor": encode_cursor(key(shown[-1])) if more else None,
    }


def page(
    rows: Sequence[T],
    limit: int,
    key: Callable[[T], Sequence[str | int]],
    render: Callable[[T], dict[str, Any]],
    **extra: Any,
) -> Response:
    """The page of ``rows`` as a response, with ``extra`` fields first."""
    return json_response({**extra, **page_body(rows, limit, key, render)})
