"""Sinks of the span pipeline: the llmops store, and any OpenTelemetry ``SpanExporter``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from llmops.store import Store, ensure_span_partitions, postgres_json
from llmops.tracing._rollup import rebuild_totals, sum_totals, upsert_params, upsert_sql

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

__all__ = ["LogStoreSink", "OTelExporterSink", "StoreSink", "rows_to_readable_spans"]

_JSON_COLUMNS = ("attributes", "events", "resource", "links", "scope")
#: The temporary table spans are copied into on PostgreSQL (one per connection).
_STAGE = "llmops_spans_stage"
_STAGE_CASTS = {"start_ns": "bigint", "end_ns": "bigint", **dict.fromkeys(_JSON_COLUMNS, "json")}
_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "status_code",
    "status_message",
    "attributes",
    "events",
    "resource",
    "session_id",
    "user_id",
    "otel_kind",
    "links",
    "scope",
    "trace_state",
)
_JSON_AT = frozenset(i for i, column in enumerate(_COLUMNS) if column in _JSON_COLUMNS)
#: A stage table made in a transaction not yet committed (``StoreSink._copy``).
_MADE = "made"
_SAVEPOINT_NAME = "llmops_spans"
_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE for a duplicate key
_SAVEPOINT = f"SAVEPOINT {_SAVEPOINT_NAME}"
#: NULL, as SQLite parameters bind it fastest (see StoreSink.write).
_NULL = float("nan")


def _span_key(values: tuple[Any, ...]) -> tuple[str, str]:
    return values[0], values[1]


def _no_nul(value: Any) -> Any:
    """PostgreSQL text cannot hold NUL: it becomes U+FFFD."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) and "\x00" in value else value


def _postgres_values(values: tuple[Any, ...], json_at: frozenset[int]) -> tuple[Any, ...]:
    """A row for PostgreSQL: NUL becomes U+FFFD in text and in JSON documents alike (its JSON
    operators fail on a stored ``\\u0000``: see ``llmops.store.postgres_json``)."""
    return tuple(
        postgres_json(value) if i in json_at and isinstance(value, str) else _no_nul(value)
        for i, value in enumerate(values)
    )


def _may_hold_nul(prepared: list[tuple[Any, ...]]) -> bool:
    """Whether a prepared value may hold a NUL: one C pass over the batch (orjson writes a NUL
    as \\u0000; an escaped one in a JSON column reads so too, a harmless false alarm) instead
    of a Python test of every value."""
    try:
        return b"\\u0000" in orjson.dumps(prepared)
    except (TypeError, orjson.JSONEncodeError):
        return True


