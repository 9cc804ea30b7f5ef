"""rag indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:48:32.513297
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rag_aliases",
        sa.Column("pipeline", AutoString(length=200), nullable=False),
        sa.Column("alias", AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pipeline", "alias"),
    )
    op.create_table(
        "rag_indexes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pipeline", AutoString(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("collection", AutoString(length=200), nullable=False),
        sa.Column("corpus_hash", AutoString(length=64), nullable=False),
        sa.Column("embedder", AutoString(length=200), nullable=False),
        sa.Column("splitter", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("doc_count", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("build_seconds", sa.Float(), nullable=False),
        sa.Column("error", AutoString(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pipeline", "version", name="uq_rag_indexes_version"),
    )
    with op.batch_alter_table("rag_indexes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rag_indexes_pipeline"), ["pipeline"], unique=False)

    op.create_table(
        "rag_chunks",
        sa.Column("index_id", sa.Integer(), nullable=False),
        sa.Column("chunk_id", AutoString(length=64), nullable=False),
        sa.Column("source", AutoString(length=1000), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("content_hash", AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["index_id"],
            ["rag_indexes.id"],
        ),
        sa.PrimaryKeyConstraint("index_id", "chunk_id"),
    )


def downgrade() -> None:
    op.drop_table("rag_chunks")
    with op.batch_alter_table("rag_indexes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rag_indexes_pipeline"))

    op.drop_table("rag_indexes")
    op.drop_table("rag_aliases")
