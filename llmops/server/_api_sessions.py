"""``GET /api/v1/sessions``: conversations (spans sharing a ``session.id``), and one of them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from sqlalchemy import Float, and_, cast, func, or_
from sqlmodel import Session, col, select

from llmops._exceptions import NotFoundError
from llmops.server._api_deps import StoreDep
from llmops.server._api_traces import Text
from llmops.server._pagination import (
    Cursor,
    Limit,
    decode_cursor,
    json_response,
    page,
    page_body,
)
from llmops.server._span_views import COST, INPUT_TOKENS, OUTPUT_TOKENS, json_number
from llmops.store import Store
from llmops.store.models import SpanRecord
from llmops.tracing import count, to_genai

__all__ = ["router", "usage_totals"]

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])


def usage_totals(
    db: Session, store: Store, owner: Any, keys: list[str]
) -> dict[str, dict[str, Any]]:
    """Tokens and cost of every span of the traces each of ``keys`` owns, where ``owner`` is
    the column naming them (``session_id``, ``user_id``): SDKs set those on one span of a
    trace (Langfuse on its root) while tokens and cost sit on its model calls."""
    if not keys:
        return {}
    traces = (
        select(SpanRecord.trace_id, func.max(owner).label("key"))
        .where(col(owner).in_(keys))
        .group_by(SpanRecord.trace_id)
        .subquery()
    )
    query = (
        select(
            traces.c.key,
            # floats: SQLite's integer sum() fails on overflow, for every later listing
            func.sum(cast(json_number(store, INPUT_TOKENS), Float)),
            func.sum(cast(json_number(store, OUTPUT_TOKENS), Float)),
            func.sum(cast(json_number(store, COST), Float)),
        )
        .join_from(SpanRecord, traces, col(SpanRecord.trace_id) == traces.c.trace_id)
        .group_by(traces.c.key)
    )
    return {
        key: {
            "input_tokens": count(tokens_in),
            "output_tokens": count(tokens_out),
            "cost_usd": None if cost is None else float(cost),
        }
        for key, tokens_in, tokens_out, cost in db.exec(query).all()
    }


_NO_USAGE = {"input_tokens": 0, "output_tokens": 0, "cost_usd": None}


@router.get("", summary="Sessions, most recently active first")
def list_sessions(
    store: StoreDep, user: Text = None, limit: Limit = 50, cursor: Cursor = None
) -> Response:
    """Each session with its trace count, first and last span start, user, and the tokens
    and cost of its traces."""
    after = decode_cursor(cursor, (int, str))
    last = func.max(SpanRecord.start_ns)
    columns: list[Any] = [
        SpanRecord.session_id,
        func.count(func.distinct(SpanRecord.trace_id)).label("trace_count"),
        func.min(SpanRecord.start_ns).label("first_ns"),
        last.label("last_ns"),
        func.max(SpanRecord.user_id).label("user_id"),
    ]
    query = (
        select(*columns)
        .where(col(SpanRecord.session_id).is_not(None))
        .group_by(SpanRecord.session_id)
    )
    if user is not None:
        query = query.where(col(SpanRecord.user_id) == user)
    if after is not None:
        query = query.having(
            or_(last < after[0], and_(last == after[0], col(SpanRecord.session_id) < after[1]))
        )
    query = query.order_by(last.desc(), col(SpanRecord.session_id).desc()).limit(limit + 1)
    with store.session() as db:
        rows: list[Any] = list(db.exec(query).all())
        usage = usage_totals(db, store, SpanRecord.session_id, [r.session_id for r in rows])
    return page(
        rows,
        limit,
        key=lambda r: (r.last_ns, r.session_id),
        render=lambda r: {**r._asdict(), **usage.get(r.session_id, _NO_USAGE)},
    )


def _turn(root: SpanRecord, errors: int) -> dict[str, Any]:
    mapped = to_genai(root.attributes if isinstance(root.attributes, dict) else {})
    return {
        "trace_id": root.trace_id,
        "start_ns": root.start_ns,
        "duration_ms": (root.end_ns - root.start_ns) / 1e6,
        "name": root.name,
        "input": mapped.get("llmops.input"),
        "output": mapped.get("llmops.output"),
        # as in the trace list: ERROR when any span of the turn failed, else the root's
        "status": "ERROR" if errors else root.status_code,
        "error_count": errors,
    }


def _error_counts(db: Session, trace_ids: list[str]) -> dict[str, int]:
    """Failed spans per trace, for the traces that have any."""
    if not trace_ids:
        return {}
    query = (
        select(SpanRecord.trace_id, func.count())
        .where(col(SpanRecord.trace_id).in_(trace_ids), SpanRecord.status_code == "ERROR")
        .group_by(SpanRecord.trace_id)
    )
    return {trace_id: int(n) for trace_id, n in db.exec(query).all()}


@router.get("/{session_id}", summary="One session: its traces in time order (the conversation)")
def get_session(
    store: StoreDep,
    session_id: Annotated[str, Path(min_length=1, max_length=200)],
    limit: Limit = 200,
    cursor: Cursor = None,
) -> Response:
    """The root span of each trace of the session, oldest first, with its input and output."""
    after = decode_cursor(cursor, (int, str))
    members = select(SpanRecord.trace_id).where(SpanRecord.session_id == session_id)
    query = select(SpanRecord).where(
        col(SpanRecord.parent_span_id).is_(None), col(SpanRecord.trace_id).in_(members)
    )
    if after is not None:
        start = col(SpanRecord.start_ns)
        query = query.where(
            start >= after[0], or_(start > after[0], col(SpanRecord.trace_id) > after[1])
        )
    query = query.order_by(col(SpanRecord.start_ns), col(SpanRecord.trace_id)).limit(limit + 1)
    with store.session() as db:
        roots = list(db.exec(query).all())
        if not roots and after is None and db.exec(members.limit(1)).first() is None:
            raise NotFoundError(f"session '{session_id}' not found")
        errors = _error_counts(db, [root.trace_id for root in roots])
    body = page_body(
        roots,
        limit,
        key=lambda r: (r.start_ns, r.trace_id),
        render=lambda r: _turn(r, errors.get(r.trace_id, 0)),
    )
    return json_response(
        {"session_id": session_id, "traces": body["items"], "next_cursor": body["next_cursor"]}
    )
