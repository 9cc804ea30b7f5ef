"""Reading traces back from the store.

The trace listing reads the Core table ``llmops.store.spans`` (no ORM: it is what every
``llmops traces list`` pays for); the conditions below take that table, or by default the
``SpanRecord`` model's table for queries composed over the model (server, online evals).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Float, String, Table, case, cast, func, literal_column, or_, select
from sqlalchemy.sql.elements import ColumnElement

from llmops._exceptions import InputError, NotFoundError
from llmops.store import Store
from llmops.store import spans as _S
from llmops.tracing._scores import (
    ScoreCondition,
    ScoreSort,
    score_matches,
    score_order,
    score_summaries,
)
from llmops.tracing._span_table import span_table

if TYPE_CHECKING:
    from llmops.store.models import SpanRecord

__all__ = [
    "TAG_ATTRIBUTES",
    "TraceFilter",
    "TraceSummary",
    "count",
    "get_trace",
    "has_tag",
    "json_number",
    "json_text",
    "list_traces",
    "parse_prompt_ref",
    "prompt_matches",
    "route_matches",
    "text_matches",
    "trace_status_is",
]

_NUMBER_LIMIT = float(2**63)
#: Where spans keep their tags: llmops' own ``trace(tags=...)`` and OpenInference's.
TAG_ATTRIBUTES = ("llmops.tags", "tag.tags")
#: The rendered prompt and the route's resolved version on a model call (the keys that the
#: dashboard's "prompt" and "route" groups read).
PROMPT_NAME, PROMPT_VERSION = "llmops.prompt.name", "llmops.prompt.version"
ROUTE_VERSION = "llmops.route.version"


@dataclass(frozen=True)
class TraceSummary:
    """A trace as listed: its root span and totals over its spans. ``status`` is the trace's:
    ERROR when any span failed (``error_count`` of them), else the root span's."""

    trace_id: str
    name: str
    start_ns: int
    duration_ms: float
    status: str
    span_count: int
    session_id: str | None = None
    user_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error_count: int = 0
    #: per score name: ``{value, mean, n}`` (see :func:`score_summaries`)
    scores: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "name": self.name,
            "start_ns": self.start_ns,
            "duration_ms": self.duration_ms,
            "status": self.status,
            "span_count": self.span_count,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "error_count": self.error_count,
            "scores": self.scores,
        }


@dataclass(frozen=True)
class TraceFilter:
    """Conditions on listed traces; None means no condition.

    Time, name and latency apply to the root span; status to the trace (ERROR: any span
    failed; OK or UNSET: none did, and the root span's status is that); session, user, model,
    tag, prompt (``NAME`` or ``NAME@VERSION``), route (its resolved version) and text (name,
    attributes, status message, events) match when any span does; every score condition must
    hold (see :class:`ScoreCondition`).
    """

    since_ns: int | None = None
    until_ns: int | None = None
    name: str | None = None
    status: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    model: str | None = None
    tag: str | None = None
    prompt: str | None = None
    route: str | None = None
    min_duration_ms: float | None = None
    text: str | None = None
    scores: tuple[ScoreCondition, ...] = ()


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def count(value: Any) -> int:
    """A summed count as a 64-bit integer (clamped): sums run in floats, and JSON encoders
    refuse integers past 64 bits."""
    if value is None:
        return 0
    return int(min(max(float(value), -(2.0**63)), 2.0**63 - 1024))


def json_text(store: Store, key: str, spans: Table | None = None) -> ColumnElement[Any]:
    """The string attribute ``key`` of a span, in SQL (NULL when absent)."""
    return _attribute(store.dialect, key, spans)


def _attribute(dialect: str, key: str, spans: Table | None) -> ColumnElement[Any]:
    attributes = span_table(spans).c.attributes
    if dialect == "postgresql":
        return attributes.op("->>")(key)
    return func.json_extract(attributes, f'$."{key}"')


def parse_prompt_ref(ref: str, what: str = "prompt") -> tuple[str, str | None]:
    """``NAME`` or ``NAME@VERSION`` as (name, version or None); a bad one is an
    ``InputError`` naming ``what`` (the option or parameter)."""
    name, at, version = ref.rpartition("@") if "@" in ref else (ref, "", "")
    if not name.strip() or (at and not version.strip()) or not ref.isprintable():
        raise InputError(f"{what}: expected NAME or NAME@VERSION, got {ref[:100]!r}")
    return name, version if at else None


def prompt_matches(dialect: str, ref: str, spans: Table | None = None) -> ColumnElement[bool]:
    """A condition on a span: it rendered prompt ``NAME`` (any version) or ``NAME@VERSION``."""
    name, version = parse_prompt_ref(ref)
    condition = _attribute(dialect, PROMPT_NAME, spans) == name
    if version is None:
        return condition
    # compared as text, as the dashboard groups it: an integer from llmops.llm (SQLite's
    # json_extract gives a number, which never equals a string), a string from OTLP senders
    return condition & (cast(_attribute(dialect, PROMPT_VERSION, spans), String) == version)


