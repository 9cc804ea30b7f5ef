"""Reading traces back from the store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from llmops._exceptions import NotFoundError
from llmops.store import Store
from llmops.store.models import SpanRecord

__all__ = ["TraceSummary", "get_trace", "list_traces"]


@dataclass(frozen=True)
class TraceSummary:
    """A trace as listed: its root span and totals over its spans."""

    trace_id: str
    name: str
    start_ns: int
    duration_ms: float
    status: str
    span_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id,
            "name": self.name,
            "start_ns": self.start_ns,
            "duration_ms": self.duration_ms,
            "status": self.status,
            "span_count": self.span_count,
        }


def list_traces(store: Store, *, limit: int = 50) -> list[TraceSummary]:
    """The newest traces, by the start of their root span."""
    with store.session() as session:
        roots = session.exec(
            select(SpanRecord)
            .where(col(SpanRecord.parent_span_id).is_(None))
            .order_by(col(SpanRecord.start_ns).desc())
            .limit(limit)
        ).all()
        ids = [root.trace_id for root in roots]
        counts: dict[str, int] = {}
        if ids:
            counts = {
                trace_id: count
                for trace_id, count in session.exec(
                    select(SpanRecord.trace_id, func.count())
                    .where(col(SpanRecord.trace_id).in_(ids))
                    .group_by(SpanRecord.trace_id)
                ).all()
            }
    return [
        TraceSummary(
            trace_id=root.trace_id,
            name=root.name,
            start_ns=root.start_ns,
            duration_ms=(root.end_ns - root.start_ns) / 1e6,
            status=root.status_code,
            span_count=counts.get(root.trace_id, 1),
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
