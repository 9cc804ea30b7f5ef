"""Deterministic scorers, and the registry that names them in suites.

A scorer takes the model output and the expected answer and returns a float in [0, 1]. It
raises ``ScorerUnmeasured`` when it cannot score a case: the case is then "unmeasured, with
reason", excluded from the mean and counted, never scored 0 or NaN silently.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable
from typing import Protocol

__all__ = ["SCORERS", "Scorer", "ScorerUnmeasured", "normalize_answer", "scorer"]


class ScorerUnmeasured(Exception):
    """A scorer could not measure this case; the message says why."""


class Scorer(Protocol):
    """``(output, expected) -> score in [0, 1]``."""

    def __call__(self, output: str, expected: str | None) -> float: ...


SCORERS: dict[str, Scorer] = {}


def scorer(name: str) -> Callable[[Scorer], Scorer]:
    """Register a scorer under ``name`` (the name used in suite files)."""

    def register(function: Scorer) -> Scorer:
        SCORERS[name] = function
        return function

    return register


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower case, no punctuation, no articles, single spaces."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _reference(expected: str | None) -> str:
    if expected is None:
        raise ScorerUnmeasured("the case has no expected answer")
    return expected


@scorer("exact_match")
def exact_match(output: str, expected: str | None) -> float:
    """1 when output and expected are equal after normalization."""
    return float(normalize_answer(output) == normalize_answer(_reference(expected)))


@scorer("contains")
def contains(output: str, expected: str | None) -> float:
    """1 when the normalized expected answer occurs in the normalized output."""
    reference = normalize_answer(_reference(expected))
    if not reference:
        raise ScorerUnmeasured("the expected answer is empty after normalization")
    return float(f" {reference} " in f" {normalize_answer(output)} ")


@scorer("token_f1")
def token_f1(output: str, expected: str | None) -> float:
    """SQuAD token F1 between output and expected answer."""
    predicted = normalize_answer(output).split()
    reference = normalize_answer(_reference(expected)).split()
    if not predicted or not reference:
        return float(predicted == reference)
    common = Counter(predicted) & Counter(reference)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted)
    recall = overlap / len(reference)
    return 2 * precision * recall / (precision + recall)
