"""Semantic similarity of output and expected answer with a text embedding model.

``local/minilm`` (the default) is the offline all-MiniLM-L6-v2 that RAG uses; any other name is
a litellm embedding model. Both need ``llmops[rag]`` (numpy). The model loads on first use,
embeddings run in a worker thread, and the vectors of expected answers are kept in memory, so a
suite with repeats embeds each expected answer once.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from llmops._exceptions import ConfigError
from llmops.evals._scorers import reference
from llmops.evals._scoring import (
    Sample,
    Score,
    Scorer,
    ScorerEnv,
    ScorerParams,
    ScorerUnmeasured,
    register_scorer,
)

if TYPE_CHECKING:
    from llmops.rag import Embedder

__all__: list[str] = []

_CACHE_SIZE = 4096  # expected answers kept; the oldest goes first


class EmbeddingSimilarityParams(ScorerParams):
    """``model``: ``local/minilm`` or a litellm embedding model name."""

    model: str = Field(default="local/minilm", min_length=1)


@register_scorer
class EmbeddingSimilarity(Scorer):
    """Cosine similarity of the output and expected answer embeddings, clipped to [0, 1]."""

    type_name: ClassVar[str] = "embedding_similarity"
    kind: ClassVar[str] = "embedding"
    Params = EmbeddingSimilarityParams
    params: EmbeddingSimilarityParams

    def __init__(
        self, params: EmbeddingSimilarityParams | None = None, *, name: str | None = None
    ) -> None:
        super().__init__(params, name=name)
        self._embedder: Embedder | None = None
        self._expected: dict[str, Any] = {}
        self._lock = threading.Lock()

    def setup(self, env: ScorerEnv) -> None:
        """Resolve the model name (a bad one fails here, before any case); the model loads later."""
        self._resolve()

    def _resolve(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                if importlib.util.find_spec("numpy") is None:
                    raise ConfigError(
                        "scorer 'embedding_similarity' needs numpy: pip install 'llmops[rag]'"
                    )
                # lazy: keeps import llmops light
                from llmops.rag import get_embedder

                self._embedder = get_embedder(self.params.model)
            return self._embedder

    def similarity(self, output: str, expected: str) -> float:
        """The clipped cosine similarity of two texts (blocking: it runs the model)."""
        embedder = self._resolve()
        with self._lock:
            gold = self._expected.get(expected)
        if gold is None:
            predicted, gold = embedder.embed([output, expected])
            with self._lock:
                if len(self._expected) >= _CACHE_SIZE:
                    del self._expected[next(iter(self._expected))]
                self._expected[expected] = gold
        else:
            predicted = embedder.embed([output])[0]
        # Both embedders return L2-normalised vectors: the dot product is the cosine.
        return min(max(float(predicted @ gold), 0.0), 1.0)

    def score(self, sample: Sample) -> Score:
        expected = reference(sample.expected)
        if not expected.strip():
            raise ScorerUnmeasured("the expected answer is empty")
        if not sample.output.strip():
            return Score(0.0, reason="the output is empty")
        return Score(self.similarity(sample.output, expected))

    async def ascore(self, sample: Sample) -> Score:
        return await asyncio.to_thread(self.score, sample)