class StoreSink:
    """Writes each batch in one transaction with the driver's executemany (the hot path skips
    SQLAlchemy's per-row processing); rows already stored are skipped, so replays are safe.
    The batch's per-trace totals (``trace_totals``, see ``llmops.tracing._rollup``) are merged
    in the same transaction.
    """

    name = "store"

    def __init__(self, store: Store) -> None:
        self.store = store
        self._postgres = store.dialect == "postgresql"
        columns = ", ".join(_COLUMNS)
        marks = ", ".join("?" for _ in _COLUMNS)  # SQLite's executemany
        self._sql = f"INSERT INTO spans ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        self._totals_sql = upsert_sql(store.dialect)
        # PostgreSQL: COPY into a temporary table (JSON as text), then one INSERT ... SELECT
        self._copy_sql = f"COPY {_STAGE} ({columns}) FROM STDIN"
        # every column text in the stage: JSON parsed once, by the INSERT's cast
        self._stage_sql = (
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} "
            f"({', '.join(f'{c} text' for c in _COLUMNS)}) ON COMMIT DELETE ROWS"
        )
        values = ", ".join(f"{c}::{_STAGE_CASTS.get(c, 'text')}" for c in _COLUMNS)
        self._from_stage_sql = f"INSERT INTO spans ({columns}) SELECT {values} FROM {_STAGE}"
        # a data-modifying WITH runs to completion whether or not the statement reads it
        self._insert_sql = f"WITH new_spans AS ({self._from_stage_sql}) {self._totals_sql}"

    def _merge(self, connection: Any, totals: dict[str, list[Any]], replayed: bool) -> None:
        """Merge a batch's ``totals`` into ``trace_totals``; ``replayed``: some of its spans
        were stored already (a replay, a duplicate in the batch), and which is unknown, so its
        traces are summed again from their stored spans."""
        if replayed:
            rebuild_totals(connection, list(totals))
        else:
            params = upsert_params(self.store.dialect, totals)
            connection.exec_driver_sql(self._totals_sql, params)

    def _copy(
        self, connection: Any, prepared: list[tuple[Any, ...]], totals: dict[str, list[Any]]
    ) -> None:
        """PostgreSQL: COPY the rows into this connection's stage table, then insert them from
        it in one statement (half the CPU a span of an executemany in psycopg's pipeline mode;
        multi-row VALUES measured no faster), and merge the totals. The stage empties at
        commit."""
        driver = connection.connection.driver_connection
        cursor = driver.cursor()
        info = connection.connection.info
        if info.get(_STAGE) is not True:
            # once per connection (each transaction, it cost a round trip a request): true
            # once this transaction commits (see write), as a rollback takes the table along
            cursor.execute(self._stage_sql)
            info[_STAGE] = _MADE
        with cursor.copy(self._copy_sql) as copy:
            write_row = copy.write_row
            # in key order: concurrent writers of the same spans (replicas, a replay) wait on
            # each other's rows in one order, so never deadlock
            for values in sorted(prepared, key=_span_key):
                write_row(values)
        try:
            # a plain insert and the totals in one statement, after a savepoint, in one round
            # trip: ON CONFLICT's speculative insertion cost about 20% more a row, and only a
            # replay needs it. One statement, last: nothing sent after it is skipped when it
            # fails (psycopg would take a skipped statement as prepared, and warns of it)
            with driver.pipeline():
                cursor.execute(_SAVEPOINT)
                cursor.execute(self._insert_sql, upsert_params(self.store.dialect, totals))
        except Exception as exc:  # the driver's (psycopg, an optional dependency) error
            if getattr(exc, "sqlstate", None) != _UNIQUE_VIOLATION:
                raise
            cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT_NAME}")
            cursor.execute(f"{self._from_stage_sql} ON CONFLICT DO NOTHING")
            self._merge(connection, totals, replayed=True)

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        dumps = orjson.dumps
        prepared = []
        # SQLite stores a bound NaN as NULL, and Python's sqlite3 binds a NaN about 4x faster
        # than a None (which it first tries to adapt): spans have about 8 NULL columns
        null = None if self._postgres else _NULL
        # a batch's spans share their scope, and mostly their resource: one JSON for each
        scope_json: tuple[Any, Any] = (None, null)
        resource_json: tuple[Any, Any] = (None, null)
        for row in rows:
            get = row.get
            attributes = get("attributes") or {}
            events, resource = get("events"), get("resource")
            links, scope = get("links"), get("scope")
            if scope is not scope_json[0]:
                scope_json = (scope, null if scope is None else dumps(scope, default=str).decode())
            if resource is not resource_json[0]:
                resource_json = (
                    resource,
                    null if resource is None else dumps(resource, default=str).decode(),
                )
            session = get("session_id") or attributes.get("session.id")
            user = get("user_id") or attributes.get("user.id")
            prepared.append(
                (
                    row["trace_id"],
                    row["span_id"],
                    null if (parent := get("parent_span_id")) is None else parent,
                    row["name"],
                    row["kind"],
                    row["start_ns"],
                    row["end_ns"],
                    row["status_code"],
                    null if (message := get("status_message")) is None else message,
                    dumps(attributes, default=str, option=orjson.OPT_NON_STR_KEYS).decode(),
                    null if events is None else dumps(events, default=str).decode(),
                    resource_json[1],
                    null if session is None else str(session)[:200],
                    null if user is None else str(user)[:200],
                    null if (kind := get("otel_kind")) is None else kind,
                    null if links is None else dumps(links, default=str).decode(),
                    scope_json[1],
                    null if (state := get("trace_state")) is None else state,
                )
            )
        totals = sum_totals(rows)
        if self._postgres and _may_hold_nul(prepared):
            prepared = [_postgres_values(values, _JSON_AT) for values in prepared]
        with self.store.bulk() as connection:
            info = connection.connection.info
            if self._postgres:  # spans are partitioned by day there (llmops.store)
                ensure_span_partitions(connection, {values[5] for values in prepared})
                self._copy(connection, prepared, totals)
            else:
                inserted = connection.exec_driver_sql(self._sql, prepared).rowcount
                self._merge(connection, totals, replayed=inserted < len(prepared))
        if info.get(_STAGE) == _MADE:  # committed: the stage table lasts
            info[_STAGE] = True


