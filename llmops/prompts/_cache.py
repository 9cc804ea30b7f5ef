"""``PromptClient``: cached lookups for apps. Versions are cached forever (immutable), aliases
and ``latest`` for a TTL; when the store is unreachable the last known version is served,
or a bundled default.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from llmops._exceptions import StoreError
from llmops.prompts._files import PromptSpec
from llmops.prompts._registry import content_hash, get_version
from llmops.prompts._template import declared_variables
from llmops.prompts._version import PromptVersion, parse_ref
from llmops.store import Store

__all__ = ["DEFAULT_ALIAS_TTL", "PromptClient"]

DEFAULT_ALIAS_TTL = 60.0
_FOREVER = float("inf")


def _default_ttl() -> float:
    try:
        return float(os.environ.get("LLMOPS_PROMPT_CACHE_TTL", DEFAULT_ALIAS_TTL))
    except ValueError:
        return DEFAULT_ALIAS_TTL


def _from_spec(spec: PromptSpec) -> PromptVersion:
    """A bundled default as an unregistered version (number 0, id 0)."""
    return PromptVersion(
        name=spec.name,
        version=0,
        id=0,
        content_hash=content_hash(spec.kind, spec.body, spec.model_params),
        kind=spec.kind,
        template=spec.body,
        variables=declared_variables(spec.kind, spec.body),
        model_params=spec.model_params,
        message="bundled default",
    )


class PromptClient:
    """Resolves ``name[@version|@alias]`` against a store with an in-process cache."""

    def __init__(
        self, store: Store | Callable[[], Store], *, alias_ttl: float | None = None
    ) -> None:
        self._store = store
        self.alias_ttl = _default_ttl() if alias_ttl is None else alias_ttl
        self._cache: dict[str, tuple[PromptVersion, float]] = {}  # ref -> (version, fetched at)
        self._lock = threading.Lock()

    def _resolve_store(self) -> Store:
        return self._store if isinstance(self._store, Store) else self._store()

    def get(self, ref: str, *, fallback: PromptSpec | None = None) -> PromptVersion:
        """The version ``ref`` names, from cache when fresh, else from the store."""
        hit = self._cache.get(ref)
        now = time.monotonic()
        if hit is not None and hit[1] + self.alias_ttl > now:
            return hit[0]
        name, selector = parse_ref(ref)
        try:
            version = get_version(self._resolve_store(), name, selector)
        except (StoreError, SQLAlchemyError) as exc:
            if hit is not None:
                return hit[0]  # stale but known: serve it while the store is away
            if fallback is not None:
                return _from_spec(fallback)
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"cannot read prompt '{ref}' from the store: {exc}") from None
        fetched = _FOREVER if isinstance(selector, int) else now  # numbered versions never expire
        with self._lock:
            self._cache[ref] = (version, fetched)
            self._cache.setdefault(version.ref, (version, _FOREVER))
        return version

    def invalidate(self, name: str | None = None) -> None:
        """Forget cached aliases (and versions) of ``name``, or of every prompt."""
        with self._lock:
            for ref in list(self._cache):
                if name is None or ref.partition("@")[0] == name:
                    del self._cache[ref]
