"""tracking, model registry, bundles, gate decisions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 07:16:21.858942
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bundle_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", AutoString(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("prompt", AutoString(length=264), nullable=True),
        sa.Column("model", AutoString(length=264), nullable=True),
        sa.Column("index", AutoString(length=264), nullable=True),
        sa.Column("author", AutoString(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version", name="uq_bundle_versions_number"),
    )
    with op.batch_alter_table("bundle_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bundle_versions_name"), ["name"], unique=False)

    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", AutoString(length=200), nullable=False),
        sa.Column("description", AutoString(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_experiments_name"), ["name"], unique=True)

    op.create_table(
        "gate_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", AutoString(length=16), nullable=False),
        sa.Column("subject", AutoString(length=264), nullable=False),
        sa.Column("alias", AutoString(length=64), nullable=False),
        sa.Column("decision", AutoString(length=16), nullable=False),
        sa.Column("policy", AutoString(length=200), nullable=False),
        sa.Column("policy_hash", AutoString(length=64), nullable=False),
        sa.Column("versions", sa.JSON(), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=True),
        sa.Column("actor", AutoString(length=200), nullable=False),
        sa.Column("reason", AutoString(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("gate_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gate_decisions_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_gate_decisions_subject"), ["subject"], unique=False)

    op.create_table(
        "registered_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", AutoString(length=200), nullable=False),
        sa.Column("description", AutoString(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("registered_models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_registered_models_name"), ["name"], unique=True)

    op.create_table(
        "model_alias_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("alias", AutoString(length=64), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=True),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("actor", AutoString(length=200), nullable=False),
        sa.Column("reason", AutoString(), nullable=False),
        sa.Column("action", AutoString(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("model_alias_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_model_alias_events_model_id"), ["model_id"], unique=False
        )

    op.create_table(
        "model_aliases",
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("alias", AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
        ),
        sa.PrimaryKeyConstraint("model_id", "alias"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("base_model", AutoString(length=400), nullable=False),
        sa.Column("serve_model", AutoString(length=400), nullable=False),
        sa.Column("api_base", AutoString(length=400), nullable=True),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("adapter_path", AutoString(length=1000), nullable=True),
        sa.Column("adapter_digest", AutoString(length=64), nullable=True),
        sa.Column("source_run_id", AutoString(length=32), nullable=True),
        sa.Column("lineage", sa.JSON(), nullable=True),
        sa.Column("description", AutoString(), nullable=False),
        sa.Column("author", AutoString(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_number"),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_versions_model_id"), ["model_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_model_versions_source_run_id"), ["source_run_id"], unique=False
        )

    op.create_table(
        "tracking_runs",
        sa.Column("id", AutoString(length=32), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("name", AutoString(length=200), nullable=False),
        sa.Column("status", AutoString(length=16), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime(), nullable=True),
        sa.Column("git_commit", AutoString(length=64), nullable=True),
        sa.Column("source", AutoString(length=400), nullable=False),
        sa.Column("user", AutoString(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tracking_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tracking_runs_experiment_id"), ["experiment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tracking_runs_started_at"), ["started_at"], unique=False
        )

    op.create_table(
        "artifacts",
        sa.Column("run_id", AutoString(length=32), nullable=False),
        sa.Column("path", AutoString(length=1000), nullable=False),
        sa.Column("digest", AutoString(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["tracking_runs.id"],
        ),
        sa.PrimaryKeyConstraint("run_id", "path"),
    )
    op.create_table(
        "metrics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", AutoString(length=32), nullable=False),
        sa.Column("key", AutoString(length=250), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["tracking_runs.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.create_index("ix_metrics_run_key_step", ["run_id", "key", "step"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_index("ix_metrics_run_key_step")

    op.drop_table("metrics")
    op.drop_table("artifacts")
    with op.batch_alter_table("tracking_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tracking_runs_started_at"))
        batch_op.drop_index(batch_op.f("ix_tracking_runs_experiment_id"))

    op.drop_table("tracking_runs")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_versions_source_run_id"))
        batch_op.drop_index(batch_op.f("ix_model_versions_model_id"))

    op.drop_table("model_versions")
    op.drop_table("model_aliases")
    with op.batch_alter_table("model_alias_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_alias_events_model_id"))

    op.drop_table("model_alias_events")
    with op.batch_alter_table("registered_models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_registered_models_name"))

    op.drop_table("registered_models")
    with op.batch_alter_table("gate_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gate_decisions_subject"))
        batch_op.drop_index(batch_op.f("ix_gate_decisions_created_at"))

    op.drop_table("gate_decisions")
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_experiments_name"))

    op.drop_table("experiments")
    with op.batch_alter_table("bundle_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bundle_versions_name"))

    op.drop_table("bundle_versions")
