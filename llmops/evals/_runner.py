"""The concurrent runner: call the target for every case, score it, trace it, report it.

A failing target or scorer is recorded on its case and the run goes on; nothing is scored
0 or NaN in its place.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops.evals._scorers import Scorer, ScorerUnmeasured
from llmops.evals._suite import Case

__all__ = ["CaseResult", "ScoreSummary", "TargetOutput", "run_cases", "summarize"]


@dataclass(frozen=True)
class TargetOutput:
    """What the target produced for one case."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None


Target = Callable[[Case], Awaitable[TargetOutput]]


@dataclass
class CaseResult:
    """The outcome of one case: output or error, scores, cost, trace."""

    case: Case
    output: str | None = None
    error: str | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    trace_id: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    score_errors: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreSummary:
    """Aggregate of one scorer over a run; unmeasured cases are counted, not averaged."""

    scorer: str
    mean: float | None
    stderr: float | None
    n: int
    unmeasured: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "stderr": self.stderr,
            "n": self.n,
            "unmeasured": self.unmeasured,
        }


def _score(result: CaseResult, scorers: dict[str, Scorer]) -> None:
    for name, function in scorers.items():
        if result.output is None:
            result.scores[name] = None
            result.score_errors[name] = "target failed"
            continue
        try:
            value = float(function(result.output, result.case.expected))
        except ScorerUnmeasured as exc:
            result.scores[name], result.score_errors[name] = None, str(exc)
            continue
        except Exception as exc:
            result.scores[name], result.score_errors[name] = None, f"{type(exc).__name__}: {exc}"
            continue
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            result.scores[name], result.score_errors[name] = None, f"score {value} outside [0, 1]"
        else:
            result.scores[name] = value


async def _run_one(
    case: Case, target: Target, scorers: dict[str, Scorer], run_id: str
) -> CaseResult:
    from llmops.tracing import span as start

    result = CaseResult(case=case)
    attributes = {"llmops.eval.run_id": run_id, "llmops.eval.case_index": case.index}
    with start(f"eval case {case.index}", kind="evaluator", attributes=attributes) as span:
        result.trace_id = span.trace_id_hex
        started = time.perf_counter()
        try:
            produced = await target(case)
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}".splitlines()[0][:1000]
            span.set_status("ERROR", result.error)
        else:
            result.output = produced.text
            result.input_tokens = produced.input_tokens
            result.output_tokens = produced.output_tokens
        result.latency_ms = (time.perf_counter() - started) * 1000
        _score(result, scorers)
        span.set_attributes(
            {f"llmops.score.{k}": v for k, v in result.scores.items() if v is not None}
        )
    return result


async def run_cases(
    cases: Sequence[Case],
    target: Target,
    scorers: dict[str, Scorer],
    *,
    run_id: str,
    concurrency: int = 4,
    on_result: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run every case with at most ``concurrency`` in flight; results in case order."""
    semaphore = asyncio.Semaphore(concurrency)

    async def guarded(case: Case) -> CaseResult:
        async with semaphore:
            result = await _run_one(case, target, scorers, run_id)
        if on_result is not None:
            on_result(result)
        return result

    results = await asyncio.gather(*(guarded(case) for case in cases))
    return sorted(results, key=lambda result: result.case.index)


def summarize(
    results: Sequence[CaseResult], scorer_names: Sequence[str]
) -> dict[str, ScoreSummary]:
    """Mean and standard error per scorer over measured cases."""
    summaries: dict[str, ScoreSummary] = {}
    for name in scorer_names:
        values = [r.scores[name] for r in results if r.scores.get(name) is not None]
        measured = [v for v in values if v is not None]
        n = len(measured)
        mean = sum(measured) / n if n else None
        stderr = None
        if n > 1 and mean is not None:
            variance = sum((v - mean) ** 2 for v in measured) / (n - 1)
            stderr = math.sqrt(variance / n)
        summaries[name] = ScoreSummary(name, mean, stderr, n, len(results) - n)
    return summaries
