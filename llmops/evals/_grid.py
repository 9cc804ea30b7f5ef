"""Eval runs side by side: one row per case, one column per run, with per-column summaries.

A prompts x models matrix (the runs that share a ``group_id``) or any N runs read as one
grid; rows pair by ``case_index``, as :mod:`llmops.evals._compare` pairs two runs. A page
holds a bounded number of cases, and outputs and reasons are cut in SQL, so a grid costs
the same memory whatever the runs hold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, distinct, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select

from llmops._exceptions import InputError, NotFoundError
from llmops.evals._compare import run_info
from llmops.evals._results import resolve_run_id
from llmops.store import Store
from llmops.store.models import EvalCaseRecord, EvalRunRecord, EvalScoreRecord, table_of

__all__ = ["MAX_GRID_RUNS", "MAX_GROUP_RUNS", "EvalGrid", "eval_grid", "group_run_ids"]

#: The most runs a comparison names; a matrix group may hold up to MAX_GROUP_RUNS cells.
MAX_GRID_RUNS = 10
MAX_GROUP_RUNS = 32
#: Characters of an output, error or reason a cell carries (the run page has the rest).
CELL_CHARS = 1000
_REASON_CHARS = 300
_SAME = 1e-9  # scores closer than this count as equal (float sums over repeats)
_CASES = table_of(EvalCaseRecord)
_SCORES = table_of(EvalScoreRecord)


@dataclass(frozen=True)
class EvalGrid:
    """One page of the grid: ``columns`` (a run and its summary each), ``rows`` (a case each).

    ``after`` is the last case index of the page when more follow, else None.
    """

    group_id: str | None
    columns: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    total_cases: int
    after: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "group_id": self.group_id,
            "runs": self.columns,
            "items": self.rows,
            "total_cases": self.total_cases,
        }


def group_run_ids(store: Store, group_id: str) -> list[str]:
    """The runs of one matrix, in the order they ran (``NotFoundError`` when none)."""
    with store.session() as db:
        ids = db.exec(
            select(EvalRunRecord.id)
            .where(EvalRunRecord.group_id == group_id)
            .order_by(col(EvalRunRecord.started_at), col(EvalRunRecord.id))
            .limit(MAX_GROUP_RUNS + 1)
        ).all()
    if not ids:
        raise NotFoundError(f"eval run group '{group_id}' not found")
    if len(ids) > MAX_GROUP_RUNS:
        raise InputError(
            f"eval run group '{group_id}' holds more than {MAX_GROUP_RUNS} runs; "
            "compare some of them with runs=..."
        )
    return list(ids)


def eval_grid(
    store: Store,
    *,
    runs: Sequence[str] = (),
    group_id: str | None = None,
    after: int | None = None,
    limit: int = 50,
) -> EvalGrid:
    """The page of cases after case index ``after`` of ``runs`` (ids or prefixes) or a group."""
    if (group_id is None) == (not runs):
        raise InputError("give either runs (a comma-separated list of run ids) or group")
    if group_id is not None:
        ids = group_run_ids(store, group_id)
    else:
        if len(runs) > MAX_GRID_RUNS:
            raise InputError(f"runs: at most {MAX_GRID_RUNS} runs, got {len(runs)}")
        ids = [resolve_run_id(store, run_id) for run_id in runs]
        twice = sorted({run_id for run_id in ids if ids.count(run_id) > 1})
        if twice:
            raise InputError(f"runs: run '{twice[0]}' is named twice")
    with store.session() as db:
        found = db.exec(select(EvalRunRecord).where(col(EvalRunRecord.id).in_(ids)))
        records = {r.id: r for r in found}
        conn = db.connection()
        columns = _columns(conn, [records[run_id] for run_id in ids])
        of_runs = _CASES.c.run_id.in_(ids)
        index = _CASES.c.case_index
        total = conn.execute(sa_select(func.count(distinct(index))).where(of_runs)).scalar_one()
        query = sa_select(index).where(of_runs).distinct()
        if after is not None:
            query = query.where(index > after)
        indexes = list(conn.execute(query.order_by(index).limit(limit + 1)).scalars())
        more = len(indexes) > limit
        indexes = indexes[:limit]
        rows = _rows(conn, ids, indexes) if indexes else []
    return EvalGrid(
        group_id=group_id,
        columns=columns,
        rows=rows,
        total_cases=int(total),
        after=indexes[-1] if more and indexes else None,
    )


def _columns(conn: Connection, records: list[EvalRunRecord]) -> list[dict[str, Any]]:
    """Each run with SQL aggregates over its cases and scores: no case is loaded."""
    ids = [r.id for r in records]
    c, s = _CASES.c, _SCORES.c
    cases = {
        row[0]: tuple(row)
        for row in conn.execute(
            sa_select(
                c.run_id,
                func.count(),
                func.sum(case((c.error.is_not(None), 1), else_=0)),
                func.sum(c.cost_usd),
                func.avg(c.latency_ms),
                func.sum(case((c.cached, 1), else_=0)),
            )
            .where(c.run_id.in_(ids))
            .group_by(c.run_id)
        )
    }
    scores: dict[str, dict[str, dict[str, Any]]] = {run_id: {} for run_id in ids}
    for run_id, scorer, mean, measured, n in conn.execute(
        sa_select(s.run_id, s.scorer, func.avg(s.value), func.count(s.value), func.count())
        .where(s.run_id.in_(ids))
        .group_by(s.run_id, s.scorer)
        .order_by(s.run_id, s.scorer)
    ):
        scores[run_id][scorer] = {
            "mean": None if mean is None else float(mean),
            "n": int(measured),
            "unmeasured": int(n) - int(measured),
        }
    columns = []
    for record in records:
        _, n_cases, n_errors, cost, latency, cached = cases.get(
            record.id, (None, 0, 0, None, None, 0)
        )
        columns.append(
            {
                **run_info(record),
                "group_id": record.group_id,
                "scores": scores[record.id],
                "summary": {
                    "cases": int(n_cases or 0),
                    "errors": int(n_errors or 0),
                    "cached": int(cached or 0),
                    "cost_usd": None if cost is None else float(cost),
                    "latency_ms_mean": None if latency is None else float(latency),
                },
            }
        )
    return columns


def _rows(conn: Connection, ids: list[str], indexes: list[int]) -> list[dict[str, Any]]:
    """The cells of the cases ``indexes``: the first repeat's output, scores averaged."""
    c, s = _CASES.c, _SCORES.c
    rows: dict[int, dict[str, Any]] = {
        i: {"case_index": i, "inputs": None, "expected": None, "cells": {}} for i in indexes
    }
    found = conn.execute(
        sa_select(
            c.run_id,
            c.case_index,
            c.inputs,
            c.expected,
            func.substr(c.output, 1, CELL_CHARS),
            func.length(c.output),
            func.substr(c.error, 1, CELL_CHARS),
            c.latency_ms,
            c.cost_usd,
            c.trace_id,
        )
        .where(c.run_id.in_(ids), c.case_index.in_(indexes), c.repeat == 0)
        .order_by(c.case_index, c.run_id)
    )
    for run_id, index, inputs, expected, output, length, error, latency, cost, trace in found:
        row = rows[index]
        if row["inputs"] is None:  # the same dataset row in every run: keep one copy
            row["inputs"], row["expected"] = inputs, expected
        row["cells"][run_id] = {
            "output": output,
            "output_chars": length,
            "error": error,
            "latency_ms": latency,
            "cost_usd": cost,
            "trace_id": trace,
            "scores": {},
        }
    for run_id, index, scorer, mean, error, reason in conn.execute(
        sa_select(
            s.run_id,
            s.case_index,
            s.scorer,
            func.avg(s.value),
            func.min(func.substr(s.error, 1, _REASON_CHARS)),
            func.min(func.substr(s.reason, 1, _REASON_CHARS)),
        )
        .where(s.run_id.in_(ids), s.case_index.in_(indexes))
        .group_by(s.run_id, s.case_index, s.scorer)
    ):
        cell = rows[index]["cells"].get(run_id)
        if cell is not None:
            value = None if mean is None else float(mean)
            cell["scores"][scorer] = {"value": value, "error": error, "reason": reason}
    for row in rows.values():
        row["differs"] = _differs(row["cells"], len(ids))
    return [rows[i] for i in indexes]


def _differs(cells: dict[str, dict[str, Any]], n_runs: int) -> bool:
    """Whether the runs disagree on a case: a missing cell, another output, error or score."""
    if len(cells) < n_runs:
        return True
    shown = list(cells.values())
    if len({(c["output"], c["error"]) for c in shown}) > 1:
        return True
    scorers = {name for c in shown for name in c["scores"]}
    for name in scorers:
        values = [c["scores"].get(name, {}).get("value") for c in shown]
        if None in values:
            if any(v is not None for v in values):
                return True
        elif max(values) - min(values) > _SAME:
            return True
    return False
