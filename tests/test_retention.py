"""Retention (#20): ``llmops store prune`` and the server's background pruner delete old
traces and eval runs, never what an eval run, dataset, queue or gate decision refers to; on
PostgreSQL spans are partitioned by day and whole days are dropped; SQLite gives the space
back."""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, inspect, text

from llmops.cli import main
from llmops.config import RetentionConfig
from llmops.store import Store, ensure_span_partitions, head_revision, prune
from llmops.store.models import (
    AnnotationQueueRecord,
    DatasetRecord,
    DatasetRowRecord,
    EvalCaseRecord,
    EvalRunRecord,
    EvalScoreRecord,
    GateDecisionRecord,
    QueueItemRecord,
    ScoreRecord,
    SpanLogRecord,
)
from llmops.tracing import StoreSink

DAY_NS = 86_400 * 10**9
NOW_NS = time.time_ns()
OLD_NS = NOW_NS - 40 * DAY_NS  # beyond a 30-day retention
NEW_NS = NOW_NS - 3600 * 10**9
_TABLES = ("spans", "logs", "scores", "trace_totals")


#: Tests of one backend only (the ``store``/``store_url`` fixtures run both otherwise).
ON_POSTGRESQL = pytest.mark.parametrize(
    "store_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
ON_SQLITE = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def _id(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _trace(
    store: Store, rng: random.Random, start_ns: int, *, children: int = 1, pad: int = 0
) -> str:
    """A trace written as the server writes one: spans (root first), a log and a score."""
    trace_id, root = _id(rng, 32), _id(rng, 16)
    attributes = {"gen_ai.usage.input_tokens": 5, "pad": "x" * pad}
    rows = [
        {
            "trace_id": trace_id,
            "span_id": span_id,
            "parent_span_id": None if index == 0 else root,
            "name": "step",
            "kind": "llm",
            "start_ns": start_ns + index,
            "end_ns": start_ns + index + 10**6,
            "status_code": "OK",
            "attributes": attributes,
        }
        for index, span_id in enumerate([root, *(_id(rng, 16) for _ in range(children))])
    ]
    StoreSink(store).write(rows)
    with store.write() as session:
        session.add(SpanLogRecord(trace_id=trace_id, span_id=root, time_ns=start_ns, attributes={}))
        session.add(
            ScoreRecord(
                id=_id(rng, 32),
                trace_id=trace_id,
                name="ok",
                source="human",
                data_type="NUMERIC",
                value=1.0,
            )
        )
    return trace_id


def _count(store: Store, table: str, trace_id: str | None = None) -> int:
    where = "" if trace_id is None else " WHERE trace_id = :t"
    with store.read() as connection:
        found = connection.execute(text(f"SELECT count(*) FROM {table}{where}"), {"t": trace_id})
        return int(found.scalar_one())


def _present(store: Store, trace_id: str) -> dict[str, int]:
    return {table: _count(store, table, trace_id) for table in _TABLES}


_WHOLE = {"spans": 2, "logs": 1, "scores": 1, "trace_totals": 1}
_GONE = dict.fromkeys(_TABLES, 0)


def _prune(store: Store, **options: Any) -> Any:
    return prune(store, traces_older_than_s=30 * 86_400, **options)


# ---- what goes, what stays ----------------------------------------------------------------------


def test_old_traces_go_with_their_rows_and_new_ones_stay(store: Store, rng: random.Random) -> None:
    old, new = _trace(store, rng, OLD_NS), _trace(store, rng, NEW_NS)
    # a root that started long ago but ended within the retention stays
    running = _trace(store, rng, OLD_NS)
    with store.bulk() as connection:
        connection.execute(
            text("UPDATE spans SET end_ns = :end WHERE trace_id = :t AND parent_span_id IS NULL"),
            {"end": NEW_NS, "t": running},
        )
    report = _prune(store)
    assert _present(store, old) == _GONE
    assert _present(store, new) == _present(store, running) == _WHOLE
    assert report.traces == 1 and report.deleted == {key: _WHOLE[key] for key in _TABLES}
    assert _prune(store).traces == 0  # idempotent


def test_a_trace_without_its_root_goes_when_all_its_spans_ended(
    store: Store, rng: random.Random
) -> None:
    orphan, recent = _trace(store, rng, OLD_NS), _trace(store, rng, OLD_NS)
    with store.bulk() as connection:
        connection.execute(text("DELETE FROM spans WHERE parent_span_id IS NULL"))
        # one child of `recent` ended within the retention: the trace stays
        connection.execute(
            text("UPDATE spans SET end_ns = :end WHERE trace_id = :t"),
            {"end": NEW_NS, "t": recent},
        )
    assert _prune(store).traces == 1
    assert _count(store, "spans", orphan) == 0 and _count(store, "spans", recent) == 1


def _refer(store: Store, kind: str, trace_id: str, rng: random.Random) -> None:
    """Make ``kind`` refer to ``trace_id`` as llmops does."""
    with store.write() as session:
        if kind == "eval_cases":
            run = _id(rng, 32)
            session.add(EvalRunRecord(id=run, suite="s", model_name="m", model="m"))
            session.flush()
            session.add(EvalCaseRecord(run_id=run, case_index=0, inputs={}, trace_id=trace_id))
        elif kind == "dataset_rows":
            dataset = DatasetRecord(name=f"d{_id(rng, 6)}")
            session.add(dataset)
            session.flush()
            assert dataset.id is not None
            session.add(
                DatasetRowRecord(
                    dataset_id=dataset.id, version=1, idx=0, data={}, trace_id=trace_id
                )
            )
        elif kind == "queue_items":
            queue = AnnotationQueueRecord(name=f"q{_id(rng, 6)}", score_configs=[], source={})
            session.add(queue)
            session.flush()
            assert queue.id is not None
            session.add(QueueItemRecord(queue_id=queue.id, position=0, trace_id=trace_id, data={}))
        else:  # a gate decision's online evidence: the ids of the scores it used
            score = (
                session.connection()
                .execute(text("SELECT id FROM scores WHERE trace_id = :t"), {"t": trace_id})
                .scalar_one()
            )
            online = {"scorer": "ok", "since_ns": 0, "until_ns": NOW_NS, "score_ids": [score]}
            evidence = {"evidence": [{"suite": "online", "runs": [], "online": online}]}
            session.add(
                GateDecisionRecord(
                    subject_kind="prompt", subject="p@1", decision="pass", evidence=evidence
                )
            )


@pytest.mark.parametrize("kind", ["eval_cases", "dataset_rows", "queue_items", "gate_decisions"])
def test_a_referenced_trace_stays(store: Store, rng: random.Random, kind: str) -> None:
    kept, other = _trace(store, rng, OLD_NS), _trace(store, rng, OLD_NS)
    _refer(store, kind, kept, rng)
    dry = _prune(store, dry_run=True)
    report = _prune(store)
    assert _present(store, kept) == _WHOLE and _present(store, other) == _GONE
    assert report.kept == {**dict.fromkeys(report.kept, 0), kind: 1} == dry.kept
    assert report.partitions_dropped == []  # the day holds a kept trace: rows go one by one


def test_truncated_gate_evidence_keeps_every_scored_trace_of_its_window(
    store: Store, rng: random.Random
) -> None:
    in_window, outside = _trace(store, rng, OLD_NS), _trace(store, rng, OLD_NS - 5 * DAY_NS)
    online = {
        "scorer": "ok",
        "since_ns": OLD_NS - DAY_NS,
        "until_ns": OLD_NS + DAY_NS,
        "score_ids": [],  # the first 1000 were recorded, none of these
        "score_ids_truncated": True,
    }
    with store.write() as session:
        session.add(
            GateDecisionRecord(
                subject_kind="prompt",
                subject="p@1",
                decision="pass",
                evidence={"evidence": [{"online": online}]},
            )
        )
    assert _prune(store).kept["gate_decisions"] == 1
    assert _present(store, in_window) == _WHOLE and _present(store, outside) == _GONE


def test_old_eval_runs_go_with_cases_and_scores_unless_a_gate_rests_on_them(
    store: Store, rng: random.Random
) -> None:
    traced = _trace(store, rng, OLD_NS)
    old_at = datetime.now(UTC) - timedelta(days=100)
    with store.write() as session:
        for run, trace_id in (("old", traced), ("gated", None), ("new", None)):
            started = datetime.now(UTC) if run == "new" else old_at
            session.add(
                EvalRunRecord(id=run, suite="s", model_name="m", model="m", started_at=started)
            )
            session.flush()
            session.add(EvalCaseRecord(run_id=run, case_index=0, inputs={}, trace_id=trace_id))
            session.add(EvalScoreRecord(run_id=run, case_index=0, scorer="exact", value=1.0))
        session.add(
            GateDecisionRecord(
                subject_kind="prompt", subject="p@1", decision="pass", evidence={"runs": ["gated"]}
            )
        )
    ages = {
        "traces_older_than_s": 30 * 86_400,
        "eval_runs_older_than_s": 90 * 86_400,
        "now": time.time(),
    }
    dry = prune(store, dry_run=True, **ages)
    report = prune(store, **ages)
    assert dry.to_dict() | {"dry_run": False, "batches": 0, "pages_freed": 0} == (
        report.to_dict() | {"batches": 0, "pages_freed": 0}
    )
    with store.read() as connection:
        runs = set(connection.execute(text("SELECT id FROM eval_runs")).scalars())
    assert runs == {"gated", "new"} and _count(store, "eval_cases") == 2
    assert report.eval_runs == 1 and report.eval_runs_kept == 1
    assert report.deleted["eval_cases"] == report.deleted["eval_scores"] == 1
    # the run went first, so the trace it referred to went in the same pass
    assert _present(store, traced) == _GONE and report.kept["eval_cases"] == 0


def test_the_default_keeps_everything(store: Store, rng: random.Random) -> None:
    trace_id = _trace(store, rng, OLD_NS)
    retention = RetentionConfig()
    assert (retention.traces_s, retention.eval_runs_s) == (None, None)
    report = prune(store, traces_older_than_s=retention.traces_s)
    assert _present(store, trace_id) == _WHOLE and report.deleted == {}


# ---- dry run, batches, concurrency --------------------------------------------------------------


def _snapshot(store: Store) -> dict[str, int]:
    return {
        table: _count(store, table)
        for table in (*_TABLES, "eval_runs", "eval_cases", "eval_scores")
    }


def test_a_dry_run_changes_nothing_and_counts_what_the_run_deletes(
    store: Store, rng: random.Random
) -> None:
    kinds = ["eval_cases", "dataset_rows", "queue_items", "gate_decisions"]
    for _ in range(30):
        day = rng.choice([NEW_NS, OLD_NS, OLD_NS - DAY_NS, OLD_NS - 2 * DAY_NS, 5 * 10**9])
        trace_id = _trace(store, rng, day, children=rng.randint(0, 3))
        if day != OLD_NS - 2 * DAY_NS and rng.random() < 0.2:  # that day may go whole
            _refer(store, rng.choice(kinds), trace_id, rng)
    before = _snapshot(store)
    dry = _prune(store, dry_run=True, batch=4)
    assert _snapshot(store) == before
    real = _prune(store, batch=4)
    after = _snapshot(store)
    assert dry.deleted == real.deleted and dry.traces == real.traces and dry.kept == real.kept
    assert dry.partitions_dropped == real.partitions_dropped
    assert {table: before[table] - after[table] for table in _TABLES} == real.deleted
    assert real.traces > 0


def test_traces_go_in_bounded_batches(store: Store, rng: random.Random) -> None:
    ids = [_trace(store, rng, OLD_NS + i) for i in range(25)]
    _refer(store, "queue_items", ids[0], rng)  # the day stays a partition: rows go by batches
    sizes: list[int] = []

    def watch(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM SPANS"):
            sizes.append(len(params) if isinstance(params, tuple | list) else len(params or {}))

    event.listen(store.engine, "before_cursor_execute", watch)
    try:
        report = _prune(store, batch=3)
    finally:
        event.remove(store.engine, "before_cursor_execute", watch)
    assert report.traces == 24 and _count(store, "spans") == 2
    assert len(sizes) >= 8 and max(sizes) <= 3


def _on_each(stores: list[Store], work: Callable[[Store], object]) -> None:
    """``work`` on each store in a thread of its own, all at once (as processes would); the
    stores closed after, and the first error any thread met raised here."""
    errors: list[BaseException] = []

    def run(one: Store) -> None:
        try:
            work(one)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(one,)) for one in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for one in stores:
        one.close()
    assert errors == []


@ON_POSTGRESQL
def test_pruners_of_several_processes_on_one_postgresql_take_turns(
    store: Store, store_url: str, rng: random.Random
) -> None:
    ids = [_trace(store, rng, OLD_NS + i * DAY_NS // 3) for i in range(12)]
    _refer(store, "dataset_rows", ids[0], rng)
    stores = [Store(store_url) for _ in range(3)]  # own connections, as processes have
    reports: list[Any] = []
    _on_each(stores, lambda one: reports.append(_prune(one, batch=2)))
    assert sum(report.traces for report in reports) == 11
    assert _count(store, "spans") == 2 and _count(store, "trace_totals") == 1


# ---- SQLite: space given back -------------------------------------------------------------------


@ON_SQLITE
def test_sqlite_gives_the_space_back(store: Store, rng: random.Random, store_url: str) -> None:
    path = Path(store_url.removeprefix("sqlite:///"))
    for i in range(40):
        _trace(store, rng, OLD_NS + i, children=9, pad=4000)
    _trace(store, rng, NEW_NS)
    with store.read() as connection:
        assert connection.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2  # incremental
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    before = path.stat().st_size
    report = _prune(store)
    with store.read() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    assert report.pages_freed > 0 and report.traces == 40
    assert path.stat().st_size < before / 2


def test_prune_vacuum_converts_an_older_sqlite_store(tmp_path: Path, rng: random.Random) -> None:
    import sqlite3

    from llmops.store import open_store

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:  # made without auto_vacuum, as before #20
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE t (x)")
        connection.execute("DROP TABLE t")
    store = open_store(f"sqlite:///{path}")
    for i in range(20):
        _trace(store, rng, OLD_NS + i, children=4, pad=4000)
    with store.read() as connection:
        assert connection.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 0
    assert _prune(store).pages_freed == 0  # nothing to give back with: the file stays
    from llmops.store import vacuum_store

    assert vacuum_store(store) > 0
    with store.read() as connection:
        assert connection.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2


# ---- PostgreSQL: day partitions -----------------------------------------------------------------


def _tables(store: Store) -> set[str]:
    return set(inspect(store.engine).get_table_names())


@ON_POSTGRESQL
def test_postgresql_drops_old_days_whole(store: Store, rng: random.Random) -> None:
    day = lambda ns: datetime.fromtimestamp(ns / 1e9, UTC).strftime("spans_d%Y%m%d")  # noqa: E731
    whole = [_trace(store, rng, OLD_NS) for _ in range(3)]
    mixed_day = OLD_NS - 3 * DAY_NS
    kept, gone = _trace(store, rng, mixed_day), _trace(store, rng, mixed_day)
    _refer(store, "eval_cases", kept, rng)
    new = _trace(store, rng, NEW_NS)
    ancient = _trace(store, rng, 10**9)  # 1970: the default partition, never dropped
    assert {day(OLD_NS), day(mixed_day), day(NEW_NS), "spans_default"} <= _tables(store)
    report = _prune(store)
    assert report.partitions_dropped == [day(OLD_NS)]
    assert day(OLD_NS) not in _tables(store) and day(mixed_day) in _tables(store)
    assert all(_present(store, t) == _GONE for t in [*whole, gone, ancient])
    assert _present(store, kept) == _present(store, new) == _WHOLE
    assert report.traces == 5 and report.deleted["spans"] == 10


@ON_POSTGRESQL
def test_partitions_are_made_on_demand_by_concurrent_writers(store: Store) -> None:
    days = [NOW_NS + k * DAY_NS for k in range(1, 6)]  # days nobody wrote yet
    stores = [Store(store.url) for _ in range(4)]
    start = threading.Barrier(len(stores), timeout=30)

    def create(one: Store) -> None:
        start.wait()
        with one.bulk() as connection:
            ensure_span_partitions(connection, days)

    _on_each(stores, create)
    made = {n for n in _tables(store) if n.startswith("spans_d")}
    assert len(made) >= 5
    # absurd times land in the default partition; a replay of the same spans adds nothing
    rng = random.Random(7)
    for start_ns in (0, 1, 2**63 - 10**9, days[0]):
        _trace(store, rng, start_ns)
    spans = _count(store, "spans")
    with store.read() as connection:
        rows = [dict(row._mapping) for row in connection.execute(text("SELECT * FROM spans"))]
    StoreSink(store).write(rows)
    assert _count(store, "spans") == spans


@ON_POSTGRESQL
def test_spans_written_without_their_day_wait_in_the_default_partition(
    store: Store, rng: random.Random
) -> None:
    """SQL by hand (or an import) need not ask for the day first: its rows go to the default
    partition, and move to the day's partition when the day is made."""
    day = NOW_NS + 9 * DAY_NS
    row = {
        "trace_id": _id(rng, 32),
        "span_id": _id(rng, 16),
        "name": "by hand",
        "kind": "llm",
        "start_ns": day,
        "end_ns": day + 1,
        "status_code": "OK",
        "attributes": "{}",
    }
    columns = ", ".join(row)
    with store.bulk() as connection:
        connection.execute(text(f"INSERT INTO spans ({columns}) VALUES (:{', :'.join(row)})"), row)
    assert _count(store, "spans_default") == 1
    trace = _trace(store, rng, day + 5)  # the sink makes the day: the waiting row moves there
    name = datetime.fromtimestamp(day / 1e9, UTC).strftime("spans_d%Y%m%d")
    assert _count(store, "spans_default") == 0 and _count(store, name) == 3
    assert _count(store, "spans", row["trace_id"]) == 1 and _count(store, "spans", trace) == 2


def test_the_0017_migration_goes_up_and_down_with_data(store_url: str, rng: random.Random) -> None:
    from alembic import command

    from llmops.store._store import _alembic_config

    store = Store(store_url)
    with store.engine.begin() as connection:
        command.upgrade(_alembic_config(connection), "0016_trace_totals")
    ids = [_trace(store, rng, start) for start in (OLD_NS, NEW_NS, 10**9, OLD_NS + 1)]

    def spans() -> list[tuple[Any, ...]]:
        with store.read() as connection:
            return sorted(
                tuple(row)
                for row in connection.execute(text("SELECT trace_id, span_id, start_ns FROM spans"))
            )

    def indexes() -> set[str]:
        return {index["name"] for index in inspect(store.engine).get_indexes("spans")}

    rows, plain_indexes = spans(), indexes()
    assert len(rows) == 8
    assert store.upgrade() == ("0016_trace_totals", head_revision())
    assert spans() == rows and indexes() == plain_indexes
    assert "ix_eval_cases_trace" in {
        i["name"] for i in inspect(store.engine).get_indexes("eval_cases")
    }
    key = inspect(store.engine).get_pk_constraint("spans")["constrained_columns"]
    if store.dialect == "postgresql":  # the partition key is part of the primary key there
        assert "spans_default" in _tables(store) and key == ["trace_id", "span_id", "start_ns"]
    else:
        assert key == ["trace_id", "span_id"]
    _trace(store, rng, NEW_NS + 1)  # written through the new layout
    rows = spans()
    with store.engine.begin() as connection:
        command.downgrade(_alembic_config(connection), "0016_trace_totals")
    assert spans() == rows and indexes() == plain_indexes
    assert not {n for n in _tables(store) if n.startswith("spans_")}
    assert inspect(store.engine).get_pk_constraint("spans")["constrained_columns"] == [
        "trace_id",
        "span_id",
    ]
    assert store.upgrade() == ("0016_trace_totals", head_revision())
    assert spans() == rows
    again = Store(store_url)
    assert _prune(again).traces >= 2 and _present(again, ids[1]) == _WHOLE
    again.close()
    store.close()


# ---- the CLI and the config -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30d", 30 * 86_400),
        (" 12h ", 12 * 3600),
        ("2w", 14 * 86_400),
        ("1.5d", 1.5 * 86_400),
        ("forever", None),
        ("Forever", None),
        (None, None),
    ],
)
def test_retention_reads_durations_as_the_cli_does(
    value: str | None, seconds: float | None
) -> None:
    retention = RetentionConfig(traces=value, eval_runs=value)
    assert retention.traces_s == retention.eval_runs_s == seconds
    assert (retention.traces is None) == (seconds is None)


_BAD_DURATIONS = [
    "",
    "30",
    "30x",
    "-1d",
    "0d",
    "d",
    "forever!",
    "1e9d",
    "\uff13\uff10d",
    "9" * 5000 + "d",
]


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out.strip() == "" and len(captured.err.strip().splitlines()) == 1
    assert len(captured.err) < 400  # the value is cut, whatever its length
    return captured.err


@pytest.mark.parametrize("value", _BAD_DURATIONS)
def test_a_bad_older_than_is_one_line_and_exit_2(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "--older-than" in _one_line_error(capsys, ["store", "prune", "--older-than", value])


@pytest.mark.parametrize("value", [*_BAD_DURATIONS[:-1], 30, [], {"d": 1}, True])
def test_a_bad_retention_in_the_config_is_one_line_and_exit_2(
    value: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "configs").mkdir()
    config = {"retention": {"traces": "30d", "eval_runs": value}}
    (tmp_path / "configs" / "llmops.yaml").write_text(json.dumps(config))
    error = _one_line_error(capsys, ["store", "prune", "--dry-run"])
    assert "llmops.yaml:1: key 'retention.eval_runs'" in error


def test_cli_prune_dry_run_then_prune_from_the_config(
    tmp_path: Path, rng: random.Random, capsys: pytest.CaptureFixture[str]
) -> None:
    from llmops.store import open_store

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "llmops.yaml").write_text("retention:\n  traces: 30d\n")
    store = open_store(f"sqlite:///{tmp_path / '.llmops' / 'llmops.db'}")
    old, new = _trace(store, rng, OLD_NS), _trace(store, rng, NEW_NS)
    capsys.readouterr()
    assert main(["store", "prune", "--dry-run", "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] is True and dry["deleted"]["spans"] == 2
    assert _present(store, old) == _WHOLE
    assert main(["store", "prune", "--vacuum"]) == 0
    out = capsys.readouterr().out
    assert "deleted 1" in out and "spans: 2 rows" in out
    assert _present(store, old) == _GONE and _present(store, new) == _WHOLE
    assert main(["store", "prune", "--older-than", "forever"]) == 0
    assert "nothing to prune" in capsys.readouterr().out


# ---- the server's background pruner ----------------------------------------------------------


def test_the_background_pruner_prunes_and_stops(store: Store, rng: random.Random) -> None:
    from llmops.server import RetentionRunner

    old, new = _trace(store, rng, OLD_NS), _trace(store, rng, NEW_NS)
    runner = RetentionRunner(store, RetentionConfig(traces="30d"), batch=1, pause_s=0.05).start()
    deadline = time.monotonic() + 30
    while runner.snapshot()["passes"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert runner.stop(timeout_s=10)
    snapshot = runner.snapshot()
    assert snapshot["passes"] == 1 and snapshot["pruned_traces"] == 1 and not snapshot["running"]
    assert snapshot["errors"] == 0
    assert _present(store, old) == _GONE and _present(store, new) == _WHOLE


def test_llmops_server_prunes_by_the_config_and_stops_on_sigterm(
    tmp_path: Path, rng: random.Random
) -> None:
    import signal
    import subprocess
    import sys

    import httpx
    from _live_server import free_port

    from llmops.store import open_store

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "llmops.yaml").write_text("retention:\n  traces: 30d\n")
    db = tmp_path / "store.db"
    store = open_store(f"sqlite:///{db}")
    old, new = _trace(store, rng, OLD_NS), _trace(store, rng, NEW_NS)
    port = free_port()
    argv = ["server", "--port", str(port), "--otlp-grpc-port", "0", "--otlp-http-port", "0"]
    log = (tmp_path / "stderr.txt").open("w")
    child = subprocess.Popen(
        [sys.executable, "-m", "llmops", *argv],
        stdout=subprocess.DEVNULL,
        stderr=log,
        cwd=tmp_path,
        env={**os.environ, "LLMOPS_STORE_URL": f"sqlite:///{db}"},
    )
    state: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            with contextlib.suppress(httpx.TransportError):  # not listening yet
                state = httpx.get(f"http://127.0.0.1:{port}/api/v1/retention").json()
            if state.get("passes"):
                break
            time.sleep(0.1)
        assert state.get("pruned_traces") == 1, (tmp_path / "stderr.txt").read_text()
        assert state["traces"] == "30d" and state["eval_runs"] == "forever"
        child.send_signal(signal.SIGTERM)
        child.wait(30)  # TimeoutExpired fails the test: the pruner must not hold it up
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
        log.close()
    assert child.returncode in (0, 143, -signal.SIGTERM)
    assert _present(store, old) == _GONE and _present(store, new) == _WHOLE
