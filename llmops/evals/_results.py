"""Eval runs in the store: created, filled in batches, finished, listed and shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlmodel import col, select

from llmops._exceptions import NotFoundError
from llmops.evals._runner import CaseResult
from llmops.store import Store
from llmops.store.models import EvalCaseRecord, EvalRunRecord, EvalScoreRecord, table_of, utcnow

__all__ = ["RunDetail", "finish_run", "get_run", "list_runs", "start_run", "write_results"]

_UNLIMITED = 2**62  # eval results are masked but never cut


def start_run(store: Store, record: EvalRunRecord) -> None:
    """Record a run as ``running`` before any case executes."""
    with store.write() as session:
        session.add(record)


def _case_detail(result: CaseResult) -> dict[str, Any] | None:
    detail: dict[str, Any] = {}
    if result.case.input is not None:
        detail["input"] = result.case.input
    if result.contexts:
        detail["contexts"] = [
            {"id": c.id, "text": c.text, "score": c.score} for c in result.contexts
        ]
    if result.tool_calls:
        detail["tool_calls"] = [dict(call) for call in result.tool_calls]
    return detail or None


def write_results(store: Store, run_id: str, results: Sequence[CaseResult]) -> None:
    """Write a batch of case results and their scores in one transaction, with secrets in
    inputs, outputs, errors, reasons and details masked as the tracing settings say (spans of
    the same cases are masked alike; results are never truncated)."""
    if not results:
        return
    # lazy: keeps import llmops light
    from llmops.tracing import current_redactor

    redact = current_redactor().with_max_chars(_UNLIMITED).value
    cases = [
        {
            "run_id": run_id,
            "case_index": r.case.index,
            "repeat": r.repeat,
            "inputs": redact(r.case.row),
            "expected": redact(r.case.expected),
            "output": redact(r.output),
            "error": redact(r.error),
            "latency_ms": r.latency_ms,
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cost_usd": r.cost_usd,
            "cached": r.cached,
            "trace_id": r.trace_id,
            "detail": redact(_case_detail(r)),
        }
        for r in results
    ]
    scores = [
        {
            "run_id": run_id,
            "case_index": r.case.index,
            "repeat": r.repeat,
            "scorer": name,
            "value": value,
            "error": redact(r.score_errors.get(name)),
            "reason": redact(r.score_reasons.get(name)),
            "detail": redact(r.score_details.get(name)),
        }
        for r in results
        for name, value in r.scores.items()
    ]
    with store.write() as session:
        connection = session.connection()
        connection.execute(insert(table_of(EvalCaseRecord)), cases)
        if scores:
            connection.execute(insert(table_of(EvalScoreRecord)), scores)


def finish_run(
    store: Store, run_id: str, *, status: str, n_cases: int, n_errors: int, summary: dict[str, Any]
) -> None:
    """Mark a run finished with its aggregate scores."""
    with store.write() as session:
        record = session.get(EvalRunRecord, run_id)
        if record is None:
            raise NotFoundError(f"eval run '{run_id}' not found")
        record.status = status
        record.ended_at = utcnow()
        record.n_cases = n_cases
        record.n_errors = n_errors
        record.summary = summary
        session.add(record)


def resolve_run_id(store: Store, run_id: str) -> str:
    """The full id of the run ``run_id`` names (a unique prefix will do)."""
    with store.session() as session:
        if session.get(EvalRunRecord, run_id) is not None:
            return run_id
        matches = session.exec(
            select(EvalRunRecord.id)
            .where(col(EvalRunRecord.id).startswith(run_id.lower()))
            .limit(2)
        ).all()
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise NotFoundError(f"eval run id prefix '{run_id}' is ambiguous")
    raise NotFoundError(f"eval run '{run_id}' not found")


def list_runs(store: Store, *, limit: int = 50, suite: str | None = None) -> list[EvalRunRecord]:
    """The newest runs first."""
    query = select(EvalRunRecord).order_by(col(EvalRunRecord.started_at).desc()).limit(limit)
    if suite is not None:
        query = query.where(EvalRunRecord.suite == suite)
    with store.session() as session:
        return list(session.exec(query).all())


@dataclass(frozen=True)
class RunDetail:
    """A run with its cases (every repeat) and their scores by ``(case_index, repeat)``."""

    run: EvalRunRecord
    cases: list[EvalCaseRecord]
    scores: dict[tuple[int, int], dict[str, EvalScoreRecord]]

    def case_scores(self, case: EvalCaseRecord) -> dict[str, EvalScoreRecord]:
        """The scores of one case record (one repeat), by scorer."""
        return self.scores.get((case.case_index, case.repeat), {})


def get_run(store: Store, run_id: str) -> RunDetail:
    """One run by id (or unique id prefix) with every case and score."""
    full_id = resolve_run_id(store, run_id)
    with store.session() as session:
        run = session.get(EvalRunRecord, full_id)
        assert run is not None
        cases = list(
            session.exec(
                select(EvalCaseRecord)
                .where(EvalCaseRecord.run_id == full_id)
                .order_by(col(EvalCaseRecord.case_index), col(EvalCaseRecord.repeat))
            ).all()
        )
        scores: dict[tuple[int, int], dict[str, EvalScoreRecord]] = {}
        for score in session.exec(
            select(EvalScoreRecord)
            .where(EvalScoreRecord.run_id == full_id)
            .order_by(col(EvalScoreRecord.id))
        ).all():
            scores.setdefault((score.case_index, score.repeat), {})[score.scorer] = score
    return RunDetail(run=run, cases=cases, scores=scores)


def stored_results(store: Store, run_id: str) -> list[CaseResult]:
    """A run's stored cases as results (for resuming and re-summarizing it)."""
    from llmops.evals._datasets import Case

    with store.session() as session:
        cases = session.exec(select(EvalCaseRecord).where(EvalCaseRecord.run_id == run_id)).all()
        scores = session.exec(select(EvalScoreRecord).where(EvalScoreRecord.run_id == run_id)).all()
    by_key: dict[tuple[int, int], CaseResult] = {}
    for record in cases:
        detail = record.detail or {}
        result = CaseResult(
            case=Case(record.case_index, record.inputs or {}, record.expected, detail.get("input")),
            repeat=record.repeat,
            output=record.output,
            error=record.error,
            latency_ms=record.latency_ms,
            input_tokens=record.input_tokens,
            output_tokens=record.output_tokens,
            cost_usd=record.cost_usd,
            cached=record.cached,
            trace_id=record.trace_id,
        )
        by_key[(record.case_index, record.repeat)] = result
    for score in scores:
        found = by_key.get((score.case_index, score.repeat))
        if found is not None:
            found.scores[score.scorer] = score.value
            if score.error:
                found.score_errors[score.scorer] = score.error
    return [by_key[key] for key in sorted(by_key)]
