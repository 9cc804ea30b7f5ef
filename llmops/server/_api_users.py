"""``GET /api/v1/users``: the users spans name (``user.id``), with their usage and cost."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlalchemy import and_, func, or_
from sqlmodel import col, select

from llmops.server._api_deps import StoreDep
from llmops.server._api_sessions import usage_totals
from llmops.server._pagination import Cursor, Limit, decode_cursor, page
from llmops.store.models import SpanRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("", summary="Users, most recently active first, with their tokens and cost")
def list_users(store: StoreDep, limit: Limit = 50, cursor: Cursor = None) -> Response:
    """Each user with their session and trace counts, first and last span start, and the
    tokens and cost of their traces."""
    after = decode_cursor(cursor, (int, str))
    last = func.max(SpanRecord.start_ns)
    columns: list[Any] = [
        SpanRecord.user_id,
        func.count(func.distinct(SpanRecord.session_id)).label("session_count"),
        func.count(func.distinct(SpanRecord.trace_id)).label("trace_count"),
        func.min(SpanRecord.start_ns).label("first_ns"),
        last.label("last_ns"),
    ]
    query = select(*columns).where(col(SpanRecord.user_id).is_not(None))
    query = query.group_by(SpanRecord.user_id)
    if after is not None:
        query = query.having(
            or_(last < after[0], and_(last == after[0], col(SpanRecord.user_id) < after[1]))
        )
    query = query.order_by(last.desc(), col(SpanRecord.user_id).desc()).limit(limit + 1)
    with store.session() as db:
        rows: list[Any] = list(db.exec(query).all())
        usage = usage_totals(db, store, SpanRecord.user_id, [r.user_id for r in rows])
    no_usage = {"input_tokens": 0, "output_tokens": 0, "cost_usd": None}
    return page(
        rows,
        limit,
        key=lambda r: (r.last_ns, r.user_id),
        render=lambda r: {**r._asdict(), **usage.get(r.user_id, no_usage)},
    )
