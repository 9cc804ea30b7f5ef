"""prompt aliases and tags

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 04:07:31.907472
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "prompt_alias_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("alias", AutoString(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("actor", AutoString(length=200), nullable=False),
        sa.Column("reason", AutoString(), nullable=False),
        sa.Column("action", AutoString(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prompt_alias_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prompt_alias_events_prompt_id"), ["prompt_id"], unique=False
        )

    op.create_table(
        "prompt_aliases",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("alias", AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"],
            ["prompts.id"],
        ),
        sa.PrimaryKeyConstraint("prompt_id", "alias"),
    )
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tags", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("prompts", schema=None) as batch_op:
        batch_op.drop_column("tags")

    op.drop_table("prompt_aliases")
    with op.batch_alter_table("prompt_alias_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prompt_alias_events_prompt_id"))

    op.drop_table("prompt_alias_events")
