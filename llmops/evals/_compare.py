"""Compare two stored eval runs case by case: which scorers moved, and which cases.

Cases pair by ``case_index``; a case's repeats are averaged first, so the case is the unit
that is resampled and tested. Only cases measured in both runs are paired.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmops._exceptions import InputError
from llmops.evals._results import RunDetail, get_run
from llmops.evals._stats import PairedStats, paired_comparison
from llmops.store import Store
from llmops.store.models import EvalCaseRecord, EvalRunRecord, EvalScoreRecord

__all__ = [
    "CaseChange",
    "RunComparison",
    "ScorerComparison",
    "case_means",
    "compare_runs",
    "run_info",
]


def case_means(detail: RunDetail) -> dict[str, dict[int, float | None]]:
    """Per scorer, each case's mean over its measured repeats (None: no repeat measured)."""
    values: dict[str, dict[int, list[float]]] = {name: {} for name in _scorers(detail)}
    for (index, _repeat), scores in sorted(detail.scores.items()):
        for name, score in scores.items():
            measured = values[name].setdefault(index, [])
            if score.value is not None:
                measured.append(score.value)
    indexes = sorted({case.case_index for case in detail.cases})
    return {
        name: {i: sum(found) / len(found) if (found := by_case.get(i)) else None for i in indexes}
        for name, by_case in values.items()
    }


def _scorers(detail: RunDetail) -> list[str]:
    """Scorer names in the run's summary order, then any others found in its scores."""
    names = dict.fromkeys(detail.run.summary or {})
    for scores in detail.scores.values():
        names.update(dict.fromkeys(scores))
    return list(names)


def run_info(run: EvalRunRecord) -> dict[str, Any]:
    """The metadata of a run that a comparison or report shows."""
    return {
        "id": run.id,
        "suite": run.suite,
        "model": run.model_name,
        "model_string": run.model,
        "prompt": (run.config or {}).get("prompt"),
        "target": run.target,
        "dataset_hash": run.dataset_hash,
        "status": run.status,
        "repeats": run.repeats,
        "cases": run.n_cases,
        "errors": run.n_errors,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
    }


@dataclass(frozen=True)
class CaseChange:
    """One case whose score for one scorer moved between run A and run B."""

    case_index: int
    scorer: str
    value_a: float
    value_b: float
    inputs: Any
    expected: str | None
    output_a: str | None
    output_b: str | None
    error_a: str | None = None
    error_b: str | None = None
    reason_a: str | None = None
    reason_b: str | None = None

    @property
    def diff(self) -> float:
        return self.value_b - self.value_a

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_index": self.case_index,
            "scorer": self.scorer,
            "value_a": self.value_a,
            "value_b": self.value_b,
            "diff": self.diff,
            "inputs": self.inputs,
            "expected": self.expected,
            "output_a": self.output_a,
            "output_b": self.output_b,
            "error_a": self.error_a,
            "error_b": self.error_b,
            "reason_a": self.reason_a,
            "reason_b": self.reason_b,
        }


@dataclass(frozen=True)
class ScorerComparison:
    """One scorer over the paired cases, and the cases that could not be paired.

    ``unmeasured_*`` counts a run's cases with no measured value; ``unpaired_*`` the cases
    measured in that run only. ``values_*`` hold every measured case mean, for plots.
    """

    scorer: str
    stats: PairedStats
    unmeasured_a: int
    unmeasured_b: int
    unpaired_a: int
    unpaired_b: int
    values_a: dict[int, float] = field(repr=False)
    values_b: dict[int, float] = field(repr=False)

    @property
    def regressed(self) -> bool:
        """The whole CI of ``b - a`` is below 0: B is worse beyond sampling noise."""
        return self.stats.ci_high is not None and self.stats.ci_high < 0

    def diffs(self) -> list[tuple[int, float]]:
        """``(case_index, b - a)`` of the paired cases."""
        return [(i, self.values_b[i] - a) for i, a in self.values_a.items() if i in self.values_b]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.stats.to_dict(),
            "unmeasured_a": self.unmeasured_a,
            "unmeasured_b": self.unmeasured_b,
            "unpaired_a": self.unpaired_a,
            "unpaired_b": self.unpaired_b,
            "regressed": self.regressed,
        }


@dataclass(frozen=True)
class RunComparison:
    """Run B against baseline run A: per-scorer statistics and the cases that moved."""

    a: RunDetail
    b: RunDetail
    threshold: float
    scorers: dict[str, ScorerComparison]
    regressed: list[CaseChange]
    improved: list[CaseChange]
    warnings: list[str]

    def regressed_scorers(self) -> list[ScorerComparison]:
        """Scorers whose CI of the difference lies wholly below 0."""
        return [s for s in self.scorers.values() if s.regressed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_a": run_info(self.a.run),
            "run_b": run_info(self.b.run),
            "threshold": self.threshold,
            "warnings": self.warnings,
            "scorers": {name: s.to_dict() for name, s in self.scorers.items()},
            "regressed": [change.to_dict() for change in self.regressed],
            "improved": [change.to_dict() for change in self.improved],
        }


