"""Routes: weighted canary / A-B traffic between model versions, and shadow calls.

Declared in ``configs/routes.yaml``::

    routes:
      - name: support                  # canary: 90% production, 10% version 4
        weights: {"support-bot@production": 90, "support-bot@4": 10}
      - name: support-shadow           # answer with primary, mirror every call to shadow
        primary: support-bot@production
        shadow: support-bot@candidate

A target is a registry ref (``name@version``, ``name@alias``, ``registry:name``) or a model
configured in ``configs/llmops.yaml``. Every call goes through :func:`llmops.llm.acomplete`
(one path for retries, cache, rate limits and tracing), inside a ``route NAME`` span; each
``llm`` span says which target answered: ``llmops.route.name``, ``llmops.route.target`` (as
written), ``llmops.route.version`` (the resolved ``name@N``) and ``llmops.route.shadow``.

Why not litellm's ``Router``: it calls litellm itself (bypassing llmops' retries, cache, limits
and spans), draws weights from the global, unseedable ``random``, fixes deployments when built
(an alias moved to a new version would not be seen) and has no shadow mode. The chooser here is
one ``Random.choices`` over precomputed cumulative weights: about 1 µs a call, against
milliseconds for the model call itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from random import Random
from typing import Annotated, Any, Unpack

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmops._aio import DetachedStats, detach, detached_stats, run_sync
from llmops._exceptions import ConfigError, InputError, NotFoundError
from llmops._hooks import model_registry
from llmops._yaml import YamlDocument, load_model
from llmops.config import Config, load_config
from llmops.llm._client import (
    CallOptions,
    Completion,
    ResolvedModel,
    acomplete,
    resolve_model,
)
from llmops.llm._endpoints_lookup import REGISTRY_PREFIX, is_registry_ref, resolve_version_model
from llmops.store import Store, open_store
from llmops.tracing import span, span_attributes

__all__ = ["LoadedRoutes", "Route", "Router", "RoutesFile", "load_routes", "shadow_stats"]

ROUTES_RELPATH = Path("configs") / "routes.yaml"
_log = logging.getLogger(__name__)


def _check_target(target: str) -> str:
    if is_registry_ref(target):
        try:
            model_registry().check_ref(target.removeprefix(REGISTRY_PREFIX))
        except InputError as exc:
            raise ValueError(str(exc)) from None
    elif not target.strip():
        raise ValueError("a target must not be empty")
    return target


class Route(BaseModel):
    """Either ``weights`` (canary / A-B) or a ``primary``, optionally with a ``shadow``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    weights: dict[str, Annotated[float, Field(ge=0)]] | None = None
    primary: str | None = None
    shadow: str | None = None
    shadow_retries: int = Field(default=0, ge=0, le=5, description="retries of a shadow call")

    @field_validator("weights")
    @classmethod
    def _weights(cls, weights: dict[str, float] | None) -> dict[str, float] | None:
        if weights is not None:
            if not weights or sum(weights.values()) <= 0:
                raise ValueError("weights need at least one target with a weight above 0")
            for target in weights:
                _check_target(target)
        return weights

    @field_validator("primary", "shadow")
    @classmethod
    def _target(cls, target: str | None) -> str | None:
        return None if target is None else _check_target(target)

    @model_validator(mode="after")
    def _one_mode(self) -> Route:
        if (self.weights is None) == (self.primary is None):
            raise ValueError(f"route '{self.name}' needs either 'weights' or 'primary'")
        if self.shadow is not None and self.primary is None:
            raise ValueError(f"route '{self.name}': 'shadow' goes with 'primary', not 'weights'")
        return self

    @property
    def targets(self) -> list[str]:
        """Every target the route may call, shadow included."""
        found = [*(self.weights or {}), self.primary or "", self.shadow or ""]
        return [target for target in found if target]


