"""Protected aliases: ``production`` (and any alias listed in ``configs/gates.yaml``) moves
only with a gate decision.

Every function that moves an alias (prompts, RAG indexes, registered models) calls
:func:`ensure_gated`. Only the gates module creates a :class:`GateToken`, after it has
recorded a decision (pass, override or rollback), so no code path can move a protected
alias without an audit record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmops._exceptions import InputError

__all__ = ["DEFAULT_PROTECTED", "GateRequired", "GateToken", "ensure_gated", "protected_aliases"]

DEFAULT_PROTECTED = frozenset({"production"})


class GateRequired(InputError):
    """A protected alias was moved without a gate decision."""


@dataclass(frozen=True)
class GateToken:
    """Proof that a gate decision was recorded for moving ``alias`` of ``subject``."""

    decision_id: int
    subject: str
    alias: str


def protected_aliases(project_dir: Path | None = None) -> frozenset[str]:
    """``production`` plus the ``protected_aliases`` of ``configs/gates.yaml``, if any."""
    from llmops.config import find_project_dir

    folder = project_dir or find_project_dir()
    path = folder / "configs" / "gates.yaml" if folder else None
    if path is None or not path.is_file():
        return DEFAULT_PROTECTED
    from llmops._yaml import load_yaml

    data = load_yaml(path).data
    extra = data.get("protected_aliases", []) if isinstance(data, dict) else []
    return DEFAULT_PROTECTED | frozenset(str(alias) for alias in extra or [])


def ensure_gated(kind: str, subject: str, alias: str, gate: GateToken | None) -> None:
    """Refuse to move a protected alias without a token for exactly this move."""
    if alias not in protected_aliases():
        return
    if gate is None:
        raise GateRequired(
            f"alias '{alias}' is protected: move it with `llmops promote {kind}:{subject} "
            f"--to {alias}` (a gate decides and records it), or `--force --reason ...`"
        )
    if gate.alias != alias or gate.subject != f"{kind}:{subject}":
        raise GateRequired(
            f"the gate decision {gate.decision_id} was for {gate.subject} -> {gate.alias}, "
            f"not {kind}:{subject} -> {alias}"
        )