_LOG_COLUMNS = (
    "trace_id",
    "span_id",
    "time_ns",
    "severity",
    "event_name",
    "body",
    "attributes",
    "resource",
)
_LOG_JSON = ("body", "attributes", "resource")
_LOG_JSON_AT = frozenset(i for i, column in enumerate(_LOG_COLUMNS) if column in _LOG_JSON)


class LogStoreSink:
    """Writes OTLP log records as :class:`StoreSink` writes spans: one transaction per batch
    with the driver's executemany, store faults raised to the caller."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._postgres = store.dialect == "postgresql"
        columns = ", ".join(_LOG_COLUMNS)
        if self._postgres:
            marks = ", ".join("%s::json" if c in _LOG_JSON else "%s" for c in _LOG_COLUMNS)
        else:
            marks = ", ".join("?" for _ in _LOG_COLUMNS)
        self._sql = f"INSERT INTO logs ({columns}) VALUES ({marks})"

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        dumps = orjson.dumps
        prepared = []
        for row in rows:
            body, resource = row.get("body"), row.get("resource")
            if isinstance(body, int | float) and not isinstance(body, bool):
                # SQLite's JSON columns have numeric affinity: a number read back is no JSON
                body = str(body)
            prepared.append(
                (
                    row.get("trace_id"),
                    row.get("span_id"),
                    row["time_ns"],
                    row.get("severity"),
                    row.get("event_name"),
                    None if body is None else dumps(body, default=str).decode(),
                    dumps(row.get("attributes") or {}, default=str).decode(),
                    None if resource is None else dumps(resource, default=str).decode(),
                )
            )
        if self._postgres and _may_hold_nul(prepared):
            prepared = [_postgres_values(values, _LOG_JSON_AT) for values in prepared]
        with self.store.bulk() as connection:
            connection.exec_driver_sql(self._sql, prepared)


def rows_to_readable_spans(
    rows: Sequence[dict[str, Any]],
    *,
    resource: dict[str, Any] | None = None,
    openinference: bool = False,
) -> list[ReadableSpan]:
    """OpenTelemetry ``ReadableSpan`` objects for stored rows, for any OTel exporter: each with
    its row's resource (received spans keep the sender's), else ``resource`` (the app's, for
    SDK spans), and its scope, OTel kind, links and trace state; ``openinference`` adds the
    OpenInference attribute names."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
    from opentelemetry.trace.span import TraceState

    from llmops.tracing._semconv import otel_kind_for, to_openinference

    flags = TraceFlags(TraceFlags.SAMPLED)
    # the rows of a batch share their resource and scope dicts: one OTel object for each
    resources: dict[int, tuple[Any, Resource]] = {}
    scopes: dict[int, tuple[Any, InstrumentationScope | None]] = {}
    spans: list[ReadableSpan] = []
    for row in rows:
        trace_id = int(row["trace_id"], 16)
        state = TraceState.from_header([row["trace_state"]]) if row.get("trace_state") else None
        context = SpanContext(trace_id, int(row["span_id"], 16), False, flags, state)
        parent = row.get("parent_span_id")
        parent_context = SpanContext(trace_id, int(parent, 16), False, flags) if parent else None
        attributes = row.get("attributes") or {}
        if openinference:
            attributes = to_openinference(attributes, row["kind"])
        attributes = {key: _otel_value(value) for key, value in attributes.items()}
        attributes["llmops.span.kind"] = row["kind"]
        events = [
            Event(
                e["name"],
                {k: _otel_value(v) for k, v in (e.get("attributes") or {}).items()},
                e["time_ns"],
            )
            for e in row.get("events") or []
        ]
        links = [
            Link(
                SpanContext(
                    int(link["trace_id"], 16),
                    int(link["span_id"], 16),
                    True,
                    flags,
                    TraceState.from_header([link["trace_state"]])
                    if link.get("trace_state")
                    else None,
                ),
                {k: _otel_value(v) for k, v in (link.get("attributes") or {}).items()},
            )
            for link in row.get("links") or []
        ]
        resource_row = row.get("resource") or resource or {}
        cached = resources.get(id(resource_row))
        if cached is None or cached[0] is not resource_row:
            otel_resource = Resource({k: _otel_value(v) for k, v in resource_row.items()})
            cached = resources[id(resource_row)] = (resource_row, otel_resource)
        scope_row = row.get("scope")
        scope_cached = scopes.get(id(scope_row))
        if scope_cached is None or scope_cached[0] is not scope_row:
            scope_cached = scopes[id(scope_row)] = (scope_row, _scope(scope_row))
        otel_kind = row.get("otel_kind") or otel_kind_for(row["kind"])
        spans.append(
            ReadableSpan(
                name=row["name"],
                context=context,
                parent=parent_context,
                resource=cached[1],
                attributes=attributes,
                events=events,
                links=links,
                kind=SpanKind[otel_kind if otel_kind in SpanKind.__members__ else "INTERNAL"],
                status=Status(StatusCode[row["status_code"]], row.get("status_message")),
                start_time=row["start_ns"],
                end_time=row["end_ns"],
                instrumentation_scope=scope_cached[1],
            )
        )
    return spans


