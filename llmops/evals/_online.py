"""Online evaluation: evaluators from ``configs/evaluators.yaml`` score stored traces.

An evaluator is a trace filter, a sample rate and scorers from the catalog::

    evaluators:
      - name: answers
        filter: {span_kind: llm, model: gpt-4o-mini, tag: prod}
        sample_rate: 0.2
        scorers: [json_valid, {length: {max_chars: 2000}}]

Its version is a content hash of its normalized definition (name, filter, scorers with their
parameters, sample rate, expected attribute): editing it makes a new version. A trace is scored
once per ``name@version`` (stored in the scores' ``evaluator`` column with ``source=scorer``),
so reruns add nothing, nor do runners in other processes (server replicas on one store: see
``_write_unscored`` and ``evaluator_claim``). Sampling is deterministic per trace id:
``hash(trace id, version) < rate``, so a rerun picks the same traces.

A scorer that cannot measure a trace (no output, no retrieved documents, a judge error) is
stored as a score with no value (``value`` None) and ``comment`` ``"unmeasured: REASON"``:
never 0. Score filters and means of the trace list skip it, as they skip a missing score.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy import String, cast, text
from sqlmodel import col, select

from llmops._exceptions import ConfigError, InputError
from llmops._yaml import load_model
from llmops.evals._scoring import (
    Context,
    Sample,
    Score,
    Scorer,
    ScorerEnv,
    ScorerUnmeasured,
    as_score,
    build_scorer,
)
from llmops.store import Store
from llmops.store.models import ScoreRecord, SpanRecord
from llmops.tracing import (
    MAX_SCORES_PER_REQUEST,
    TraceScore,
    add_scores,
    has_tag,
    json_text,
    parse_json,
    to_genai,
    trace_status_is,
)

if TYPE_CHECKING:
    from llmops.config import Config

__all__ = [
    "EvaluationSummary",
    "Evaluator",
    "EvaluatorFilter",
    "EvaluatorSpec",
    "EvaluatorsFile",
    "evaluate_traces",
    "evaluator_claim",
    "load_evaluators",
]

UNMEASURED_PREFIX = "unmeasured: "
#: Root spans read per query; scores are written in batches of at most 1,000 (one transaction).
PAGE_SIZE = 1000
#: Namespaces of PostgreSQL advisory locks on an evaluator key (two-int keys: apart from the
#: store's one-bigint locks): a replica's claim on a pass, a writer's check-then-insert.
_CLAIM_LOCK = 0x6C6C6D01
_WRITE_LOCK = 0x6C6C6D02
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")


class EvaluatorFilter(BaseModel):
    """Which traces an evaluator scores. ``name`` matches the root span (substring, any case);
    the others hold when any span of the trace has them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, description="root span name contains this")
    span_kind: str | None = Field(
        default=None, description="score the spans of this kind (llm, retriever...), not the root"
    )
    model: str | None = Field(default=None, description="gen_ai.request.model of a span")
    prompt: str | None = Field(default=None, description="prompt NAME or NAME@VERSION of a span")
    tag: str | None = None
    route: str | None = Field(default=None, description="llmops.route.name of a span")
    status: Literal["OK", "ERROR", "UNSET"] | None = None
    user_id: str | None = None
    session_id: str | None = None


class EvaluatorSpec(BaseModel):
    """One evaluator of ``evaluators.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    filter: EvaluatorFilter = Field(default_factory=EvaluatorFilter)
    sample_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    scorers: list[str | dict[str, Any]] = Field(min_length=1)
    expected_attribute: str | None = Field(
        default=None, description="span attribute holding the reference answer, if any"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise ValueError("letters, digits, '_', '.', '-' (at most 128), e.g. answers")
        return value

    @field_validator("scorers")
    @classmethod
    def _buildable(
        cls, items: list[str | dict[str, Any]], info: ValidationInfo
    ) -> list[str | dict[str, Any]]:
        root = (info.context or {}).get("root")
        names: set[str] = set()
        for item in items:
            name = build_scorer(item, root=root).name  # a ValueError names the problem
            if name in names:
                raise ValueError(f"two scorers are named '{name}'; give one a 'name'")
            names.add(name)
        return items


class EvaluatorsFile(BaseModel):
    """The content of ``configs/evaluators.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluators: list[EvaluatorSpec] = Field(default_factory=list)

    @field_validator("evaluators")
    @classmethod
    def _unique(cls, items: list[EvaluatorSpec]) -> list[EvaluatorSpec]:
        seen: set[str] = set()
        for item in items:
            if item.name in seen:
                raise ValueError(f"two evaluators are named '{item.name}'")
            seen.add(item.name)
        return items


