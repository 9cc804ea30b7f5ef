"""rag alias events

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 05:30:58.257201
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rag_alias_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline", AutoString(length=200), nullable=False),
        sa.Column("alias", AutoString(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("actor", AutoString(length=200), nullable=False),
        sa.Column("reason", AutoString(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rag_alias_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rag_alias_events_pipeline"), ["pipeline"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("rag_alias_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rag_alias_events_pipeline"))

    op.drop_table("rag_alias_events")
