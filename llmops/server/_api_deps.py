"""What every API route depends on: the store the app was created over, and bounded JSON bodies."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from starlette.exceptions import HTTPException

from llmops._exceptions import InputError
from llmops.store import Store

__all__ = ["StoreDep", "json_body"]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]


async def json_body(request: Request, limit: int) -> Any:
    """The request's JSON body, refused with 413 past ``limit`` bytes: checked before reading
    (``Content-Length``) and while reading (chunked bodies have none)."""
    too_large = HTTPException(413, f"request body over {limit:,} bytes")
    length = request.headers.get("content-length", "")
    if length and (not (length.isascii() and length.isdigit())):
        raise InputError(f"invalid Content-Length '{length[:40]}'")
    if length and int(length) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large
    try:
        return orjson.loads(bytes(body))
    except orjson.JSONDecodeError as exc:
        raise InputError(f"request body is not JSON: {exc}") from None
