"""The store's tables. Schema changes go through an Alembic migration in ``migrations/``.

Times are UTC; span times are integer nanoseconds since the epoch, as in OpenTelemetry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Table, UniqueConstraint, text
from sqlmodel import Field, SQLModel

__all__ = [
    "AliasEventRecord",
    "AliasRecord",
    "AnnotationQueueRecord",
    "ArtifactRecord",
    "BundleVersionRecord",
    "DatasetRecord",
    "DatasetRowRecord",
    "DatasetVersionRecord",
    "EvalCaseRecord",
    "EvalRunRecord",
    "EvalScoreRecord",
    "ExperimentRecord",
    "GateDecisionRecord",
    "JudgeCalibrationRecord",
    "MetricRecord",
    "ModelVersionRecord",
    "PromptRecord",
    "PromptVersionRecord",
    "QueueItemRecord",
    "RagChunkRecord",
    "RagIndexRecord",
    "RegisteredModelRecord",
    "ResponseCacheRecord",
    "ScoreConfigRecord",
    "ScoreRecord",
    "ServingEndpointRecord",
    "SpanLogRecord",
    "SpanRecord",
    "TraceTotalsRecord",
    "TrackingRunRecord",
    "table_of",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def table_of(model: type[SQLModel]) -> Table:
    """The Core ``Table`` of a model, for bulk inserts that skip the ORM."""
    table: Table = getattr(model, "__table__")  # noqa: B009 - not declared on SQLModel's type
    return table


def _json(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=Column(JSON, nullable=nullable))


class PromptRecord(SQLModel, table=True):
    """A named prompt; its content lives in versions."""

    __tablename__ = "prompts"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True, index=True)
    description: str = Field(default="")
    tags: Any = _json(nullable=True)
    created_at: datetime = Field(default_factory=utcnow)


class AliasRecord(SQLModel, table=True):
    """Where a movable alias (``production``, ``staging``...) of a versioned subject points now.

    ``kind`` says what the subject is (``prompt``, ``model``, ``index``, ``dataset``,
    ``bundle``); ``name`` is its name (a RAG index's pipeline name).
    """

    __tablename__ = "aliases"

    kind: str = Field(max_length=16, primary_key=True)
    name: str = Field(max_length=200, primary_key=True)
    alias: str = Field(max_length=64, primary_key=True)
    version: int
    updated_at: datetime = Field(default_factory=utcnow)


class AliasEventRecord(SQLModel, table=True):
    """One move of an alias: who, when, from which version to which, why, and the gate
    decision that allowed it (a protected alias); append-only."""

    __tablename__ = "alias_events"
    __table_args__ = (Index("ix_alias_events_subject", "kind", "name", "alias"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    name: str = Field(max_length=200)
    alias: str = Field(max_length=64)
    from_version: int | None = None
    to_version: int
    actor: str = Field(default="", max_length=200)
    reason: str = Field(default="")
    action: str = Field(default="set", max_length=16)
    gate_decision_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)


class PromptVersionRecord(SQLModel, table=True):
    """An immutable, content-hashed version of a prompt template."""

    __tablename__ = "prompt_versions"
    __table_args__ = (
        UniqueConstraint("prompt_id", "version", name="uq_prompt_versions_number"),
        UniqueConstraint("prompt_id", "content_hash", name="uq_prompt_versions_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    prompt_id: int = Field(foreign_key="prompts.id", index=True)
    version: int
    content_hash: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    template: Any = _json()
    variables: Any = _json()
    model_params: Any = _json()
    message: str = Field(default="")
    author: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)


class EvalRunRecord(SQLModel, table=True):
    """One execution of an eval suite against one prompt version and model."""

    __tablename__ = "eval_runs"

    id: str = Field(primary_key=True, max_length=32)
    suite: str = Field(max_length=200, index=True)
    suite_path: str = Field(default="")
    dataset_hash: str = Field(default="", max_length=64)
    model_name: str = Field(max_length=200)
    model: str = Field(max_length=400)
    prompt_version_id: int | None = Field(default=None, foreign_key="prompt_versions.id")
    group_id: str | None = Field(default=None, max_length=32, index=True)
    target: str = Field(default="", max_length=400)
    repeats: int = 1
    status: str = Field(max_length=32, default="running")
    started_at: datetime = Field(default_factory=utcnow, index=True)
    ended_at: datetime | None = None
    n_cases: int = 0
    n_errors: int = 0
    config: Any = _json(nullable=True)
    summary: Any = _json(nullable=True)


class EvalCaseRecord(SQLModel, table=True):
    """The target's output for one dataset row of a run."""

    __tablename__ = "eval_cases"
    __table_args__ = (
        UniqueConstraint("run_id", "case_index", "repeat", name="uq_eval_cases_repeat"),
        Index("ix_eval_cases_trace", "trace_id"),  # retention keeps the traces of runs
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="eval_runs.id", index=True, max_length=32)
    case_index: int
    repeat: int = 0
    inputs: Any = _json()
    expected: str | None = None
    output: str | None = None
    error: str | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    cached: bool = False
    trace_id: str | None = Field(default=None, max_length=32)
    detail: Any = _json(nullable=True)


class EvalScoreRecord(SQLModel, table=True):
    """One scorer's value for one case; ``value`` is None when unmeasured (see ``error``)."""

    __tablename__ = "eval_scores"
    __table_args__ = (
        UniqueConstraint(
            "run_id", "case_index", "repeat", "scorer", name="uq_eval_scores_case_scorer"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="eval_runs.id", index=True, max_length=32)
    case_index: int
    repeat: int = 0
    scorer: str = Field(max_length=100)
    value: float | None = None
    error: str | None = None
    reason: str | None = None
    detail: Any = _json(nullable=True)


class ResponseCacheRecord(SQLModel, table=True):
    """A model response kept so an identical request (same repeat) is not paid for twice."""

    __tablename__ = "response_cache"

    key: str = Field(primary_key=True, max_length=64)
    model: str = Field(max_length=400)
    response: Any = _json()
    created_at: datetime = Field(default_factory=utcnow)


class JudgeCalibrationRecord(SQLModel, table=True):
    """How well a judge agreed with human labels, measured by ``llmops eval calibrate``."""

    __tablename__ = "judge_calibrations"

    id: int | None = Field(default=None, primary_key=True)
    judge: str = Field(max_length=200, index=True)
    judge_hash: str = Field(max_length=64)
    model: str = Field(max_length=400)
    labels_path: str = Field(default="")
    labels_hash: str = Field(max_length=64)
    n: int
    n_unmeasured: int = 0
    accuracy: float
    balanced_accuracy: float
    kappa: float
    confusion: Any = _json()
    detail: Any = _json(nullable=True)
    actor: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


_ROOT = "parent_span_id IS NULL"
_SESSION = "session_id IS NOT NULL"
_USER = "user_id IS NOT NULL"
_ERROR = "status_code = 'ERROR'"


class SpanRecord(SQLModel, table=True):
    """An OpenTelemetry span; a trace is the set of spans sharing ``trace_id``."""

    __tablename__ = "spans"
    __table_args__ = (
        # partial indexes: only the rows they serve pay for them on the hot insert path
        # the roots of a time range with their times and trace ids, from the index alone
        Index(
            "ix_spans_roots",
            "start_ns",
            "end_ns",
            "trace_id",
            sqlite_where=text(_ROOT),
            postgresql_where=text(_ROOT),
        ),
        Index(
            "ix_spans_session",
            "session_id",
            sqlite_where=text(_SESSION),
            postgresql_where=text(_SESSION),
        ),
        Index("ix_spans_user", "user_id", sqlite_where=text(_USER), postgresql_where=text(_USER)),
        # the children of a span in start order, and a trace's shape, read from the index alone
        Index("ix_spans_tree", "trace_id", "parent_span_id", "start_ns", "span_id", "end_ns"),
        # a trace's error spans, for its status and error count; errors are rare
        Index(
            "ix_spans_errors", "trace_id", sqlite_where=text(_ERROR), postgresql_where=text(_ERROR)
        ),
    )

    trace_id: str = Field(primary_key=True, max_length=32)
    span_id: str = Field(primary_key=True, max_length=16)
    parent_span_id: str | None = Field(default=None, max_length=16)
    name: str = Field(max_length=400)
    kind: str = Field(max_length=32, default="internal")
    start_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    end_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    status_code: str = Field(max_length=8, default="UNSET")
    status_message: str | None = None
    attributes: Any = _json()
    events: Any = _json(nullable=True)
    resource: Any = _json(nullable=True)
    session_id: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, max_length=200)
    # OpenTelemetry's own span kind (CLIENT, SERVER...), apart from the llmops ``kind`` above
    otel_kind: str | None = Field(default=None, max_length=8)
    links: Any = _json(nullable=True)  # [{trace_id, span_id, trace_state, attributes}]
    scope: Any = _json(nullable=True)  # {name, version, attributes?} of the instrumentation
    trace_state: str | None = None


class SpanLogRecord(SQLModel, table=True):
    """An OpenTelemetry log record (GenAI instrumentations send prompts and completions as
    logs), joined to its span by ``trace_id`` and ``span_id`` when the span is read."""

    __tablename__ = "logs"
    __table_args__ = (Index("ix_logs_span", "trace_id", "span_id", "time_ns"),)

    id: int | None = Field(default=None, primary_key=True)
    trace_id: str | None = Field(default=None, max_length=32)
    span_id: str | None = Field(default=None, max_length=16)
    time_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    severity: str | None = Field(default=None, max_length=32)
    event_name: str | None = Field(default=None, max_length=400)
    body: Any = _json(nullable=True)
    attributes: Any = _json()
    resource: Any = _json(nullable=True)


class RagIndexRecord(SQLModel, table=True):
    """One build of a RAG pipeline's index: a version with its manifest.

    ``status`` is ``building`` until every chunk is embedded and stored, then ``ready``; only
    ready versions are visible to retrieval, so a killed build leaves the previous one intact.
    """

    __tablename__ = "rag_indexes"
    __table_args__ = (UniqueConstraint("pipeline", "version", name="uq_rag_indexes_version"),)

    id: int | None = Field(default=None, primary_key=True)
    pipeline: str = Field(max_length=200, index=True)
    version: int
    status: str = Field(max_length=16, default="building")
    collection: str = Field(max_length=200)
    corpus_hash: str = Field(default="", max_length=64)
    embedder: str = Field(max_length=200)
    splitter: Any = _json()
    files: Any = _json()
    doc_count: int = 0
    chunk_count: int = 0
    build_seconds: float = 0.0
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class RagChunkRecord(SQLModel, table=True):
    """A chunk of an index version: stable id, source, position and content hash (for diffs)."""

    __tablename__ = "rag_chunks"

    index_id: int = Field(foreign_key="rag_indexes.id", primary_key=True)
    chunk_id: str = Field(primary_key=True, max_length=64)
    source: str = Field(max_length=1000)
    position: int
    content_hash: str = Field(max_length=64)


class ExperimentRecord(SQLModel, table=True):
    """A named group of tracking runs."""

    __tablename__ = "experiments"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True, index=True)
    description: str = Field(default="")
    tags: Any = _json(nullable=True)
    created_at: datetime = Field(default_factory=utcnow)


