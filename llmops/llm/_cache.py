"""A response cache in the store: an identical request is answered without calling the model.

The key covers the model, its parameters, the messages and a salt (an eval's repeat index),
so repeats of a case are distinct calls and a re-run of a whole suite is free. Writes are
buffered and flushed in one transaction with the results they belong to.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

import orjson
from sqlalchemy import insert, select

from llmops.store import Store
from llmops.store.models import ResponseCacheRecord, table_of

__all__ = ["ResponseCache", "cache_key"]


def cache_key(model: str, params: dict[str, Any], messages: list[dict[str, Any]], salt: str) -> str:
    """A stable hash of everything that determines a response."""
    payload = {"model": model, "params": params, "messages": messages, "salt": salt}
    return hashlib.sha256(
        orjson.dumps(payload, option=orjson.OPT_SORT_KEYS, default=str)
    ).hexdigest()


class ResponseCache:
    """Responses by key, read from the store and written back in batches by ``flush``."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: dict[str, tuple[str, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            pending = self._pending.get(key)
        if pending is not None:
            self.hits += 1
            return pending[1]
        with self.store.session() as session:
            record = session.get(ResponseCacheRecord, key)
        if record is None:
            self.misses += 1
            return None
        self.hits += 1
        response: dict[str, Any] = record.response
        return response

    def put(self, key: str, model: str, response: dict[str, Any]) -> None:
        with self._lock:
            self._pending[key] = (model, response)

    def flush(self) -> None:
        """Write buffered responses; a key written meanwhile by another run is left alone."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        with self.store.write() as session:
            table = table_of(ResponseCacheRecord)
            connection = session.connection()
            existing = set(
                connection.execute(
                    select(table.c.key).where(table.c.key.in_(list(pending)))
                ).scalars()
            )
            rows = [
                {"key": key, "model": model, "response": response}
                for key, (model, response) in pending.items()
                if key not in existing
            ]
            if rows:
                connection.execute(insert(table), rows)
