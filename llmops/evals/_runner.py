"""The concurrent runner: call the target for every case (and repeat), score it, trace it.

A fixed pool of ``concurrency`` workers pulls (case, repeat) items, so a run of 100k cases
holds ``concurrency`` tasks, not 100k. A failing or timed-out target, or a raising scorer,
is recorded on its case and the run goes on; nothing is scored 0 or NaN in its place.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from llmops.evals._datasets import _text as text
from llmops.evals._scoring import Context, Sample, Score, Scorer, ScorerUnmeasured, as_score
from llmops.evals._suite import Case

__all__ = ["CaseResult", "ScoreSummary", "Target", "TargetOutput", "run_cases", "summarize"]


@dataclass(frozen=True)
class TargetOutput:
    """What the target produced for one case."""

    text: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    contexts: tuple[Context, ...] = ()
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    cached: bool = False


Target = Callable[[Case, int], Awaitable[TargetOutput]]
"""``target(case, repeat)``: produce the output of one case; ``repeat`` counts from 0."""


@dataclass
class CaseResult:
    """The outcome of one case (one repeat of it): output or error, scores, cost, trace."""

    case: Case
    repeat: int = 0
    output: str | None = None
    error: str | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    cached: bool = False
    contexts: tuple[Context, ...] = ()
    tool_calls: tuple[Mapping[str, Any], ...] = ()
    trace_id: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    score_errors: dict[str, str] = field(default_factory=dict)
    score_reasons: dict[str, str] = field(default_factory=dict)
    score_details: dict[str, Mapping[str, Any]] = field(default_factory=dict)

    def sample(self) -> Sample:
        """What scorers see of this result."""
        return Sample(
            output=self.output or "",
            expected=self.case.expected,
            input=self.case.input,
            row=self.case.row,
            contexts=self.contexts,
            tool_calls=self.tool_calls,
            latency_ms=self.latency_ms,
            cost_usd=self.cost_usd,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
        )

    def set_score(self, name: str, score: Score) -> None:
        value = score.value
        if math.isnan(value) or not 0.0 <= value <= 1.0:
            self.scores[name], self.score_errors[name] = None, f"score {value} outside [0, 1]"
        else:
            self.scores[name] = value
        if score.reason:
            self.score_reasons[name] = score.reason
        if score.detail:
            self.score_details[name] = score.detail

    def set_unmeasured(self, name: str, reason: str, detail: Mapping[str, Any] | None) -> None:
        self.scores[name], self.score_errors[name] = None, reason
        if detail:
            self.score_details[name] = detail


@dataclass(frozen=True)
class ScoreSummary:
    """Aggregate of one scorer over a run; unmeasured cases are counted, not averaged."""

    scorer: str
    mean: float | None
    stderr: float | None
    n: int
    unmeasured: int
    ci_low: float | None = None
    ci_high: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "stderr": self.stderr,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n": self.n,
            "unmeasured": self.unmeasured,
        }


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:1000]


async def _apply_scorer(result: CaseResult, scorer: Scorer, sample: Sample) -> None:
    try:
        if scorer.is_async:
            score = await scorer.ascore(sample)
        else:
            score = as_score(scorer.score(sample))
    except ScorerUnmeasured as exc:
        result.set_unmeasured(scorer.name, str(exc), exc.detail)
    except Exception as exc:
        result.set_unmeasured(scorer.name, _error_text(exc), None)
    else:
        result.set_score(scorer.name, score)


async def score_result(result: CaseResult, scorers: Sequence[Scorer]) -> None:
    """Run every scorer on a result; async scorers (judges) run concurrently."""
    if result.output is None:
        for scorer in scorers:
            result.set_unmeasured(scorer.name, "target failed", None)
        return
    sample = result.sample()
    pending = []
    for scorer in scorers:
        if scorer.is_async:
            pending.append(_apply_scorer(result, scorer, sample))
        else:
            await _apply_scorer(result, scorer, sample)
    if pending:
        await asyncio.gather(*pending)


def _row_text(case: Case) -> str:
    """A case's fields as JSON, but any holding its expected answer: its input where no
    column is one."""
    fields = {
        k: v for k, v in case.row.items() if case.expected is None or text(v) != case.expected
    }
    return orjson.dumps(fields, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


async def _run_one(
    case: Case,
    repeat: int,
    target: Target,
    scorers: Sequence[Scorer],
    run_id: str,
    timeout_s: float | None,
) -> CaseResult:
    # lazy: keeps import llmops light
    from llmops.tracing import span as start

    result = CaseResult(case=case, repeat=repeat)
    attributes: dict[str, Any] = {
        "llmops.eval.run_id": run_id,
        "llmops.eval.case_index": case.index,
    }
    if repeat:
        attributes["llmops.eval.repeat"] = repeat
    # the trace's input and output, as an instrumented app's root span has them: its trace can
    # go to a queue or a dataset (llmops.evals._dataset_sources.trace_data) and be judged
    attributes["input.value"] = case.input if case.input is not None else _row_text(case)
    with start(f"eval case {case.index}", kind="evaluator", attributes=attributes) as span:
        result.trace_id = span.trace_id_hex
        started = time.perf_counter()
        try:
            if timeout_s is None:
                produced = await target(case, repeat)
            else:
                produced = await asyncio.wait_for(target(case, repeat), timeout_s)
        except TimeoutError:
            result.error = f"timed out after {timeout_s:g} s"
            span.set_status("ERROR", result.error)
        except Exception as exc:
            result.error = _error_text(exc)
            span.set_status("ERROR", result.error)
        else:
            result.output = produced.text
            result.input_tokens = produced.input_tokens
            result.output_tokens = produced.output_tokens
            result.cost_usd = produced.cost_usd
            result.contexts = produced.contexts
            result.tool_calls = produced.tool_calls
            result.cached = produced.cached
            span.set_attributes({"output.value": produced.text})
        result.latency_ms = (time.perf_counter() - started) * 1000
        await score_result(result, scorers)
        span.set_attributes(
            {f"llmops.score.{k}": v for k, v in result.scores.items() if v is not None}
        )
    return result


async def run_cases(
    cases: Sequence[Case],
    target: Target,
    scorers: Sequence[Scorer] | Mapping[str, Scorer],
    *,
    run_id: str,
    concurrency: int = 4,
    repeats: int = 1,
    timeout_s: float | None = None,
    skip: Collection[tuple[int, int]] = (),
    on_result: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run every (case, repeat) not in ``skip`` with ``concurrency`` in flight.

    Results come back ordered by case, then repeat; ``on_result`` sees them as they finish.
    """
    scorer_list = list(scorers.values()) if isinstance(scorers, Mapping) else list(scorers)
    names = [scorer.name for scorer in scorer_list]
    if len(set(names)) != len(names):
        raise ValueError(f"two scorers share a name: {names}")
    work = iter(
        [
            (case, repeat)
            for case in cases
            for repeat in range(repeats)
            if (case.index, repeat) not in skip
        ]
    )
    results: list[CaseResult] = []

    async def worker() -> None:
        for case, repeat in work:
            result = await _run_one(case, repeat, target, scorer_list, run_id, timeout_s)
            results.append(result)
            if on_result is not None:
                on_result(result)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return sorted(results, key=lambda result: (result.case.index, result.repeat))


def summarize(
    results: Sequence[CaseResult], scorer_names: Sequence[str], *, seed: int = 0
) -> dict[str, ScoreSummary]:
    """Per scorer: mean, standard error and bootstrap 95% CI over measured cases.

    With repeats, a case's repeats are averaged first: the case is the unit of sampling.
    """
    from llmops.evals._stats import summarize_values

    summaries: dict[str, ScoreSummary] = {}
    for name in scorer_names:
        per_case: dict[int, list[float]] = {}
        unmeasured = 0
        for result in results:
            value = result.scores.get(name)
            if value is None:
                unmeasured += 1
            else:
                per_case.setdefault(result.case.index, []).append(value)
        values = [sum(v) / len(v) for v in per_case.values()]
        stats = summarize_values(values, seed=seed)
        summaries[name] = ScoreSummary(
            name, stats.mean, stats.stderr, len(values), unmeasured, stats.ci_low, stats.ci_high
        )
    return summaries
