"""The gates side of protected aliases: the verifier the store's alias service calls before it
moves a protected alias (``production``...), registered when ``llmops.gates`` is imported.

A token is accepted only if its decision is recorded, allows a move (pass, override,
rollback) and was taken for exactly this subject version and alias, or for a bundle pinning it.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from llmops.store import GateToken, register_gate_verifier
from llmops.store.models import GateDecisionRecord, table_of

__all__ = ["verify_gate_token"]

_D = table_of(GateDecisionRecord)
_MOVES = ("pass", "override", "rollback")


def verify_gate_token(connection: Connection, token: GateToken) -> str | None:
    """Why ``token`` does not allow its move, or None when its recorded decision does."""
    row = connection.execute(select(_D).where(_D.c.id == token.decision_id)).first()
    if row is None:
        return (
            f"gate decision {token.decision_id} is not recorded: move {token.subject} to "
            f"'{token.alias}' with `llmops promote {token.subject} --to {token.alias}`"
        )
    if row.decision not in _MOVES:
        return f"gate decision {row.id} is a '{row.decision}', which moves no alias"
    kind, _, ref = token.subject.partition(":")
    pinned = row.subject_kind == kind and row.subject == ref
    bundled = row.subject_kind == "bundle" and (row.versions or {}).get(kind) == ref
    if row.alias != token.alias or not (pinned or bundled):
        return (
            f"the gate decision {row.id} was for {row.subject_kind}:{row.subject} -> "
            f"{row.alias}, not {token.subject} -> {token.alias}"
        )
    return None


register_gate_verifier(verify_gate_token)
