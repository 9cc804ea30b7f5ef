"""PostgreSQL: the ``spans`` table partitioned by day (a range on ``start_ns``, UTC days), so
that retention drops a whole day instead of deleting its rows one by one.

A day's partition ``spans_dYYYYMMDD`` is made on demand, before spans of that day are
inserted (:func:`ensure_span_partitions`, called by the span sink). A row no partition takes
goes to the DEFAULT partition ``spans_default``: spans outside 2000-2100 (a clock at 0, a
sender writing microseconds as nanoseconds...), which never get a day of their own, and rows
written by a path that did not ask for their day first (SQL by hand, an import). That is a
trap PostgreSQL sets: a partition cannot be created while the default one holds a row of its
range. So when that happens the day is made the other way: its rows move out of the default
partition into a new table, which is then attached as the day's partition.

The primary key of a partitioned table must hold the partition key, so it is
(``trace_id``, ``span_id``, ``start_ns``): a replayed span has the same start, so
``ON CONFLICT DO NOTHING`` keeps replays idempotent. On SQLite nothing here applies.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

__all__ = [
    "DAY_NS",
    "day_partitions",
    "ensure_span_partitions",
    "is_span_partition",
    "partition_spans",
    "spans_partitioned",
    "unpartition_spans",
]

DAY_NS = 86_400 * 10**9
_EPOCH = date(1970, 1, 1)
#: Day partitions cover [2000, 2100); the rest stays in the default partition.
_LOW_NS = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp()) * 10**9
_HIGH_NS = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp()) * 10**9
_DEFAULT = "spans_default"
_DAY_NAME = re.compile(r"^spans_d(\d{4})(\d{2})(\d{2})$")
# "relation already exists" and the catalog's unique index: another process made it first
_DUPLICATE = {"42P07", "23505"}
_DEFAULT_HOLDS_ROWS = "23514"  # the default partition holds rows of the new range

# days whose partition this process has seen, per database; only today and later are
# trusted (retention drops past days, possibly from another process), older ones are checked
_known: dict[str, set[int]] = {}
_known_lock = threading.Lock()


def _day_name(day: int) -> str:
    return f"spans_d{(_EPOCH + timedelta(days=day)).strftime('%Y%m%d')}"


def is_span_partition(name: str | None) -> bool:
    """Whether a table is a partition of ``spans`` (not in the models: schema comparisons
    leave it out)."""
    return name == _DEFAULT or bool(name and _DAY_NAME.match(name))


def day_partitions(connection: Connection) -> list[tuple[str, int, int]]:
    """The day partitions of ``spans``: (name, first ns, end ns), oldest first."""
    rows = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass('spans')"
        )
    ).scalars()
    found = []
    for name in rows:
        match = _DAY_NAME.match(name)
        if match:
            day = (date(*(int(part) for part in match.groups())) - _EPOCH).days
            found.append((name, day * DAY_NS, (day + 1) * DAY_NS))
    return sorted(found, key=lambda item: item[1])


def spans_partitioned(connection: Connection) -> bool:
    """Whether ``spans`` is a partitioned table (PostgreSQL at revision 0017 or later)."""
    if connection.dialect.name != "postgresql":
        return False
    kind = connection.execute(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass('spans')")
    ).scalar()
    return kind == "p"


def _run_once(connection: Connection, *statements: str) -> str | None:
    """Run ``statements`` in a savepoint (the caller's transaction survives a failure); None,
    or the SQLSTATE of a failure that another process creating the same table explains, or
    of a full default partition."""
    try:
        with connection.begin_nested():
            for statement in statements:
                connection.exec_driver_sql(statement)
    except DBAPIError as exc:
        state = getattr(exc.orig, "sqlstate", None)
        if state in _DUPLICATE or state == _DEFAULT_HOLDS_ROWS:
            return str(state)
        raise
    return None


def _create_day(connection: Connection, day: int) -> None:
    """Create the partition of ``day``; concurrent creators are no error."""
    name, first, end = _day_name(day), day * DAY_NS, (day + 1) * DAY_NS
    bounds = f"FROM ({first}) TO ({end})"
    failed = _run_once(
        connection, f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF spans FOR VALUES {bounds}"
    )
    if failed != _DEFAULT_HOLDS_ROWS:
        return
    # rows of the day wait in the default partition: move them to a new table, then attach
    # it (PostgreSQL checks the default partition holds none of the range any more)
    _run_once(
        connection,
        f"CREATE TABLE {name} (LIKE spans INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
        f"WITH moved AS (DELETE FROM {_DEFAULT} WHERE start_ns >= {first} "
        f"AND start_ns < {end} RETURNING *) INSERT INTO {name} SELECT * FROM moved",
        f"ALTER TABLE spans ATTACH PARTITION {name} FOR VALUES {bounds}",
    )


def ensure_span_partitions(connection: Connection, start_ns_values: Iterable[int]) -> None:
    """Make sure the day partition of each start time exists, before spans are inserted on
    ``connection`` (a no-op on SQLite and on an unpartitioned table)."""
    if connection.dialect.name != "postgresql":
        return
    days = {value // DAY_NS for value in start_ns_values if _LOW_NS <= value < _HIGH_NS}
    if not days:
        return
    key = connection.engine.url.render_as_string(hide_password=True)
    today = time.time_ns() // DAY_NS
    with _known_lock:
        known = _known.setdefault(key, set())
        missing = sorted(day for day in days if day not in known or day < today)
    if not missing:
        return
    if not spans_partitioned(connection):
        return
    for day in missing:
        name = _day_name(day)
        exists = connection.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar()
        if exists is None:
            _create_day(connection, day)
    with _known_lock:
        known.update(missing)


def _indexes(connection: Connection) -> tuple[str, list[tuple[str, str]]]:
    """The primary key constraint's name, and (name, definition) of the other indexes."""
    pkey = connection.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass('spans') "
            "AND contype = 'p'"
        )
    ).scalar_one()
    rows = connection.execute(
        text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'spans' AND indexname <> :pkey ORDER BY indexname"
        ),
        {"pkey": pkey},
    ).all()
    return pkey, [(name, definition) for name, definition in rows]


