"""The llmops store: SQLModel tables on SQLite (embedded default) or PostgreSQL, and the one
alias service every versioned subject (prompt, model, RAG index, dataset, bundle) moves through.

Two ways in, one schema (the models of ``llmops.store.models``): ORM sessions
(``Store.session``, ``Store.write``) for writes and composite queries; SQLAlchemy Core tables
(``_tables``, checked against the models by the tests) for the alias service and the hot reads
of the list commands (``prompt_listing``, ``eval_run_listing``, ``tracking_run_listing``; and
``spans``, ``scores``, ``score_configs`` for ``llmops.tracing``), which so never build the
SQLModel classes.
"""

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
from llmops.store._aliases import missing_version as missing_version  # for the registries
from llmops.store._aliases import select_version as select_version  # (SQL types: not in __all__)
from llmops.store._aliases import version_check as version_check
from llmops.store._engine import display_url as display_url  # for the CLI, not in __all__
from llmops.store._light import (
    PromptInfo,
    TrackingRun,
    prompt_listing,
    tracking_run_listing,
)

# for the CLI's `runs list`, not in __all__ (rows of the Core table, not a public type)
from llmops.store._light import eval_case_counts as eval_case_counts
from llmops.store._light import eval_run_listing as eval_run_listing
from llmops.store._protection import (
    DEFAULT_PROTECTED,
    GateToken,
    GateVerifier,
    protected_aliases,
    register_gate_verifier,
)
from llmops.store._store import Store, head_revision, open_store

# Core tables of the trace listing, scores and score configs, for llmops.tracing (SQL types:
# not in __all__)
from llmops.store._tables import score_configs as score_configs
from llmops.store._tables import scores as scores
from llmops.store._tables import spans as spans

__all__ = [
    "ALIAS_KINDS",
    "DEFAULT_PROTECTED",
    "LATEST",
    "AliasEvent",
    "GateToken",
    "GateVerifier",
    "PromptInfo",
    "Store",
    "TrackingRun",
    "alias_history",
    "aliases_of",
    "aliases_of_kind",
    "check_alias",
    "get_alias",
    "head_revision",
    "on_alias_moved",
    "open_store",
    "prompt_listing",
    "protected_aliases",
    "register_alias_subject",
    "register_gate_verifier",
    "rollback_alias",
    "rollback_target",
    "set_alias",
    "tracking_run_listing",
]