def _scope(scope: Any) -> InstrumentationScope | None:
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    if not isinstance(scope, dict) or not scope.get("name"):
        return None
    attributes = scope.get("attributes")
    return InstrumentationScope(
        str(scope["name"]),
        None if scope.get("version") is None else str(scope["version"]),
        None,
        {k: _otel_value(v) for k, v in attributes.items()}
        if isinstance(attributes, dict)
        else None,
    )


def _otel_value(value: Any) -> Any:
    """OTel attribute values are scalars or homogeneous lists of scalars; others become JSON."""
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list) and all(
        isinstance(item, str | bool | int | float) for item in value
    ):
        return value
    import orjson

    return orjson.dumps(value, default=str).decode()


class OTelExporterSink:
    """Hands batches to an OpenTelemetry ``SpanExporter`` (OTLP/HTTP, console, in-memory...)."""

    def __init__(
        self,
        exporter: SpanExporter,
        name: str = "otel",
        *,
        resource: dict[str, Any] | None = None,
        openinference: bool = False,
    ) -> None:
        """``resource``: the OTel resource of spans whose row has none (SDK spans; default:
        the environment's, as ``tracing.resource_attributes`` documents); ``openinference``:
        also send the OpenInference attribute names (for Phoenix)."""
        if resource is None:
            # lazy: keeps import llmops light
            from llmops.config import TracingConfig
            from llmops.tracing._setup import current_redactor, resource_for

            resource = resource_for(TracingConfig(), current_redactor())
        self.exporter = exporter
        self.name = name
        self.resource = resource
        self.openinference = openinference

    def write(self, rows: Sequence[dict[str, Any]]) -> None:
        from opentelemetry.sdk.trace.export import SpanExportResult

        result = self.exporter.export(
            rows_to_readable_spans(rows, resource=self.resource, openinference=self.openinference)
        )
        if result is not SpanExportResult.SUCCESS:
            raise RuntimeError(f"{type(self.exporter).__name__} returned {result.name}")
