"""Reading traces back from the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, func
from sqlmodel import col, select

from llmops._exceptions import NotFoundError
from llmops.store import Store
from llmops.store.models import SpanRecord

__all__ = ["TraceFilter", "TraceSummary", "get_trace", "list_traces"]


@dataclass(frozen=True)
class TraceSummary:
    """A trace as listed: its root span and totals over its spans."""

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
        }


@dataclass(frozen=True)
class TraceFilter:
    """Conditions on listed traces; None means no condition.

    Time, name, status and latency apply to the root span; session, user, model, tag and
    text match when any span of the trace matches.
    """

    since_ns: int | None = None
    until_ns: int | None = None
    name: str | None = None
    status: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    model: str | None = None
    tag: str | None = None
    min_duration_ms: float | None = None
    text: str | None = None


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _span_conditions(where: TraceFilter) -> list[Any]:
    conditions: list[Any] = []
    attributes_text = cast(SpanRecord.attributes, String)
    if where.session_id is not None:
        conditions.append(SpanRecord.session_id == where.session_id)
    if where.user_id is not None:
        conditions.append(SpanRecord.user_id == where.user_id)
    if where.model is not None:
        model = SpanRecord.attributes["gen_ai.request.model"].as_string()
        conditions.append(model == where.model)
    if where.tag is not None:
        conditions.append(attributes_text.like(_like(f'"{where.tag}"'), escape="\\"))
    if where.text is not None:
        conditions.append(attributes_text.ilike(_like(where.text), escape="\\"))
    return conditions


def list_traces(
    store: Store, *, limit: int = 50, offset: int = 0, where: TraceFilter | None = None
) -> list[TraceSummary]:
    """The newest traces matching ``where``, by the start of their root span."""
    where = where or TraceFilter()
    query = select(SpanRecord).where(col(SpanRecord.parent_span_id).is_(None))
    if where.since_ns is not None:
        query = query.where(SpanRecord.start_ns >= where.since_ns)
    if where.until_ns is not None:
        query = query.where(SpanRecord.start_ns < where.until_ns)
    if where.name is not None:
        query = query.where(col(SpanRecord.name).ilike(_like(where.name), escape="\\"))
    if where.status is not None:
        query = query.where(SpanRecord.status_code == where.status.upper())
    if where.min_duration_ms is not None:
        query = query.where(
            SpanRecord.end_ns - SpanRecord.start_ns >= int(where.min_duration_ms * 1e6)
        )
    span_conditions = _span_conditions(where)
    if span_conditions:
        matching = select(SpanRecord.trace_id).where(*span_conditions)
        query = query.where(col(SpanRecord.trace_id).in_(matching))
    query = query.order_by(col(SpanRecord.start_ns).desc()).offset(offset).limit(limit)
    with store.session() as session:
        roots = session.exec(query).all()
        ids = [root.trace_id for root in roots]
        totals: dict[str, tuple[int, int, int]] = {}
        if ids:
            input_tokens = SpanRecord.attributes["gen_ai.usage.input_tokens"].as_integer()
            output_tokens = SpanRecord.attributes["gen_ai.usage.output_tokens"].as_integer()
            rows = session.exec(
                select(
                    SpanRecord.trace_id,
                    func.count(),
                    func.sum(input_tokens),
                    func.sum(output_tokens),
                )
                .where(col(SpanRecord.trace_id).in_(ids))
                .group_by(SpanRecord.trace_id)
            ).all()
            totals = {row[0]: (row[1], int(row[2] or 0), int(row[3] or 0)) for row in rows}
    return [
        TraceSummary(
            trace_id=root.trace_id,
            name=root.name,
            start_ns=root.start_ns,
            duration_ms=(root.end_ns - root.start_ns) / 1e6,
            status=root.status_code,
            span_count=totals.get(root.trace_id, (1, 0, 0))[0],
            session_id=root.session_id,
            user_id=root.user_id,
            input_tokens=totals.get(root.trace_id, (1, 0, 0))[1],
            output_tokens=totals.get(root.trace_id, (1, 0, 0))[2],
        )
        for root in roots
    ]


def get_trace(store: Store, trace_id: str) -> list[SpanRecord]:
    """The spans of one trace in start order; a short id is a unique suffix (or prefix)."""
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
                    select(SpanRecord.trace_id).where(condition).distinct().limit(2)
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
            select(SpanRecord)
            .where(SpanRecord.trace_id == needle)
            .order_by(col(SpanRecord.start_ns))
        ).all()
    if not spans:
        raise NotFoundError(f"trace '{trace_id}' not found")
    return list(spans)
