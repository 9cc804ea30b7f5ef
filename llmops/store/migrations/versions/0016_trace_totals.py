"""trace totals: per-trace tokens, cost, errors, model, prompt and route for the dashboards;
the root spans' index covers their times and trace id

Revision ID: 0016_trace_totals
Revises: 0015_annotation
Create Date: 2026-12-06 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0016_trace_totals"
down_revision: str | None = "0015_annotation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Traces per backfill statement: bounded memory whatever the store's size.
_CHUNK = 20_000
_LIMIT = repr(float(2**63))


def _number(dialect: str, key: str) -> str:
    # a JSON number within the 64-bit range; a boolean, string or null is no number
    if dialect == "postgresql":
        value = f"(attributes ->> '{key}')::float8"
        return (
            f"CASE WHEN json_typeof(attributes -> '{key}') = 'number' THEN "
            f"CASE WHEN {value} BETWEEN -{_LIMIT} AND {_LIMIT} THEN {value} END END"
        )
    path = f"'$.\"{key}\"'"
    value = f"json_extract(attributes, {path})"
    return (
        f"CASE WHEN json_type(attributes, {path}) IN ('integer', 'real') "
        f"AND {value} BETWEEN -{_LIMIT} AND {_LIMIT} THEN CAST({value} AS REAL) END"
    )


def _text(dialect: str, key: str) -> str:
    # a JSON string or number, as text; anything else (object, array, boolean) is none
    if dialect == "postgresql":
        return (
            f"CASE WHEN json_typeof(attributes -> '{key}') IN ('string', 'number') "
            f"THEN attributes ->> '{key}' END"
        )
    path = f"'$.\"{key}\"'"
    return (
        f"CASE WHEN json_type(attributes, {path}) IN ('text', 'integer', 'real') "
        f"THEN CAST(json_extract(attributes, {path}) AS TEXT) END"
    )


def _backfill(dialect: str, *, last: bool) -> str:
    """Totals of the traces whose id is in ``[:low, :high)`` (``last``: from ``:low`` on)."""
    prompt = (
        f"{_text(dialect, 'llmops.prompt.name')} || '@' || "
        f"coalesce({_text(dialect, 'llmops.prompt.version')}, '?')"
    )
    least = 'min(({}) COLLATE "C")' if dialect == "postgresql" else "min({})"
    values = [
        f"sum({_number(dialect, 'gen_ai.usage.input_tokens')})",
        f"sum({_number(dialect, 'gen_ai.usage.output_tokens')})",
        f"sum({_number(dialect, 'llmops.cost_usd')})",
        least.format(_text(dialect, "gen_ai.request.model")),
        least.format(prompt),
        least.format(_text(dialect, "llmops.route.version")),
        "sum(CASE WHEN status_code = 'ERROR' THEN 1 ELSE 0 END)",
    ]
    # a NUL (stored escaped, \u0000) reads as U+FFFD: PostgreSQL's JSON operators fail on the
    # document, SQLite's JSON functions cut the text at it
    document = "replace(attributes::text, '\\u0000', '\\ufffd')::json"
    if dialect != "postgresql":
        document = "replace(attributes, '\\u0000', '\\ufffd')"
    source = f"(SELECT trace_id, status_code, {document} AS attributes FROM spans) AS spans"
    high = "" if last else "AND trace_id < :high "
    return (
        "INSERT INTO trace_totals (trace_id, input_tokens, output_tokens, cost_usd, model, "
        f"prompt, route, error_count) SELECT trace_id, {', '.join(values)} FROM {source} "
        f"WHERE trace_id >= :low {high}GROUP BY trace_id"
    )


def upgrade() -> None:
    op.create_table(
        "trace_totals",
        sa.Column("trace_id", AutoString(length=32), nullable=False),
        sa.Column("input_tokens", sa.Float(), nullable=True),
        sa.Column("output_tokens", sa.Float(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("model", AutoString(), nullable=True),
        sa.Column("prompt", AutoString(), nullable=True),
        sa.Column("route", AutoString(), nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("trace_id"),
        sqlite_with_rowid=False,
    )
    # the dashboards read a range's roots from the index alone: times and trace id
    op.drop_index("ix_spans_roots", table_name="spans")
    _roots_index(["start_ns", "end_ns", "trace_id"])
    connection = op.get_bind()
    dialect = connection.dialect.name
    # chunks of _CHUNK traces, their bounds read from ix_spans_tree (trace_id first) alone
    low = connection.execute(sa.text("SELECT min(trace_id) FROM spans")).scalar()
    while low is not None:
        high = connection.execute(
            sa.text(
                "SELECT DISTINCT trace_id FROM spans WHERE trace_id >= :low "
                "ORDER BY trace_id LIMIT 1 OFFSET :n"
            ),
            {"low": low, "n": _CHUNK},
        ).scalar()
        bounds = {"low": low} if high is None else {"low": low, "high": high}
        connection.execute(sa.text(_backfill(dialect, last=high is None)), bounds)
        low = high


def _roots_index(columns: list[str]) -> None:
    where = sa.text("parent_span_id IS NULL")
    op.create_index("ix_spans_roots", "spans", columns, sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_spans_roots", table_name="spans")
    _roots_index(["start_ns"])
    op.drop_table("trace_totals")
