"""Protected aliases: ``production`` (and any alias listed under ``protected_aliases`` in
``configs/gates.yaml``) moves only with a gate token for exactly that move.

The store cannot judge a gate decision (gates is a higher layer), so gates registers a
verifier here when it is imported; it checks the token against the recorded decision. With no
verifier registered a protected move is refused, never silently allowed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from llmops._exceptions import GateRequired

__all__ = [
    "DEFAULT_PROTECTED",
    "GateToken",
    "GateVerifier",
    "check_gate_token",
    "protected_aliases",
    "register_gate_verifier",
]

DEFAULT_PROTECTED = frozenset({"production"})


@dataclass(frozen=True)
class GateToken:
    """A claim that gate decision ``decision_id`` allows moving ``alias`` of ``subject``
    (``kind:name@version``); the registered verifier checks it against the decision."""

    decision_id: int
    subject: str
    alias: str


GateVerifier = Callable[[Connection, GateToken], str | None]
"""Given the move's transaction and a token, why the token is refused, or None."""

_verifier: GateVerifier | None = None


def register_gate_verifier(verifier: GateVerifier | None) -> GateVerifier | None:
    """Install the verifier of gate tokens (``None`` removes it); returns the previous one."""
    global _verifier
    previous, _verifier = _verifier, verifier
    return previous


def protected_aliases(project_dir: Path | None = None) -> frozenset[str]:
    """``production`` plus the ``protected_aliases`` of ``configs/gates.yaml``, if any."""
    # lazy: llmops.config loads pydantic, which `import llmops.store` does without until an
    # alias moves
    from llmops.config import find_project_dir

    folder = project_dir or find_project_dir()
    path = folder / "configs" / "gates.yaml" if folder else None
    if path is None or not path.is_file():
        return DEFAULT_PROTECTED
    from llmops._yaml import load_yaml  # lazy: yaml only where a gates.yaml exists

    data = load_yaml(path).data
    extra = data.get("protected_aliases", []) if isinstance(data, dict) else []
    return DEFAULT_PROTECTED | frozenset(str(alias) for alias in extra or [])


def check_gate_token(
    connection: Connection, subject: str, alias: str, gate: GateToken | None
) -> int | None:
    """The decision id that allows moving ``alias`` of ``subject`` (``kind:name@version``),
    None for an unprotected alias moved without a token; else ``GateRequired``.

    A token, when given, is always verified, so every recorded decision id is a real one.
    """
    if gate is None:
        if alias not in protected_aliases():
            return None
        raise GateRequired(
            f"alias '{alias}' is protected: move it with `llmops promote {subject} "
            f"--to {alias}` (a gate decides and records it), or add `--force --reason ...` "
            "to that command (recorded as an override)"
        )
    if gate.alias != alias or gate.subject != subject:
        raise GateRequired(
            f"the gate decision {gate.decision_id} was for {gate.subject} -> {gate.alias}, "
            f"not {subject} -> {alias}"
        )
    if _verifier is None:
        raise GateRequired(
            f"alias '{alias}' of {subject} needs a gate decision, and no gate verifier is "
            "loaded: move it with `llmops promote` (or import llmops.gates)"
        )
    refused = _verifier(connection, gate)
    if refused is not None:
        raise GateRequired(refused)
    return gate.decision_id
