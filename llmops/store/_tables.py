"""SQLAlchemy Core tables for the hot paths: the alias service, the listings of prompts, runs
and traces, and the scores on traces.

Building the SQLModel classes of ``llmops.store.models`` (and importing sqlmodel and the ORM)
costs a list command about half of its time; these tables need only SQLAlchemy Core. They
describe the same tables as the models, on their own ``MetaData`` (never used to create or
migrate a schema): the models stay the one definition of the schema, and
tests/test_store.py checks that every column here matches its model's column.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "alias_events",
    "aliases",
    "eval_cases",
    "eval_runs",
    "experiments",
    "prompt_versions",
    "prompts",
    "score_configs",
    "scores",
    "spans",
    "trace_totals",
    "tracking_runs",
]

_metadata = MetaData()


class _UTCDateTime(TypeDecorator[datetime]):
    """The models' ``datetime`` columns (sqlmodel's ``UTCDateTime``, whose module would load
    sqlmodel): aware datetimes stored in UTC, read back in UTC."""

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("a stored datetime must carry its timezone")
        return None if value is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # SQLite keeps no offset: what it holds is UTC
        return value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)


#: Written by the alias service: every column of ``AliasRecord``.
aliases = Table(
    "aliases",
    _metadata,
    Column("kind", String(16), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", _UTCDateTime(), nullable=False),
)

#: Written by the alias service: every column of ``AliasEventRecord``.
alias_events = Table(
    "alias_events",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    Column("alias", String(64), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", String, nullable=False),
    Column("action", String(16), nullable=False),
    Column("gate_decision_id", Integer, nullable=True),
    Column("created_at", _UTCDateTime(), nullable=False),
)

#: Read only (the prompt listing): the columns it shows.
prompts = Table(
    "prompts",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", String, nullable=False),
    Column("tags", JSON, nullable=True),
    Column("created_at", _UTCDateTime(), nullable=False),
)

#: Read only (the prompt listing): enough to find each prompt's newest version.
prompt_versions = Table(
    "prompt_versions",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("prompt_id", Integer, nullable=False),
    Column("version", Integer, nullable=False),
)

#: Read only (the run listing): the columns of an eval run's row in ``llmops runs list``.
eval_runs = Table(
    "eval_runs",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("suite", String(200), nullable=False),
    Column("dataset_hash", String(64), nullable=False),
    Column("model_name", String(200), nullable=False),
    Column("model", String(400), nullable=False),
    Column("prompt_version_id", Integer, nullable=True),
    Column("status", String(32), nullable=False),
    Column("started_at", _UTCDateTime(), nullable=False),
    Column("ended_at", _UTCDateTime(), nullable=True),
    Column("n_cases", Integer, nullable=False),
    Column("n_errors", Integer, nullable=False),
    Column("config", JSON, nullable=True),
    Column("summary", JSON, nullable=True),
)

#: Read only (the run listing): enough to count the cases of a run still running.
eval_cases = Table(
    "eval_cases",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(32), nullable=False),
    Column("error", String, nullable=True),
)

#: Read only (the run listing): every column of ``TrackingRunRecord``.
tracking_runs = Table(
    "tracking_runs",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", Integer, nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", _UTCDateTime(), nullable=False),
    Column("ended_at", _UTCDateTime(), nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("source", String(400), nullable=False),
    Column("user", String(200), nullable=False),
    Column("params", JSON, nullable=True),
    Column("tags", JSON, nullable=True),
)

#: Read only (the run listing): an experiment's name.
experiments = Table(
    "experiments",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
)

#: Read only (the trace listing and its filters): the columns they read.
spans = Table(
    "spans",
    _metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("parent_span_id", String(16), nullable=True),
    Column("name", String(400), nullable=False),
    Column("start_ns", BigInteger, nullable=False),
    Column("end_ns", BigInteger, nullable=False),
    Column("status_code", String(8), nullable=False),
    Column("status_message", String, nullable=True),
    Column("attributes", JSON, nullable=False),
    Column("events", JSON, nullable=True),
    Column("session_id", String(200), nullable=True),
    Column("user_id", String(200), nullable=True),
)

#: Written by the span sink, read by the dashboards (llmops.tracing), deleted with its trace's
#: spans: every column of ``TraceTotalsRecord``.
trace_totals = Table(
    "trace_totals",
    _metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("input_tokens", Float, nullable=True),
    Column("output_tokens", Float, nullable=True),
    Column("cost_usd", Float, nullable=True),
    Column("model", String, nullable=True),
    Column("prompt", String, nullable=True),
    Column("route", String, nullable=True),
    Column("error_count", Integer, nullable=False),
)

#: Written and read by the scores on traces (llmops.tracing): every column of ``ScoreRecord``.
scores = Table(
    "scores",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=True),
    Column("name", String(128), nullable=False),
    Column("source", String(16), nullable=False),
    Column("data_type", String(16), nullable=False),
    Column("value", Float, nullable=True),
    Column("label", String(200), nullable=True),
    Column("comment", String, nullable=True),
    Column("author", String(200), nullable=True),
    Column("created_at", _UTCDateTime(), nullable=False),
    Column("evaluator", String(264), nullable=True),
    Column("run_id", String(32), nullable=True),
)

#: Written and read by the score configs (llmops.tracing): every column of ``ScoreConfigRecord``.
score_configs = Table(
    "score_configs",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("data_type", String(16), nullable=False),
    Column("categories", JSON, nullable=True),
    Column("min_value", Float, nullable=True),
    Column("max_value", Float, nullable=True),
    Column("description", String, nullable=False),
    Column("created_at", _UTCDateTime(), nullable=False),
)
