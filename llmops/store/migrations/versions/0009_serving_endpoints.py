"""serving endpoints

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 08:13:45.017259
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "serving_endpoints",
        sa.Column("id", AutoString(length=32), nullable=False),
        sa.Column("model", AutoString(length=264), nullable=False),
        sa.Column("backend", AutoString(length=16), nullable=False),
        sa.Column("served_model_name", AutoString(length=200), nullable=False),
        sa.Column("api_base", AutoString(length=400), nullable=False),
        sa.Column("host", AutoString(length=200), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("command", sa.JSON(), nullable=True),
        sa.Column("adapters", sa.JSON(), nullable=True),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("restarts", sa.Integer(), nullable=False),
        sa.Column("log_path", AutoString(length=1000), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("stopped_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("serving_endpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_serving_endpoints_model"), ["model"], unique=False)
        batch_op.create_index(batch_op.f("ix_serving_endpoints_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("serving_endpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_serving_endpoints_status"))
        batch_op.drop_index(batch_op.f("ix_serving_endpoints_model"))

    op.drop_table("serving_endpoints")