def route_matches(dialect: str, version: str, spans: Table | None = None) -> ColumnElement[bool]:
    """A condition on a span: a route resolved to ``version`` (``llmops.route.version``)."""
    if not version.strip() or not version.isprintable():
        raise InputError(f"route: expected a route version, got {version[:100]!r}")
    return _attribute(dialect, ROUTE_VERSION, spans) == version


def json_number(store: Store, key: str, spans: Table | None = None) -> ColumnElement[Any]:
    """The numeric attribute ``key`` of a span, in SQL: NULL when absent, not a number (so no
    stored value can make a cast fail) or past the 64-bit range (so that sums of any number of
    them stay finite: PostgreSQL fails on a float overflow, every later query with it)."""
    attributes = span_table(spans).c.attributes
    if store.dialect == "postgresql":
        is_number = func.json_typeof(attributes.op("->")(key)) == "number"
        value: ColumnElement[Any] = cast(attributes.op("->>")(key), Float)
    else:
        path = f'$."{key}"'
        is_number = func.json_type(attributes, path).in_(("integer", "real"))
        value = func.json_extract(attributes, path)
    # nested, not ANDed: the cast must only run on numbers; no abs(): SQLite's fails on -2**63
    in_range = (value >= -_NUMBER_LIMIT) & (value <= _NUMBER_LIMIT)
    return case((is_number, case((in_range, value))))


def has_tag(dialect: str, tag: str, spans: Table | None = None) -> ColumnElement[bool]:
    """The span carries ``tag`` in one of :data:`TAG_ATTRIBUTES` (an array of strings, or one
    string), and not merely somewhere in another attribute's value."""
    attributes = span_table(spans).c.attributes
    matches: list[ColumnElement[bool]] = []
    for key in TAG_ATTRIBUTES:
        if dialect == "postgresql":
            value = attributes.op("->")(key)
            kind = func.json_typeof(value)
            # json_array_elements_text fails on anything but an array, so others become one
            array = case(
                (kind == "array", value),
                (kind == "string", func.json_build_array(attributes.op("->>")(key))),
                else_=literal_column("'[]'::json"),
            )
            elements = func.json_array_elements_text(array).table_valued("value")
            shaped = None
        else:  # json_each walks an array, or yields a single value as one row (but an
            # object's values too, hence the type check)
            path = f'$."{key}"'
            elements = func.json_each(attributes, path).table_valued("value")
            shaped = func.json_type(attributes, path).in_(("array", "text"))
        exists = select(elements.c.value).where(elements.c.value == tag).exists()
        matches.append(exists if shaped is None else shaped & exists)
    return or_(*matches)


def _error_traces(spans: Table) -> Any:
    """The ids of traces with a failed span, read from the partial index ``ix_spans_errors``."""
    return select(spans.c.trace_id).where(spans.c.status_code == "ERROR")


def trace_status_is(status: str, spans: Table | None = None) -> ColumnElement[bool]:
    """A condition on a root span: its trace's status is ``status`` (OK, ERROR or UNSET)."""
    table = span_table(spans)
    status = status.upper()
    if status == "ERROR":
        return table.c.trace_id.in_(_error_traces(table))
    return (table.c.status_code == status) & table.c.trace_id.not_in(_error_traces(table))


def text_matches(text: str, spans: Table | None = None) -> ColumnElement[bool]:
    """A condition on a span: ``text`` (case-insensitive) is in its name, attributes, status
    message or events (exception messages, event attributes)."""
    table = span_table(spans)
    pattern = _like(text)
    return or_(
        table.c.name.ilike(pattern, escape="\\"),
        cast(table.c.attributes, String).ilike(pattern, escape="\\"),
        table.c.status_message.ilike(pattern, escape="\\"),
        cast(table.c.events, String).ilike(pattern, escape="\\"),
    )


def _span_conditions(where: TraceFilter, dialect: str) -> list[Any]:
    conditions: list[Any] = []
    if where.session_id is not None:
        conditions.append(_S.c.session_id == where.session_id)
    if where.user_id is not None:
        conditions.append(_S.c.user_id == where.user_id)
    if where.model is not None:
        model = _S.c.attributes["gen_ai.request.model"].as_string()
        conditions.append(model == where.model)
    if where.tag is not None:
        conditions.append(has_tag(dialect, where.tag, _S))
    if where.prompt is not None:
        conditions.append(prompt_matches(dialect, where.prompt, _S))
    if where.route is not None:
        conditions.append(route_matches(dialect, where.route, _S))
    if where.text is not None:
        conditions.append(text_matches(where.text, _S))
    return conditions


