"""Reference-answer scorers from question answering: exact match, contains, token F1.

Each is a plain function (``token_f1(output, expected) -> float``) and a registered scorer
type of the same name for suites.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import ClassVar

from llmops.evals._scoring import Sample, Scorer, ScorerUnmeasured, register_scorer

__all__ = ["contains", "exact_match", "normalize_answer", "reference", "token_f1"]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalization: lower case, no punctuation, no articles, single spaces."""
    text = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def reference(expected: str | None) -> str:
    """The expected answer, or ``ScorerUnmeasured`` when the case has none."""
    if expected is None:
        raise ScorerUnmeasured("the case has no expected answer")
    return expected


def exact_match(output: str, expected: str | None) -> float:
    """1 when output and expected are equal after normalization."""
    return float(normalize_answer(output) == normalize_answer(reference(expected)))


def contains(output: str, expected: str | None) -> float:
    """1 when the normalized expected answer occurs in the normalized output."""
    wanted = normalize_answer(reference(expected))
    if not wanted:
        raise ScorerUnmeasured("the expected answer is empty after normalization")
    return float(f" {wanted} " in f" {normalize_answer(output)} ")


def token_f1(output: str, expected: str | None) -> float:
    """SQuAD token F1 between output and expected answer."""
    predicted = normalize_answer(output).split()
    gold = normalize_answer(reference(expected)).split()
    if not predicted or not gold:
        return float(predicted == gold)
    common = Counter(predicted) & Counter(gold)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(predicted)
    recall = overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


@register_scorer
class ExactMatch(Scorer):
    """1 when output and expected answer are equal after SQuAD normalization."""

    type_name: ClassVar[str] = "exact_match"

    def score(self, sample: Sample) -> float:
        return exact_match(sample.output, sample.expected)


@register_scorer
class Contains(Scorer):
    """1 when the normalized expected answer occurs in the normalized output."""

    type_name: ClassVar[str] = "contains"

    def score(self, sample: Sample) -> float:
        return contains(sample.output, sample.expected)


@register_scorer
class TokenF1(Scorer):
    """SQuAD token F1 between output and expected answer."""

    type_name: ClassVar[str] = "token_f1"

    def score(self, sample: Sample) -> float:
        return token_f1(sample.output, sample.expected)