class RoutesFile(BaseModel):
    """The content of ``configs/routes.yaml``."""

    model_config = ConfigDict(extra="forbid")

    routes: list[Route] = Field(default_factory=list)

    @field_validator("routes")
    @classmethod
    def _unique_names(cls, routes: list[Route]) -> list[Route]:
        names = [route.name for route in routes]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two routes are named '{name}'")
        return routes


@dataclass(frozen=True)
class LoadedRoutes:
    """The validated routes file with where it came from (for line numbers in errors)."""

    spec: RoutesFile
    path: Path
    doc: YamlDocument


def _target_loc(route: Route, target: str) -> list[str]:
    if route.weights is not None and target in route.weights:
        return ["weights", target]
    return ["primary" if target == route.primary else "shadow"]


def load_routes(path: Path, config: Config | None = None) -> LoadedRoutes:
    """Read and validate a routes file; with ``config``, configured model targets must exist.

    Problems raise ``ConfigError`` naming file, line and key.
    """
    spec, doc = load_model(path, RoutesFile, ConfigError, what="routes")
    if config is not None:
        for index, route in enumerate(spec.routes):
            for target in route.targets:
                if not is_registry_ref(target) and target not in config.models:
                    where = doc.where(["routes", index, *_target_loc(route, target)])
                    known = ", ".join(sorted(config.models)) or "none"
                    raise ConfigError(
                        f"{where}: route '{route.name}': unknown model '{target}' (configured: "
                        f"{known}; a registry version is written name@version or name@alias)"
                    )
    return LoadedRoutes(spec=spec, path=path, doc=doc)


def shadow_stats() -> DetachedStats:
    """Shadow calls of this process: started, finished, and abandoned at exit (still running
    when the bounded wait at exit ended; also said on stderr)."""
    return detached_stats()


@contextmanager
def _tagged(attributes: dict[str, Any]) -> Iterator[None]:
    """Add ``attributes`` to every span started inside (the ``llm`` span of the call)."""
    with span_attributes(attributes):
        yield


