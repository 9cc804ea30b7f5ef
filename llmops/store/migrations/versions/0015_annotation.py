"""annotation: score configs, annotation queues and their items

Revision ID: 0015_annotation
Revises: 0014_datasets
Create Date: 2026-12-06 06:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0015_annotation"
down_revision: str | None = "0014_datasets"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "score_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", AutoString(length=128), nullable=False),
        sa.Column("data_type", AutoString(length=16), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=True),
        sa.Column("min_value", sa.Float(), nullable=True),
        sa.Column("max_value", sa.Float(), nullable=True),
        sa.Column("description", AutoString(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("score_configs", schema=None) as batch_op:
        batch_op.create_index("ix_score_configs_name", ["name"], unique=True)
    op.create_table(
        "annotation_queues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", AutoString(length=200), nullable=False),
        sa.Column("description", AutoString(), nullable=False),
        sa.Column("score_configs", sa.JSON(), nullable=False),
        sa.Column("source", sa.JSON(), nullable=False),
        sa.Column("created_by", AutoString(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("annotation_queues", schema=None) as batch_op:
        batch_op.create_index("ix_annotation_queues_name", ["name"], unique=True)
    op.create_table(
        "queue_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("queue_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("trace_id", AutoString(length=32), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("annotator", AutoString(length=200), nullable=True),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["queue_id"], ["annotation_queues.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("queue_id", "position", name="uq_queue_items_position"),
    )
    with op.batch_alter_table("queue_items", schema=None) as batch_op:
        batch_op.create_index(
            "ix_queue_items_status", ["queue_id", "status", "position"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("queue_items", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_items_status")
    op.drop_table("queue_items")
    with op.batch_alter_table("annotation_queues", schema=None) as batch_op:
        batch_op.drop_index("ix_annotation_queues_name")
    op.drop_table("annotation_queues")
    with op.batch_alter_table("score_configs", schema=None) as batch_op:
        batch_op.drop_index("ix_score_configs_name")
    op.drop_table("score_configs")
