"""``GET /api/v1/gates/decisions``: the audit trail of gate decisions, newest first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlmodel import col, select

from llmops.server._api_deps import StoreDep
from llmops.server._pagination import Cursor, Limit, decode_cursor, page
from llmops.store.models import GateDecisionRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/gates", tags=["gates"])


def _decision(record: GateDecisionRecord) -> dict[str, Any]:
    return record.model_dump()


@router.get("/decisions", summary="Gate decisions newest first, optionally for one subject")
def decisions(
    store: StoreDep,
    kind: Literal["prompt", "model", "index", "bundle"] | None = None,
    name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    """Filters as ``llmops.gates.list_decisions``: ``kind`` of subject, subject ``name``."""
    after = decode_cursor(cursor, (int,))
    query = select(GateDecisionRecord)
    if kind is not None:
        query = query.where(GateDecisionRecord.subject_kind == kind)
    if name is not None:
        query = query.where(col(GateDecisionRecord.subject).startswith(f"{name}@", autoescape=True))
    if after is not None:
        query = query.where(col(GateDecisionRecord.id) < after[0])
    query = query.order_by(col(GateDecisionRecord.id).desc()).limit(limit + 1)
    with store.session() as db:
        rows = list(db.exec(query).all())
    return page(rows, limit, key=lambda r: (r.id or 0,), render=_decision)
