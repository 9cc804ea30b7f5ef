"""Retrieval metrics against gold ids: hit@k, MRR@k and nDCG@k (binary relevance).

The gold ids come from a row field (``gold_ids`` by default): a list of ids, one id, a
comma-separated string or a JSON list as text. The retrieved ids are ``sample.contexts`` in
rank order, repeated ids counted once. A case without gold ids is unmeasured; a target that
retrieved nothing has missed, and scores 0.
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any, ClassVar, Literal

from pydantic import Field

from llmops.evals._scoring import (
    Sample,
    Score,
    Scorer,
    ScorerParams,
    ScorerUnmeasured,
    register_scorer,
)

__all__ = ["gold_ids", "hit_at_k", "mrr", "ndcg"]


def gold_ids(value: Any, field: str = "gold_ids") -> list[str]:
    """The relevant ids in a row field's value; ``ScorerUnmeasured`` when there are none."""
    if isinstance(value, str) and value.lstrip().startswith("["):
        with contextlib.suppress(ValueError):
            value = json.loads(value)
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    elif value is None or isinstance(value, bool | dict):
        items = []
    else:
        items = [value]
    ids = list(dict.fromkeys(str(item).strip() for item in items if item is not None))
    ids = [i for i in ids if i]
    if not ids:
        raise ScorerUnmeasured(f"the case has no gold ids (row field '{field}')")
    return ids


def _ranked(sample: Sample, k: int, level: str = "chunk") -> list[str]:
    if level == "document":  # several chunks of one document count once, at its best rank
        ids = (context.doc_id or context.id for context in sample.contexts)
    else:
        ids = (context.id for context in sample.contexts)
    return list(dict.fromkeys(ids))[:k]


def hit_at_k(retrieved: list[str], gold: list[str], k: int) -> float:
    """1 when a gold id is among the first ``k`` retrieved."""
    wanted = set(gold)
    return float(any(i in wanted for i in retrieved[:k]))


def mrr(retrieved: list[str], gold: list[str], k: int) -> float:
    """1 / rank of the first gold id among the first ``k`` retrieved, else 0."""
    wanted = set(gold)
    return next((1 / rank for rank, i in enumerate(retrieved[:k], 1) if i in wanted), 0.0)


def ndcg(retrieved: list[str], gold: list[str], k: int) -> float:
    """nDCG@k with binary relevance: DCG / the DCG of a ranking with every gold id first."""
    wanted = set(gold)
    gain = sum(1 / math.log2(rank + 1) for rank, i in enumerate(retrieved[:k], 1) if i in wanted)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(k, len(wanted)) + 1))
    return gain / ideal


class RetrievalParams(ScorerParams):
    """``k``: how many retrieved ids count; ``field``: the row field with the gold ids;
    ``level``: match gold ids against chunk ids or the ids of the chunks' source documents."""

    k: int = Field(default=10, ge=1)
    field: str = Field(default="gold_ids", min_length=1)
    level: Literal["chunk", "document"] = "chunk"


class _RetrievalScorer(Scorer):
    kind: ClassVar[str] = "retrieval"
    Params = RetrievalParams
    params: RetrievalParams

    @staticmethod
    def metric(retrieved: list[str], gold: list[str], k: int) -> float:
        raise NotImplementedError

    def score(self, sample: Sample) -> Score:
        gold = gold_ids(sample.row.get(self.params.field), self.params.field)
        retrieved = _ranked(sample, self.params.k, self.params.level)
        detail = {"retrieved": retrieved, "gold": gold}
        if not retrieved:
            return Score(0.0, reason="the target retrieved no contexts", detail=detail)
        return Score(self.metric(retrieved, gold, self.params.k), detail=detail)


@register_scorer
class HitAtK(_RetrievalScorer):
    """1 when a gold id is among the first k retrieved contexts."""

    type_name: ClassVar[str] = "hit_at_k"
    metric = staticmethod(hit_at_k)


@register_scorer
class Mrr(_RetrievalScorer):
    """Reciprocal rank of the first gold id among the first k retrieved contexts."""

    type_name: ClassVar[str] = "mrr"
    metric = staticmethod(mrr)


@register_scorer
class Ndcg(_RetrievalScorer):
    """nDCG@k of the retrieved contexts with binary relevance."""

    type_name: ClassVar[str] = "ndcg"
    metric = staticmethod(ndcg)
