"""Bootstrap intervals and the paired sign-flip test: calibration, determinism, edge cases."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from llmops.evals._stats import paired_comparison, summarize_values


@pytest.mark.parametrize("kind", ["continuous", "binary"])
def test_bootstrap_ci_covers_the_true_mean_at_about_the_nominal_rate(kind: str) -> None:
    rng = np.random.default_rng(42)
    true_mean, trials, covered = (2 / 7, 0.3)[kind == "binary"], 300, 0
    for trial in range(trials):
        if kind == "binary":
            values = (rng.random(60) < true_mean).astype(float)
        else:
            values = rng.beta(2, 5, size=60)
        stats = summarize_values(values.tolist(), n_resamples=1000, seed=trial)
        assert stats.ci_low is not None and stats.ci_high is not None
        covered += stats.ci_low <= true_mean <= stats.ci_high
    # 95% nominal; a percentile bootstrap at n=60 runs slightly narrow. 300 trials: sd 1.3%
    assert 0.89 <= covered / trials <= 0.99


def test_ci_matches_the_normal_approximation_for_many_values() -> None:
    rng = np.random.default_rng(1)
    for values in (rng.random(2000), (rng.random(2000) < 0.7).astype(float)):
        stats = summarize_values(values.tolist())
        assert stats.stderr == pytest.approx(values.std(ddof=1) / np.sqrt(2000))
        assert stats.mean == pytest.approx(values.mean())
        assert stats.ci_low == pytest.approx(stats.mean - 1.96 * stats.stderr, abs=0.006)
        assert stats.ci_high == pytest.approx(stats.mean + 1.96 * stats.stderr, abs=0.006)


def test_results_are_deterministic_given_the_seed() -> None:
    values = np.random.default_rng(7).random(200).tolist()
    assert summarize_values(values, seed=3) == summarize_values(values, seed=3)
    assert summarize_values(values, seed=3).ci_low != summarize_values(values, seed=4).ci_low
    other = np.random.default_rng(8).random(200).tolist()
    assert paired_comparison(values, other, seed=5) == paired_comparison(values, other, seed=5)


def test_edge_cases_empty_single_and_constant() -> None:
    empty = summarize_values([])
    assert (empty.n, empty.mean, empty.stderr, empty.ci_low, empty.ci_high) == (
        0,
        None,
        None,
        None,
        None,
    )
    one = summarize_values([0.4])
    assert (one.n, one.mean, one.stderr, one.ci_low, one.ci_high) == (1, 0.4, None, None, None)
    same = summarize_values([0.3] * 500)
    assert (same.mean, same.stderr, same.ci_low, same.ci_high) == (0.3, 0.0, 0.3, 0.3)
    assert summarize_values([0.2, 0.9], confidence=0.9).to_dict()["confidence"] == 0.9


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        summarize_values([0.5, float("nan")])
    with pytest.raises(ValueError, match="confidence"):
        summarize_values([0.5], confidence=1.5)
    with pytest.raises(ValueError, match="length"):
        paired_comparison([0.1, 0.2], [0.3])


def test_clear_shift_is_significant_and_its_ci_excludes_zero() -> None:
    rng = np.random.default_rng(0)
    a = rng.random(80)
    b = np.clip(a + 0.15 + rng.normal(0, 0.05, 80), 0, 1)
    stats = paired_comparison(a.tolist(), b.tolist())
    assert stats.p_value is not None and stats.p_value < 0.001
    assert stats.ci_low is not None and stats.ci_low > 0
    assert stats.mean_diff == pytest.approx(float((b - a).mean()))
    assert stats.wins > 70 and stats.wins + stats.losses + stats.ties == stats.n == 80
    worse = paired_comparison(b.tolist(), a.tolist())
    assert worse.ci_high is not None and worse.ci_high < 0 and worse.losses == stats.wins


def test_no_shift_gives_a_large_p_value_and_calibrated_false_positives() -> None:
    rng = np.random.default_rng(3)
    a = rng.random(60)
    stats = paired_comparison(a.tolist(), (a + rng.normal(0, 0.1, 60)).tolist())
    assert stats.p_value is not None and stats.p_value > 0.2
    false_positives = 0
    for trial in range(200):  # under the null, p < 0.05 about 5% of the time
        a, b = rng.random(30), rng.random(30)
        p = paired_comparison(a.tolist(), b.tolist(), n_permutations=1000, seed=trial).p_value
        assert p is not None
        false_positives += p < 0.05
    assert false_positives / 200 <= 0.1


def test_exact_test_on_small_samples() -> None:
    # five wins out of five: the only as-extreme sign patterns are all + and all -
    stats = paired_comparison([0.0] * 5, [1.0] * 5)
    assert stats.p_value == pytest.approx(2 / 32)
    assert stats.test == "exact sign-flip"
    assert (stats.wins, stats.losses, stats.ties) == (5, 0, 0)
    ties = paired_comparison([0.5, 1.0, 0.0], [0.5, 1.0, 0.0])
    assert (ties.p_value, ties.mean_diff, ties.ci_low, ties.ci_high, ties.ties) == (
        1.0,
        0.0,
        0.0,
        0.0,
        3,
    )


def test_sampled_p_value_agrees_with_exact_enumeration() -> None:
    rng = np.random.default_rng(11)
    diffs = rng.normal(0.1, 0.3, 18)
    observed = abs(diffs.sum())
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=18)))
    exact = np.mean(np.abs(signs @ diffs) >= observed - 1e-12)
    stats = paired_comparison([0.0] * 18, diffs.tolist(), n_permutations=20_000)
    assert stats.test.startswith("sign-flip, 20000")
    assert stats.p_value == pytest.approx(exact, abs=0.01)


def test_empty_and_single_pairs() -> None:
    empty = paired_comparison([], [])
    assert (empty.n, empty.mean_a, empty.mean_diff, empty.p_value) == (0, None, None, None)
    one = paired_comparison([0.2], [0.7])
    assert (one.n, one.mean_diff, one.stderr, one.ci_low, one.p_value) == (
        1,
        pytest.approx(0.5),
        None,
        None,
        1.0,
    )
