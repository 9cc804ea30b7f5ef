"""spans by day: on PostgreSQL, spans partitioned by day of start_ns (retention drops days);
indexes on the trace ids that keep a trace from being pruned

Revision ID: 0017_spans_by_day
Revises: 0016_trace_totals
Create Date: 2026-12-06 09:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

from llmops.store._partitions import partition_spans, unpartition_spans

revision: str = "0017_spans_by_day"
down_revision: str | None = "0016_trace_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# retention asks, for each batch of old traces, which ones these rows refer to
_REFERENCES = (
    ("eval_cases", "ix_eval_cases_trace"),
    ("dataset_rows", "ix_dataset_rows_trace"),
    ("queue_items", "ix_queue_items_trace"),
)


def upgrade() -> None:
    for table, index in _REFERENCES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(index, ["trace_id"], unique=False)
    partition_spans(op.get_bind())  # PostgreSQL only: the rows move in this transaction


def downgrade() -> None:
    unpartition_spans(op.get_bind())
    for table, index in _REFERENCES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(index)