def _swap(connection: Connection, old: str, partitioned: bool, key: str) -> None:
    """Rename ``spans`` to ``old`` and create ``spans`` again (partitioned or not) with the
    same columns, primary key ``key`` and every index, under the same names."""
    pkey, indexes = _indexes(connection)
    connection.exec_driver_sql(f"ALTER TABLE spans RENAME TO {old}")
    connection.exec_driver_sql(f"ALTER TABLE {old} RENAME CONSTRAINT {pkey} TO {old}_pkey")
    for name, _ in indexes:
        connection.exec_driver_sql(f"ALTER INDEX {name} RENAME TO {name}_old")
    by = " PARTITION BY RANGE (start_ns)" if partitioned else ""
    connection.exec_driver_sql(
        f"CREATE TABLE spans (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS){by}"
    )
    connection.exec_driver_sql(f"ALTER TABLE spans ADD CONSTRAINT {pkey} PRIMARY KEY ({key})")
    for _, definition in indexes:
        # a partitioned table's index reads "ON ONLY public.spans"
        connection.exec_driver_sql(definition.replace(" ON ONLY ", " ON ", 1))


def partition_spans(connection: Connection) -> None:
    """Make ``spans`` partitioned by day, its rows moved (PostgreSQL; a no-op elsewhere or
    when it is already). Runs in the caller's transaction."""
    if connection.dialect.name != "postgresql" or spans_partitioned(connection):
        return
    _swap(connection, "spans_unpartitioned", True, "trace_id, span_id, start_ns")
    connection.exec_driver_sql(f"CREATE TABLE {_DEFAULT} PARTITION OF spans DEFAULT")
    days = connection.execute(
        text(
            "SELECT DISTINCT start_ns / :day FROM spans_unpartitioned "
            "WHERE start_ns >= :low AND start_ns < :high"
        ),
        {"day": DAY_NS, "low": _LOW_NS, "high": _HIGH_NS},
    ).scalars()
    for day in sorted(int(value) for value in days):
        _create_day(connection, day)
    connection.exec_driver_sql("INSERT INTO spans SELECT * FROM spans_unpartitioned")
    connection.exec_driver_sql("DROP TABLE spans_unpartitioned")
    # new tables have no statistics until autovacuum comes by: without them the planner
    # scans whole days where an index would do (retention's queries ran 20x slower)
    connection.exec_driver_sql("ANALYZE spans")
    with _known_lock:
        _known.clear()


def unpartition_spans(connection: Connection) -> None:
    """Make ``spans`` one plain table again, its rows moved (the downgrade of 0017). A span
    stored twice with two start times (only a partitioned table can hold that) is kept
    once."""
    if not spans_partitioned(connection):
        return
    _swap(connection, "spans_partitioned", False, "trace_id, span_id")
    connection.exec_driver_sql(
        "INSERT INTO spans SELECT * FROM spans_partitioned ON CONFLICT DO NOTHING"
    )
    connection.exec_driver_sql("DROP TABLE spans_partitioned")  # and its partitions
    connection.exec_driver_sql("ANALYZE spans")
    with _known_lock:
        _known.clear()
