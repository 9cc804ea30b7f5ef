"""Hot reads through SQLAlchemy Core: what the list commands show, without the ORM.

The ORM (``Store.session``/``Store.write`` and the models of ``llmops.store.models``) is for
writes and composite queries; a read that a command makes on every call, such as
``llmops prompts list`` or ``llmops runs list``, goes through the Core tables of
``llmops.store._tables`` here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, func, select

from llmops._exceptions import NotFoundError
from llmops.store._aliases import aliases_of_kind
from llmops.store._tables import eval_cases as _C
from llmops.store._tables import eval_runs as _R
from llmops.store._tables import experiments as _X
from llmops.store._tables import prompt_versions as _V
from llmops.store._tables import prompts as _P
from llmops.store._tables import tracking_runs as _T

if TYPE_CHECKING:
    from llmops.store._store import Store

__all__ = [
    "PromptInfo",
    "TrackingRun",
    "eval_case_counts",
    "eval_run_listing",
    "prompt_listing",
    "tracking_run_listing",
]


@dataclass(frozen=True)
class PromptInfo:
    """A prompt as listed: metadata, newest version number and aliases."""

    name: str
    description: str
    tags: list[str]
    latest: int
    aliases: dict[str, int] = field(default_factory=dict)
    created_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tags": self.tags,
            "latest": self.latest,
            "aliases": self.aliases,
            "created_at": self.created_at,
        }


def prompt_listing(store: Store) -> list[PromptInfo]:
    """Every prompt with its newest version number and aliases, by name."""
    with store.read() as connection:
        latest = dict(
            connection.execute(
                select(_V.c.prompt_id, func.max(_V.c.version)).group_by(_V.c.prompt_id)
            ).all()
        )
        prompts = connection.execute(select(_P).order_by(_P.c.name)).all()
    aliases = aliases_of_kind(store, "prompt")
    return [
        PromptInfo(
            name=p.name,
            description=p.description,
            tags=list(p.tags or []),
            latest=latest.get(p.id, 0),
            aliases=aliases.get(p.name, {}),
            created_at=p.created_at,
        )
        for p in prompts
    ]


@dataclass(frozen=True)
class TrackingRun:
    """A run's provenance, status, params and tags."""

    id: str
    experiment: str
    name: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    git_commit: str | None
    source: str
    user: str
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, None while running."""
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-ready fields (the API's and ``runs list --json``'s)."""
        return {
            "id": self.id,
            "experiment": self.experiment,
            "name": self.name,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": self.duration_s,
            "git_commit": self.git_commit,
            "source": self.source,
            "user": self.user,
            "params": self.params,
            "tags": self.tags,
        }


def tracking_run_listing(
    store: Store, *, limit: int, experiment: str | None = None, status: str | None = None
) -> list[TrackingRun]:
    """Tracking runs newest first, optionally of one experiment and one status."""
    query = (
        select(_T, _X.c.name.label("experiment"))
        .join(_X, _X.c.id == _T.c.experiment_id)
        .order_by(_T.c.started_at.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(_T.c.status == status)
    with store.read() as connection:
        if experiment is not None:
            found = connection.execute(select(_X.c.id).where(_X.c.name == experiment)).scalar()
            if found is None:
                names = connection.execute(select(_X.c.name)).scalars().all()
                raise NotFoundError(
                    f"experiment '{experiment}' not found; experiments: "
                    f"{', '.join(sorted(names)) or '(none)'}"
                )
            query = query.where(_T.c.experiment_id == found)
        rows = connection.execute(query).all()
    return [
        TrackingRun(
            id=row.id,
            experiment=row.experiment,
            name=row.name,
            status=row.status,
            started_at=row.started_at,
            ended_at=row.ended_at,
            git_commit=row.git_commit,
            source=row.source,
            user=row.user,
            params=dict(row.params or {}),
            tags=dict(row.tags or {}),
        )
        for row in rows
    ]


def eval_run_listing(store: Store, *, limit: int, suite: str | None = None) -> list[Row[Any]]:
    """Eval runs newest first (rows with the columns of ``_tables.eval_runs``)."""
    query = select(_R).order_by(_R.c.started_at.desc()).limit(limit)
    if suite is not None:
        query = query.where(_R.c.suite == suite)
    with store.read() as connection:
        return list(connection.execute(query).all())


def eval_case_counts(store: Store, run_ids: list[str]) -> dict[str, tuple[int, int]]:
    """(cases, errors) stored so far for each run in ``run_ids``: a running run writes its
    totals when it ends."""
    query = (
        select(_C.c.run_id, func.count(), func.count(_C.c.error))
        .where(_C.c.run_id.in_(run_ids))
        .group_by(_C.c.run_id)
    )
    counts = dict.fromkeys(run_ids, (0, 0))
    if not run_ids:
        return counts
    with store.read() as connection:
        for run_id, cases, errors in connection.execute(query).all():
            counts[run_id] = (cases, errors)
    return counts
