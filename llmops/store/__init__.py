"""The llmops store: SQLModel tables on SQLite (embedded default) or PostgreSQL, and the one
alias service every versioned subject (prompt, model, RAG index, dataset, bundle) moves through.

One schema (the models of ``llmops.store.models``), three doors on the :class:`Store`; no
module outside this package touches ``Store.engine`` (tests/test_architecture.py checks):

- ``store.read()``: a Core ``Connection`` for reads. The hot paths (the list commands, the
  trace listing, scores, lookups by name) use it with the Core tables of ``_tables`` (checked
  against the models by the tests), so they never import the ORM nor build the SQLModel
  classes.
- ``store.write()``: an ORM ``Session`` whose transaction holds the write lock from its start,
  committed on exit; nested blocks join it. For metadata writes (a prompt version, a run, an
  alias move), in ORM or Core through ``session.connection()``.
- ``store.bulk()``: a Core ``Connection`` in a write transaction, for many rows in one
  statement (spans, logs) where one ORM object per row would cost the hot path.

``store.session()`` remains for composite ORM reads. ``named_row(connection, table, name,
kind)`` is the one lookup of a subject's owner row by name (prompt, model, dataset, queue,
score config), with its "not found (did you mean ...)" message; a versioned subject
describes its tables once (``Versioned``), and ``version_row``, ``version_rows`` and
``version_check`` find its versions (by number, alias or ``latest``; all; for an alias move).
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
from llmops.store._aliases import Versioned as Versioned  # for the registries
from llmops.store._aliases import version_check as version_check
from llmops.store._aliases import version_row as version_row  # (SQL types: not in __all__)
from llmops.store._aliases import version_rows as version_rows
from llmops.store._engine import display_url as display_url  # for the CLI, not in __all__
from llmops.store._engine import postgres_json as postgres_json  # for the raw span/log writers
from llmops.store._light import (
    PromptInfo,
    TrackingRun,
    prompt_listing,
    tracking_run_listing,
)

# for the CLI's `runs list`, not in __all__ (rows of the Core table, not a public type)
from llmops.store._light import eval_case_counts as eval_case_counts
from llmops.store._light import eval_run_listing as eval_run_listing

# for every insert path of spans (a SQL connection: not in __all__)
from llmops.store._partitions import ensure_span_partitions as ensure_span_partitions
from llmops.store._protection import (
    DEFAULT_PROTECTED,
    GateToken,
    GateVerifier,
    protected_aliases,
    register_gate_verifier,
)
from llmops.store._retention import PruneReport, prune, vacuum_store
from llmops.store._rows import named_row as named_row  # for the registries (SQL types)
from llmops.store._store import Store, head_revision, open_store

# Core tables of the trace listing, scores and score configs, for llmops.tracing (SQL types:
# not in __all__)
from llmops.store._tables import score_configs as score_configs
from llmops.store._tables import scores as scores
from llmops.store._tables import spans as spans

# per-trace totals: the span sink writes them, the dashboards read them, and whoever deletes a
# trace's spans deletes its row (SQL types: not in __all__)
from llmops.store._tables import trace_totals as trace_totals
from llmops.store._transfer import TransferReport, export_store, import_store

__all__ = [
    "ALIAS_KINDS",
    "DEFAULT_PROTECTED",
    "LATEST",
    "AliasEvent",
    "GateToken",
    "GateVerifier",
    "PromptInfo",
    "PruneReport",
    "Store",
    "TrackingRun",
    "TransferReport",
    "alias_history",
    "aliases_of",
    "aliases_of_kind",
    "check_alias",
    "export_store",
    "get_alias",
    "head_revision",
    "import_store",
    "on_alias_moved",
    "open_store",
    "prompt_listing",
    "protected_aliases",
    "prune",
    "register_alias_subject",
    "register_gate_verifier",
    "rollback_alias",
    "rollback_target",
    "set_alias",
    "tracking_run_listing",
    "vacuum_store",
]
