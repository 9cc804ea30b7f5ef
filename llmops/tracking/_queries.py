"""Reading tracking data back: experiments, runs, latest metrics, histories, comparisons."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from llmops._exceptions import InputError, NotFoundError
from llmops._json import JSONValue
from llmops.store import Store, TrackingRun, tracking_run_listing
from llmops.store.models import (
    ArtifactRecord,
    ExperimentRecord,
    MetricRecord,
    TrackingRunRecord,
    table_of,
)

__all__ = [
    "STATUSES",
    "Artifact",
    "Experiment",
    "MetricPoint",
    "TrackingComparison",
    "TrackingRun",
    "TrackingRunDetail",
    "compare_tracking_runs",
    "get_tracking_run",
    "list_experiments",
    "list_tracking_runs",
    "metric_history",
    "resolve_run_id",
]

STATUSES = ("running", "finished", "failed", "killed")


@dataclass(frozen=True)
class Experiment:
    """A named group of runs, with how many it holds and when the last one started."""

    id: int
    name: str
    description: str
    created_at: datetime
    runs: int
    last_run_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (the API's and ``experiments list --json``'s)."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "runs": self.runs,
            "last_run_at": self.last_run_at,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One value of a metric."""

    value: float
    step: int
    timestamp_ms: int


@dataclass(frozen=True)
class Artifact:
    """A file of a run: its path in the run, content digest (sha256) and size in bytes."""

    path: str
    digest: str
    size: int
    created_at: datetime


@dataclass(frozen=True)
class TrackingRunDetail:
    """A run with the latest value of each metric (highest step, then newest) and artifacts."""

    run: TrackingRun
    metrics: dict[str, MetricPoint]
    artifacts: list[Artifact]


@dataclass(frozen=True)
class TrackingComparison:
    """Runs side by side: one value per run for each param and latest metric (None: absent)."""

    runs: list[TrackingRun]
    params: dict[str, list[JSONValue]]
    metrics: dict[str, list[float | None]]
    differing_params: list[str]
    differing_metrics: list[str]


def _run(record: TrackingRunRecord, experiment: str) -> TrackingRun:
    return TrackingRun(
        id=record.id,
        experiment=experiment,
        name=record.name,
        status=record.status,
        started_at=record.started_at,
        ended_at=record.ended_at,
        git_commit=record.git_commit,
        source=record.source,
        user=record.user,
        params=dict(record.params or {}),
        tags=dict(record.tags or {}),
    )


def _runs_query() -> Any:
    return select(TrackingRunRecord, ExperimentRecord.name).join(
        ExperimentRecord, col(ExperimentRecord.id) == col(TrackingRunRecord.experiment_id)
    )


def resolve_run_id(session: Session, run_id: str) -> str:
    """The full id of the run whose id is ``run_id`` or starts with it."""
    if not run_id:
        raise InputError("a tracking run id (or a prefix of one) is required")
    if session.get(TrackingRunRecord, run_id) is not None:
        return run_id
    matches = session.exec(
        select(TrackingRunRecord.id)
        .where(col(TrackingRunRecord.id).startswith(run_id.lower(), autoescape=True))
        .limit(2)
    ).all()
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotFoundError(f"tracking run id prefix '{run_id}' is ambiguous")
    raise NotFoundError(f"tracking run '{run_id}' not found")


def list_experiments(store: Store) -> list[Experiment]:
    """Every experiment by name, with its run count and last start time."""
    runs = func.count(col(TrackingRunRecord.id))
    last = func.max(col(TrackingRunRecord.started_at))
    query = (
        select(ExperimentRecord, runs, last)
        .join(
            TrackingRunRecord,
            col(TrackingRunRecord.experiment_id) == col(ExperimentRecord.id),
            isouter=True,
        )
        .group_by(col(ExperimentRecord.id))
        .order_by(col(ExperimentRecord.name))
    )
    with store.session() as session:
        rows = session.exec(query).all()
    return [
        Experiment(
            id=record.id or 0,
            name=record.name,
            description=record.description,
            created_at=record.created_at,
            runs=count,
            last_run_at=last_at,
        )
        for record, count, last_at in rows
    ]


def list_tracking_runs(
    store: Store,
    *,
    experiment: str | None = None,
    status: str | None = None,
    limit: int = 50,
) -> list[TrackingRun]:
    """Runs newest first, optionally of one experiment and one status."""
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown run status '{status}': expected one of {', '.join(STATUSES)}")
    return tracking_run_listing(store, limit=limit, experiment=experiment, status=status)