@dataclass(frozen=True)
class Evaluator:
    """A loaded evaluator: its definition and version (``key`` = ``name@version``)."""

    spec: EvaluatorSpec
    root: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        """12 hex digits of the SHA-256 of the normalized definition."""
        normal = self.spec.model_dump(mode="json", exclude_none=True)
        text = json.dumps(normal, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    def sampled(self, trace_id: str) -> bool:
        """Deterministic: the same trace is in or out on every run of this version."""
        rate = self.spec.sample_rate
        if rate >= 1.0:
            return True
        digest = hashlib.sha256(f"{trace_id}:{self.version}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2.0**64 < rate

    def build_scorers(self) -> list[Scorer]:
        return [build_scorer(item, root=self.root) for item in self.spec.scorers]


def load_evaluators(path: Path) -> list[Evaluator]:
    """Evaluators of a YAML file; every problem is a ``ConfigError`` naming file:line."""
    spec, _doc = load_model(
        path,
        EvaluatorsFile,
        ConfigError,
        what="evaluators",
        context={"root": path.parent.resolve()},
    )
    return [Evaluator(item, root=path.parent.resolve()) for item in spec.evaluators]


@dataclass
class EvaluationSummary:
    """What one pass of an evaluator did. ``unmeasured``: count per reason."""

    evaluator: str
    version: str
    matched: int = 0
    sampled_out: int = 0
    already_scored: int = 0
    scored: int = 0
    scores_written: int = 0
    unmeasured: Counter[str] = field(default_factory=Counter)
    last_start_ns: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "evaluator": self.evaluator,
            "version": self.version,
            "key": f"{self.evaluator}@{self.version}",
            "matched": self.matched,
            "sampled_out": self.sampled_out,
            "already_scored": self.already_scored,
            "scored": self.scored,
            "scores_written": self.scores_written,
            "unmeasured": dict(self.unmeasured),
        }


# ---- reading traces ------------------------------------------------------------------------------


def _span_conditions(store: Store, where: EvaluatorFilter) -> list[Any]:
    conditions: list[Any] = []
    if where.span_kind is not None:
        conditions.append(col(SpanRecord.kind) == where.span_kind)
    if where.model is not None:
        conditions.append(json_text(store, "gen_ai.request.model") == where.model)
    if where.prompt is not None:
        name, _, version = where.prompt.partition("@")
        conditions.append(json_text(store, "llmops.prompt.name") == name)
        if version:
            # stored as a number by llmops, a string by some exporters: compared as text
            version_text = cast(json_text(store, "llmops.prompt.version"), String)
            conditions.append(version_text.in_([version, f"{version}.0"]))
    if where.tag is not None:
        conditions.append(has_tag(store.dialect, where.tag))
    if where.route is not None:
        conditions.append(json_text(store, "llmops.route.name") == where.route)
    if where.user_id is not None:
        conditions.append(SpanRecord.user_id == where.user_id)
    if where.session_id is not None:
        conditions.append(SpanRecord.session_id == where.session_id)
    return conditions


def _root_pages(
    store: Store,
    where: EvaluatorFilter,
    since_ns: int | None,
    until_ns: int | None,
    limit: int | None,
) -> Iterator[list[SpanRecord]]:
    """Root spans matching ``where``, oldest first, in pages (keyset on start and trace id)."""
    base = select(SpanRecord).where(col(SpanRecord.parent_span_id).is_(None))
    if since_ns is not None:
        base = base.where(SpanRecord.start_ns >= since_ns)
    if until_ns is not None:
        base = base.where(SpanRecord.start_ns < until_ns)
    if where.name is not None:
        escaped = where.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        base = base.where(col(SpanRecord.name).ilike(f"%{escaped}%", escape="\\"))
    if where.status is not None:
        base = base.where(trace_status_is(where.status))
    conditions = _span_conditions(store, where)
    if conditions:
        base = base.where(
            col(SpanRecord.trace_id).in_(select(SpanRecord.trace_id).where(*conditions))
        )
    after: tuple[int, str] | None = None
    left = limit
    while left is None or left > 0:
        query = base
        if after is not None:
            query = query.where(
                (col(SpanRecord.start_ns) > after[0])
                | ((col(SpanRecord.start_ns) == after[0]) & (col(SpanRecord.trace_id) > after[1]))
            )
        size = PAGE_SIZE if left is None else min(PAGE_SIZE, left)
        query = query.order_by(col(SpanRecord.start_ns), col(SpanRecord.trace_id)).limit(size)
        with store.session() as session:
            page = list(session.exec(query).all())
        if not page:
            return
        yield page
        if left is not None:
            left -= len(page)
        after = (page[-1].start_ns, page[-1].trace_id)
        if len(page) < size:
            return


def _scored_traces(store: Store, key: str, trace_ids: Sequence[str]) -> set[str]:
    """Of ``trace_ids``, those with a score of evaluator ``key`` (read through the trace index)."""
    query = (
        select(col(ScoreRecord.trace_id))
        .where(col(ScoreRecord.trace_id).in_(trace_ids))
        .where(ScoreRecord.evaluator == key)
        .distinct()
    )
    with store.session() as session:
        return set(session.exec(query).all())


def _spans_of_kind(store: Store, trace_ids: Sequence[str], kind: str) -> list[SpanRecord]:
    query = (
        select(SpanRecord)
        .where(col(SpanRecord.trace_id).in_(trace_ids))
        .where(SpanRecord.kind == kind)
        .order_by(col(SpanRecord.trace_id), col(SpanRecord.start_ns))
    )
    with store.session() as session:
        return list(session.exec(query).all())


def _documents(attributes: dict[str, Any]) -> list[Context]:
    """The retrieved documents of a retriever span (GenAI ``gen_ai.retrieval.documents``)."""
    documents = parse_json(attributes.get("gen_ai.retrieval.documents"))
    if not isinstance(documents, list):
        return []
    found = []
    for i, document in enumerate(documents):
        if not isinstance(document, dict) or not isinstance(document.get("content"), str):
            continue
        score = document.get("score")
        found.append(
            Context(
                id=str(document.get("id", i)),
                text=document["content"],
                score=float(score) if isinstance(score, int | float) else None,
            )
        )
    return found


def _sample(span: SpanRecord, contexts: tuple[Context, ...], expected_key: str | None) -> Sample:
    attributes = to_genai(span.attributes if isinstance(span.attributes, dict) else {})
    expected = attributes.get(expected_key) if expected_key else None
    input_text = attributes.get("llmops.input")
    tokens_in = attributes.get("gen_ai.usage.input_tokens")
    tokens_out = attributes.get("gen_ai.usage.output_tokens")
    cost = attributes.get("llmops.cost_usd")
    return Sample(
        output=str(attributes.get("llmops.output") or ""),
        expected=None if expected is None else str(expected),
        input=None if input_text is None else str(input_text),
        row=attributes,
        contexts=contexts,
        latency_ms=(span.end_ns - span.start_ns) / 1e6,
        cost_usd=float(cost) if isinstance(cost, int | float) else None,
        input_tokens=tokens_in if isinstance(tokens_in, int) else None,
        output_tokens=tokens_out if isinstance(tokens_out, int) else None,
    )


# ---- scoring -------------------------------------------------------------------------------------


def _has_output(sample: Sample) -> bool:
    return "llmops.output" in sample.row and sample.row["llmops.output"] is not None


def _missing(scorer: Scorer, sample: Sample) -> str | None:
    """Why ``scorer`` cannot measure ``sample`` before it runs, if it cannot."""
    if scorer.kind in ("rag", "retrieval") and not sample.contexts:
        return "the trace has no retrieved documents"
    if not _has_output(sample) and scorer.kind != "retrieval":  # retrieval reads documents only
        return "the span has no output"
    return None


def _outcome(scorer: Scorer, sample: Sample) -> Score | str:
    """A score, or why it is unmeasured."""
    missing = _missing(scorer, sample)
    if missing is not None:
        return missing
    try:
        return as_score(scorer.score(sample))
    except ScorerUnmeasured as exc:
        return str(exc) or type(exc).__name__


async def _aoutcome(scorer: Scorer, sample: Sample, limit: asyncio.Semaphore) -> Score | str:
    missing = _missing(scorer, sample)
    if missing is not None:
        return missing
    async with limit:
        try:
            return await scorer.ascore(sample)
        except ScorerUnmeasured as exc:
            return str(exc) or type(exc).__name__
        except Exception as exc:  # a judge's failed call: unmeasured with the reason, not 0
            return f"{type(exc).__name__}: {exc}"[:500]


def _score_all(
    scorers: Sequence[Scorer], targets: Sequence[tuple[str, str | None, Sample]], concurrency: int
) -> list[tuple[str, str | None, Scorer, Score | str]]:
    """Every scorer on every target; async scorers (judges) concurrently, at most
    ``concurrency`` calls at a time (the model's own rate limits apply beneath)."""
    results: list[tuple[str, str | None, Scorer, Score | str]] = []
    pending: list[tuple[int, Scorer, Sample]] = []
    for trace_id, span_id, sample in targets:
        for scorer in scorers:
            if scorer.is_async:
                pending.append((len(results), scorer, sample))
                results.append((trace_id, span_id, scorer, ""))
            else:
                results.append((trace_id, span_id, scorer, _outcome(scorer, sample)))
    if pending:

        async def run_all() -> list[Score | str]:
            limit = asyncio.Semaphore(concurrency)
            return await asyncio.gather(*(_aoutcome(s, x, limit) for _, s, x in pending))

        for (index, _, _), outcome in zip(pending, asyncio.run(run_all()), strict=True):
            trace_id, span_id, scorer, _ = results[index]
            results[index] = (trace_id, span_id, scorer, outcome)
    return results


def _targets(
    store: Store, evaluator: Evaluator, roots: Sequence[SpanRecord], needs_documents: bool
) -> list[tuple[str, str | None, Sample]]:
    """(trace id, span id or None for the root, sample) of each span to score."""
    ids = [root.trace_id for root in roots]
    documents: dict[str, list[Context]] = {}
    if needs_documents:
        for span in _spans_of_kind(store, ids, "retriever"):
            attributes = to_genai(span.attributes if isinstance(span.attributes, dict) else {})
            documents.setdefault(span.trace_id, []).extend(_documents(attributes))
    expected = evaluator.spec.expected_attribute
    kind = evaluator.spec.filter.span_kind
    if kind is None:
        return [
            (r.trace_id, None, _sample(r, tuple(documents.get(r.trace_id, ())), expected))
            for r in roots
        ]
    return [
        (s.trace_id, s.span_id, _sample(s, tuple(documents.get(s.trace_id, ())), expected))
        for s in _spans_of_kind(store, ids, kind)
    ]


def _record(
    key: str, trace_id: str, span_id: str | None, scorer: Scorer, outcome: Score | str
) -> TraceScore:
    if isinstance(outcome, str):
        return TraceScore(
            trace_id=trace_id,
            span_id=span_id,
            name=scorer.name,
            data_type="NUMERIC",
            value=None,
            source="scorer",
            comment=(UNMEASURED_PREFIX + outcome)[:4096],
            evaluator=key,
        )
    return TraceScore(
        trace_id=trace_id,
        span_id=span_id,
        name=scorer.name,
        data_type="NUMERIC",
        value=float(outcome.value),
        source="scorer",
        comment=None if outcome.reason is None else outcome.reason[:4096],
        evaluator=key,
    )


def _lock_key(namespace: int, key: str) -> dict[str, int]:
    """The two int4 keys of PostgreSQL's advisory lock on evaluator ``key`` in ``namespace``."""
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big", signed=True)
    return {"ns": namespace, "k": digest}


def _write_unscored(store: Store, key: str, scores: list[TraceScore]) -> tuple[int, set[str]]:
    """Store the scores of the traces that no one has scored with ``key`` yet, in one
    transaction; returns (scores written, traces skipped as scored meanwhile).

    Another process (a server replica, a CLI run) may have scored the same traces since they
    were read: the check is made again under a lock held to the commit (SQLite's write lock,
    which ``store.write()`` takes at BEGIN; on PostgreSQL an advisory lock per evaluator key),
    so two writers of one evaluator never both store a trace's scores.
    """
    with store.write() as session:
        if store.dialect == "postgresql":
            session.connection().execute(
                text("SELECT pg_advisory_xact_lock(:ns, :k)"), _lock_key(_WRITE_LOCK, key)
            )
        ids = sorted({score.trace_id for score in scores})
        done: set[str] = set()
        for start in range(0, len(ids), PAGE_SIZE):
            query = (
                select(col(ScoreRecord.trace_id))
                .where(col(ScoreRecord.trace_id).in_(ids[start : start + PAGE_SIZE]))
                .where(ScoreRecord.evaluator == key)
                .distinct()
            )
            done.update(session.exec(query).all())
        fresh = [score for score in scores if score.trace_id not in done]
        for start in range(0, len(fresh), MAX_SCORES_PER_REQUEST):
            add_scores(store, fresh[start : start + MAX_SCORES_PER_REQUEST])  # joins this one
    return len(fresh), done


@contextmanager
def evaluator_claim(store: Store, evaluator: Evaluator) -> Iterator[bool]:
    """Whether this process should run ``evaluator`` now, for server replicas on one store.

    On PostgreSQL, a session advisory lock on the evaluator's key: one holder at a time, the
    others skip the pass (no judge is called twice for a trace), and a holder that dies
    releases it with its connection. On SQLite (one machine) always True. Either way scores
    stay single without it (see :func:`_write_unscored`); the claim saves the duplicate work.
    """
    if store.dialect != "postgresql":
        yield True
        return
    keys = _lock_key(_CLAIM_LOCK, evaluator.key)
    with store.read() as connection:
        held = bool(connection.execute(text("SELECT pg_try_advisory_lock(:ns, :k)"), keys).scalar())
        connection.commit()  # the lock is the session's: no transaction stays open meanwhile
        try:
            yield held
        finally:
            if held:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:ns, :k)"), keys)
                    connection.commit()
                except Exception:
                    connection.invalidate()  # closing it releases the lock
                    raise