class Router:
    """Sends each call of a route to one of its targets; see the module docstring.

    ``rng`` (a seeded ``random.Random``) makes the weighted choices reproducible. Targets are
    resolved again after ``refresh_s`` seconds, so a moved alias or a new serving endpoint is
    picked up without a restart.
    """

    def __init__(
        self,
        routes: Sequence[Route] | RoutesFile,
        *,
        store: Store | None = None,
        config: Config | None = None,
        rng: Random | None = None,
        refresh_s: float = 5.0,
    ) -> None:
        listed = routes.routes if isinstance(routes, RoutesFile) else list(routes)
        self.routes = {route.name: route for route in listed}
        self._store = store
        self._config = config
        self._rng = rng or Random()
        self._refresh_s = refresh_s
        self._resolved: dict[str, tuple[float, ResolvedModel]] = {}
        self._choices = {
            route.name: (list(route.weights), list(accumulate(route.weights.values())))
            for route in listed
            if route.weights is not None
        }
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[None]] = set()

    @classmethod
    def from_file(
        cls,
        path: Path | str | None = None,
        *,
        store: Store | None = None,
        config: Config | None = None,
        rng: Random | None = None,
        refresh_s: float = 5.0,
    ) -> Router:
        """A router for ``path`` (default: the project's ``configs/routes.yaml``)."""
        config = config or load_config()
        if path is None:
            path = (config.project_dir or Path.cwd()) / ROUTES_RELPATH
        loaded = load_routes(Path(path), config)
        return cls(loaded.spec, store=store, config=config, rng=rng, refresh_s=refresh_s)

    def choose(self, route_name: str) -> str:
        """The target the next call of ``route_name`` goes to (a weighted draw, or the primary)."""
        route = self._route(route_name)
        if route.primary is not None:
            return route.primary
        targets, cumulative = self._choices[route.name]
        return self._rng.choices(targets, cum_weights=cumulative)[0]

    def _route(self, name: str) -> Route:
        route = self.routes.get(name)
        if route is None:
            known = ", ".join(sorted(self.routes)) or "none"
            raise NotFoundError(f"route '{name}' not found (known: {known})")
        return route

    def _fresh(self, target: str) -> ResolvedModel | None:
        cached = self._resolved.get(target)
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None

    def _resolve_now(self, target: str) -> ResolvedModel:
        with self._lock:  # concurrent misses of one target: the first resolves, the rest reuse
            model = self._fresh(target)
            if model is None:
                model = self._lookup(target)
                self._resolved[target] = (time.monotonic() + self._refresh_s, model)
            return model

    def _lookup(self, target: str) -> ResolvedModel:
        if is_registry_ref(target):
            if self._store is None:
                self._config = self._config or load_config()
                self._store = open_store(self._config.resolved_store_url)
            return resolve_version_model(self._store, target)
        return resolve_model(target, self._config)

    async def resolve(self, target: str) -> ResolvedModel:
        """The model ``target`` stands for now (cached for ``refresh_s`` seconds)."""
        model = self._fresh(target)
        return model if model is not None else await asyncio.to_thread(self._resolve_now, target)

    @staticmethod
    def _attributes(
        route: Route, target: str, model: ResolvedModel, *, shadow: bool = False
    ) -> dict[str, Any]:
        return {
            "llmops.route.name": route.name,
            "llmops.route.target": target,
            "llmops.route.version": model.name,
            "llmops.route.shadow": shadow,
        }

    async def acomplete(
        self, route_name: str, messages: list[dict[str, str]], **params: Unpack[CallOptions]
    ) -> Completion:
        """Call the route's chosen target (``params`` as for :func:`llmops.llm.acomplete`).

        A shadow target gets the same call concurrently; its answer and failure stay in its
        span and never reach the caller. It runs on llmops' own event loop, so it outlives the
        caller's loop, and the process waits for it at exit (up to 5 s; await :meth:`adrain`
        to wait sooner). The completion names the route, the target and the version.
        """
        route = self._route(route_name)
        target = self.choose(route_name)
        with span(f"route {route.name}", kind="chain") as parent:
            if route.shadow is not None:
                # detached, in this context: its span is a child of this route's span
                shadow = detach(self._shadow(route, route.shadow, messages, params))
                self._pending.add(shadow)
                shadow.add_done_callback(self._pending.discard)
            model = await self.resolve(target)
            attributes = self._attributes(route, target, model)
            parent.set_attributes(attributes)
            with _tagged(attributes):
                completion = await acomplete(messages, model, **params)
        return dataclasses.replace(completion, route=route.name, route_target=target)

    async def _shadow(
        self, route: Route, target: str, messages: list[dict[str, str]], params: CallOptions
    ) -> None:
        try:
            model = await self.resolve(target)
        except Exception as exc:  # recorded, never raised: a shadow must not affect the caller
            attributes = {
                "llmops.route.name": route.name,
                "llmops.route.target": target,
                "llmops.route.shadow": True,
            }
            with span(f"chat {target}", kind="llm", attributes=attributes) as failed:
                failed.set_status("ERROR", f"{type(exc).__name__}: {exc}"[:500])
            return
        with _tagged(self._attributes(route, target, model, shadow=True)):
            try:
                shadow: CallOptions = {**params, "retries": route.shadow_retries}
                await acomplete(messages, model, **shadow)
            except Exception as exc:  # the llm span already holds the error
                _log.debug("shadow call of route %s failed: %s", route.name, exc)

    async def adrain(self) -> None:
        """Wait for this router's shadow calls still in flight."""
        while self._pending:
            await asyncio.gather(*(asyncio.wrap_future(f) for f in list(self._pending)))

    def complete(
        self, route_name: str, messages: list[dict[str, str]], **params: Unpack[CallOptions]
    ) -> Completion:
        """Blocking form of :meth:`acomplete`."""
        return run_sync(self.acomplete(route_name, messages, **params))

    def drain(self) -> None:
        """Blocking form of :meth:`adrain`."""
        while self._pending:
            concurrent.futures.wait(list(self._pending))