def _latest_metrics(session: Session, run_ids: list[str]) -> dict[str, dict[str, MetricPoint]]:
    m = table_of(MetricRecord)
    last = (
        sa_select(m.c.run_id, m.c.key, func.max(m.c.step).label("step"))
        .where(m.c.run_id.in_(run_ids))
        .group_by(m.c.run_id, m.c.key)
        .subquery()
    )
    rows = session.connection().execute(
        sa_select(m.c.run_id, m.c.key, m.c.value, m.c.step, m.c.timestamp_ms)
        .join(
            last,
            (m.c.run_id == last.c.run_id) & (m.c.key == last.c.key) & (m.c.step == last.c.step),
        )
        .order_by(m.c.timestamp_ms, m.c.id)
    )
    latest: dict[str, dict[str, MetricPoint]] = {run_id: {} for run_id in run_ids}
    for run_id, key, value, step, timestamp_ms in rows:  # the newest of a step comes last
        latest[run_id][key] = MetricPoint(value, step, timestamp_ms)
    return {run_id: dict(sorted(by_key.items())) for run_id, by_key in latest.items()}


def get_tracking_run(store: Store, run_id: str) -> TrackingRunDetail:
    """One run by id (or unique id prefix) with its latest metrics and its artifacts."""
    with store.session() as session:
        full_id = resolve_run_id(session, run_id)
        record, experiment = session.exec(
            _runs_query().where(col(TrackingRunRecord.id) == full_id)
        ).one()
        artifacts = session.exec(
            select(ArtifactRecord)
            .where(col(ArtifactRecord.run_id) == full_id)
            .order_by(col(ArtifactRecord.path))
        ).all()
        metrics = _latest_metrics(session, [full_id])[full_id]
    return TrackingRunDetail(
        run=_run(record, experiment),
        metrics=metrics,
        artifacts=[Artifact(a.path, a.digest, a.size, a.created_at) for a in artifacts],
    )


def metric_history(store: Store, run_id: str, key: str) -> list[MetricPoint]:
    """Every value of a run's metric, by step then time of logging."""
    m = table_of(MetricRecord)
    with store.session() as session:
        full_id = resolve_run_id(session, run_id)
        rows = session.connection().execute(
            sa_select(m.c.value, m.c.step, m.c.timestamp_ms)
            .where(m.c.run_id == full_id, m.c.key == key)
            .order_by(m.c.step, m.c.timestamp_ms, m.c.id)
        )
        points = [MetricPoint(value, step, timestamp_ms) for value, step, timestamp_ms in rows]
        if not points:
            keys = session.connection().execute(
                sa_select(m.c.key).where(m.c.run_id == full_id).distinct()
            )
            raise NotFoundError(
                f"run {full_id[:12]} has no metric '{key}'; its metrics: "
                f"{', '.join(sorted(k for (k,) in keys)) or '(none)'}"
            )
    return points


def _differs(values: list[Any]) -> bool:
    return any(value != values[0] for value in values[1:])


def compare_tracking_runs(store: Store, run_ids: list[str]) -> TrackingComparison:
    """Params and latest metrics of two or more runs side by side, with the keys that differ."""
    if len(run_ids) < 2:
        raise InputError("compare needs at least two run ids")
    with store.session() as session:
        full_ids = [resolve_run_id(session, run_id) for run_id in run_ids]
        found = {
            record.id: _run(record, name)
            for record, name in session.exec(
                _runs_query().where(col(TrackingRunRecord.id).in_(full_ids))
            ).all()
        }
        latest = _latest_metrics(session, sorted(set(full_ids)))
    runs = [found[run_id] for run_id in full_ids]
    param_keys = sorted({key for run in runs for key in run.params})
    metric_keys = sorted({key for run_id in full_ids for key in latest[run_id]})
    params = {key: [run.params.get(key) for run in runs] for key in param_keys}
    metrics: dict[str, list[float | None]] = {
        key: [
            point.value if (point := latest[run_id].get(key)) is not None else None
            for run_id in full_ids
        ]
        for key in metric_keys
    }
    return TrackingComparison(
        runs=runs,
        params=params,
        metrics=metrics,
        differing_params=[key for key, values in params.items() if _differs(values)],
        differing_metrics=[key for key, values in metrics.items() if _differs(values)],
    )
