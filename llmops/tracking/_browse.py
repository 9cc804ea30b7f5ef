"""Browsing tracking data for the viewer and the CLI: an experiment's runs sorted and filtered,
a metric's history bounded in size, and artifacts read as a stream checked against its digest."""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import orjson
from sqlalchemy import func
from sqlalchemy import select as sa_select

from llmops._exceptions import InputError, NotFoundError
from llmops.store import Store, TrackingRun
from llmops.store.models import (
    ArtifactRecord,
    ExperimentRecord,
    MetricRecord,
    TrackingRunRecord,
    table_of,
)
from llmops.tracking._artifacts import (
    _CHUNK,
    _blobs,
    _corrupt,
    _find,
    _open,
    artifact_root,
    clean_artifact_path,
)
from llmops.tracking._queries import (
    STATUSES,
    MetricPoint,
    _latest_metrics,
    _run,
    _runs_query,
    resolve_run_id,
)

__all__ = [
    "MAX_HISTORY_POINTS",
    "MAX_SCANNED_RUNS",
    "ArtifactStream",
    "MetricHistory",
    "RunsPage",
    "artifacts_page",
    "experiment_runs",
    "latest_metrics",
    "metric_history_bounded",
    "open_artifact",
]

#: A metric history longer than this is downsampled to at most this many points.
MAX_HISTORY_POINTS = 10_000
#: Sorting by a metric or param needs every run of an experiment: only its newest this many.
MAX_SCANNED_RUNS = 10_000
_SORTS = ("started_at", "name", "status", "duration")
_RUN = table_of(TrackingRunRecord)


@dataclass(frozen=True)
class RunsPage:
    """A window of an experiment's runs with their latest metric values, and how many matched."""

    runs: list[TrackingRun]
    metrics: dict[str, dict[str, MetricPoint]]
    total: int
    truncated: bool


@dataclass(frozen=True)
class MetricHistory:
    """A metric's values by step; ``downsampled``: ``total`` points became ``len(points)``."""

    key: str
    points: list[MetricPoint]
    total: int
    downsampled: bool


def latest_metrics(store: Store, run_ids: list[str]) -> dict[str, dict[str, MetricPoint]]:
    """The latest value of every metric of each run (highest step, then newest)."""
    if not run_ids:
        return {}
    with store.session() as session:
        return _latest_metrics(session, run_ids)


