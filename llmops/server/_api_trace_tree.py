"""One trace, read lazily: its summary, the children of one span, one span, a timeline window.

A trace of 50k spans is never loaded whole: children are read one level at a time, and the
timeline reads three small columns of every span to place a window of full summaries.
"""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import exists, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from llmops._exceptions import NotFoundError
from llmops.server._api_deps import StoreDep
from llmops.server._pagination import MAX_INT, Cursor, Limit, decode_cursor, json_response, page
from llmops.server._span_views import (
    child_counts,
    full_span,
    resolve_trace_id,
    span_logs,
    summary,
    summary_columns,
)
from llmops.store import Store
from llmops.store.models import SpanRecord

__all__ = ["ROOT", "router", "span_depths"]

router = APIRouter(prefix="/api/v1/traces/{trace_id}", tags=["traces"])

#: ``parent=ROOT`` lists the roots: spans without a parent, or whose parent was never stored.
ROOT = "ROOT"

TraceId = Annotated[str, Path(min_length=1, max_length=64)]
SpanId = Annotated[str, Path(min_length=1, max_length=64)]


def _is_root() -> Any:
    parent = aliased(SpanRecord)
    stored = exists().where(
        col(parent.trace_id) == col(SpanRecord.trace_id),
        col(parent.span_id) == col(SpanRecord.parent_span_id),
    )
    return or_(col(SpanRecord.parent_span_id).is_(None), ~stored)


def _summaries(db: Session, trace_id: str, rows: list[Any]) -> dict[str, Any]:
    counts = child_counts(db, trace_id, (row.span_id for row in rows))
    return {row.span_id: summary(row, counts.get(row.span_id, 0)) for row in rows}


@router.get("", summary="A trace: its root span and extent")
def get_trace(store: StoreDep, trace_id: TraceId) -> Response:
    """The trace (a unique suffix or prefix of its id works) with its first root span."""
    with store.session() as db:
        full_id = resolve_trace_id(db, trace_id)
        count, start, end = db.exec(
            select(func.count(), func.min(SpanRecord.start_ns), func.max(SpanRecord.end_ns)).where(
                SpanRecord.trace_id == full_id
            )
        ).one()
        first = select(*summary_columns(store)).where(SpanRecord.trace_id == full_id)
        first = first.order_by(col(SpanRecord.start_ns), col(SpanRecord.span_id)).limit(1)
        root = db.exec(first.where(col(SpanRecord.parent_span_id).is_(None))).first()
        if root is None:  # only orphans (their parents were never stored): slower to find
            root = db.exec(first.where(_is_root())).first()
        shown = _summaries(db, full_id, [root]) if root is not None else {}
    return json_response(
        {
            "trace_id": full_id,
            "root": shown.get(root.span_id) if root is not None else None,
            "span_count": count,
            "start_ns": start,
            "end_ns": end,
            "duration_ms": (end - start) / 1e6,
        }
    )


