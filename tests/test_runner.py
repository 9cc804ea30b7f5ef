"""The runner with plain Python targets (no model): errors stay on their case, concurrency holds."""

from __future__ import annotations

import asyncio

import pytest

from llmops.evals import (
    Case,
    Sample,
    Score,
    Scorer,
    TargetOutput,
    build_scorer,
    run_cases,
    scorer,
    summarize,
)
from llmops.store import Store
from llmops.tracing import configure_tracing, flush, get_trace


def _cases(n: int) -> list[Case]:
    return [Case(index=i, row={"q": str(i)}, expected=str(i)) for i in range(n)]


def test_failures_are_recorded_per_case_and_the_run_goes_on(store: Store) -> None:
    configure_tracing(store)

    async def target(case: Case, repeat: int) -> TargetOutput:
        if case.index == 2:
            raise RuntimeError("model exploded")
        return TargetOutput(case.row["q"] if case.index != 3 else "wrong", 5, 1)

    @scorer("broken")
    def broken_scorer(output: str, expected: str | None) -> float:
        raise ValueError("scorer bug")

    scorers = [build_scorer("exact_match"), broken_scorer]
    results = asyncio.run(run_cases(_cases(5), target, scorers, run_id="r1", concurrency=2))
    assert [r.case.index for r in results] == [0, 1, 2, 3, 4]
    assert results[2].error == "RuntimeError: model exploded"
    assert results[2].scores["exact_match"] is None
    assert results[2].score_errors["exact_match"] == "target failed"
    assert results[3].scores["exact_match"] == 0.0
    assert all(r.scores["broken"] is None for r in results)
    assert all("scorer bug" in r.score_errors["broken"] for r in results if r.error is None)
    summary = summarize(results, ["exact_match", "broken"])
    assert summary["exact_match"].mean == pytest.approx(3 / 4)
    assert (summary["exact_match"].n, summary["exact_match"].unmeasured) == (4, 1)
    assert summary["broken"].mean is None and summary["broken"].unmeasured == 5
    flush()
    failed = get_trace(store, results[2].trace_id or "")
    assert failed[0].status_code == "ERROR" and failed[0].kind == "evaluator"


def test_each_case_trace_holds_its_input_and_output_but_not_the_answer(store: Store) -> None:
    """A case's root span holds its input and the target's output, as an instrumented app's
    root span does, so its trace can go to an annotation queue or a dataset and be judged;
    never the expected answer, which a judge must not see."""
    from llmops.evals._dataset_sources import trace_data
    from llmops.tracing import list_traces

    configure_tracing(store)
    cases = [
        Case(index=0, row={"question": "2+2?", "answer": "4"}, expected="4", input="2+2?"),
        Case(index=1, row={"topic": "tea", "n": 2, "answer": "green"}, expected="green"),
    ]

    async def target(case: Case, repeat: int) -> TargetOutput:
        return TargetOutput(f"said {case.index}")

    results = asyncio.run(run_cases(cases, target, [build_scorer("exact_match")], run_id="io"))
    flush()
    traces = {trace.trace_id: trace for trace in list_traces(store, limit=10)}
    found = trace_data(store, [traces[result.trace_id or ""] for result in results])
    data = {trace.trace_id: row for trace, row, _ in found}
    assert data[results[0].trace_id] == {"input": "2+2?", "output": "said 0"}
    assert data[results[1].trace_id]["output"] == "said 1"
    assert "green" not in str(data[results[1].trace_id]["input"])
    assert "tea" in str(data[results[1].trace_id]["input"])


def test_concurrency_is_bounded() -> None:
    in_flight = 0
    peak = 0

    async def target(case: Case, repeat: int) -> TargetOutput:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return TargetOutput(case.row["q"])

    seen: list[int] = []
    results = asyncio.run(
        run_cases(
            _cases(20),
            target,
            [build_scorer("exact_match")],
            run_id="r2",
            concurrency=3,
            on_result=lambda r: seen.append(r.case.index),
        )
    )
    assert peak == 3
    assert sorted(seen) == list(range(20))
    assert summarize(results, ["exact_match"])["exact_match"].mean == 1.0


def test_out_of_range_scores_are_unmeasured() -> None:
    async def target(case: Case, repeat: int) -> TargetOutput:
        return TargetOutput("x")

    bad = scorer("bad")(lambda o, e: float("nan"))
    results = asyncio.run(run_cases(_cases(1), target, [bad], run_id="r3"))
    assert results[0].scores["bad"] is None
    assert "outside [0, 1]" in results[0].score_errors["bad"]


def test_repeats_run_every_case_n_times_and_skip_resumes() -> None:
    calls: list[tuple[int, int]] = []

    async def target(case: Case, repeat: int) -> TargetOutput:
        calls.append((case.index, repeat))
        return TargetOutput(case.row["q"] if repeat == 0 else "other")

    results = asyncio.run(
        run_cases(
            _cases(3),
            target,
            [build_scorer("exact_match")],
            run_id="r4",
            repeats=2,
            skip={(1, 0), (1, 1)},
        )
    )
    assert sorted(calls) == [(0, 0), (0, 1), (2, 0), (2, 1)]
    assert [(r.case.index, r.repeat) for r in results] == [(0, 0), (0, 1), (2, 0), (2, 1)]
    summary = summarize(results, ["exact_match"])["exact_match"]
    # repeats are averaged per case first: two cases, each 0.5
    assert (summary.n, summary.mean) == (2, pytest.approx(0.5))


def test_timeouts_are_errors_on_their_case() -> None:
    async def target(case: Case, repeat: int) -> TargetOutput:
        if case.index == 0:
            await asyncio.sleep(5)
        return TargetOutput(case.row["q"])

    results = asyncio.run(
        run_cases(_cases(2), target, [build_scorer("exact_match")], run_id="r5", timeout_s=0.05)
    )
    assert results[0].error == "timed out after 0.05 s"
    assert results[1].scores["exact_match"] == 1.0


def test_async_scorers_run_concurrently_and_keep_reason_and_detail() -> None:
    in_flight = 0
    peak = 0

    class Slow(Scorer):
        type_name = "slow"

        async def ascore(self, sample: Sample) -> Score:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.02)
            in_flight -= 1
            return Score(0.5, reason="half", detail={"raw": sample.output})

    async def target(case: Case, repeat: int) -> TargetOutput:
        return TargetOutput("out")

    scorers = [Slow(name="a"), Slow(name="b")]
    results = asyncio.run(run_cases(_cases(1), target, scorers, run_id="r6"))
    assert peak == 2  # both judges of a case are awaited together
    assert results[0].scores == {"a": 0.5, "b": 0.5}
    assert results[0].score_reasons["a"] == "half"
    assert results[0].score_details["b"] == {"raw": "out"}
