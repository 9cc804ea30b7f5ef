"""span resource, session and user

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 04:18:52.436670
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime  # noqa: F401

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resource", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("session_id", AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column("user_id", AutoString(length=200), nullable=True))
        batch_op.drop_index("ix_spans_parent_start")
        for name, column, where in (
            ("ix_spans_roots", "start_ns", "parent_span_id IS NULL"),
            ("ix_spans_session", "session_id", "session_id IS NOT NULL"),
            ("ix_spans_user", "user_id", "user_id IS NOT NULL"),
        ):
            batch_op.create_index(
                name,
                [column],
                unique=False,
                sqlite_where=sa.text(where),
                postgresql_where=sa.text(where),
            )


def downgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        for name in ("ix_spans_user", "ix_spans_session", "ix_spans_roots"):
            batch_op.drop_index(name)
        batch_op.create_index("ix_spans_parent_start", ["parent_span_id", "start_ns"], unique=False)
        batch_op.drop_column("user_id")
        batch_op.drop_column("session_id")
        batch_op.drop_column("resource")
