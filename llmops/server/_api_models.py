"""``GET /api/v1/models``: registered models, their versions and aliases with history, and a
version's lineage as linked ids: training run -> version -> eval runs -> gate decisions ->
serving endpoints (read-only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from sqlalchemy import and_, or_
from sqlmodel import col, select

from llmops._digits import ascii_int
from llmops.registry import (
    ModelInfo,
    get_model_version,
    list_model_versions,
    list_models,
    model_lineage,
)
from llmops.server._api_deps import StoreDep
from llmops.server._pagination import Cursor, Limit, decode_cursor, json_response, page
from llmops.store import Store, alias_history
from llmops.store.models import (
    BundleVersionRecord,
    GateDecisionRecord,
    ServingEndpointRecord,
    TrackingRunRecord,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/models", tags=["models"])

Name = Annotated[str, Path(min_length=1, max_length=200)]
Selector = Annotated[
    str, Path(min_length=1, max_length=64, description="A version number or an alias.")
]

#: Lineage lists are append-only and unbounded: a page shows the newest this many of each.
LINKS_LIMIT = 100
#: The alias moves a model page shows, newest first.
HISTORY_LIMIT = 200


@router.get("", summary="Registered models with newest version, what it serves and aliases")
def models(store: StoreDep, limit: Limit = 50, cursor: Cursor = None) -> Response:
    after = decode_cursor(cursor, (str,))
    found = [m for m in list_models(store) if after is None or m.name > after[0]]
    return page(found[: limit + 1], limit, key=lambda m: (m.name,), render=ModelInfo.to_dict)


@router.get("/{name}", summary="A model: every version (newest first), aliases and their history")
def model(store: StoreDep, name: Name) -> Response:
    versions = list_model_versions(store, name)  # a missing model is a 404
    info = next(m for m in list_models(store) if m.name == name)
    history = alias_history(store, "model", name)[:HISTORY_LIMIT]
    return json_response(
        {
            **info.to_dict(),
            "versions": [v.to_dict() for v in versions],
            "alias_history": [event.to_dict() for event in history],
        }
    )


def _training_run(store: Store, run_id: str | None) -> dict[str, Any] | None:
    if run_id is None:
        return None
    with store.session() as session:
        run = session.get(TrackingRunRecord, run_id)
    if run is None:
        return {"id": run_id, "found": False}
    return {
        "id": run.id,
        "found": True,
        "name": run.name,
        "status": run.status,
        "experiment_id": run.experiment_id,
        "started_at": run.started_at,
        "git_commit": run.git_commit,
    }


def _decisions(store: Store, ref: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Gate decisions on the version itself and on the bundles that pin it, newest first."""
    with store.session() as session:
        bundles = [
            f"{b.name}@{b.version}"
            for b in session.exec(
                select(BundleVersionRecord)
                .where(BundleVersionRecord.model == ref)
                .order_by(col(BundleVersionRecord.id).desc())
                .limit(LINKS_LIMIT)
            ).all()
        ]
        on_model = and_(
            col(GateDecisionRecord.subject_kind) == "model", col(GateDecisionRecord.subject) == ref
        )
        on_bundle = and_(
            col(GateDecisionRecord.subject_kind) == "bundle",
            col(GateDecisionRecord.subject).in_(bundles),
        )
        rows = session.exec(
            select(GateDecisionRecord)
            .where(or_(on_model, on_bundle) if bundles else on_model)
            .order_by(col(GateDecisionRecord.id).desc())
            .limit(LINKS_LIMIT)
        ).all()
    decisions = [
        {
            "id": r.id,
            "subject_kind": r.subject_kind,
            "subject": r.subject,
            "alias": r.alias,
            "decision": r.decision,
            "policy": r.policy,
            "actor": r.actor,
            "created_at": r.created_at,
        }
        for r in rows
    ]
    return decisions, bundles


def _endpoints(store: Store, ref: str) -> list[dict[str, Any]]:
    # as recorded: the viewer only reads, so a crashed server is settled by `llmops serve`
    query = (
        select(ServingEndpointRecord)
        .where(ServingEndpointRecord.model == ref)
        .order_by(col(ServingEndpointRecord.started_at).desc())
        .limit(LINKS_LIMIT)
    )
    with store.session() as session:
        rows = session.exec(query).all()
    return [
        {
            "id": r.id,
            "backend": r.backend,
            "served_model_name": r.served_model_name,
            "api_base": r.api_base,
            "status": r.status,
            "started_at": r.started_at,
            "stopped_at": r.stopped_at,
        }
        for r in rows
    ]


@router.get(
    "/{name}/versions/{selector}",
    summary="A version with its lineage: training run, eval runs, gate decisions, endpoints",
)
def version(store: StoreDep, name: Name, selector: Selector) -> Response:
    number = ascii_int(selector)
    found = get_model_version(store, name, selector if number is None else number)
    lineage = model_lineage(store, name, found.version)
    decisions, bundles = _decisions(store, found.ref)
    return json_response(
        {
            **found.to_dict(),
            "training_run": _training_run(store, lineage.training_run_id),
            "dataset_hashes": lineage.dataset_hashes[:LINKS_LIMIT],
            "eval_runs": [run.to_dict() for run in lineage.eval_runs[-LINKS_LIMIT:]],
            "gate_decisions": decisions,
            "bundles": bundles,
            "serving_endpoints": _endpoints(store, found.ref),
        }
    )
