"""The llmops store: SQLModel tables on SQLite (embedded default) or PostgreSQL, and the one
alias service every versioned subject (prompt, model, RAG index, dataset, bundle) moves through."""

from llmops.store._aliases import (
    ALIAS_KINDS,
    LATEST,
    AliasEvent,
    alias_history,
    aliases_of,
    aliases_of_kind,
    check_alias,
    get_alias,
    on_alias_moved,
    register_alias_subject,
    rollback_alias,
    rollback_target,
    set_alias,
)
from llmops.store._engine import display_url as display_url  # for the CLI, not in __all__
from llmops.store._protection import (
    DEFAULT_PROTECTED,
    GateToken,
    GateVerifier,
    protected_aliases,
    register_gate_verifier,
)
from llmops.store._store import Store, head_revision, open_store

__all__ = [
    "ALIAS_KINDS",
    "DEFAULT_PROTECTED",
    "LATEST",
    "AliasEvent",
    "GateToken",
    "GateVerifier",
    "Store",
    "alias_history",
    "aliases_of",
    "aliases_of_kind",
    "check_alias",
    "get_alias",
    "head_revision",
    "on_alias_moved",
    "open_store",
    "protected_aliases",
    "register_alias_subject",
    "register_gate_verifier",
    "rollback_alias",
    "rollback_target",
    "set_alias",
]
