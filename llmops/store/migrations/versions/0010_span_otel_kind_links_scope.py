"""span otel kind, links, scope and trace state; an index of error spans

Revision ID: 0010_span_otel_kind_links_scope
Revises: 0009
Create Date: 2026-12-06 01:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0010_span_otel_kind_links_scope"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ERROR = "status_code = 'ERROR'"


def upgrade() -> None:
    # nullable columns only: SQLite adds them in place, existing spans read as "not recorded"
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("otel_kind", AutoString(length=8), nullable=True))
        batch_op.add_column(sa.Column("links", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("scope", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("trace_state", AutoString(), nullable=True))
        # errors are rare: a partial index finds a trace's error spans without touching the rest
        batch_op.create_index(
            "ix_spans_errors",
            ["trace_id"],
            unique=False,
            sqlite_where=sa.text(_ERROR),
            postgresql_where=sa.text(_ERROR),
        )


def downgrade() -> None:
    with op.batch_alter_table("spans", schema=None) as batch_op:
        batch_op.drop_index("ix_spans_errors")
        batch_op.drop_column("trace_state")
        batch_op.drop_column("scope")
        batch_op.drop_column("links")
        batch_op.drop_column("otel_kind")