@router.get("/spans", summary="The children of one span (parent=ROOT: the roots), by start")
def list_children(
    store: StoreDep,
    trace_id: TraceId,
    parent: Annotated[str, Query(min_length=1, max_length=64)] = ROOT,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """One level of the span tree, in start order; expand a span by passing its id."""
    after = decode_cursor(cursor, (int, str))
    with store.session() as db:
        full_id = resolve_trace_id(db, trace_id)
        query = select(*summary_columns(store)).where(SpanRecord.trace_id == full_id)
        if parent == ROOT:
            query = query.where(_is_root())
        else:
            query = query.where(SpanRecord.parent_span_id == parent)
        if after is not None:
            start = col(SpanRecord.start_ns)
            query = query.where(
                start >= after[0], or_(start > after[0], col(SpanRecord.span_id) > after[1])
            )
        rows = list(
            db.exec(
                query.order_by(col(SpanRecord.start_ns), col(SpanRecord.span_id)).limit(limit + 1)
            ).all()
        )
        if not rows and parent != ROOT and db.get(SpanRecord, (full_id, parent)) is None:
            raise NotFoundError(f"span '{parent}' not found in trace '{full_id}'")
        shown = _summaries(db, full_id, rows[:limit])
    return page(
        rows,
        limit,
        key=lambda r: (r.start_ns, r.span_id),
        render=lambda r: shown[r.span_id],
        trace_id=full_id,
        parent=parent,
    )


@router.get("/spans/{span_id}", summary="One span in full: attributes, events, content")
def get_span(store: StoreDep, trace_id: TraceId, span_id: SpanId) -> Response:
    """The span with its attributes, events, resource, parsed input/output, prompt, documents."""
    with store.session() as db:
        full_id = resolve_trace_id(db, trace_id)
        record = db.get(SpanRecord, (full_id, span_id))
        if record is None:
            raise NotFoundError(f"span '{span_id}' not found in trace '{full_id}'")
        count = child_counts(db, full_id, [span_id]).get(span_id, 0)
        logs = span_logs(db, full_id, span_id)
        shown = full_span(record, count, logs)
        shown["links"] = _links(db, shown["links"])
    return json_response(shown)


def _links(db: Session, links: list[Any]) -> list[dict[str, Any]]:
    """A span's links, each with ``stored``: whether the linked trace is in the store (the
    viewer makes those a link to the trace's page)."""
    shown = [link for link in links if isinstance(link, dict)]
    ids = {link.get("trace_id") for link in shown} - {None}
    stored = (
        set(
            db.exec(
                select(SpanRecord.trace_id).where(col(SpanRecord.trace_id).in_(ids)).distinct()
            ).all()
        )
        if ids
        else set()
    )
    return [{**link, "stored": link.get("trace_id") in stored} for link in shown]


def span_depths(parents: dict[str, str | None]) -> dict[str, int]:
    """Each span's depth under its root (a span whose parent is missing, or a cycle, is 0).

    Fastest when ``parents`` is in start order: a parent is then placed before its children.
    """
    depth: dict[str, int] = {}
    for start, parent in parents.items():
        if parent is None or parent not in parents:
            depth[start] = 0
            continue
        if parent in depth:
            depth[start] = depth[parent] + 1
            continue
        chain: list[str] = []
        seen: set[str] = set()
        node: str | None = start
        while node is not None and node in parents and node not in depth and node not in seen:
            seen.add(node)
            chain.append(node)
            node = parents[node]
        level = depth[node] + 1 if node is not None and node in depth else 0
        for item in reversed(chain):
            depth[item] = level
            level += 1
    return depth


def _light_spans(store: Store, db: Session, trace_id: str) -> list[tuple[int, str, str | None]]:
    """(start, span id, parent id) of every span of a trace, by start: one raw query, as the
    store's span writer does, since building 50k result rows costs more than the query."""
    mark = "%s" if store.dialect == "postgresql" else "?"
    cursor = db.connection().connection.cursor()
    try:
        cursor.execute(
            f"SELECT start_ns, span_id, parent_span_id FROM spans WHERE trace_id = {mark}",
            (trace_id,),
        )
        return sorted(tuple(row) for row in cursor.fetchall())
    finally:
        cursor.close()


@router.get("/timeline", summary="A window of the waterfall: spans in start order with depth")
def timeline(
    store: StoreDep,
    trace_id: TraceId,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=2000)] = 500,
) -> Response:
    """Spans ``offset`` to ``offset + limit`` in start order, each with its ``depth``."""
    with store.session() as db:
        full_id = resolve_trace_id(db, trace_id)
        light = _light_spans(store, db, full_id)
        parents = {span_id: parent for _, span_id, parent in light}
        depths = span_depths(parents)
        if any(a[0] == b[0] for a, b in pairwise(light)):
            light.sort(key=lambda r: (r[0], depths[r[1]], r[1]))  # a parent before its children
        window = [span_id for _, span_id, _ in light[offset : offset + limit]]
        rows = (
            db.exec(
                select(*summary_columns(store)).where(
                    col(SpanRecord.trace_id) == full_id, col(SpanRecord.span_id).in_(window)
                )
            ).all()
            if window
            else []
        )
    counts = Counter(parents.values())
    by_id: dict[str, Any] = {row.span_id: row for row in rows}
    items = [
        {**summary(by_id[span_id], counts.get(span_id, 0)), "depth": depths[span_id]}
        for span_id in window
    ]
    return json_response({"trace_id": full_id, "items": items, "total": len(light)})
