"""scores on traces: human, app, judge and scorer, numeric, boolean or categorical

Revision ID: 0013_scores
Revises: 0012_one_alias_table
Create Date: 2026-12-06 03:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0013_scores"
down_revision: str | None = "0012_one_alias_table"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scores",
        sa.Column("id", AutoString(length=32), nullable=False),
        sa.Column("trace_id", AutoString(length=32), nullable=False),
        sa.Column("span_id", AutoString(length=16), nullable=True),
        sa.Column("name", AutoString(length=128), nullable=False),
        sa.Column("source", AutoString(length=16), nullable=False),
        sa.Column("data_type", AutoString(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("label", AutoString(length=200), nullable=True),
        sa.Column("comment", AutoString(), nullable=True),
        sa.Column("author", AutoString(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("evaluator", AutoString(length=264), nullable=True),
        sa.Column("run_id", AutoString(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.create_index("ix_scores_trace", ["trace_id"], unique=False)
        batch_op.create_index("ix_scores_name_value", ["name", "value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_index("ix_scores_name_value")
        batch_op.drop_index("ix_scores_trace")
    op.drop_table("scores")
