"""Reranking retrieved chunks with a model asked for a 0-10 relevance score per passage.

No cross-encoder ships offline on PyPI today; any configured model can rerank. A reply that
holds no score keeps the chunk, ranked after the scored ones in its retrieval order, and is
counted on the span; it is never read as a score of 0.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import TYPE_CHECKING

from llmops._aio import run_sync
from llmops.rag._retrieve import Retrieved

if TYPE_CHECKING:
    from llmops.config import Config

__all__ = ["LLMReranker"]

_SCORE = re.compile(r"\b(10|[0-9])\b")
_SYSTEM = (
    "Rate how relevant the passage is to the query, from 0 (unrelated) to 10 (fully answers it). "
    "Reply with the number only."
)


class LLMReranker:
    """Scores each (query, passage) pair with a configured model, concurrently."""

    def __init__(
        self, model: str | None = None, *, config: Config | None = None, concurrency: int = 4
    ) -> None:
        # lazy: keeps import llmops light
        from llmops.llm import resolve_model

        self.model = resolve_model(model, config)
        self.concurrency = concurrency

    async def _score(self, query: str, chunk: Retrieved, gate: asyncio.Semaphore) -> float | None:
        # lazy: keeps import llmops light
        from llmops.llm import acomplete

        messages = [
            {"role": "system", "content": _SYSTEM},
            {"role": "user", "content": f"Query: {query}\n\nPassage: {chunk.text[:2000]}"},
        ]
        async with gate:
            completion = await acomplete(messages, self.model, max_tokens=4, temperature=0.0)
        found = _SCORE.search(completion.text)
        return int(found.group(1)) / 10 if found else None

    async def _all(self, query: str, chunks: list[Retrieved]) -> list[float | None]:
        gate = asyncio.Semaphore(self.concurrency)
        return list(await asyncio.gather(*(self._score(query, chunk, gate) for chunk in chunks)))

    def rerank(self, query: str, chunks: list[Retrieved], k: int) -> list[Retrieved]:
        """The best ``k`` of ``chunks`` by the model's score (ties keep retrieval order)."""
        # lazy: keeps import llmops light
        from llmops.tracing import span

        with span("rerank", kind="reranker") as traced:
            scores = run_sync(self._all(query, chunks))
            unscored = sum(score is None for score in scores)
            traced.set(
                {
                    "llmops.rerank.model": self.model.name,
                    "llmops.rerank.candidates": len(chunks),
                    "llmops.rerank.unscored": unscored,
                }
            )
        order = sorted(
            range(len(chunks)), key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i)
        )
        return [replace(chunks[i], score=scores[i] or 0.0) for i in order[:k]]
