"""spans tree index for lazy trace reading

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 07:49:43.628822
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_spans_tree",
            ["trace_id", "parent_span_id", "start_ns", "span_id", "end_ns"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_index("ix_spans_tree")
