"""Retention: delete traces and eval runs older than a cutoff, never what something refers to.

A trace goes when its root span ended before the cutoff (a trace without a root: when all of
its spans did), with its spans, logs, scores and ``trace_totals`` row, unless one of these
refers to it (the models' trace ids, read in bounded batches through their indexes):

- an eval run's case (``eval_cases.trace_id``),
- a dataset row made from it (``dataset_rows.trace_id``),
- an annotation queue item (``queue_items.trace_id``),
- a gate decision's online evidence (``gate_decisions.evidence``: the score ids it recorded;
  where it recorded only the first ones, every trace of its window with a score of its
  scorer).

An eval run goes when it started before its cutoff, with its cases and scores, unless a gate
decision rests on it (``evidence.runs``). Runs go first, so their traces may go in the same
pass.

Work is done in batches of ``batch`` traces, one short transaction each, with a pause
between them, so that ingest is never starved. Deletes are idempotent, so several processes
may prune one PostgreSQL store at once; they take turns per batch (an advisory lock) rather
than racing. On PostgreSQL a day partition of ``spans`` whose every trace goes (no span of a
kept trace, no trace reaching outside the day) is dropped whole, with its traces' logs,
scores and totals, in one step; the rest is deleted by rows. On SQLite the freed pages are
given back to the file system (``PRAGMA incremental_vacuum``).

A dry run counts what would go with the same queries, so its counts equal a real run's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Connection,
    Table,
    and_,
    column,
    exists,
    func,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy import table as sql_table
from sqlalchemy.exc import DBAPIError

from llmops.store._partitions import day_partitions

if TYPE_CHECKING:
    from llmops.store._store import Store

__all__ = ["PruneReport", "prune", "vacuum_store"]

_PRUNE_LOCK = 0x6C6C7072  # advisory lock id: pruners of one PostgreSQL store take turns
_MIN_NS = -(2**63)
_IN_CHUNK = 500  # bounded IN lists
_VACUUM_PAGES = 2000  # pages given back per transaction (8 MB at 4 KB pages)
#: The kinds of reference that keep a trace, as reports name them.
REFERENCES = ("eval_cases", "dataset_rows", "queue_items", "gate_decisions")


@dataclass
class PruneReport:
    """What a prune deleted (or, dry, would delete): rows per table, and what it kept."""

    dry_run: bool
    traces_before: datetime | None
    eval_runs_before: datetime | None
    traces: int = 0
    deleted: dict[str, int] = field(default_factory=dict)
    #: traces old enough to go, kept because of a reference (a trace may count in several)
    kept: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REFERENCES, 0))
    eval_runs: int = 0
    eval_runs_kept: int = 0  # old enough, but a gate decision rests on them
    partitions_dropped: list[str] = field(default_factory=list)
    batches: int = 0
    pages_freed: int = 0
    stopped: bool = False

    def _add(self, table: str, rows: int) -> None:
        self.deleted[table] = self.deleted.get(table, 0) + rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "traces_before": self.traces_before.isoformat() if self.traces_before else None,
            "eval_runs_before": (
                self.eval_runs_before.isoformat() if self.eval_runs_before else None
            ),
            "traces": self.traces,
            "eval_runs": self.eval_runs,
            "deleted": dict(self.deleted),
            "kept": dict(self.kept),
            "eval_runs_kept": self.eval_runs_kept,
            "partitions_dropped": list(self.partitions_dropped),
            "batches": self.batches,
            "pages_freed": self.pages_freed,
            "stopped": self.stopped,
        }


@dataclass
class _Tables:
    spans: Table
    logs: Table
    scores: Table
    totals: Table
    eval_runs: Table
    eval_cases: Table
    eval_scores: Table
    dataset_rows: Table
    queue_items: Table
    gate_decisions: Table


def _tables() -> _Tables:
    # lazy: the models load sqlmodel, which the hot read paths never pay for
    from sqlmodel import SQLModel

    from llmops.store import models

    _ = models
    t = SQLModel.metadata.tables
    return _Tables(
        t["spans"],
        t["logs"],
        t["scores"],
        t["trace_totals"],
        t["eval_runs"],
        t["eval_cases"],
        t["eval_scores"],
        t["dataset_rows"],
        t["queue_items"],
        t["gate_decisions"],
    )


@dataclass
class _Protected:
    """What gate decisions rest on: eval runs, traces of recorded score ids, and the windows
    (scorer, first ns, last ns) of evidence that recorded only its first score ids."""

    runs: set[str] = field(default_factory=set)
    traces: set[str] = field(default_factory=set)
    windows: list[tuple[str, int, int]] = field(default_factory=list)


def _chunks(values: list[Any], size: int = _IN_CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _gate_references(connection: Connection, t: _Tables) -> _Protected:
    found = _Protected()
    score_ids: set[str] = set()
    rows = connection.execution_options(yield_per=200).execute(
        select(t.gate_decisions.c.evidence).where(t.gate_decisions.c.evidence.is_not(None))
    )
    for (evidence,) in rows:
        if not isinstance(evidence, dict):
            continue
        found.runs.update(str(run) for run in evidence.get("runs") or [])
        for row in evidence.get("evidence") or []:
            if not isinstance(row, dict):
                continue
            found.runs.update(str(run) for run in row.get("runs") or [])
            online = row.get("online")
            if not isinstance(online, dict):
                continue
            score_ids.update(str(score) for score in online.get("score_ids") or [])
            if online.get("score_ids_truncated"):
                found.windows.append(
                    (
                        str(online.get("scorer")),
                        int(online.get("since_ns") or 0),
                        int(online.get("until_ns") or 0),
                    )
                )
    for chunk in _chunks(sorted(score_ids)):
        found.traces.update(
            connection.execute(
                select(t.scores.c.trace_id).where(t.scores.c.id.in_(chunk))
            ).scalars()
        )
    return found


class _Pruner:
    def __init__(
        self,
        store: Store,
        report: PruneReport,
        *,
        batch: int,
        pause_s: float,
        stop: threading.Event | None,
    ) -> None:
        self.store = store
        self.report = report
        self.batch = batch
        self.pause_s = pause_s
        self.stop = stop or threading.Event()
        self.t = _tables()
        self.postgres = store.dialect == "postgresql"
        self.protected = _Protected()
        self.dropped: list[tuple[int, int]] = []  # (first ns, end ns) of dropped days
        # eval runs a dry run would delete: their cases no longer keep a trace (a real run
        # deleted them before the traces' turn)
        self.gone_runs: set[str] = set()

    # -- transactions ---------------------------------------------------------------------

    def _transaction(self) -> Any:
        """A read connection for a dry run, else a write transaction holding the prune turn."""
        if self.report.dry_run:
            return self.store.read()
        return _Turn(self.store, self.postgres)

    def _pause(self) -> bool:
        """Wait between batches; False when asked to stop."""
        if self.stop.wait(self.pause_s) if self.pause_s > 0 else self.stop.is_set():
            self.report.stopped = True
            return False
        return True

    def _rows(self, connection: Connection, table: Table, where: Any) -> int:
        """Delete the rows of ``table`` matching ``where`` (count them, dry)."""
        if self.report.dry_run:
            return int(
                connection.execute(select(func.count()).select_from(table).where(where)).scalar()
                or 0
            )
        return int(connection.execute(table.delete().where(where)).rowcount)

    # -- eval runs ------------------------------------------------------------------------

    def eval_runs(self, before: datetime) -> None:
        runs, after = self.t.eval_runs, ""
        while True:
            with self._transaction() as connection:
                ids = list(
                    connection.execute(
                        select(runs.c.id)
                        .where(runs.c.started_at < before, runs.c.id > after)
                        .order_by(runs.c.id)
                        .limit(max(1, min(self.batch, 100)))  # a run may hold many cases
                    ).scalars()
                )
                if not ids:
                    return
                after = ids[-1]
                going = [run for run in ids if run not in self.protected.runs]
                self.report.eval_runs_kept += len(ids) - len(going)
                if going:
                    for table in (self.t.eval_scores, self.t.eval_cases):
                        self.report._add(
                            table.name, self._rows(connection, table, table.c.run_id.in_(going))
                        )
                    self.report._add(
                        "eval_runs", self._rows(connection, runs, runs.c.id.in_(going))
                    )
                    self.report.eval_runs += len(going)
                    if self.report.dry_run:
                        self.gone_runs.update(going)
                self.report.batches += 1
            if not self._pause():
                return

    # -- traces ---------------------------------------------------------------------------

    def _kept(self, connection: Connection, candidates: list[tuple[str, int]]) -> set[str]:
        """Of the candidate traces (id, start ns), those something refers to."""
        ids = [trace for trace, _ in candidates]
        cases = self.t.eval_cases
        kept = {
            trace
            for trace, run in connection.execute(
                select(cases.c.trace_id, cases.c.run_id).distinct().where(cases.c.trace_id.in_(ids))
            )
            if run not in self.gone_runs
        }
        self.report.kept["eval_cases"] += len(kept)
        for kind in ("dataset_rows", "queue_items"):
            table: Table = getattr(self.t, kind)
            found = set(
                connection.execute(
                    select(table.c.trace_id).distinct().where(table.c.trace_id.in_(ids))
                ).scalars()
            )
            self.report.kept[kind] += len(found)
            kept |= found
        gated = {trace for trace in ids if trace in self.protected.traces}
        scores = self.t.scores
        for scorer, first, last in self.protected.windows:
            inside = [trace for trace, start in candidates if first <= start <= last]
            if inside:
                gated.update(
                    connection.execute(
                        select(scores.c.trace_id)
                        .distinct()
                        .where(
                            scores.c.trace_id.in_(inside),
                            scores.c.name == scorer,
                            scores.c.run_id.is_(None),
                        )
                    ).scalars()
                )
        self.report.kept["gate_decisions"] += len(gated)
        return kept | gated

    def _delete_traces(self, connection: Connection, candidates: list[tuple[str, int]]) -> None:
        # a dry run still sees the days it would drop: their traces were counted there
        candidates = [
            (trace, start)
            for trace, start in candidates
            if not any(first <= start < end for first, end in self.dropped)
        ]
        if not candidates:
            return
        kept = self._kept(connection, candidates)
        going = sorted({trace for trace, _ in candidates} - kept)
        if not going:
            return
        t = self.t
        for table in (t.logs, t.scores, t.totals, t.spans):
            self.report._add(table.name, self._rows(connection, table, table.c.trace_id.in_(going)))
        self.report.traces += len(going)

    def _roots(self, cutoff: int, after: tuple[int, str]) -> Any:
        """Old root spans after ``after`` (start, trace id), one per trace, whose trace has
        no root that ended at or after the cutoff."""
        s = self.t.spans
        r = s.alias("r")
        other_root = exists().where(
            r.c.trace_id == s.c.trace_id,
            r.c.parent_span_id.is_(None),
            or_(
                r.c.end_ns >= cutoff,
                # one candidate row per trace: its first root
                tuple_(r.c.start_ns, r.c.span_id) < tuple_(s.c.start_ns, s.c.span_id),
            ),
        )
        return (
            select(s.c.trace_id, s.c.start_ns)
            .where(
                s.c.parent_span_id.is_(None),
                s.c.start_ns < cutoff,
                s.c.end_ns < cutoff,
                # keyset: the index on the roots' start serves the first term
                s.c.start_ns >= after[0],
                or_(s.c.start_ns > after[0], s.c.trace_id > after[1]),
                ~other_root,
            )
            .order_by(s.c.start_ns, s.c.trace_id)
            .limit(self.batch)
        )

    def _rootless(self, cutoff: int, after: str) -> Any:
        """Traces after ``after`` without a root span, all of whose spans ended before the
        cutoff, with their first start."""
        s = self.t.spans
        return (
            select(s.c.trace_id, func.min(s.c.start_ns))
            .where(s.c.trace_id > after)
            .group_by(s.c.trace_id)
            .having(
                and_(
                    func.max(s.c.end_ns) < cutoff,
                    func.count(s.c.parent_span_id) == func.count(),
                )
            )
            .order_by(s.c.trace_id)
            .limit(self.batch)
        )

    def traces(self, cutoff: int) -> None:
        if self.postgres and not self.partitions(cutoff):
            return
        after: tuple[int, str] = (_MIN_NS, "")
        while True:
            with self._transaction() as connection:
                rows = [(str(a), int(b)) for a, b in connection.execute(self._roots(cutoff, after))]
                if not rows:
                    break
                after = (rows[-1][1], rows[-1][0])
                self._delete_traces(connection, rows)
                self.report.batches += 1
            if not self._pause():
                return
            if len(rows) < self.batch:
                break  # the last ones: another query would only scan again
        last = ""
        while True:
            with self._transaction() as connection:
                rows = [
                    (str(a), int(b)) for a, b in connection.execute(self._rootless(cutoff, last))
                ]
                if not rows:
                    break
                last = rows[-1][0]
                self._delete_traces(connection, rows)
                self.report.batches += 1
            if not self._pause():
                return
            if len(rows) < self.batch:
                break

    # -- PostgreSQL day partitions --------------------------------------------------------

    def partitions(self, cutoff: int) -> bool:
        """Drop the old day partitions whose every trace goes; False when asked to stop."""
        with self.store.read() as connection:
            days = [day for day in day_partitions(connection) if day[2] <= cutoff]
        for name, first, end in days:
            try:
                with self._transaction() as connection:
                    dropped = self._drop(connection, name, first, end, cutoff)
                    self.report.batches += 1
            except DBAPIError as exc:
                # the drop waited too long for the table (ingest, a long read), or met a late
                # span of that day in a deadlock: its rows go one by one below, and the day is
                # tried again on the next prune
                if getattr(exc.orig, "sqlstate", None) not in ("55P03", "40P01"):
                    raise
                dropped = False
            if dropped:
                self.dropped.append((first, end))
                self.report.partitions_dropped.append(name)
                if not self._pause():
                    return False
            elif self.stop.is_set():
                self.report.stopped = True
                return False
        return True

    def _drop(self, connection: Connection, name: str, first: int, end: int, cutoff: int) -> bool:
        exists_now = connection.execute(text("SELECT to_regclass(:n)"), {"n": name}).scalar()
        if exists_now is None:
            return False  # another pruner dropped it
        if not self.report.dry_run:
            # no span comes into the day while it is judged (reads go on)
            connection.exec_driver_sql(f"LOCK TABLE {name} IN EXCLUSIVE MODE")

        def any_row(sql: str, **params: Any) -> bool:
            return connection.execute(text(sql), params).first() is not None

        if any_row(f"SELECT 1 FROM {name} WHERE end_ns >= :cut LIMIT 1", cut=cutoff):
            return False
        runs = connection.execute(
            text(f"SELECT DISTINCT x.run_id FROM {name} s JOIN eval_cases x USING (trace_id)")
        ).scalars()
        if any(run not in self.gone_runs for run in runs):
            return False
        for kind in ("dataset_rows", "queue_items"):
            if any_row(
                f"SELECT 1 FROM {name} s WHERE EXISTS "
                f"(SELECT 1 FROM {kind} x WHERE x.trace_id = s.trace_id) LIMIT 1"
            ):
                return False
        gated = sorted(self.protected.traces)
        for chunk in _chunks(gated):
            if connection.execute(
                text(f"SELECT 1 FROM {name} WHERE trace_id = ANY(:ids) LIMIT 1"), {"ids": chunk}
            ).first():
                return False
        for scorer, since, until in self.protected.windows:
            if (
                since < end
                and until >= first
                and any_row(
                    f"SELECT 1 FROM {name} s JOIN scores c ON c.trace_id = s.trace_id "
                    "WHERE c.name = :scorer AND c.run_id IS NULL LIMIT 1",
                    scorer=scorer,
                )
            ):
                return False
        # every trace of the day lies in it: dropping it deletes whole traces only
        if any_row(
            f"SELECT 1 FROM (SELECT DISTINCT trace_id FROM {name}) t WHERE EXISTS "
            "(SELECT 1 FROM spans o WHERE o.trace_id = t.trace_id "
            "AND (o.start_ns < :first OR o.start_ns >= :end)) LIMIT 1",
            first=first,
            end=end,
        ):
            return False
        traces, spans = connection.execute(
            text(f"SELECT count(DISTINCT trace_id), count(*) FROM {name}")
        ).one()
        of_day = select(sql_table(name, column("trace_id")).c.trace_id)
        for table in (self.t.logs, self.t.scores, self.t.totals):
            self.report._add(
                table.name, self._rows(connection, table, table.c.trace_id.in_(of_day))
            )
        if not self.report.dry_run:
            # dropping a partition locks the whole spans table: wait briefly, else next time
            connection.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
            connection.exec_driver_sql(f"DROP TABLE {name}")
        self.report._add("spans", int(spans))
        self.report.traces += int(traces)
        return True

    # -- SQLite ---------------------------------------------------------------------------

    def vacuum(self) -> None:
        """Give the freed pages back to the file system, a bounded number per transaction."""
        with _raw_sqlite(self.store) as raw:
            if raw.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
                return  # an older store: `llmops store prune --vacuum` converts it once
            while not self.stop.is_set():
                free = int(raw.execute("PRAGMA freelist_count").fetchone()[0])
                if free == 0:
                    break
                # executescript steps the pragma to its end (execute frees one page a call)
                raw.executescript(
                    f"BEGIN IMMEDIATE; PRAGMA incremental_vacuum({_VACUUM_PAGES}); COMMIT;"
                )
                self.report.pages_freed += min(free, _VACUUM_PAGES)
            # the file shrinks when the WAL is copied back; a reader may delay it, harmlessly
            raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


@contextmanager
def _raw_sqlite(store: Store) -> Iterator[Any]:
    """The driver's connection of a SQLite store, outside any transaction (VACUUM and
    incremental_vacuum run there); a transaction left open by a failure is rolled back."""
    with store.engine.connect() as connection:
        raw = connection.connection.driver_connection
        try:
            yield raw
        finally:
            if raw is not None and raw.in_transaction:
                raw.execute("ROLLBACK")


def vacuum_store(store: Store) -> int:
    """Rewrite a SQLite store once (``VACUUM``): it takes incremental auto-vacuum, which a
    store created before llmops set it lacks, and its free pages go. Returns the bytes the
    file shrank by; 0 on PostgreSQL, whose autovacuum reuses the space of deleted rows."""
    if store.dialect != "sqlite":
        return 0
    with _raw_sqlite(store) as raw:
        before = _file_bytes(raw)
        raw.execute("VACUUM")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        return max(0, before - _file_bytes(raw))


def _file_bytes(raw: Any) -> int:
    pages = raw.execute("PRAGMA page_count").fetchone()[0]
    return int(pages) * int(raw.execute("PRAGMA page_size").fetchone()[0])


class _Turn:
    """A write transaction that, on PostgreSQL, first waits for the prune turn, so pruners
    of several server processes work one batch at a time."""

    def __init__(self, store: Store, postgres: bool) -> None:
        self._context = store.bulk()
        self._postgres = postgres

    def __enter__(self) -> Connection:
        connection: Connection = self._context.__enter__()
        if self._postgres:
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PRUNE_LOCK})
        return connection

    def __exit__(self, *exc: Any) -> bool | None:
        return self._context.__exit__(*exc)


def _before(seconds: float | None, now: float) -> datetime | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(max(0.0, now - seconds), UTC)


def prune(
    store: Store,
    *,
    traces_older_than_s: float | None,
    eval_runs_older_than_s: float | None = None,
    dry_run: bool = False,
    batch: int = 500,
    pause_s: float = 0.0,
    stop: threading.Event | None = None,
    now: float | None = None,
) -> PruneReport:
    """Delete (``dry_run``: count) traces and eval runs older than the given ages (None:
    keep them all), ``batch`` traces per transaction with ``pause_s`` between batches, until
    done or ``stop`` is set. See the module's docstring for what is kept."""
    now = time.time() if now is None else now
    report = PruneReport(
        dry_run=dry_run,
        traces_before=_before(traces_older_than_s, now),
        eval_runs_before=_before(eval_runs_older_than_s, now),
    )
    for table in _deleted_tables(report):
        report.deleted.setdefault(table, 0)
    if report.traces_before is None and report.eval_runs_before is None:
        return report
    pruner = _Pruner(store, report, batch=max(1, batch), pause_s=pause_s, stop=stop)
    with store.read() as connection:
        pruner.protected = _gate_references(connection, pruner.t)
    if report.eval_runs_before is not None:
        pruner.eval_runs(report.eval_runs_before)
    if report.traces_before is not None and not report.stopped:
        pruner.traces(int(report.traces_before.timestamp() * 1e9))
    if store.dialect == "sqlite" and not dry_run and any(report.deleted.values()):
        pruner.vacuum()
    return report


def _deleted_tables(report: PruneReport) -> Iterable[str]:
    if report.traces_before is not None:
        yield from ("spans", "logs", "scores", "trace_totals")
    if report.eval_runs_before is not None:
        yield from ("eval_runs", "eval_cases", "eval_scores")