def _first_repeats(detail: RunDetail) -> dict[int, EvalCaseRecord]:
    first: dict[int, EvalCaseRecord] = {}
    for case in detail.cases:
        if case.case_index not in first or case.repeat < first[case.case_index].repeat:
            first[case.case_index] = case
    return first


def _score(detail: RunDetail, case: EvalCaseRecord | None, name: str) -> EvalScoreRecord | None:
    return None if case is None else detail.case_scores(case).get(name)


def _change(
    a: RunDetail,
    b: RunDetail,
    case_a: EvalCaseRecord | None,
    case_b: EvalCaseRecord | None,
    name: str,
    values: tuple[float, float],
) -> CaseChange:
    """A moved case, shown with the outputs of its first repeat in each run."""
    shown = case_b or case_a
    assert shown is not None
    score_a, score_b = _score(a, case_a, name), _score(b, case_b, name)
    return CaseChange(
        case_index=shown.case_index,
        scorer=name,
        value_a=values[0],
        value_b=values[1],
        inputs=shown.inputs,
        expected=shown.expected,
        output_a=case_a.output if case_a else None,
        output_b=case_b.output if case_b else None,
        error_a=case_a.error if case_a else None,
        error_b=case_b.error if case_b else None,
        reason_a=score_a.reason if score_a else None,
        reason_b=score_b.reason if score_b else None,
    )


def _warnings(
    a: RunDetail,
    b: RunDetail,
    first: tuple[dict[int, EvalCaseRecord], dict[int, EvalCaseRecord]],
    only: tuple[list[str], list[str]],
) -> list[str]:
    run_a, run_b = a.run, b.run
    found = []
    if run_a.id == run_b.id:
        found.append("both sides are the same run")
    if run_a.suite != run_b.suite:
        found.append(f"the runs are of different suites ('{run_a.suite}' and '{run_b.suite}')")
    if run_a.dataset_hash and run_b.dataset_hash and run_a.dataset_hash != run_b.dataset_hash:
        found.append(
            f"the runs used different datasets ({run_a.dataset_hash[:12]} and "
            f"{run_b.dataset_hash[:12]}): cases are paired by position"
        )
    first_a, first_b = first
    differing = sum(1 for i, c in first_b.items() if i in first_a and first_a[i].inputs != c.inputs)
    if differing:
        found.append(f"{differing} paired case(s) have different inputs in the two runs")
    for side, run in (("A", run_a), ("B", run_b)):
        if run.status == "running":
            found.append(f"run {side} ({run.id[:12]}) has not finished")
    for side, names in zip(("A", "B"), only, strict=True):
        if names:
            found.append(f"scorer(s) only in run {side}, not compared: {', '.join(names)}")
    return found


def compare_runs(
    store: Store, run_a: str, run_b: str, *, threshold: float = 0.0, seed: int = 0
) -> RunComparison:
    """Compare run B with baseline run A (ids or unique id prefixes).

    A case regressed for a scorer when B's value is lower than A's by more than
    ``threshold``, and improved when higher by more than it.
    """
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"threshold must be between 0 and 1, not {threshold}")
    a, b = get_run(store, run_a), get_run(store, run_b)
    means_a, means_b = case_means(a), case_means(b)
    first_a, first_b = _first_repeats(a), _first_repeats(b)
    shared = [name for name in means_a if name in means_b]
    scorers: dict[str, ScorerComparison] = {}
    regressed: list[CaseChange] = []
    improved: list[CaseChange] = []
    for name in shared:
        values_a = {i: v for i, v in means_a[name].items() if v is not None}
        values_b = {i: v for i, v in means_b[name].items() if v is not None}
        paired = [i for i in values_a if i in values_b]
        stats = paired_comparison(
            [values_a[i] for i in paired], [values_b[i] for i in paired], seed=seed
        )
        scorers[name] = ScorerComparison(
            scorer=name,
            stats=stats,
            unmeasured_a=len(means_a[name]) - len(values_a),
            unmeasured_b=len(means_b[name]) - len(values_b),
            unpaired_a=len(values_a) - len(paired),
            unpaired_b=len(values_b) - len(paired),
            values_a=values_a,
            values_b=values_b,
        )
        for i in paired:
            diff = values_b[i] - values_a[i]
            moved = regressed if diff < 0 else improved
            if abs(diff) > threshold + 1e-12:
                pair = (values_a[i], values_b[i])
                moved.append(_change(a, b, first_a.get(i), first_b.get(i), name, pair))
    regressed.sort(key=lambda c: (c.diff, c.case_index))
    improved.sort(key=lambda c: (-c.diff, c.case_index))
    only_a = [name for name in means_a if name not in means_b]
    only_b = [name for name in means_b if name not in means_a]
    return RunComparison(
        a=a,
        b=b,
        threshold=threshold,
        scorers=scorers,
        regressed=regressed,
        improved=improved,
        warnings=_warnings(a, b, (first_a, first_b), (only_a, only_b)),
    )
