"""``GET /api/v1/bundles``: bundles, the versions each pins, and their promotion history (the
gate decisions on the bundle and the component aliases each moved)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from sqlalchemy import func
from sqlmodel import col, select

from llmops._exceptions import NotFoundError
from llmops.gates import BundlePromotion, bundle_history, list_bundles
from llmops.server._api_deps import StoreDep
from llmops.server._pagination import MAX_INT, Cursor, Limit, decode_cursor, json_response, page
from llmops.store.models import BundleVersionRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/bundles", tags=["bundles"])

Name = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("", summary="Bundles by name: newest version and what it pins")
def bundles(store: StoreDep, limit: Limit = 50, cursor: Cursor = None) -> Response:
    after = decode_cursor(cursor, (str,))
    newest = select(
        BundleVersionRecord.name,
        func.max(BundleVersionRecord.version).label("version"),
        func.count().label("versions"),
    ).group_by(col(BundleVersionRecord.name))
    if after is not None:
        newest = newest.where(col(BundleVersionRecord.name) > after[0])
    newest = newest.order_by(col(BundleVersionRecord.name)).limit(limit + 1)
    with store.session() as session:
        rows = list(session.exec(newest).all())
        pinned = {
            (r.name, r.version): r
            for r in session.exec(
                select(BundleVersionRecord).where(
                    col(BundleVersionRecord.name).in_([row[0] for row in rows])
                    & col(BundleVersionRecord.version).in_([row[1] for row in rows])
                )
            ).all()
        }

    def render(row: tuple[str, int, int]) -> dict[str, object]:
        record = pinned[(row[0], row[1])]
        return {
            "name": row[0],
            "latest": row[1],
            "versions": row[2],
            "prompt": record.prompt,
            "model": record.model,
            "index": record.index,
            "created_at": record.created_at,
        }

    return page(rows, limit, key=lambda r: (r[0],), render=render)


@router.get("/{name}", summary="A bundle: every version (newest first) and the versions it pins")
def bundle(store: StoreDep, name: Name) -> Response:
    versions = list_bundles(store, name)
    if not versions:
        raise NotFoundError(f"bundle '{name}' not found")
    return json_response({"name": name, "versions": [v.to_dict() for v in versions]})


@router.get(
    "/{name}/history",
    summary="Promotion history: gate decisions on the bundle, newest first, with alias moves",
)
def history(store: StoreDep, name: Name, limit: Limit = 50, cursor: Cursor = None) -> Response:
    after = decode_cursor(cursor, (int,))
    before = min(after[0], MAX_INT) if after else None
    found = bundle_history(store, name, limit=limit + 1, before=before)
    return page(found, limit, key=lambda p: (p.decision_id,), render=BundlePromotion.to_dict)
