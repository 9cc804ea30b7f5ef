"""``GET /api/v1/traces``: traces newest first, filtered, with totals over their spans."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import Float, case, cast, func, or_
from sqlmodel import col, select

from llmops.server._api_deps import StoreDep
from llmops.server._pagination import MAX_INT, Cursor, Limit, decode_cursor, page
from llmops.server._span_views import (
    COST,
    INPUT_TOKENS,
    MODEL,
    OUTPUT_TOKENS,
    json_number,
    json_text,
    preview,
)
from llmops.store import Store
from llmops.store.models import SpanRecord
from llmops.tracing import (
    count,
    has_tag,
    parse_score_filter,
    parse_score_sort,
    prompt_matches,
    route_matches,
    score_matches,
    score_order,
    score_summaries,
    text_matches,
    trace_status_is,
)

__all__ = ["Nanos", "Text", "router"]

router = APIRouter(prefix="/api/v1", tags=["traces"])

Nanos = Annotated[int | None, Query(ge=0, le=MAX_INT)]
Text = Annotated[str | None, Query(min_length=1, max_length=400)]
_Millis = Annotated[float | None, Query(ge=0, le=1e9, allow_inf_nan=False)]
_Usd = Annotated[float | None, Query(ge=0, le=1e12, allow_inf_nan=False)]
_Scores = Annotated[
    list[str] | None,
    Query(max_length=20, description="Score conditions, all must hold: helpful<0.5, tone=polite."),
]
_Sort = Annotated[
    str | None,
    Query(max_length=200, description="score.NAME (lowest mean first) or -score.NAME."),
]


def _any_span(*conditions: Any) -> Any:
    """The trace has a span meeting ``conditions``."""
    return col(SpanRecord.trace_id).in_(select(SpanRecord.trace_id).where(*conditions))


def _totals(store: Store, ids: list[str]) -> dict[str, Any]:
    """Per trace: span count, tokens, cost, a model, errors, session and user over its spans."""
    if not ids:
        return {}
    error = func.sum(case((col(SpanRecord.status_code) == "ERROR", 1), else_=0))
    columns: list[Any] = [
        SpanRecord.trace_id,
        func.count().label("span_count"),
        # floats: SQLite's integer sum() fails on overflow, for every later listing
        func.sum(cast(json_number(store, INPUT_TOKENS), Float)).label("input_tokens"),
        func.sum(cast(json_number(store, OUTPUT_TOKENS), Float)).label("output_tokens"),
        func.sum(cast(json_number(store, COST), Float)).label("cost_usd"),
        func.min(json_text(store, MODEL)).label("model"),
        error.label("error_count"),
        func.max(SpanRecord.session_id).label("session_id"),
        func.max(SpanRecord.user_id).label("user_id"),
    ]
    query = select(*columns).where(col(SpanRecord.trace_id).in_(ids)).group_by(SpanRecord.trace_id)
    with store.session() as session:
        return {row.trace_id: row for row in session.exec(query).all()}


def _item(root: SpanRecord, totals: Any, scores: dict[str, Any]) -> dict[str, Any]:
    attributes = root.attributes if isinstance(root.attributes, dict) else {}
    tags = attributes.get("llmops.tags")
    model = totals.model if totals is not None else None
    errors = int(totals.error_count or 0) if totals is not None else 0
    return {
        "trace_id": root.trace_id,
        "name": root.name,
        "start_ns": root.start_ns,
        "end_ns": root.end_ns,
        "duration_ms": (root.end_ns - root.start_ns) / 1e6,
        # the trace's status: ERROR when any span failed, else its root span's
        "status": "ERROR" if errors else root.status_code,
        "root_status": root.status_code,
        "span_count": totals.span_count if totals is not None else 1,
        "error_count": errors,
        "model": model if isinstance(model, str) else None,
        "session_id": root.session_id or (totals.session_id if totals is not None else None),
        "user_id": root.user_id or (totals.user_id if totals is not None else None),
        "input_tokens": count(totals.input_tokens) if totals is not None else 0,
        "output_tokens": count(totals.output_tokens) if totals is not None else 0,
        "cost_usd": None if totals is None or totals.cost_usd is None else float(totals.cost_usd),
        "tags": [str(t) for t in tags] if isinstance(tags, list) else [],
        "input_preview": preview(attributes, "input"),
        "output_preview": preview(attributes, "output"),
        "scores": scores,  # per name: {value (the latest), mean, n}
    }


@router.get("/traces", summary="Traces newest first (root spans), filtered")
def list_traces(
    store: StoreDep,
    start_ns: Nanos = None,
    end_ns: Nanos = None,
    status: Literal["OK", "ERROR", "UNSET"] | None = None,
    model: Text = None,
    session: Text = None,
    user: Text = None,
    tag: Text = None,
    prompt: Text = None,
    route: Text = None,
    min_latency_ms: _Millis = None,
    max_latency_ms: _Millis = None,
    min_cost: _Usd = None,
    q: Text = None,
    score: _Scores = None,
    sort: _Sort = None,
    since_ns: Nanos = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """Traces started in ``[start_ns, end_ns)`` (``since_ns``: strictly after, for polling).

    ``status`` is the trace's: ERROR when any span failed, OK or UNSET when none did and the
    root span's status is that. Latency applies to the root span; session, user, model, tag,
    ``prompt`` (``NAME`` or ``NAME@VERSION``), ``route`` (a route's resolved version) and
    ``q`` (name, input, output, any attribute text, status message, event text such as an
    exception's message) match when any span of the trace does; ``min_cost`` is the trace's
    total ``llmops.cost_usd``. ``score`` conditions hold on a score's mean (numbers, 0/1) or
    its labels (``=``, ``!=``); a trace without that score never matches. ``sort`` orders by a
    score's mean (traces without it last), paged by position.
    """
    conditions = [parse_score_filter(text) for text in score or ()]
    order = parse_score_sort(sort) if sort is not None else None
    after = decode_cursor(cursor, (int,) if order is not None else (int, str))
    query = select(SpanRecord).where(col(SpanRecord.parent_span_id).is_(None))
    duration = col(SpanRecord.end_ns) - col(SpanRecord.start_ns)
    start = col(SpanRecord.start_ns)
    if start_ns is not None:
        query = query.where(start >= start_ns)
    if end_ns is not None:
        query = query.where(start < end_ns)
    if since_ns is not None:
        query = query.where(start > since_ns)
    if status is not None:
        query = query.where(trace_status_is(status))
    if min_latency_ms is not None:
        query = query.where(duration >= int(min_latency_ms * 1e6))
    if max_latency_ms is not None:
        query = query.where(duration <= int(max_latency_ms * 1e6))
    if session is not None:
        query = query.where(_any_span(col(SpanRecord.session_id) == session))
    if user is not None:
        query = query.where(_any_span(col(SpanRecord.user_id) == user))
    if model is not None:
        query = query.where(_any_span(json_text(store, MODEL) == model))
    if tag is not None:
        query = query.where(_any_span(has_tag(store.dialect, tag)))
    if prompt is not None:
        query = query.where(_any_span(prompt_matches(store.dialect, prompt)))
    if route is not None:
        query = query.where(_any_span(route_matches(store.dialect, route)))
    if q is not None:
        query = query.where(_any_span(text_matches(q)))
    if min_cost is not None:
        costly = (
            select(SpanRecord.trace_id)
            .group_by(SpanRecord.trace_id)
            .having(func.sum(cast(json_number(store, COST), Float)) >= min_cost)
        )
        query = query.where(col(SpanRecord.trace_id).in_(costly))
    for condition in conditions:
        query = query.where(score_matches(condition))
    skip = 0
    if order is not None:
        means, columns = score_order(order)
        query = query.outerjoin(means, means.c.trace_id == SpanRecord.trace_id).order_by(*columns)
        skip = max(0, min(after[0], MAX_INT)) if after is not None else 0
        query = query.offset(skip)
    elif after is not None:
        query = query.where(
            start <= after[0], or_(start < after[0], col(SpanRecord.trace_id) < after[1])
        )
    query = query.order_by(col(SpanRecord.start_ns).desc(), col(SpanRecord.trace_id).desc())
    with store.session() as db:
        roots = list(db.exec(query.limit(limit + 1)).all())
    shown = [r.trace_id for r in roots[:limit]]
    totals = _totals(store, shown)
    scores = score_summaries(store, shown)

    def key(root: SpanRecord) -> tuple[int, ...] | tuple[int, str]:
        return (skip + limit,) if order is not None else (root.start_ns, root.trace_id)

    return page(
        roots,
        limit,
        key=key,
        render=lambda r: _item(r, totals.get(r.trace_id), scores.get(r.trace_id, {})),
    )
