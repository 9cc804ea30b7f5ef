"""eval repeats, scorer reasons, response cache, judge calibrations

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 06:32:46.462749
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "judge_calibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("judge", AutoString(length=200), nullable=False),
        sa.Column("judge_hash", AutoString(length=64), nullable=False),
        sa.Column("model", AutoString(length=400), nullable=False),
        sa.Column("labels_path", AutoString(), nullable=False),
        sa.Column("labels_hash", AutoString(length=64), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("n_unmeasured", sa.Integer(), nullable=False),
        sa.Column("accuracy", sa.Float(), nullable=False),
        sa.Column("balanced_accuracy", sa.Float(), nullable=False),
        sa.Column("kappa", sa.Float(), nullable=False),
        sa.Column("confusion", sa.JSON(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("actor", AutoString(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("judge_calibrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_judge_calibrations_judge"), ["judge"], unique=False)

    op.create_table(
        "response_cache",
        sa.Column("key", AutoString(length=64), nullable=False),
        sa.Column("model", AutoString(length=400), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("eval_cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repeat", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("cost_usd", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("cached", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("detail", sa.JSON(), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_eval_cases_index"), type_="unique")
        batch_op.create_unique_constraint(
            "uq_eval_cases_repeat", ["run_id", "case_index", "repeat"]
        )

    with op.batch_alter_table("eval_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("group_id", AutoString(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("target", AutoString(length=400), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("repeats", sa.Integer(), nullable=False, server_default="1"))
        batch_op.create_index(batch_op.f("ix_eval_runs_group_id"), ["group_id"], unique=False)

    with op.batch_alter_table("eval_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("repeat", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("reason", AutoString(), nullable=True))
        batch_op.add_column(sa.Column("detail", sa.JSON(), nullable=True))
        batch_op.drop_constraint(batch_op.f("uq_eval_scores_case_scorer"), type_="unique")
        batch_op.create_unique_constraint(
            "uq_eval_scores_case_scorer", ["run_id", "case_index", "repeat", "scorer"]
        )


def downgrade() -> None:
    with op.batch_alter_table("eval_scores", schema=None) as batch_op:
        batch_op.drop_constraint("uq_eval_scores_case_scorer", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_eval_scores_case_scorer"), ["run_id", "case_index", "scorer"]
        )
        batch_op.drop_column("detail")
        batch_op.drop_column("reason")
        batch_op.drop_column("repeat")

    with op.batch_alter_table("eval_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_eval_runs_group_id"))
        batch_op.drop_column("repeats")
        batch_op.drop_column("target")
        batch_op.drop_column("group_id")

    with op.batch_alter_table("eval_cases", schema=None) as batch_op:
        batch_op.drop_constraint("uq_eval_cases_repeat", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_eval_cases_index"), ["run_id", "case_index"]
        )
        batch_op.drop_column("detail")
        batch_op.drop_column("cached")
        batch_op.drop_column("cost_usd")
        batch_op.drop_column("repeat")

    op.drop_table("response_cache")
    with op.batch_alter_table("judge_calibrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_judge_calibrations_judge"))

    op.drop_table("judge_calibrations")
