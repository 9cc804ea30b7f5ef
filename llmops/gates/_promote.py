"""Promotion: move a protected alias only on a recorded gate decision (or a recorded override)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmops._exceptions import InputError
from llmops._identity import current_actor
from llmops.gates._check import GateResult, check_gate
from llmops.gates._decisions import record_decision
from llmops.gates._subjects import Subject, move_alias, parse_subject, rollback_target
from llmops.store import GateToken

if TYPE_CHECKING:
    from llmops.config import Config
    from llmops.evals import RunObserver
    from llmops.store import Store

__all__ = ["Promotion", "promote", "rollback", "signoff"]


@dataclass
class Promotion:
    """What ``promote`` did: the gate's result, whether the alias moved, and the decision."""

    subject: Subject
    alias: str
    moved: bool
    decision: str
    decision_id: int
    gate: GateResult | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": str(self.subject),
            "alias": self.alias,
            "moved": self.moved,
            "decision": self.decision,
            "decision_id": self.decision_id,
            "gate": self.gate.to_dict() if self.gate else None,
        }


def _context(config: Config | None, store: Store | None) -> tuple[Config, Store]:
    # lazy: keeps import llmops light
    from llmops.config import load_config
    from llmops.evals import open_run_store

    config = config or load_config()
    return config, open_run_store(config, store)


def promote(
    subject_text: str,
    *,
    to: str = "production",
    force: bool = False,
    reason: str = "",
    config: Config | None = None,
    store: Store | None = None,
    observer: RunObserver | None = None,
) -> Promotion:
    """Run the gate for ``subject`` and move ``to`` when it passes.

    ``force`` moves it anyway after a failed gate, recorded as an ``override`` with the
    mandatory ``reason``. A failed gate without ``force`` moves nothing.
    """
    if force and not reason.strip():
        raise InputError("--force needs --reason: an override is recorded with why")
    config, store = _context(config, store)
    result = check_gate(subject_text, alias=to, config=config, store=store, observer=observer)
    assert result.decision_id is not None
    actor = current_actor()
    if result.passed:
        decision_id, decision = result.decision_id, "pass"
        why = reason or f"gate passed (decision {decision_id}, policy {result.policy.name})"
    elif force:
        decision = "override"
        decision_id = record_decision(
            store,
            result.subject,
            alias=to,
            decision="override",
            policy=result.policy,
            evidence=result.to_dict(),
            reason=reason,
            actor=actor,
        )
        why = f"override of failed gate {result.decision_id}: {reason}"
    else:
        return Promotion(result.subject, to, False, "fail", result.decision_id, result)
    token = GateToken(decision_id, str(result.subject), to)
    move_alias(store, result.subject, to, reason=why, actor=actor, gate=token)
    return Promotion(result.subject, to, True, decision, decision_id, result)


def rollback(
    subject_text: str,
    *,
    alias: str = "production",
    reason: str,
    config: Config | None = None,
    store: Store | None = None,
) -> Promotion:
    """Move ``alias`` of ``kind:name`` back to its previous version, recorded as a rollback."""
    if not reason.strip():
        raise InputError("a rollback needs a reason")
    config, store = _context(config, store)
    kind, _, name = subject_text.partition(":")
    name = name.partition("@")[0]
    if not kind or not name:
        raise InputError(f"'{subject_text}' is not KIND:NAME (e.g. prompt:qa)")
    target = rollback_target(store, kind, name, alias)
    decision_id = record_decision(
        store, target, alias=alias, decision="rollback", policy=None, evidence=None, reason=reason
    )
    # lazy: keeps import llmops light
    from llmops.store import rollback_alias

    token = GateToken(decision_id, str(target), alias)
    rollback_alias(
        store, kind, name, alias, reason=f"rollback: {reason}", actor=current_actor(), gate=token
    )
    return Promotion(target, alias, True, "rollback", decision_id)


def signoff(
    subject_text: str, *, reason: str, config: Config | None = None, store: Store | None = None
) -> int:
    """Record a human sign-off of a candidate (a policy may require one)."""
    if not reason.strip():
        raise InputError("a sign-off needs a reason")
    config, store = _context(config, store)
    subject = parse_subject(store, subject_text)
    return record_decision(
        store, subject, alias="", decision="signoff", policy=None, evidence=None, reason=reason
    )