def _evaluate_one(
    store: Store,
    evaluator: Evaluator,
    scorers: Sequence[Scorer],
    *,
    since_ns: int | None,
    until_ns: int | None,
    limit: int | None,
    concurrency: int,
) -> EvaluationSummary:
    summary = EvaluationSummary(evaluator.name, evaluator.version)
    key = evaluator.key
    # custom scorers may read ``sample.contexts`` too; deterministic ones never do
    needs_documents = any(s.kind != "deterministic" for s in scorers)
    pages = _root_pages(store, evaluator.spec.filter, since_ns, until_ns, limit)
    for page in pages:
        summary.matched += len(page)
        summary.last_start_ns = page[-1].start_ns
        sampled = [root for root in page if evaluator.sampled(root.trace_id)]
        summary.sampled_out += len(page) - len(sampled)
        done = _scored_traces(store, key, [root.trace_id for root in sampled]) if sampled else set()
        todo = [root for root in sampled if root.trace_id not in done]
        summary.already_scored += len(sampled) - len(todo)
        if not todo:
            continue
        targets = _targets(store, evaluator, todo, needs_documents)
        scores = [
            _record(key, trace_id, span_id, scorer, outcome)
            for trace_id, span_id, scorer, outcome in _score_all(scorers, targets, concurrency)
        ]
        written, taken = _write_unscored(store, key, scores)
        for score in scores:
            if score.value is None and score.comment is not None and score.trace_id not in taken:
                summary.unmeasured[score.comment.removeprefix(UNMEASURED_PREFIX)] += 1
        summary.scores_written += written
        summary.scored += len({trace_id for trace_id, _, _ in targets} - taken)
        summary.already_scored += len(taken)
    return summary


