"""Deterministic scorers."""

from __future__ import annotations

import pytest

from llmops.evals import Sample, ScorerUnmeasured, build_scorer, normalize_answer


def test_normalization() -> None:
    assert normalize_answer("  The  Capital, of FRANCE! ") == "capital of france"


@pytest.mark.parametrize(
    ("name", "output", "expected", "score"),
    [
        ("exact_match", "Paris.", "paris", 1.0),
        ("exact_match", "It is Paris", "Paris", 0.0),
        ("contains", "It is Paris.", "paris", 1.0),
        ("contains", "Parisian food", "Paris", 0.0),
        ("token_f1", "Paris", "Paris", 1.0),
        ("token_f1", "the city of Paris", "Paris", 2 * (1 / 3) * 1 / (1 / 3 + 1)),
        ("token_f1", "London", "Paris", 0.0),
        ("token_f1", "", "", 1.0),
    ],
)
def test_scores(name: str, output: str, expected: str, score: float) -> None:
    scorer = build_scorer(name)
    assert scorer.score(Sample(output=output, expected=expected)) == pytest.approx(score)


@pytest.mark.parametrize("name", ["exact_match", "contains", "token_f1"])
def test_no_reference_is_unmeasured_not_zero(name: str) -> None:
    with pytest.raises(ScorerUnmeasured):
        build_scorer(name).score(Sample(output="anything"))
