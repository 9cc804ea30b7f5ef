"""OTLP log records, joined to their spans by trace and span id

Revision ID: 0011_otlp_logs
Revises: 0010_span_otel_kind_links_scope
Create Date: 2026-12-06 01:31:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0011_otlp_logs"
down_revision: str | None = "0010_span_otel_kind_links_scope"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trace_id", AutoString(length=32), nullable=True),
        sa.Column("span_id", AutoString(length=16), nullable=True),
        sa.Column("time_ns", sa.BigInteger(), nullable=False),
        sa.Column("severity", AutoString(length=32), nullable=True),
        sa.Column("event_name", AutoString(length=400), nullable=True),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("resource", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("logs", schema=None) as batch_op:
        batch_op.create_index("ix_logs_span", ["trace_id", "span_id", "time_ns"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("logs", schema=None) as batch_op:
        batch_op.drop_index("ix_logs_span")
    op.drop_table("logs")