class TrackingRunRecord(SQLModel, table=True):
    """A tracked run (training, fine-tuning, a script): params, tags, status and provenance."""

    __tablename__ = "tracking_runs"

    id: str = Field(primary_key=True, max_length=32)
    experiment_id: int = Field(foreign_key="experiments.id", index=True)
    name: str = Field(default="", max_length=200)
    status: str = Field(default="running", max_length=16)
    started_at: datetime = Field(default_factory=utcnow, index=True)
    ended_at: datetime | None = None
    git_commit: str | None = Field(default=None, max_length=64)
    source: str = Field(default="", max_length=400)
    user: str = Field(default="", max_length=200)
    params: Any = _json(nullable=True)
    tags: Any = _json(nullable=True)


class MetricRecord(SQLModel, table=True):
    """One value of a run's metric at a step and time (append-only)."""

    __tablename__ = "metrics"
    __table_args__ = (Index("ix_metrics_run_key_step", "run_id", "key", "step"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(foreign_key="tracking_runs.id", max_length=32)
    key: str = Field(max_length=250)
    value: float
    step: int = 0
    timestamp_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class ArtifactRecord(SQLModel, table=True):
    """A file logged by a run: its path in the run and the content digest it is stored under."""

    __tablename__ = "artifacts"

    run_id: str = Field(foreign_key="tracking_runs.id", primary_key=True, max_length=32)
    path: str = Field(primary_key=True, max_length=1000)
    digest: str = Field(max_length=64)
    size: int
    created_at: datetime = Field(default_factory=utcnow)


class RegisteredModelRecord(SQLModel, table=True):
    """A named model in the registry; its content lives in versions."""

    __tablename__ = "registered_models"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True, index=True)
    description: str = Field(default="")
    tags: Any = _json(nullable=True)
    created_at: datetime = Field(default_factory=utcnow)


class ModelVersionRecord(SQLModel, table=True):
    """An immutable model version: base model, optional adapter, how to serve it, lineage."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version", name="uq_model_versions_number"),)

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="registered_models.id", index=True)
    version: int
    base_model: str = Field(default="", max_length=400)
    serve_model: str = Field(max_length=400, description="litellm/vLLM model string")
    api_base: str | None = Field(default=None, max_length=400)
    params: Any = _json(nullable=True)
    adapter_path: str | None = Field(default=None, max_length=1000)
    adapter_digest: str | None = Field(default=None, max_length=64)
    source_run_id: str | None = Field(default=None, max_length=32, index=True)
    lineage: Any = _json(nullable=True)
    description: str = Field(default="")
    author: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class BundleVersionRecord(SQLModel, table=True):
    """A pinned set of one prompt version, one model version and one index version."""

    __tablename__ = "bundle_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_bundle_versions_number"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, index=True)
    version: int
    prompt: str | None = Field(default=None, max_length=264, description="name@version")
    model: str | None = Field(default=None, max_length=264, description="name@version")
    index: str | None = Field(default=None, max_length=264, description="pipeline@version")
    author: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class GateDecisionRecord(SQLModel, table=True):
    """An audited decision on promoting a subject: pass, fail, override, rollback (append-only)."""

    __tablename__ = "gate_decisions"

    id: int | None = Field(default=None, primary_key=True)
    subject_kind: str = Field(max_length=16)
    subject: str = Field(max_length=264, index=True, description="name@version")
    alias: str = Field(default="production", max_length=64)
    decision: str = Field(max_length=16)
    policy: str = Field(default="", max_length=200)
    policy_hash: str = Field(default="", max_length=64)
    versions: Any = _json(nullable=True)
    evidence: Any = _json(nullable=True)
    actor: str = Field(default="", max_length=200)
    reason: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow, index=True)


class ServingEndpointRecord(SQLModel, table=True):
    """A model server llmops started (vLLM or llama.cpp): where it answers and its state."""

    __tablename__ = "serving_endpoints"

    id: str = Field(primary_key=True, max_length=32)
    model: str = Field(max_length=264, index=True, description="registry ref name@version")
    backend: str = Field(max_length=16, description="vllm | llamacpp")
    served_model_name: str = Field(max_length=200)
    api_base: str = Field(max_length=400)
    host: str = Field(default="", max_length=200)
    port: int
    pid: int | None = None
    command: Any = _json(nullable=True)
    adapters: Any = _json(nullable=True)
    status: str = Field(default="starting", max_length=16, index=True)
    restarts: int = 0
    log_path: str = Field(default="", max_length=1000)
    started_at: datetime = Field(default_factory=utcnow)
    stopped_at: datetime | None = None


class ScoreRecord(SQLModel, table=True):
    """A score on a trace (or one of its spans), from any source: a person (``human``), the
    app's end users (``app``), a judge or a scorer. ``value`` holds numbers and booleans (0/1),
    ``label`` categorical values; ``data_type`` says which. ``trace_id`` is not a foreign key:
    feedback may arrive before the trace's spans are written."""

    __tablename__ = "scores"
    __table_args__ = (
        Index("ix_scores_trace", "trace_id"),
        Index("ix_scores_name_value", "name", "value"),
    )

    id: str = Field(primary_key=True, max_length=32)
    trace_id: str = Field(max_length=32)
    span_id: str | None = Field(default=None, max_length=16)
    name: str = Field(max_length=128)
    source: str = Field(max_length=16)
    data_type: str = Field(max_length=16)
    value: float | None = None
    label: str | None = Field(default=None, max_length=200)
    comment: str | None = None
    author: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    # the online evaluator (name@version) that produced it, and the eval run it maps
    evaluator: str | None = Field(default=None, max_length=264)
    run_id: str | None = Field(default=None, max_length=32)


class DatasetRecord(SQLModel, table=True):
    """A named dataset of eval cases; its rows live in immutable versions."""

    __tablename__ = "datasets"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True, index=True)
    description: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)


