"""Per-trace totals (``trace_totals``): tokens and cost summed over a trace's spans, and its
model, prompt (``name@version``) and route version, so that a dashboard reads one row per trace
instead of the JSON attributes of each of its spans.

:class:`~llmops.tracing.StoreSink` keeps the table filled in the transaction that inserts the
spans: it sums each batch in Python (about 1 us a span; a trigger on ``spans`` cost 10% of
ingest) and merges the sums into the rows. When the store skipped some of a batch's spans (a
replay: ``ON CONFLICT DO NOTHING``) it cannot tell which, so the batch's traces are recomputed
from their stored spans: a replayed span is never counted twice.

One rule on both stores, in Python and in SQL alike: a token or cost attribute counts when it
is a JSON number within the 64-bit range; a string, a JSON ``true``/``false`` (not 1/0), null
or a larger number is ignored, and a total stays NULL until a span carries a number for it.
Model, prompt name and version and route are JSON strings or numbers (as text, a NUL read as
U+FFFD); the least (by code point) over the trace's spans is kept, so a trace with two models
counts once. Error spans (status ERROR) are counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection

from llmops.tracing._cost import COST
from llmops.tracing._queries import PROMPT_NAME, PROMPT_VERSION, ROUTE_VERSION

__all__ = [
    "TOTALS_COLUMNS",
    "rebuild_all_totals",
    "rebuild_totals",
    "sum_totals",
    "totals_select",
    "upsert_params",
    "upsert_sql",
]

INPUT, OUTPUT = "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"
MODEL = "gen_ai.request.model"
_NUMBERS = (("input_tokens", INPUT), ("output_tokens", OUTPUT), ("cost_usd", COST))
_TEXTS = ("model", "prompt", "route")
TOTALS_COLUMNS = ("trace_id", *(c for c, _ in _NUMBERS), *_TEXTS, "error_count")
_LIMIT = float(2**63)
#: Trace ids per recompute statement (bound parameters stay few on every driver).
_CHUNK = 500


def _text(value: Any) -> str | None:
    kind = type(value)
    if kind is str:
        text: str = value
        # a NUL reads as U+FFFD: PostgreSQL text cannot hold it, SQLite's JSON cuts text at it
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    if kind is int or kind is float:
        return str(value)
    return None


def _least(old: str | None, new: str | None) -> str | None:
    if old is None:
        return new
    return old if new is None or old <= new else new


def sum_totals(rows: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    """Per trace id of ``rows`` (span dicts as the sink writes them): ``[input_tokens,
    output_tokens, cost_usd, model, prompt, route, error_count]`` by the rule of this module."""
    totals: dict[str, list[Any]] = {}
    numeric, low, high = _NUMERIC, -_LIMIT, _LIMIT
    # the sink's hot path (about 1 us a span): the lookups stay inline
    for row in rows:
        get = (row.get("attributes") or _EMPTY).get
        trace = row["trace_id"]
        values = totals.get(trace)
        if values is None:
            values = totals[trace] = [None, None, None, None, None, None, 0]
        for i, key in _NUMBER_KEYS:
            number: Any = get(key)
            # type(), not isinstance: True is an int; NaN fails both comparisons
            if type(number) in numeric and low <= number <= high:
                old = values[i]
                values[i] = float(number) if old is None else old + number
        model = get(MODEL)
        if model is not None:
            values[3] = _least(values[3], _text(model))
        name = get(PROMPT_NAME)
        if name is not None and (name := _text(name)) is not None:
            version = _text(get(PROMPT_VERSION))
            values[4] = _least(values[4], f"{name}@{'?' if version is None else version}")
        route = get(ROUTE_VERSION)
        if route is not None:
            values[5] = _least(values[5], _text(route))
        if row["status_code"] == "ERROR":
            values[6] += 1
    return totals


_NUMERIC = frozenset({int, float})
_NUMBER_KEYS = tuple(enumerate((INPUT, OUTPUT, COST)))
_EMPTY: dict[str, Any] = {}


def upsert_sql(dialect: str) -> str:
    """Insert traces' totals, or merge them into their rows: sums that stay NULL until a
    number arrives, the least text (by code point: ``COLLATE "C"`` on PostgreSQL, as SQLite's).
    SQLite: one row of parameters per trace (executemany); PostgreSQL: one statement for the
    batch, each column an array (``unnest``), the parameters :func:`upsert_params` makes."""
    if dialect == "postgresql":
        types = ("varchar", "float8", "float8", "float8", "text", "text", "text", "int")
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        rows, least, collate = f"SELECT * FROM unnest({arrays})", "least", ' COLLATE "C"'
    else:
        rows, least, collate = f"VALUES ({', '.join(['?'] * len(TOTALS_COLUMNS))})", "min", ""
    sums = [
        f"{c} = CASE WHEN excluded.{c} IS NULL THEN trace_totals.{c} "
        f"ELSE coalesce(trace_totals.{c}, 0) + excluded.{c} END"
        for c, _ in _NUMBERS
    ]
    texts = [
        f"{c} = {least}(coalesce(trace_totals.{c}, excluded.{c}){collate}, "
        f"coalesce(excluded.{c}, trace_totals.{c}){collate})"
        for c in _TEXTS
    ]
    errors = "error_count = trace_totals.error_count + excluded.error_count"
    return (
        f"INSERT INTO trace_totals ({', '.join(TOTALS_COLUMNS)}) {rows} "
        f"ON CONFLICT (trace_id) DO UPDATE SET {', '.join([*sums, *texts, errors])}"
    )


def upsert_params(dialect: str, totals: dict[str, list[Any]]) -> Any:
    """The parameters of :func:`upsert_sql` for :func:`sum_totals`' result (one trace each)."""
    if dialect == "postgresql":
        # by trace id: concurrent writers (replicas) lock rows in one order, so never deadlock
        rows = [(trace, *values) for trace, values in sorted(totals.items())]
        return tuple(list(column) for column in zip(*rows, strict=True))
    # SQLite stores a bound NaN as NULL, which Python's sqlite3 binds faster than a None
    null = float("nan")
    return [
        (
            trace,
            null if (tin := v[0]) is None else tin,
            null if (tout := v[1]) is None else tout,
            null if (cost := v[2]) is None else cost,
            null if (model := v[3]) is None else model,
            null if (prompt := v[4]) is None else prompt,
            null if (route := v[5]) is None else route,
            v[6],
        )
        for trace, v in totals.items()
    ]


def _number_sql(dialect: str, key: str) -> str:
    limit = repr(_LIMIT)
    if dialect == "postgresql":
        value = f"(attributes ->> '{key}')::float8"
        return (
            f"CASE WHEN json_typeof(attributes -> '{key}') = 'number' THEN "
            f"CASE WHEN {value} BETWEEN -{limit} AND {limit} THEN {value} END END"
        )
    path = f"'$.\"{key}\"'"
    value = f"json_extract(attributes, {path})"
    return (
        f"CASE WHEN json_type(attributes, {path}) IN ('integer', 'real') "
        f"AND {value} BETWEEN -{limit} AND {limit} THEN CAST({value} AS REAL) END"
    )


def _text_sql(dialect: str, key: str) -> str:
    if dialect == "postgresql":
        return (
            f"CASE WHEN json_typeof(attributes -> '{key}') IN ('string', 'number') "
            f"THEN attributes ->> '{key}' END"
        )
    path = f"'$.\"{key}\"'"
    return (
        f"CASE WHEN json_type(attributes, {path}) IN ('text', 'integer', 'real') "
        f"THEN CAST(json_extract(attributes, {path}) AS TEXT) END"
    )


def totals_select(dialect: str) -> str:
    """``SELECT`` of :data:`TOTALS_COLUMNS` per trace from ``spans``, to which a ``WHERE`` on
    ``trace_id`` and ``GROUP BY trace_id`` are appended."""
    prompt = (
        f"{_text_sql(dialect, PROMPT_NAME)} || '@' || "
        f"coalesce({_text_sql(dialect, PROMPT_VERSION)}, '?')"
    )
    least = 'min(({}) COLLATE "C")' if dialect == "postgresql" else "min({})"
    values = [f"sum({_number_sql(dialect, key)})" for _, key in _NUMBERS] + [
        least.format(text)
        for text in (_text_sql(dialect, MODEL), prompt, _text_sql(dialect, ROUTE_VERSION))
    ]
    values.append("sum(CASE WHEN status_code = 'ERROR' THEN 1 ELSE 0 END)")
    # a NUL (stored escaped, \u0000) reads as U+FFFD, as in sum_totals: PostgreSQL's JSON
    # operators fail on the document, SQLite's JSON functions cut the text at it
    document = "replace(attributes::text, '\\u0000', '\\ufffd')::json"
    if dialect != "postgresql":
        document = "replace(attributes, '\\u0000', '\\ufffd')"
    source = f"(SELECT trace_id, status_code, {document} AS attributes FROM spans) AS spans"
    return f"SELECT trace_id, {', '.join(values)} FROM {source}"


def rebuild_totals(connection: Connection, trace_ids: Sequence[str]) -> None:
    """Recompute the totals of ``trace_ids`` from their stored spans (a trace without spans
    loses its row), in ``connection``'s transaction."""
    dialect = connection.dialect.name
    mark = "%s" if dialect == "postgresql" else "?"
    select = totals_select(dialect)
    columns = ", ".join(TOTALS_COLUMNS)
    ids = sorted(set(trace_ids))
    for start in range(0, len(ids), _CHUNK):
        chunk = tuple(ids[start : start + _CHUNK])
        marks = ", ".join([mark] * len(chunk))
        connection.exec_driver_sql(f"DELETE FROM trace_totals WHERE trace_id IN ({marks})", chunk)
        connection.exec_driver_sql(
            f"INSERT INTO trace_totals ({columns}) {select} "
            f"WHERE trace_id IN ({marks}) GROUP BY trace_id",
            chunk,
        )


def rebuild_all_totals(connection: Connection, chunk: int = 20_000) -> int:
    """Recompute every trace's totals from ``spans`` (a store filled without the sink: a
    benchmark, an import), ``chunk`` traces per statement so memory stays bounded; returns
    the number of rows written."""
    dialect = connection.dialect.name
    mark = "%s" if dialect == "postgresql" else "?"
    select = totals_select(dialect)
    columns = ", ".join(TOTALS_COLUMNS)
    connection.exec_driver_sql("DELETE FROM trace_totals")
    written = 0
    # the bounds of each chunk come from ix_spans_tree (trace_id first) alone
    low = connection.exec_driver_sql("SELECT min(trace_id) FROM spans").scalar()
    while low is not None:
        high = connection.exec_driver_sql(
            f"SELECT DISTINCT trace_id FROM spans WHERE trace_id >= {mark} "
            f"ORDER BY trace_id LIMIT 1 OFFSET {int(chunk)}",
            (low,),
        ).scalar()
        where = f"trace_id >= {mark}" + ("" if high is None else f" AND trace_id < {mark}")
        result = connection.exec_driver_sql(
            f"INSERT INTO trace_totals ({columns}) {select} WHERE {where} GROUP BY trace_id",
            (low,) if high is None else (low, high),
        )
        written += max(result.rowcount, 0)
        low = high
    return written
