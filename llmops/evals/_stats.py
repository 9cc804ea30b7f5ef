"""Statistics of eval scores: bootstrap confidence intervals and a paired significance test.

Everything is seeded, so the same scores always give the same intervals and p-values.
numpy is imported inside the functions: ``import llmops`` stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["PairedStats", "Stats", "paired_comparison", "summarize_values"]

_TIE = 1e-12  # two scores closer than this are equal
_EXACT_MAX = 16  # up to 2**16 sign patterns are enumerated; above, they are sampled
_LEVELS_MAX = 32  # values with at most this many distinct levels resample by counts


@dataclass(frozen=True)
class Stats:
    """Mean of some values with its standard error and a percentile-bootstrap CI."""

    n: int
    mean: float | None
    stderr: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PairedStats:
    """Two runs' scores on the same cases: means, difference ``b - a``, its CI and p-value.

    ``wins`` counts cases where b scored higher, ``losses`` where it scored lower.
    """

    n: int
    mean_a: float | None
    mean_b: float | None
    mean_diff: float | None
    stderr: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    wins: int
    losses: int
    ties: int
    test: str
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _array(values: Sequence[float]) -> NDArray[np.float64]:
    import numpy as np

    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError("values must be a flat sequence of numbers")
    if not np.isfinite(array).all():
        raise ValueError("values must be finite numbers (no NaN or infinity)")
    return array


def _bootstrap_means(
    x: NDArray[np.float64], n_resamples: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """The means of ``n_resamples`` resamples of ``x`` with replacement.

    Scores are usually few distinct levels (0/1, a judge's 1-5 scale, repeat averages):
    then a resample is drawn as multinomial counts over the levels, which is the same
    distribution as drawing indices and about 100 times faster.
    """
    import numpy as np

    n = len(x)
    levels, counts = np.unique(x, return_counts=True)
    if len(levels) <= _LEVELS_MAX:
        drawn = rng.multinomial(n, counts / n, size=n_resamples)
        means: NDArray[np.float64] = drawn @ levels / n
        return means
    index_type = np.uint16 if n <= 2**16 else np.int64
    sums = np.empty(n_resamples)
    chunk = max(1, 250_000 // n)  # keep the index block small enough to stay in cache
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        index = rng.integers(0, n, size=(stop - start, n), dtype=index_type)
        sums[start:stop] = x[index].sum(axis=1)
    result: NDArray[np.float64] = sums / n
    return result


def _check(confidence: float, n_resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, not {confidence}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be positive, not {n_resamples}")


def _interval(
    x: NDArray[np.float64], confidence: float, n_resamples: int, seed: int
) -> tuple[float | None, float | None, float | None]:
    """Standard error and percentile-bootstrap CI of the mean of ``x`` (None below 2 values)."""
    import numpy as np

    if len(x) < 2:
        return None, None, None
    rng = np.random.default_rng(seed)
    means = _bootstrap_means(x, n_resamples, rng)
    alpha = 1.0 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    lowest, highest = float(x.min()), float(x.max())  # clip float noise: a mean stays inside
    stderr = 0.0 if lowest == highest else float(x.std(ddof=1)) / math.sqrt(len(x))
    return stderr, min(max(float(low), lowest), highest), min(max(float(high), lowest), highest)


def _mean(x: NDArray[np.float64]) -> float | None:
    if len(x) == 0:
        return None
    return min(max(float(x.mean()), float(x.min())), float(x.max()))


def summarize_values(
    values: Sequence[float], *, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> Stats:
    """Mean, standard error and percentile-bootstrap CI of ``values``.

    With fewer than 2 values the standard error and CI are None; with none, the mean too.
    """
    _check(confidence, n_resamples)
    x = _array(values)
    stderr, low, high = _interval(x, confidence, n_resamples, seed)
    return Stats(len(x), _mean(x), stderr, low, high, confidence)


def _sign_flip_p(
    diffs: NDArray[np.float64], n_permutations: int, rng: np.random.Generator
) -> tuple[float, str]:
    """Two-sided p-value of the paired sign-flip test of ``mean(diffs) == 0``."""
    import numpy as np

    d = diffs[np.abs(diffs) > _TIE]  # a tie has the same sum under either sign
    m = len(d)
    if m == 0:
        return 1.0, "exact sign-flip"
    observed = abs(float(d.sum())) * (1 - 1e-9) - 1e-12  # tolerate float noise in equal sums
    if m <= _EXACT_MAX:
        patterns = np.arange(2**m, dtype=np.int64)[:, None] >> np.arange(m) & 1
        sums = (2 * patterns - 1) @ d
        return float(np.mean(np.abs(sums) >= observed)), "exact sign-flip"
    extreme, total, width = 0, float(d.sum()), (m + 7) // 8
    chunk = max(1, 500_000 // m)
    for start in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - start)
        raw = np.frombuffer(rng.bytes(size * width), dtype=np.uint8).reshape(size, width)
        plus = np.unpackbits(raw, axis=1, count=m)  # 1: keep the sign, 0: flip it
        extreme += int(np.count_nonzero(np.abs(2 * (plus @ d) - total) >= observed))
    # counting the observed arrangement keeps a sampled p-value valid (never 0)
    return (extreme + 1) / (n_permutations + 1), f"sign-flip, {n_permutations} samples"


def paired_comparison(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    n_permutations: int = 10_000,
    seed: int = 0,
) -> PairedStats:
    """Compare paired scores ``a[i]``, ``b[i]`` of the same case: is ``b`` better or worse?

    The difference ``b - a`` gets a percentile-bootstrap CI and a two-sided p-value from
    the paired sign-flip (permutation) test: under "no difference" each case's ``b - a`` is
    as likely to have either sign, so the observed sum is compared with the sums of every
    sign pattern (exact up to 16 non-tied pairs, else ``n_permutations`` seeded samples).
    It was chosen over a paired t-test, which assumes normal differences and is wrong for
    few 0/1 scores, and over Wilcoxon's signed-rank test, which tests ranks rather than the
    mean we report and handles the many ties of discrete scores poorly. It needs no scipy,
    and for 0/1 scores it is the exact McNemar (sign) test on the discordant cases.
    """
    _check(confidence, n_resamples)
    if n_permutations < 1:
        raise ValueError(f"n_permutations must be positive, not {n_permutations}")
    x, y = _array(a), _array(b)
    if len(x) != len(y):
        raise ValueError(f"paired scores differ in length: {len(x)} and {len(y)}")
    import numpy as np

    diffs = y - x
    wins = int(np.count_nonzero(diffs > _TIE))
    losses = int(np.count_nonzero(diffs < -_TIE))
    stderr, low, high = _interval(diffs, confidence, n_resamples, seed)
    p_value, test = None, "sign-flip"
    if len(diffs):
        p_value, test = _sign_flip_p(diffs, n_permutations, np.random.default_rng(seed))
    mean_a, mean_b = _mean(x), _mean(y)
    mean_diff = None if mean_a is None or mean_b is None else _mean(diffs)
    return PairedStats(
        n=len(diffs),
        mean_a=mean_a,
        mean_b=mean_b,
        mean_diff=mean_diff,
        stderr=stderr,
        ci_low=low,
        ci_high=high,
        p_value=p_value,
        wins=wins,
        losses=losses,
        ties=len(diffs) - wins - losses,
        test=test,
        confidence=confidence,
    )
