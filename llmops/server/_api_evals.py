"""``GET /api/v1/evals``: eval runs newest first, one run's cases page by page, comparisons."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import and_, func, or_
from sqlmodel import col, select

from llmops._exceptions import InputError
from llmops.evals import compare_runs, resolve_run_id, run_info
from llmops.server._api_deps import StoreDep
from llmops.server._pagination import MAX_INT, Cursor, Limit, decode_cursor, json_response, page
from llmops.store.models import EvalCaseRecord, EvalRunRecord, EvalScoreRecord

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/evals", tags=["evals"])

RunId = Annotated[str, Query(min_length=1, max_length=32, description="Run id or prefix.")]


def _run(run: EvalRunRecord) -> dict[str, Any]:
    return {
        **run_info(run),
        "model_name": run.model_name,
        "n_cases": run.n_cases,
        "n_errors": run.n_errors,
        "summary": run.summary or {},
        "group_id": run.group_id,
    }


def _started(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InputError("invalid cursor: pass the next_cursor of the previous page") from None


@router.get("/runs", summary="Eval runs newest first, optionally of one suite")
def runs(
    store: StoreDep,
    suite: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Response:
    after = decode_cursor(cursor, (str, str))
    query = select(EvalRunRecord)
    if suite is not None:
        query = query.where(EvalRunRecord.suite == suite)
    if after is not None:
        started = _started(after[0])
        at = col(EvalRunRecord.started_at)
        query = query.where(
            or_(at < started, and_(at == started, col(EvalRunRecord.id) < after[1]))
        )
    query = query.order_by(col(EvalRunRecord.started_at).desc(), col(EvalRunRecord.id).desc())
    with store.session() as db:
        rows = list(db.exec(query.limit(limit + 1)).all())
    return page(rows, limit, key=lambda r: (r.started_at.isoformat(), r.id), render=_run)


def _score(score: EvalScoreRecord) -> dict[str, Any]:
    return {"value": score.value, "error": score.error, "reason": score.reason}


@router.get("/runs/{run_id}", summary="One run with a window of its cases and their scores")
def run(
    store: StoreDep,
    run_id: Annotated[str, Path(min_length=1, max_length=32)],
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> Response:
    """Cases ``offset`` to ``offset + limit`` by (case index, repeat), with ``total``."""
    full_id = resolve_run_id(store, run_id)
    cases_of = EvalCaseRecord.run_id == full_id
    with store.session() as db:
        record = db.get(EvalRunRecord, full_id)
        total = db.exec(select(func.count()).where(cases_of)).one()
        cases = db.exec(
            select(EvalCaseRecord)
            .where(cases_of)
            .order_by(col(EvalCaseRecord.case_index), col(EvalCaseRecord.repeat))
            .offset(offset)
            .limit(limit)
        ).all()
        scores: dict[tuple[int, int], dict[str, Any]] = {}
        if cases:
            found = db.exec(
                select(EvalScoreRecord)
                .where(
                    EvalScoreRecord.run_id == full_id,
                    col(EvalScoreRecord.case_index) >= cases[0].case_index,
                    col(EvalScoreRecord.case_index) <= cases[-1].case_index,
                )
                .order_by(col(EvalScoreRecord.id))
            ).all()
            for score in found:
                scores.setdefault((score.case_index, score.repeat), {})[score.scorer] = _score(
                    score
                )
    assert record is not None  # resolve_run_id found it
    shown = [
        {
            "case_index": case.case_index,
            "repeat": case.repeat,
            "inputs": case.inputs,
            "expected": case.expected,
            "output": case.output,
            "error": case.error,
            "latency_ms": case.latency_ms,
            "input_tokens": case.input_tokens,
            "output_tokens": case.output_tokens,
            "cost_usd": case.cost_usd,
            "cached": case.cached,
            "trace_id": case.trace_id,
            "detail": case.detail,
            "scores": scores.get((case.case_index, case.repeat), {}),
        }
        for case in cases
    ]
    return json_response({"run": _run(record), "cases": shown, "total": total})


@router.get("/compare", summary="Run B against baseline run A: per-scorer statistics, moved cases")
def compare(
    store: StoreDep,
    a: RunId,
    b: RunId,
    threshold: Annotated[float, Query(ge=0, le=1, allow_inf_nan=False)] = 0.0,
) -> Response:
    return json_response(compare_runs(store, a, b, threshold=threshold).to_dict())