def list_traces(
    store: Store,
    *,
    limit: int = 50,
    offset: int = 0,
    where: TraceFilter | None = None,
    sort: ScoreSort | None = None,
) -> list[TraceSummary]:
    """The newest traces matching ``where``, by the start of their root span (``sort``: by a
    score's mean first), each with its scores summarized."""
    where = where or TraceFilter()
    root = _S.c
    query = select(
        root.trace_id,
        root.name,
        root.start_ns,
        root.end_ns,
        root.status_code,
        root.session_id,
        root.user_id,
    ).where(root.parent_span_id.is_(None))
    if where.since_ns is not None:
        query = query.where(root.start_ns >= where.since_ns)
    if where.until_ns is not None:
        query = query.where(root.start_ns < where.until_ns)
    if where.name is not None:
        query = query.where(root.name.ilike(_like(where.name), escape="\\"))
    if where.status is not None:
        query = query.where(trace_status_is(where.status, _S))
    if where.min_duration_ms is not None:
        query = query.where(root.end_ns - root.start_ns >= int(where.min_duration_ms * 1e6))
    # each on its own: the spans that match may differ (a route on the root, a prompt on its
    # model call), as in the API's list
    for condition in _span_conditions(where, store.dialect):
        query = query.where(root.trace_id.in_(select(root.trace_id).where(condition)))
    for condition in where.scores:
        query = query.where(score_matches(condition, _S))
    if sort is not None:
        means, order = score_order(sort)
        query = query.outerjoin(means, means.c.trace_id == root.trace_id).order_by(*order)
    query = query.order_by(root.start_ns.desc()).offset(offset).limit(limit)
    with store.read() as connection:
        roots = connection.execute(query).all()
        ids = [row.trace_id for row in roots]
        totals: dict[str, tuple[int, int, int, int]] = {}
        if ids:
            # summed as floats: SQLite's integer sum() fails on overflow, and one span with a
            # huge count would make every later listing of its trace fail
            input_tokens = cast(json_number(store, "gen_ai.usage.input_tokens", _S), Float)
            output_tokens = cast(json_number(store, "gen_ai.usage.output_tokens", _S), Float)
            failed = func.sum(case((root.status_code == "ERROR", 1), else_=0))
            rows = connection.execute(
                select(
                    root.trace_id,
                    func.count(),
                    func.sum(input_tokens),
                    func.sum(output_tokens),
                    failed,
                )
                .where(root.trace_id.in_(ids))
                .group_by(root.trace_id)
            ).all()
            totals = {
                row[0]: (row[1], count(row[2]), count(row[3]), int(row[4] or 0)) for row in rows
            }
    scores = score_summaries(store, ids)
    summaries = []
    for row in roots:
        spans, input_count, output_count, errors = totals.get(row.trace_id, (1, 0, 0, 0))
        summaries.append(
            TraceSummary(
                trace_id=row.trace_id,
                name=row.name,
                start_ns=row.start_ns,
                duration_ms=(row.end_ns - row.start_ns) / 1e6,
                status="ERROR" if errors else row.status_code,
                span_count=spans,
                session_id=row.session_id,
                user_id=row.user_id,
                input_tokens=input_count,
                output_tokens=output_count,
                error_count=errors,
                scores=scores.get(row.trace_id, {}),
            )
        )
    return summaries


def get_trace(store: Store, trace_id: str) -> list[SpanRecord]:
    """The spans of one trace in start order; a short id is a unique suffix (or prefix)."""
    # lazy: the models (sqlmodel, the ORM) would cost every `llmops traces list`; a trace is
    # read whole as SpanRecord objects, the type callers get
    from sqlmodel import col
    from sqlmodel import select as orm_select

    from llmops.store.models import SpanRecord

    needle = trace_id.lower()
    with store.session() as session:
        if len(needle) < 32:
            # ids start with a timestamp (time-ordered), so the distinctive part is the end:
            # a short id is matched as a suffix first, then as a prefix
            for condition in (
                col(SpanRecord.trace_id).endswith(needle),
                col(SpanRecord.trace_id).startswith(needle),
            ):
                matches = session.exec(
                    orm_select(SpanRecord.trace_id).where(condition).distinct().limit(2)
                ).all()
                if len(matches) > 1:
                    raise NotFoundError(
                        f"short trace id '{trace_id}' is ambiguous: give more of its last "
                        "characters"
                    )
                if matches:
                    needle = matches[0]
                    break
        spans = session.exec(
            orm_select(SpanRecord)
            .where(SpanRecord.trace_id == needle)
            .order_by(col(SpanRecord.start_ns))
        ).all()
    if not spans:
        raise NotFoundError(f"trace '{trace_id}' not found")
    return list(spans)