def _filter_pair(text: str, what: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise InputError(f"{what} filter {text[:60]!r} must look like key=value")
    return key, value


def _text(value: Any) -> str:
    """A param as a filter compares it: strings as they are, anything else as JSON (``true``)."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def _sort_key(sort: str, metrics: dict[str, dict[str, MetricPoint]]) -> Any:
    kind, _, name = sort.partition(":")

    def key(run: TrackingRun) -> tuple[int, Any]:
        if kind == "metric":
            point = metrics.get(run.id, {}).get(name)
            value: Any = None if point is None or math.isnan(point.value) else point.value
        elif kind == "param":
            value = run.params.get(name)
            if value is not None and not isinstance(value, int | float):
                return (1, _text(value))  # text after numbers, both before absent values
        elif kind == "duration":
            value = run.duration_s
        elif kind == "name":
            return (1, run.name)
        elif kind == "status":
            return (1, run.status)
        else:
            return (0, run.started_at.replace(tzinfo=None).isoformat())
        return (0, value) if value is not None else (2, 0)

    return key


def experiment_runs(
    store: Store,
    experiment: str,
    *,
    status: str | None = None,
    tags: Sequence[str] = (),
    params: Sequence[str] = (),
    sort: str = "started_at",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
) -> RunsPage:
    """Runs of ``experiment`` matching ``status`` and every ``key=value`` tag and param filter,
    sorted by ``sort`` (``started_at``, ``name``, ``status``, ``duration``, ``metric:KEY`` or
    ``param:KEY``; runs lacking the value last), ``limit`` of them from ``offset``."""
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown run status '{status}': expected one of {', '.join(STATUSES)}")
    kind, _, name = sort.partition(":")
    if not (sort in _SORTS or (kind in ("metric", "param") and name)):
        raise InputError(
            f"unknown sort '{sort[:60]}': use started_at, name, status, duration, "
            "metric:KEY or param:KEY"
        )
    tag_filters = [_filter_pair(t, "tag") for t in tags]
    param_filters = [_filter_pair(p, "param") for p in params]
    with store.session() as session:
        experiments = table_of(ExperimentRecord)
        found = (
            session.connection()
            .execute(sa_select(experiments.c.id).where(experiments.c.name == experiment))
            .scalar()
        )
        if found is None:
            raise NotFoundError(f"experiment '{experiment}' not found")
        query = _runs_query().where(_RUN.c.experiment_id == found)
        if status is not None:
            query = query.where(_RUN.c.status == status)
        rows = session.exec(
            query.order_by(_RUN.c.started_at.desc(), _RUN.c.id.desc()).limit(MAX_SCANNED_RUNS + 1)
        ).all()
        truncated = len(rows) > MAX_SCANNED_RUNS
        runs = [_run(record, name) for record, name in rows[:MAX_SCANNED_RUNS]]
        runs = [
            run
            for run in runs
            if all(run.tags.get(k) == v for k, v in tag_filters)
            and all(k in run.params and _text(run.params[k]) == v for k, v in param_filters)
        ]
        # a metric sort needs every run's latest values; otherwise only the page's
        wanted = [run.id for run in runs] if kind == "metric" else []
        metrics = _latest_metrics(session, wanted) if wanted else {}
        ordered = sorted(runs, key=_sort_key(sort, metrics))
        if descending:
            # absent values stay last whichever the direction
            present = [run for run in ordered if _sort_key(sort, metrics)(run)[0] != 2]
            ordered = present[::-1] + ordered[len(present) :]
        shown = ordered[offset : offset + limit]
        page_metrics = _latest_metrics(session, [run.id for run in shown]) if shown else {}
    return RunsPage(shown, page_metrics, len(runs), truncated)


def metric_history_bounded(
    store: Store, run_id: str, key: str, max_points: int = MAX_HISTORY_POINTS
) -> MetricHistory:
    """A run's metric by step then time; past ``max_points`` values it is downsampled into
    buckets of consecutive values keeping each bucket's first, min and max (so spikes stay
    visible), read as a stream so memory stays bounded."""
    m = table_of(MetricRecord)
    with store.session() as session:
        full_id = resolve_run_id(session, run_id)
        connection = session.connection()
        where = (m.c.run_id == full_id, m.c.key == key)
        total = connection.execute(sa_select(func.count()).where(*where)).scalar_one()
        if not total:
            keys = connection.execute(sa_select(m.c.key).where(m.c.run_id == full_id).distinct())
            raise NotFoundError(
                f"run {full_id[:12]} has no metric '{key}'; its metrics: "
                f"{', '.join(sorted(k for (k,) in keys)) or '(none)'}"
            )
        rows = connection.execution_options(yield_per=5000).execute(
            sa_select(m.c.value, m.c.step, m.c.timestamp_ms)
            .where(*where)
            .order_by(m.c.step, m.c.timestamp_ms, m.c.id)
        )
        if total <= max_points:
            points = [MetricPoint(v, s, t) for v, s, t in rows]
            return MetricHistory(key, points, total, False)
        size = math.ceil(total / max(1, max_points // 3))
        points = []
        count = 0
        first = low = high = (0.0, 0, 0)
        # one pass, O(1) per row: the first, lowest and highest of each bucket (NaN never wins)
        for row in rows:
            value = row[0]
            if count == 0:
                first = low = high = (value, row[1], row[2])
            elif value < low[0] or low[0] != low[0]:
                low = (value, row[1], row[2])
            elif value > high[0] or high[0] != high[0]:
                high = (value, row[1], row[2])
            count += 1
            if count == size:
                points += _reduce(first, low, high)
                count = 0
        if count:
            points += _reduce(first, low, high)
    return MetricHistory(key, points, total, True)


def _reduce(*kept: tuple[float, int, int]) -> list[MetricPoint]:
    # a bucket's first value may also be its lowest or highest: each point once, in order
    return [MetricPoint(*row) for row in sorted(set(kept), key=lambda row: (row[1], row[2]))]


@dataclass(frozen=True)
class ArtifactStream:
    """One artifact's content, verified, ready to be read from ``handle`` (close it)."""

    path: str
    size: int
    digest: str
    handle: IO[bytes]

    def chunks(self) -> Iterator[bytes]:
        """The content in chunks; closes the handle at the end."""
        try:
            while chunk := self.handle.read(_CHUNK):
                yield chunk
        finally:
            self.handle.close()


def open_artifact(
    store: Store, run_id: str, path: str, *, root: str | None = None
) -> ArtifactStream:
    """One artifact of a run, its content copied (spooled: in memory up to 1 MiB, then on
    disk) and checked against its digest before a byte is handed over."""
    cleaned = clean_artifact_path(path)
    _, records = _find(store, run_id, cleaned)
    if len(records) != 1 or records[0].path != cleaned:
        raise InputError(f"'{cleaned}' is a folder of {len(records)} artifacts, not a file")
    record: ArtifactRecord = records[0]
    blobs = _blobs(root or artifact_root())
    spool = tempfile.SpooledTemporaryFile(max_size=_CHUNK)  # noqa: SIM115 (returned open)
    sha = hashlib.sha256()
    try:
        with _open(blobs, record) as source:
            while chunk := source.read(_CHUNK):
                sha.update(chunk)
                spool.write(chunk)
        if sha.hexdigest() != record.digest:
            raise _corrupt(blobs, record)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return ArtifactStream(record.path, record.size, record.digest, spool)


def artifacts_page(
    store: Store, run_id: str, *, after: str | None = None, limit: int = 100
) -> tuple[str, list[ArtifactRecord]]:
    """(full run id, up to ``limit + 1`` artifacts by path after ``after``)."""
    a = table_of(ArtifactRecord)
    with store.session() as session:
        full_id = resolve_run_id(session, run_id)
        query = sa_select(a).where(a.c.run_id == full_id)
        if after is not None:
            query = query.where(a.c.path > after)
        rows = session.connection().execute(query.order_by(a.c.path).limit(limit + 1)).all()
    return full_id, [ArtifactRecord(**row._mapping) for row in rows]
