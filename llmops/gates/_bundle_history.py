"""A bundle's promotion history: its gate decisions, newest first, each with the alias moves
it allowed (a bundle's promotion moves one alias per pinned component, with its decision)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from llmops.store.models import AliasEventRecord, GateDecisionRecord

if TYPE_CHECKING:
    from llmops.store import Store

__all__ = ["BundlePromotion", "bundle_history"]

#: The most decisions one history returns: the audit trail is append-only and unbounded.
HISTORY_LIMIT = 500


@dataclass(frozen=True)
class BundlePromotion:
    """One gate decision on a bundle version and the component aliases it moved."""

    decision_id: int
    ref: str
    alias: str
    decision: str
    policy: str
    actor: str
    reason: str
    created_at: datetime | None
    pins: dict[str, str] = field(default_factory=dict)
    moves: list[dict[str, Any]] = field(default_factory=list)

    @property
    def version(self) -> int:
        return int(self.ref.rpartition("@")[2] or 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "ref": self.ref,
            "version": self.version,
            "alias": self.alias,
            "decision": self.decision,
            "policy": self.policy,
            "actor": self.actor,
            "reason": self.reason,
            "created_at": self.created_at,
            "pins": self.pins,
            "moves": self.moves,
        }


def _pins(versions: Any) -> dict[str, str]:
    # a subject's pins are stored as a mapping or as [kind, ref] pairs
    if isinstance(versions, dict):
        return {str(k): str(v) for k, v in versions.items()}
    if isinstance(versions, list):
        return {str(p[0]): str(p[1]) for p in versions if isinstance(p, list) and len(p) == 2}
    return {}


def bundle_history(
    store: Store, name: str, *, limit: int = HISTORY_LIMIT, before: int | None = None
) -> list[BundlePromotion]:
    """Gate decisions on versions of bundle ``name`` (ids below ``before``), newest first."""
    query = select(GateDecisionRecord).where(
        GateDecisionRecord.subject_kind == "bundle",
        col(GateDecisionRecord.subject).startswith(f"{name}@", autoescape=True),
    )
    if before is not None:
        query = query.where(col(GateDecisionRecord.id) < before)
    query = query.order_by(col(GateDecisionRecord.id).desc()).limit(min(limit, HISTORY_LIMIT))
    with store.session() as session:
        decisions = list(session.exec(query).all())
        ids = [d.id for d in decisions if d.id is not None]
        events = (
            session.exec(
                select(AliasEventRecord)
                .where(col(AliasEventRecord.gate_decision_id).in_(ids))
                .order_by(col(AliasEventRecord.id))
            ).all()
            if ids
            else []
        )
    moves: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        assert event.gate_decision_id is not None
        moves.setdefault(event.gate_decision_id, []).append(
            {
                "kind": event.kind,
                "name": event.name,
                "alias": event.alias,
                "from_version": event.from_version,
                "to_version": event.to_version,
            }
        )
    return [
        BundlePromotion(
            decision_id=d.id or 0,
            ref=d.subject,
            alias=d.alias,
            decision=d.decision,
            policy=d.policy,
            actor=d.actor,
            reason=d.reason,
            created_at=d.created_at,
            pins=_pins(d.versions),
            moves=moves.get(d.id or 0, []),
        )
        for d in decisions
    ]
