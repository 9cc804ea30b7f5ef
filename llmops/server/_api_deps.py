"""What every API route depends on: the store the app was created over."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from llmops.store import Store

__all__ = ["StoreDep"]


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]
