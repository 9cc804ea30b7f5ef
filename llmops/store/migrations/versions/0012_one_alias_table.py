"""One alias table and one alias event table for every versioned subject

Revision ID: 0012_one_alias_table
Revises: 0011_otlp_logs
Create Date: 2026-12-06 03:40:00.000000

Prompts, models and RAG indexes each kept their aliases and alias events in a table pair of
their own (``prompt_aliases``/``prompt_alias_events``, ``model_*``, ``rag_*``). They move to
``aliases`` and ``alias_events`` keyed by (kind, name, alias), with every row copied: prompt
and model ids become their names, RAG rows keep their pipeline name. The downgrade copies the
prompt, model and index rows back (rows of other kinds have no old table to go to).
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0012_one_alias_table"
down_revision: str | None = "0011_otlp_logs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EVENT_COLUMNS = "alias, from_version, to_version, actor, reason"


def upgrade() -> None:
    op.create_table(
        "aliases",
        sa.Column("kind", AutoString(length=16), nullable=False),
        sa.Column("name", AutoString(length=200), nullable=False),
        sa.Column("alias", AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "name", "alias"),
    )
    op.create_table(
        "alias_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", AutoString(length=16), nullable=False),
        sa.Column("name", AutoString(length=200), nullable=False),
        sa.Column("alias", AutoString(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("actor", AutoString(length=200), nullable=False),
        sa.Column("reason", AutoString(), nullable=False),
        sa.Column("action", AutoString(length=16), nullable=False),
        sa.Column("gate_decision_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alias_events", schema=None) as batch_op:
        batch_op.create_index("ix_alias_events_subject", ["kind", "name", "alias"], unique=False)
    op.execute(
        "INSERT INTO aliases (kind, name, alias, version, updated_at) "
        "SELECT 'prompt', p.name, a.alias, a.version, a.updated_at "
        "FROM prompt_aliases a JOIN prompts p ON p.id = a.prompt_id"
    )
    op.execute(
        "INSERT INTO aliases (kind, name, alias, version, updated_at) "
        "SELECT 'model', m.name, a.alias, a.version, a.updated_at "
        "FROM model_aliases a JOIN registered_models m ON m.id = a.model_id"
    )
    op.execute(
        "INSERT INTO aliases (kind, name, alias, version, updated_at) "
        "SELECT 'index', pipeline, alias, version, updated_at FROM rag_aliases"
    )
    # Each table's events in their old order, so the new ids keep "newest first" per subject;
    # RAG events had no action column: every move was a plain set.
    op.execute(
        f"INSERT INTO alias_events (kind, name, {_EVENT_COLUMNS}, action, created_at) "
        f"SELECT 'prompt', p.name, e.alias, e.from_version, e.to_version, e.actor, e.reason, "
        f"e.action, e.created_at FROM prompt_alias_events e JOIN prompts p ON p.id = e.prompt_id "
        f"ORDER BY e.id"
    )
    op.execute(
        f"INSERT INTO alias_events (kind, name, {_EVENT_COLUMNS}, action, created_at) "
        f"SELECT 'model', m.name, e.alias, e.from_version, e.to_version, e.actor, e.reason, "
        f"e.action, e.created_at FROM model_alias_events e "
        f"JOIN registered_models m ON m.id = e.model_id ORDER BY e.id"
    )
    op.execute(
        f"INSERT INTO alias_events (kind, name, {_EVENT_COLUMNS}, action, created_at) "
        f"SELECT 'index', pipeline, {_EVENT_COLUMNS}, 'set', created_at FROM rag_alias_events "
        f"ORDER BY id"
    )
    for table, column in (("prompt", "prompt_id"), ("model", "model_id"), ("rag", "pipeline")):
        with op.batch_alter_table(f"{table}_alias_events", schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_alias_events_{column}")
        op.drop_table(f"{table}_alias_events")
        op.drop_table(f"{table}_aliases")


def _old_tables() -> None:
    """The six tables as 0011 had them."""
    for table, column, foreign in (
        ("prompt", "prompt_id", "prompts.id"),
        ("model", "model_id", "registered_models.id"),
        ("rag", "pipeline", None),
    ):
        owner_type: sa.types.TypeEngine[Any] = (
            AutoString(length=200) if foreign is None else sa.Integer()
        )
        constraints = [sa.ForeignKeyConstraint([column], [foreign])] if foreign else []
        op.create_table(
            f"{table}_aliases",
            sa.Column(column, owner_type, nullable=False),
            sa.Column("alias", AutoString(length=64), nullable=False),
            sa.Column("version", sa.Integer(), nullable=False),
            sa.Column("updated_at", UTCDateTime(), nullable=False),
            *constraints,
            sa.PrimaryKeyConstraint(column, "alias"),
        )
        action: list[sa.Column[Any]] = (
            [] if foreign is None else [sa.Column("action", AutoString(16), nullable=False)]
        )
        event_constraints = [sa.ForeignKeyConstraint([column], [foreign])] if foreign else []
        op.create_table(
            f"{table}_alias_events",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column(column, owner_type, nullable=False),
            sa.Column("alias", AutoString(length=64), nullable=False),
            sa.Column("from_version", sa.Integer(), nullable=True),
            sa.Column("to_version", sa.Integer(), nullable=False),
            sa.Column("actor", AutoString(length=200), nullable=False),
            sa.Column("reason", AutoString(), nullable=False),
            *action,
            sa.Column("created_at", UTCDateTime(), nullable=False),
            *event_constraints,
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table(f"{table}_alias_events", schema=None) as batch_op:
            batch_op.create_index(f"ix_{table}_alias_events_{column}", [column], unique=False)


def downgrade() -> None:
    _old_tables()
    op.execute(
        "INSERT INTO prompt_aliases (prompt_id, alias, version, updated_at) "
        "SELECT p.id, a.alias, a.version, a.updated_at FROM aliases a "
        "JOIN prompts p ON p.name = a.name WHERE a.kind = 'prompt'"
    )
    op.execute(
        "INSERT INTO model_aliases (model_id, alias, version, updated_at) "
        "SELECT m.id, a.alias, a.version, a.updated_at FROM aliases a "
        "JOIN registered_models m ON m.name = a.name WHERE a.kind = 'model'"
    )
    op.execute(
        "INSERT INTO rag_aliases (pipeline, alias, version, updated_at) "
        "SELECT name, alias, version, updated_at FROM aliases WHERE kind = 'index'"
    )
    op.execute(
        f"INSERT INTO prompt_alias_events (prompt_id, {_EVENT_COLUMNS}, action, created_at) "
        f"SELECT p.id, e.alias, e.from_version, e.to_version, e.actor, e.reason, e.action, "
        f"e.created_at FROM alias_events e JOIN prompts p ON p.name = e.name "
        f"WHERE e.kind = 'prompt' ORDER BY e.id"
    )
    op.execute(
        f"INSERT INTO model_alias_events (model_id, {_EVENT_COLUMNS}, action, created_at) "
        f"SELECT m.id, e.alias, e.from_version, e.to_version, e.actor, e.reason, e.action, "
        f"e.created_at FROM alias_events e JOIN registered_models m ON m.name = e.name "
        f"WHERE e.kind = 'model' ORDER BY e.id"
    )
    op.execute(
        f"INSERT INTO rag_alias_events (pipeline, {_EVENT_COLUMNS}, created_at) "
        f"SELECT name, {_EVENT_COLUMNS}, created_at FROM alias_events "
        f"WHERE kind = 'index' ORDER BY id"
    )
    with op.batch_alter_table("alias_events", schema=None) as batch_op:
        batch_op.drop_index("ix_alias_events_subject")
    op.drop_table("alias_events")
    op.drop_table("aliases")