def evaluate_traces(
    store: Store,
    evaluators: Iterable[Evaluator],
    *,
    since_ns: int | None = None,
    until_ns: int | None = None,
    limit: int | None = None,
    config: Config | None = None,
    env: ScorerEnv | None = None,
    concurrency: int = 4,
    built: dict[str, list[Scorer]] | None = None,
) -> list[EvaluationSummary]:
    """Score the stored traces each evaluator matches (root spans started in ``[since_ns,
    until_ns)``, oldest first, at most ``limit`` per evaluator) that it has not scored yet.

    Scorers are set up once with ``env`` (default: ``config`` and ``store``, no cache);
    ``built`` keeps them by evaluator key across calls (a judge's model, an embedding model
    are then loaded once, not on every pass of the server's loop).
    """
    if limit is not None and limit < 1:
        raise InputError(f"limit: must be at least 1, got {limit}")
    summaries = []
    for evaluator in evaluators:
        if built is not None and evaluator.key in built:
            scorers = built[evaluator.key]
        else:
            scorers = _set_up(store, evaluator, config, env)
            if built is not None:
                built[evaluator.key] = scorers
        summaries.append(
            _evaluate_one(
                store,
                evaluator,
                scorers,
                since_ns=since_ns,
                until_ns=until_ns,
                limit=limit,
                concurrency=concurrency,
            )
        )
    return summaries


def _set_up(
    store: Store, evaluator: Evaluator, config: Config | None, env: ScorerEnv | None
) -> list[Scorer]:
    """The evaluator's scorers, set up; the configuration is read only when one needs it."""
    scorers = evaluator.build_scorers()
    if any(s.is_async or s.kind not in ("deterministic", "custom") for s in scorers):
        if env is None:
            if config is None:
                from llmops.config import load_config

                config = load_config()
            env = ScorerEnv(config=config, store=store)
        for scorer in scorers:
            scorer.setup(env)
    return scorers
