"""The audit trail: every gate decision (pass, fail, override, rollback, sign-off), append-only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from llmops._identity import current_actor
from llmops.store.models import GateDecisionRecord

if TYPE_CHECKING:
    from llmops.gates._policy import Policy
    from llmops.gates._subjects import Subject
    from llmops.store import Store

__all__ = ["DECISIONS", "list_decisions", "record_decision"]

DECISIONS = ("pass", "fail", "override", "rollback", "signoff")


def record_decision(
    store: Store,
    subject: Subject,
    *,
    alias: str,
    decision: str,
    policy: Policy | None,
    evidence: dict[str, Any] | None,
    reason: str = "",
    actor: str | None = None,
) -> int:
    """Append one decision; returns its id (what a gate token carries)."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision '{decision}'")
    record = GateDecisionRecord(
        subject_kind=subject.kind,
        subject=subject.ref,
        alias=alias,
        decision=decision,
        policy=policy.name if policy else "",
        policy_hash=policy.digest if policy else "",
        versions=subject.pins,
        evidence=evidence,
        actor=actor or current_actor(),
        reason=reason,
    )
    with store.write() as session:
        session.add(record)
        session.flush()
        assert record.id is not None
        return record.id


def list_decisions(
    store: Store, *, kind: str | None = None, name: str | None = None, limit: int = 100
) -> list[GateDecisionRecord]:
    """Decisions newest first, optionally for one subject kind and name."""
    query = select(GateDecisionRecord).order_by(col(GateDecisionRecord.id).desc()).limit(limit)
    if kind is not None:
        query = query.where(GateDecisionRecord.subject_kind == kind)
    if name is not None:
        query = query.where(col(GateDecisionRecord.subject).startswith(f"{name}@", autoescape=True))
    with store.session() as session:
        return list(session.exec(query).all())