class DatasetVersionRecord(SQLModel, table=True):
    """An immutable, content-hashed version of a dataset: where its rows came from, and who
    made it. ``source`` says how it was built (``{"file": ...}``, ``{"traces": filter}``)."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_number"),
        UniqueConstraint("dataset_id", "content_hash", name="uq_dataset_versions_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="datasets.id", index=True)
    version: int
    content_hash: str = Field(max_length=64)
    row_count: int = 0
    columns: Any = _json()
    source: Any = _json(nullable=True)
    created_by: str = Field(default="", max_length=200)
    note: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)


class DatasetRowRecord(SQLModel, table=True):
    """One row of a dataset version: the whole row as read (``data``), the reference answer
    when known, and the trace it was taken from."""

    __tablename__ = "dataset_rows"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version", "idx", name="uq_dataset_rows_idx"),
        Index("ix_dataset_rows_trace", "trace_id"),  # retention keeps the traces of datasets
    )

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: int = Field(foreign_key="datasets.id")
    version: int
    idx: int
    data: Any = _json()
    expected: Any = _json(nullable=True)
    metadata_: Any = Field(default=None, sa_column=Column("metadata", JSON, nullable=True))
    trace_id: str | None = Field(default=None, max_length=32)


class ScoreConfigRecord(SQLModel, table=True):
    """The declared shape of a score name (data type, allowed labels, numeric range): scores
    of that name given by people are checked against it."""

    __tablename__ = "score_configs"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True, index=True)
    data_type: str = Field(max_length=16)
    categories: Any = _json(nullable=True)
    min_value: float | None = None
    max_value: float | None = None
    description: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)


class AnnotationQueueRecord(SQLModel, table=True):
    """A named list of items (traces or dataset rows) for people to label with score configs;
    ``source`` says how its items were chosen (a trace filter and sample, or a dataset)."""

    __tablename__ = "annotation_queues"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True, index=True)
    description: str = Field(default="")
    score_configs: Any = _json()
    source: Any = _json()
    created_by: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class QueueItemRecord(SQLModel, table=True):
    """One item of an annotation queue: what is judged (``data``), its place in the queue, and
    once labelled, who labelled it, when, and the labels (score name -> value and comment)."""

    __tablename__ = "queue_items"
    __table_args__ = (
        UniqueConstraint("queue_id", "position", name="uq_queue_items_position"),
        Index("ix_queue_items_status", "queue_id", "status", "position"),
        Index("ix_queue_items_trace", "trace_id"),  # retention keeps the traces of queues
    )

    id: int | None = Field(default=None, primary_key=True)
    queue_id: int = Field(foreign_key="annotation_queues.id")
    position: int
    trace_id: str | None = Field(default=None, max_length=32)
    data: Any = _json()
    status: str = Field(default="pending", max_length=16)
    annotator: str | None = Field(default=None, max_length=200)
    completed_at: datetime | None = None
    labels: Any = _json(nullable=True)


class TraceTotalsRecord(SQLModel, table=True):
    """Per trace: tokens, cost and error spans summed over its spans, and its model, prompt
    (``name@version``) and route version (the least over its spans), for the dashboards.
    Written by the span sink in the spans' transaction (``llmops.tracing.StoreSink``); a
    trace whose spans came in another way has no row, and the dashboards read its spans."""

    __tablename__ = "trace_totals"
    # one B-tree (keyed by trace id) instead of a rowid table and its key's index: one search
    # per dashboard lookup and sink upsert
    __table_args__ = {"sqlite_with_rowid": False}

    trace_id: str = Field(primary_key=True, max_length=32)
    input_tokens: float | None = None
    output_tokens: float | None = None
    cost_usd: float | None = None
    model: str | None = None
    prompt: str | None = None
    route: str | None = None
    error_count: int = 0
