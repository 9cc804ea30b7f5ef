"""The benchmark helpers that keep comparisons fair: interleaved order, paired CIs, "not
resolved" in the table, bootstrap CIs (benchmarks/_bench.py, standard library only)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from _bench import (  # benchmarks/ is not a package: found through sys.path above
    Figure,
    bootstrap_ci,
    cells,
    ci_note,
    interleave,
    paired_ci,
    resolved,
)


@pytest.mark.parametrize("rounds", [1, 2, 5])
def test_interleave_alternates_the_order_within_each_round(rounds: int) -> None:
    calls: list[str] = []
    interleave([lambda: calls.append("a"), lambda: calls.append("b")], rounds)
    pairs = [tuple(calls[i : i + 2]) for i in range(0, len(calls), 2)]
    assert pairs == [("a", "b") if i % 2 == 0 else ("b", "a") for i in range(rounds)]


def test_a_clear_difference_is_resolved_either_way() -> None:
    rng = random.Random(7)
    theirs = [100 * rng.uniform(0.8, 1.2) for _ in range(6)]
    faster = [t * 1.5 * rng.uniform(0.97, 1.03) for t in theirs]
    slower = [t / 10 for t in theirs]
    for ours, expected in ((faster, 1.5), (slower, 0.1)):
        ci = paired_ci(ours, theirs)
        assert ci is not None and 0.9 * expected < ci[0] <= ci[1] < 1.1 * expected
        assert resolved(ci)


def test_a_difference_inside_the_spread_is_not_resolved() -> None:
    # pairs that disagree on the direction (the shape of the old vLLM routing row)
    ci = paired_ci([1104, 560, 900, 610], [629, 700, 640, 880])
    assert ci is not None and ci[0] < 1 < ci[1]
    assert not resolved(ci)


@pytest.mark.parametrize(("ours", "theirs"), [([5.0], [4.0]), ([], []), ([1.0, 2.0], [1.0])])
def test_fewer_than_two_pairs_resolve_nothing(ours: list[float], theirs: list[float]) -> None:
    assert paired_ci(ours, theirs) is None
    assert not resolved(None)
    assert "not resolved" in ci_note(None)


def test_the_table_says_not_resolved_from_the_data() -> None:
    ci = paired_ci([1104, 560, 900], [629, 700, 640])
    row = Figure("vLLM routing", "tok/s", 900.0, True, "direct", 640.0, resolved=resolved(ci))
    assert cells(row)[4] == "not resolved"
    assert cells(Figure("x", "tok/s", 900.0, True, "direct", 640.0))[4] == "1.41x better"
    # rows written before the field existed read as resolved
    old = {k: v for k, v in row.as_dict().items() if k != "resolved"}
    assert Figure.from_dict(old).resolved


def test_bootstrap_ci_is_seeded_and_brackets_the_statistic() -> None:
    flags = [True] * 70 + [False] * 30

    def share(sample: list[bool]) -> float:
        return sum(sample) / len(sample)

    low, high = bootstrap_ci(flags, share)
    assert low < 0.7 < high and low > 0.5 and high < 0.9
    assert bootstrap_ci(flags, share) == (low, high)
